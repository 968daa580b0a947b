//! Training: noisy batches, the loss, AdamW (decoupled weight decay, own implementation so its moments can be
//! checkpointed), global gradient-norm clipping, EMA weights, validation with the EMA weights, checkpoints and resume.
//!
//! Loss per crystal at a time `t ~ U(0.001, 1)` shared by lattice and coordinates:
//! `|eps_L - eps_hat|^2 / 6 + mean_atoms |s_hat - score(x_t | x_0, sigma_t) / sqrt(lambda(sigma_t))|^2 / 3`.
//! The batch of step `k` is drawn with an RNG keyed by (seed, k), so a resumed run continues exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, ModelMeta, MODEL_FORMAT};
use super::denoiser::{Denoiser, DenoiserConfig, DenoiserInput};
use super::representation::{alpha_bar, sigma_at, wrap, wrapped_normal_score, CrystalItem, LatticeStats, ScoreNorm};
use super::rng::Rng;
use super::{DiffusionError, Result};

/// Optimisation settings (stored in every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub ema_decay: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Linear learning-rate warm-up (steps).
    pub warmup: u64,
    pub seed: u64,
    /// Draw each batch from crystals of similar size (a window of the size-sorted training set around a uniformly
    /// drawn crystal), so less compute goes to padding; every crystal stays (nearly) equally likely.
    #[serde(default)]
    pub bucketed: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch: 128,
            lr: 5e-4,
            weight_decay: 0.0,
            ema_decay: 0.999,
            clip: 1.0,
            warmup: 500,
            seed: 0,
            bucketed: true,
        }
    }
}

/// Everything in `state.json` besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: u64,
    pub samples_seen: u64,
    /// Wall-clock and process CPU seconds spent training, summed over every resumed run.
    pub wall_s: f64,
    pub cpu_s: f64,
    pub model: DenoiserConfig,
    pub train: TrainConfig,
    pub lattice_stats: LatticeStats,
}

/// The loss and its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LossParts {
    pub total: f64,
    pub lattice: f64,
    pub coord: f64,
}

/// What one optimiser step reports.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StepStats {
    pub step: u64,
    pub loss: LossParts,
    pub grad_norm: f64,
    pub lr: f64,
}

/// A noisy training batch with its targets.
pub struct NoisyBatch {
    pub input: DenoiserInput,
    /// (B, 6) lattice noise.
    pub lattice_eps: Tensor,
    /// (B, N, 3) normalised coordinate score (0 on padding).
    pub coord_target: Tensor,
}

/// Builds a noisy batch (padded to the largest crystal) with per-crystal times from `rng`.
pub fn noisy_batch(
    items: &[&CrystalItem],
    stats: &LatticeStats,
    norm: &ScoreNorm,
    rng: &mut Rng,
    device: &Device,
) -> Result<NoisyBatch> {
    let b = items.len();
    let n = items.iter().map(|it| it.num_atoms()).max().unwrap_or(0).max(1);
    let (mut z, mut x, mut mask, mut tgt) =
        (vec![0u32; b * n], vec![0f32; b * n * 3], vec![0f32; b * n], vec![0f32; b * n * 3]);
    let (mut lat, mut eps_l, mut ts) = (vec![0f32; b * 6], vec![0f32; b * 6], vec![0f32; b]);
    for (i, it) in items.iter().enumerate() {
        let t = 0.001 + 0.999 * rng.uniform();
        ts[i] = t as f32;
        let ab = alpha_bar(t);
        let l0 = stats.standardise(&it.lattice);
        for k in 0..6 {
            let e = rng.normal();
            eps_l[i * 6 + k] = e as f32;
            lat[i * 6 + k] = (ab.sqrt() * l0[k] + (1.0 - ab).sqrt() * e) as f32;
        }
        let sigma = sigma_at(t);
        let scale = norm.lambda(sigma).sqrt();
        for (a, (&za, fa)) in it.z.iter().zip(&it.frac).enumerate() {
            let p = i * n + a;
            z[p] = za;
            mask[p] = 1.0;
            for k in 0..3 {
                let d = sigma * rng.normal();
                x[p * 3 + k] = wrap(fa[k] + d) as f32;
                tgt[p * 3 + k] = (wrapped_normal_score(d, sigma) / scale) as f32;
            }
        }
    }
    let input = DenoiserInput {
        z: Tensor::from_vec(z, (b, n), device)?,
        x: Tensor::from_vec(x, (b, n, 3), device)?,
        lattice: Tensor::from_vec(lat, (b, 6), device)?,
        t: Tensor::from_vec(ts, b, device)?,
        mask: Tensor::from_vec(mask, (b, n), device)?,
    };
    Ok(NoisyBatch {
        input,
        lattice_eps: Tensor::from_vec(eps_l, (b, 6), device)?,
        coord_target: Tensor::from_vec(tgt, (b, n, 3), device)?,
    })
}

/// The loss tensors (total, lattice, coord) of `model` on `batch`.
pub fn loss(model: &Denoiser, batch: &NoisyBatch) -> Result<(Tensor, Tensor, Tensor)> {
    let out = model.forward(&batch.input)?;
    let lat = (out.lattice - &batch.lattice_eps)?.sqr()?.mean_all()?;
    let real = batch.input.mask.sum_all()?;
    let coord = (out.coord - &batch.coord_target)?.sqr()?.sum_all()?.broadcast_div(&(real * 3.0)?)?;
    let total = (&lat + &coord)?;
    Ok((total, lat, coord))
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Process CPU seconds (user + system) from /proc/self/stat; `None` off Linux.
pub fn process_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A training run: parameters, optimiser moments, EMA weights and counters.
pub struct Trainer {
    pub state: TrainState,
    varmap: VarMap,
    model: Denoiser,
    names: Vec<String>,
    adam_m: HashMap<String, Tensor>,
    adam_v: HashMap<String, Tensor>,
    ema: HashMap<String, Tensor>,
    items: Vec<CrystalItem>,
    /// Item indices sorted by atom count (for bucketed batches).
    by_size: Vec<usize>,
    norm: ScoreNorm,
    device: Device,
    started: std::time::Instant,
    cpu_at_start: f64,
    wall_base: f64,
    cpu_base: f64,
}

impl Trainer {
    /// A fresh run; lattice statistics come from `items`.
    pub fn new(model: DenoiserConfig, train: TrainConfig, items: Vec<CrystalItem>, device: &Device) -> Result<Trainer> {
        if items.is_empty() {
            return Err(DiffusionError::Invalid("no training structures".into()));
        }
        let stats = LatticeStats::from_items(&items);
        let state =
            TrainState { step: 0, samples_seen: 0, wall_s: 0.0, cpu_s: 0.0, model, train, lattice_stats: stats };
        Trainer::build(state, None, items, device)
    }

    /// Continues the run saved in `ckpt` (a `checkpoints/step-*` folder).
    pub fn resume(ckpt: &Path, items: Vec<CrystalItem>, device: &Device) -> Result<Trainer> {
        let (tensors, text) = checkpoint::read_checkpoint(ckpt, device)?;
        let state: TrainState = serde_json::from_str(&text)
            .map_err(|e| DiffusionError::File { path: ckpt.join("state.json"), message: e.to_string() })?;
        Trainer::build(state, Some(tensors), items, device)
    }

    fn build(
        state: TrainState,
        saved: Option<HashMap<String, Tensor>>,
        items: Vec<CrystalItem>,
        device: &Device,
    ) -> Result<Trainer> {
        let varmap = VarMap::new();
        let model = Denoiser::new(&state.model, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
        let mut names: Vec<String> = varmap.data().lock().expect("varmap lock").keys().cloned().collect();
        names.sort();
        let vars = varmap.data().lock().expect("varmap lock").clone();
        let (mut adam_m, mut adam_v, mut ema) = (HashMap::new(), HashMap::new(), HashMap::new());
        for name in &names {
            let var = &vars[name];
            let get = |prefix: &str| -> Result<Option<Tensor>> {
                match &saved {
                    None => Ok(None),
                    Some(t) => {
                        let key = format!("{prefix}.{name}");
                        let x =
                            t.get(&key).ok_or_else(|| DiffusionError::Invalid(format!("checkpoint lacks {key}")))?;
                        if x.dims() != var.dims() {
                            return Err(DiffusionError::Invalid(format!("checkpoint {key} has shape {:?}", x.dims())));
                        }
                        Ok(Some(x.clone()))
                    }
                }
            };
            if let Some(w) = get("model")? {
                var.set(&w)?;
            }
            adam_m.insert(name.clone(), get("adam_m")?.map_or_else(|| var.zeros_like(), Ok)?);
            adam_v.insert(name.clone(), get("adam_v")?.map_or_else(|| var.zeros_like(), Ok)?);
            ema.insert(name.clone(), get("ema")?.map_or_else(|| var.as_tensor().detach().copy(), Ok)?);
        }
        let (wall_base, cpu_base) = (state.wall_s, state.cpu_s);
        let mut by_size: Vec<usize> = (0..items.len()).collect();
        by_size.sort_by_key(|&i| (items[i].num_atoms(), i));
        Ok(Trainer {
            state,
            varmap,
            model,
            names,
            adam_m,
            adam_v,
            ema,
            items,
            by_size,
            norm: ScoreNorm::new(),
            device: device.clone(),
            started: std::time::Instant::now(),
            cpu_at_start: process_cpu_seconds().unwrap_or(0.0),
            wall_base,
            cpu_base,
        })
    }

    pub fn num_params(&self) -> usize {
        super::denoiser::count_params(&self.varmap)
    }

    pub fn model(&self) -> &Denoiser {
        &self.model
    }

    fn vars(&self) -> HashMap<String, Var> {
        self.varmap.data().lock().expect("varmap lock").clone()
    }

    /// The batch of step `step` (deterministic in (seed, step)).
    fn batch_for(&self, step: u64) -> Result<NoisyBatch> {
        let mut rng = Rng::from_keys(&[self.state.train.seed, step]);
        let (b, len) = (self.state.train.batch, self.items.len());
        let picks: Vec<&CrystalItem> = if self.state.train.bucketed {
            let window = (4 * b).min(len);
            let centre = rng.below(len);
            let lo = centre.saturating_sub(window / 2).min(len - window);
            (0..b).map(|_| &self.items[self.by_size[lo + rng.below(window)]]).collect()
        } else {
            (0..b).map(|_| &self.items[rng.below(len)]).collect()
        };
        noisy_batch(&picks, &self.state.lattice_stats, &self.norm, &mut rng, &self.device)
    }

    /// Learning rate at `step` (linear warm-up, then constant).
    pub fn lr_at(&self, step: u64) -> f64 {
        let c = &self.state.train;
        c.lr * ((step + 1) as f64 / c.warmup.max(1) as f64).min(1.0)
    }

    /// One optimiser step on a fresh batch.
    pub fn step(&mut self) -> Result<StepStats> {
        let batch = self.batch_for(self.state.step)?;
        self.step_on(&batch)
    }

    /// One optimiser step on a given batch.
    pub fn step_on(&mut self, batch: &NoisyBatch) -> Result<StepStats> {
        let (total, lat, coord) = loss(&self.model, batch)?;
        let mut grads = total.backward()?;
        let vars = self.vars();
        let mut sq = 0.0;
        for name in &self.names {
            if let Some(g) = grads.get(&vars[name]) {
                sq += scalar(&g.sqr()?.sum_all()?)?;
            }
        }
        let grad_norm = sq.sqrt();
        let c = self.state.train.clone();
        let scale = if grad_norm.is_finite() && grad_norm > c.clip { c.clip / grad_norm } else { 1.0 };
        let lr = self.lr_at(self.state.step);
        let t = (self.state.step + 1) as i32;
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let decay = c.ema_decay.min((1.0 + self.state.step as f64) / (10.0 + self.state.step as f64));
        if grad_norm.is_finite() {
            for name in &self.names {
                let var = &vars[name];
                let Some(g) = grads.remove(var) else { continue };
                // Every state tensor is detached: otherwise each would record the op that made it, and the chain
                // back through all earlier steps would keep every old tensor alive (unbounded memory).
                let g = (g.detach() * scale)?;
                let m = ((&self.adam_m[name] * b1)? + (&g * (1.0 - b1))?)?.detach();
                let v = ((&self.adam_v[name] * b2)? + (g.sqr()? * (1.0 - b2))?)?.detach();
                let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + eps)?)?;
                let w = ((var.as_tensor().detach() * (1.0 - lr * c.weight_decay))? - (update * lr)?)?.detach();
                var.set(&w)?;
                let e = ((&self.ema[name] * decay)? + (w * (1.0 - decay))?)?.detach();
                self.adam_m.insert(name.clone(), m);
                self.adam_v.insert(name.clone(), v);
                self.ema.insert(name.clone(), e);
            }
        } else {
            tracing::warn!(step = self.state.step, "non-finite gradient norm; step skipped");
        }
        self.state.step += 1;
        self.state.samples_seen += batch.input.z.dim(0)? as u64;
        self.state.wall_s = self.wall_base + self.started.elapsed().as_secs_f64();
        self.state.cpu_s = self.cpu_base + process_cpu_seconds().map_or(0.0, |c| c - self.cpu_at_start);
        let loss = LossParts { total: scalar(&total)?, lattice: scalar(&lat)?, coord: scalar(&coord)? };
        Ok(StepStats { step: self.state.step, loss, grad_norm, lr })
    }

    /// A denoiser with the EMA weights.
    pub fn ema_model(&self) -> Result<Denoiser> {
        checkpoint::model_from_tensors(&self.state.model, self.ema.clone(), &self.device)
    }

    /// Mean loss of the EMA weights on `val` (batches of the training batch size, at fixed noise), at most `max_items`.
    pub fn validate(&self, val: &[CrystalItem], max_items: usize) -> Result<LossParts> {
        let model = self.ema_model()?;
        let items: Vec<&CrystalItem> = val.iter().take(max_items).collect();
        let (mut acc, mut n) = (LossParts::default(), 0.0);
        for (k, chunk) in items.chunks(self.state.train.batch.max(1)).enumerate() {
            let mut rng = Rng::from_keys(&[0x7a1, k as u64]);
            let batch = noisy_batch(chunk, &self.state.lattice_stats, &self.norm, &mut rng, &self.device)?;
            let (t, l, c) = loss(&model, &batch)?;
            let w = chunk.len() as f64;
            acc.total += scalar(&t)? * w;
            acc.lattice += scalar(&l)? * w;
            acc.coord += scalar(&c)? * w;
            n += w;
        }
        if n > 0.0 {
            acc.total /= n;
            acc.lattice /= n;
            acc.coord /= n;
        }
        Ok(acc)
    }

    /// The inference metadata of the current weights.
    pub fn meta(&self) -> ModelMeta {
        ModelMeta {
            format: MODEL_FORMAT.into(),
            config: self.state.model.clone(),
            lattice_stats: self.state.lattice_stats,
            steps: self.state.step,
            samples_seen: self.state.samples_seen,
            corrector_lr: super::sample::DEFAULT_CORRECTOR_LR,
        }
    }

    /// Writes the EMA weights as an inference model folder.
    pub fn export_model(&self, dir: &Path) -> Result<()> {
        checkpoint::save_model(dir, &self.ema, &self.meta())
    }

    /// Writes a full training checkpoint under `<out>/checkpoints/` (keeping the newest two).
    pub fn save_checkpoint(&self, out: &Path) -> Result<PathBuf> {
        let vars = self.vars();
        let mut all = HashMap::new();
        for name in &self.names {
            all.insert(format!("model.{name}"), vars[name].as_tensor().clone());
            all.insert(format!("ema.{name}"), self.ema[name].clone());
            all.insert(format!("adam_m.{name}"), self.adam_m[name].clone());
            all.insert(format!("adam_v.{name}"), self.adam_v[name].clone());
        }
        let json = serde_json::to_vec_pretty(&self.state).map_err(|e| DiffusionError::Invalid(e.to_string()))?;
        checkpoint::write_checkpoint(out, self.state.step, &all, &json, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genms_shared::Lattice;

    fn items() -> Vec<CrystalItem> {
        let lat = super::super::representation::encode_lattice(&Lattice::cubic(3.9).unwrap(), 5);
        let perov = CrystalItem {
            z: vec![38, 22, 8, 8, 8],
            frac: vec![[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]],
            lattice: lat,
        };
        let lat2 = super::super::representation::encode_lattice(&Lattice::cubic(2.9).unwrap(), 2);
        let bcc = CrystalItem { z: vec![26, 26], frac: vec![[0.0; 3], [0.5; 3]], lattice: lat2 };
        vec![perov, bcc]
    }

    fn tiny() -> DenoiserConfig {
        DenoiserConfig { hidden: 32, layers: 2, heads: 4, freqs: 4, edge_hidden: 8, time_dim: 16 }
    }

    #[test]
    fn a_training_step_lowers_the_loss_on_a_fixed_batch() {
        let cfg = TrainConfig { batch: 8, lr: 3e-3, warmup: 1, ..TrainConfig::default() };
        let mut tr = Trainer::new(tiny(), cfg, items(), &Device::Cpu).unwrap();
        let it = items();
        let picks: Vec<&CrystalItem> = (0..8).map(|i| &it[i % 2]).collect();
        let batch =
            noisy_batch(&picks, &tr.state.lattice_stats, &ScoreNorm::new(), &mut Rng::new(3), &Device::Cpu).unwrap();
        let before = scalar(&loss(tr.model(), &batch).unwrap().0).unwrap();
        for _ in 0..5 {
            tr.step_on(&batch).unwrap();
        }
        let after = scalar(&loss(tr.model(), &batch).unwrap().0).unwrap();
        assert!(after < before, "loss {before} -> {after}");
        assert_eq!(tr.state.step, 5);
        assert_eq!(tr.state.samples_seen, 40);
    }

    #[test]
    fn checkpoint_round_trip_resumes_exactly() {
        let dir = std::env::temp_dir().join(format!("genms-diff-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = TrainConfig { batch: 4, warmup: 1, ..TrainConfig::default() };
        let mut a = Trainer::new(tiny(), cfg, items(), &Device::Cpu).unwrap();
        a.step().unwrap();
        a.step().unwrap();
        let ck = a.save_checkpoint(&dir).unwrap();
        assert_eq!(checkpoint::latest_checkpoint(&dir).unwrap(), Some(ck.clone()));
        let mut b = Trainer::resume(&ck, items(), &Device::Cpu).unwrap();
        assert_eq!(b.state.step, 2);
        let (sa, sb) = (a.step().unwrap(), b.step().unwrap());
        assert!((sa.loss.total - sb.loss.total).abs() < 1e-6, "{sa:?} vs {sb:?}");
        let (va, vb) = (a.validate(&items(), 2).unwrap(), b.validate(&items(), 2).unwrap());
        assert!((va.total - vb.total).abs() < 1e-6);
        // The exported EMA model loads and gives the same outputs.
        a.export_model(&dir.join("model")).unwrap();
        let (m, meta) = checkpoint::load_model(&dir.join("model"), &Device::Cpu).unwrap();
        assert_eq!(meta, a.meta());
        let it = items();
        let batch =
            noisy_batch(&[&it[0]], &a.state.lattice_stats, &ScoreNorm::new(), &mut Rng::new(1), &Device::Cpu).unwrap();
        let (x, y) = (loss(&m, &batch).unwrap().0, loss(&a.ema_model().unwrap(), &batch).unwrap().0);
        assert_eq!(scalar(&x).unwrap(), scalar(&y).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
