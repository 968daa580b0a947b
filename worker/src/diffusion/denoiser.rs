//! The denoiser: a permutation-equivariant, translation-invariant transformer over the atoms of a cell.
//!
//! Tokens: `embedding(Z) + MLP(sinusoidal(t)) + MLP([noisy lattice 6-vector, ln N])`. Each block: pre-LayerNorm
//! multi-head self-attention whose logits get a per-head bias `W_b e_ij` and whose output gets `W_e sum_j a_ij e_ij`,
//! where `e_ij = MLP(sin/cos(2 pi k (x_j - x_i)))`, k = 1..K, per axis (shared by all blocks); then a per-atom MLP.
//! Keys of padded atoms get -1e9 before the softmax, so padding never reaches real atoms. Heads: a per-atom 3-vector
//! (normalised coordinate score) and a lattice epsilon (6) from the masked mean of the tokens.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::representation::NUM_ELEMENTS;
use super::Result;

/// Model size. The defaults fit 2 CPU cores (a few 100k parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenoiserConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// Fourier frequencies K of the relative fractional coordinates.
    pub freqs: usize,
    /// Width of the pairwise feature MLP.
    pub edge_hidden: usize,
    /// Width of the sinusoidal time features.
    pub time_dim: usize,
}

impl Default for DenoiserConfig {
    fn default() -> Self {
        DenoiserConfig { hidden: 128, layers: 4, heads: 4, freqs: 8, edge_hidden: 32, time_dim: 64 }
    }
}

/// A padded batch: `z` (B, N) u32 (0 = padding), `x` (B, N, 3) noisy fractional coordinates, `lattice` (B, 6)
/// standardised noisy lattice, `t` (B) time in [0, 1], `mask` (B, N) 1 for real atoms, 0 for padding.
#[derive(Debug, Clone)]
pub struct DenoiserInput {
    pub z: Tensor,
    pub x: Tensor,
    pub lattice: Tensor,
    pub t: Tensor,
    pub mask: Tensor,
}

/// `coord` (B, N, 3): normalised coordinate score (0 on padding); `lattice` (B, 6): predicted lattice noise.
#[derive(Debug, Clone)]
pub struct DenoiserOutput {
    pub coord: Tensor,
    pub lattice: Tensor,
}

fn layer_norm(dim: usize, vb: VarBuilder) -> Result<LayerNorm> {
    let w = vb.get_with_hints(dim, "weight", candle_nn::Init::Const(1.0))?;
    let b = vb.get_with_hints(dim, "bias", candle_nn::Init::Const(0.0))?;
    Ok(LayerNorm::new(w, b, 1e-5))
}

/// LayerNorm with plain ops (differentiable; candle's fused kernel has no backward pass).
fn ln(norm: &LayerNorm, x: &Tensor) -> Result<Tensor> {
    let bias = norm.bias().expect("layer norms here have a bias");
    Ok(candle_nn::ops::layer_norm_slow(x, norm.weight(), bias, 1e-5)?)
}

struct Mlp {
    a: Linear,
    b: Linear,
}

impl Mlp {
    fn new(i: usize, h: usize, o: usize, vb: VarBuilder) -> Result<Mlp> {
        Ok(Mlp { a: linear(i, h, vb.pp("a"))?, b: linear(h, o, vb.pp("b"))? })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.b.forward(&candle_nn::ops::silu(&self.a.forward(x)?)?)?)
    }
}

struct Block {
    ln1: LayerNorm,
    qkv: Linear,
    out: Linear,
    edge_bias: Linear,
    edge_value: Linear,
    ln2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(cfg: &DenoiserConfig, vb: VarBuilder) -> Result<Block> {
        let (d, h, e) = (cfg.hidden, cfg.heads, cfg.edge_hidden);
        Ok(Block {
            ln1: layer_norm(d, vb.pp("ln1"))?,
            qkv: linear(d, 3 * d, vb.pp("qkv"))?,
            out: linear(d, d, vb.pp("out"))?,
            edge_bias: linear(e, h, vb.pp("edge_bias"))?,
            edge_value: linear(h * e, d, vb.pp("edge_value"))?,
            ln2: layer_norm(d, vb.pp("ln2"))?,
            mlp: Mlp::new(d, 2 * d, d, vb.pp("mlp"))?,
        })
    }

    /// `h` (B, N, D), `e` (B, N, N, E), `key_mask` (B, 1, 1, N) additive (0 or -1e9).
    fn forward(&self, cfg: &DenoiserConfig, h: &Tensor, e: &Tensor, key_mask: &Tensor) -> Result<Tensor> {
        let (b, n, d) = h.dims3()?;
        let (nh, eh) = (cfg.heads, cfg.edge_hidden);
        let dh = d / nh;
        let hn = ln(&self.ln1, h)?;
        let qkv = self.qkv.forward(&hn)?.reshape((b, n, 3, nh, dh))?;
        let q = qkv.narrow(2, 0, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?; // (B, H, N, dh)
        let k = qkv.narrow(2, 1, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?;
        let v = qkv.narrow(2, 2, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?;
        let logits = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?; // (B, H, N, N)
        let bias = self.edge_bias.forward(e)?.permute((0, 3, 1, 2))?; // (B, H, N, N)
        let logits = logits.add(&bias)?.broadcast_add(key_mask)?;
        let attn = candle_nn::ops::softmax(&logits, D::Minus1)?;
        let o = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        // sum_j a_ij e_ij per head: (B*N, H, N) x (B*N, N, E) -> (B*N, H, E).
        let a = attn.permute((0, 2, 1, 3))?.contiguous()?.reshape((b * n, nh, n))?;
        let agg = a.matmul(&e.reshape((b * n, n, eh))?)?.reshape((b, n, nh * eh))?;
        let h = (h + self.out.forward(&o)? + self.edge_value.forward(&agg)?)?;
        let h2 = self.mlp.forward(&ln(&self.ln2, &h)?)?;
        Ok((h + h2)?)
    }
}

/// The denoiser network.
pub struct Denoiser {
    cfg: DenoiserConfig,
    embed: Embedding,
    time: Mlp,
    lat_in: Mlp,
    edge: Mlp,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    coord_head: Mlp,
    lat_head: Mlp,
}

impl Denoiser {
    /// Builds the network from `vb` (a `VarMap` to train, or loaded tensors).
    pub fn new(cfg: &DenoiserConfig, vb: VarBuilder) -> Result<Denoiser> {
        let d = cfg.hidden;
        if cfg.heads == 0 || d % cfg.heads != 0 {
            return Err(super::DiffusionError::Invalid(format!(
                "hidden {d} must be a multiple of heads {}",
                cfg.heads
            )));
        }
        let emb = vb.pp("embed").get_with_hints(
            (NUM_ELEMENTS, d),
            "weight",
            candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 },
        )?;
        Ok(Denoiser {
            cfg: cfg.clone(),
            embed: Embedding::new(emb, d),
            time: Mlp::new(cfg.time_dim, d, d, vb.pp("time"))?,
            lat_in: Mlp::new(7, d, d, vb.pp("lat_in"))?,
            edge: Mlp::new(6 * cfg.freqs, cfg.edge_hidden, cfg.edge_hidden, vb.pp("edge"))?,
            blocks: (0..cfg.layers).map(|i| Block::new(cfg, vb.pp(format!("block{i}")))).collect::<Result<_>>()?,
            ln_f: layer_norm(d, vb.pp("ln_f"))?,
            coord_head: Mlp::new(d, d, 3, vb.pp("coord_head"))?,
            lat_head: Mlp::new(d, d, 6, vb.pp("lat_head"))?,
        })
    }

    pub fn config(&self) -> &DenoiserConfig {
        &self.cfg
    }

    /// Sinusoidal features of t (B) -> (B, time_dim).
    fn time_features(&self, t: &Tensor) -> Result<Tensor> {
        let half = self.cfg.time_dim / 2;
        let freqs: Vec<f32> = (0..half).map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp() * 1000.0).collect();
        let f = Tensor::from_vec(freqs, (1, half), t.device())?;
        let arg = t.unsqueeze(1)?.broadcast_mul(&f)?;
        Ok(Tensor::cat(&[arg.sin()?, arg.cos()?], 1)?)
    }

    /// Relative Fourier features (B, N, N, 6K) of `x_j - x_i`.
    fn pair_features(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        let k = self.cfg.freqs;
        let d = x.unsqueeze(1)?.broadcast_sub(&x.unsqueeze(2)?)?; // (B, N, N, 3): [b, i, j] = x_j - x_i
        let freqs: Vec<f32> = (1..=k).map(|i| std::f32::consts::TAU * i as f32).collect();
        let f = Tensor::from_vec(freqs, (1, 1, 1, 1, k), x.device())?;
        let arg = d.unsqueeze(4)?.broadcast_mul(&f)?; // (B, N, N, 3, K)
        Ok(Tensor::cat(&[arg.sin()?, arg.cos()?], 4)?.reshape((b, n, n, 6 * k))?)
    }

    pub fn forward(&self, input: &DenoiserInput) -> Result<DenoiserOutput> {
        let (b, n) = input.z.dims2()?;
        let mask = input.mask.to_dtype(DType::F32)?;
        let count = mask.sum_keepdim(1)?; // (B, 1)
        let ln_n = count.clamp(1.0, 1e9)?.log()?;
        let lat_in = Tensor::cat(&[&input.lattice, &ln_n], 1)?;
        let cond = (self.time.forward(&self.time_features(&input.t)?)? + self.lat_in.forward(&lat_in)?)?; // (B, D)
        let h = self.embed.forward(&input.z)?.broadcast_add(&cond.unsqueeze(1)?)?;
        let e = self.edge.forward(&self.pair_features(&input.x)?)?;
        let key_mask = ((mask.clone() - 1.0)? * 1e9)?.reshape((b, 1, 1, n))?;
        let mut h = h;
        for block in &self.blocks {
            h = block.forward(&self.cfg, &h, &e, &key_mask)?;
        }
        let h = ln(&self.ln_f, &h)?;
        let m3 = mask.unsqueeze(2)?;
        let coord = self.coord_head.forward(&h)?.broadcast_mul(&m3)?;
        let pooled = h.broadcast_mul(&m3)?.sum(1)?.broadcast_div(&count.clamp(1.0, 1e9)?)?;
        let lattice = self.lat_head.forward(&pooled)?;
        Ok(DenoiserOutput { coord, lattice })
    }
}

/// Number of scalar parameters in a var map.
pub fn count_params(varmap: &candle_nn::VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

/// A device helper for tests and tools.
pub fn cpu() -> Device {
    Device::Cpu
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn model() -> (VarMap, Denoiser) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let cfg = DenoiserConfig { hidden: 32, layers: 2, heads: 4, freqs: 4, edge_hidden: 8, time_dim: 16 };
        let m = Denoiser::new(&cfg, vb).unwrap();
        (vm, m)
    }

    fn input(z: Vec<u32>, x: Vec<f32>, b: usize, n: usize, mask: Vec<f32>) -> DenoiserInput {
        let dev = Device::Cpu;
        DenoiserInput {
            z: Tensor::from_vec(z, (b, n), &dev).unwrap(),
            x: Tensor::from_vec(x, (b, n, 3), &dev).unwrap(),
            lattice: Tensor::from_vec((0..6 * b).map(|i| 0.1 * i as f32 - 0.3).collect::<Vec<_>>(), (b, 6), &dev)
                .unwrap(),
            t: Tensor::from_vec((0..b).map(|i| 0.3 + 0.1 * i as f32).collect::<Vec<_>>(), b, &dev).unwrap(),
            mask: Tensor::from_vec(mask, (b, n), &dev).unwrap(),
        }
    }

    fn to_vec3(t: &Tensor) -> Vec<Vec<Vec<f32>>> {
        t.to_vec3::<f32>().unwrap()
    }

    const X: [f32; 12] = [0.1, 0.2, 0.3, 0.5, 0.55, 0.9, 0.75, 0.05, 0.4, 0.33, 0.8, 0.6];

    #[test]
    fn permutation_equivariant_and_shift_invariant() {
        let (_vm, m) = model();
        let z = vec![8u32, 22, 38, 8];
        let base = m.forward(&input(z.clone(), X.to_vec(), 1, 4, vec![1.0; 4])).unwrap();
        // Permute atoms (0 1 2 3) -> (2 0 3 1).
        let perm = [2usize, 0, 3, 1];
        let zp: Vec<u32> = perm.iter().map(|&p| z[p]).collect();
        let xp: Vec<f32> = perm.iter().flat_map(|&p| X[3 * p..3 * p + 3].to_vec()).collect();
        let out = m.forward(&input(zp, xp, 1, 4, vec![1.0; 4])).unwrap();
        let (c0, c1) = (to_vec3(&base.coord), to_vec3(&out.coord));
        for (i, &p) in perm.iter().enumerate() {
            for a in 0..3 {
                assert!((c1[0][i][a] - c0[0][p][a]).abs() < 1e-4);
            }
        }
        let (l0, l1) = (base.lattice.to_vec2::<f32>().unwrap(), out.lattice.to_vec2::<f32>().unwrap());
        assert!(l0[0].iter().zip(&l1[0]).all(|(a, b)| (a - b).abs() < 1e-4));
        // Global fractional shift, wrapped into [0, 1).
        let shift = [0.37f32, 0.81, 0.23];
        let xs: Vec<f32> = X.iter().enumerate().map(|(i, v)| (v + shift[i % 3]).rem_euclid(1.0)).collect();
        let out = m.forward(&input(z, xs, 1, 4, vec![1.0; 4])).unwrap();
        let c2 = to_vec3(&out.coord);
        for i in 0..4 {
            for a in 0..3 {
                assert!((c2[0][i][a] - c0[0][i][a]).abs() < 1e-3, "{:?} vs {:?}", c2[0][i], c0[0][i]);
            }
        }
        let l2 = out.lattice.to_vec2::<f32>().unwrap();
        assert!(l0[0].iter().zip(&l2[0]).all(|(a, b)| (a - b).abs() < 1e-3));
    }

    #[test]
    fn padding_never_influences_real_atoms() {
        let (_vm, m) = model();
        // Batch of 2: row 0 has 3 real atoms + 1 pad; row 1 has 4 atoms. Vary the pad's type and position.
        let mk = |pad_z: u32, pad_x: [f32; 3]| {
            let mut x = X[..9].to_vec();
            x.extend(pad_x);
            x.extend(&X);
            input(vec![8, 22, 38, pad_z, 8, 8, 8, 8], x, 2, 4, vec![1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0])
        };
        let a = m.forward(&mk(0, [0.0; 3])).unwrap();
        let b = m.forward(&mk(92, [0.9, 0.1, 0.5])).unwrap();
        let (ca, cb) = (to_vec3(&a.coord), to_vec3(&b.coord));
        for i in 0..3 {
            assert_eq!(ca[0][i], cb[0][i]);
        }
        assert_eq!(ca[0][3], vec![0.0; 3]);
        assert_eq!(a.lattice.to_vec2::<f32>().unwrap(), b.lattice.to_vec2::<f32>().unwrap());
        // And the same crystal alone (no padding at all) gives the same outputs.
        let solo = m.forward(&input(vec![8, 22, 38], X[..9].to_vec(), 1, 3, vec![1.0; 3])).unwrap();
        let cs = to_vec3(&solo.coord);
        for i in 0..3 {
            for k in 0..3 {
                assert!((cs[0][i][k] - ca[0][i][k]).abs() < 1e-5);
            }
        }
    }
}
