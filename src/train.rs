//! `genms train ...`: training genms's own models. Today: `genms train diffusion`, the formula -> structure diffusion
//! model (see `genms_worker::diffusion`), resumable across sessions from its checkpoints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use genms_shared::dataset::CdvaeReader;
use genms_worker::diffusion::checkpoint::latest_checkpoint;
use genms_worker::diffusion::{CrystalItem, DenoiserConfig, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Train (or resume training) the formula -> structure diffusion model on CDVAE-style CSV files. Writes
    /// `<out>/checkpoints/` (full training state, newest two kept), `<out>/model/` (EMA weights for `genms csp
    /// --model <out>/model`), and `<out>/log.jsonl` (train and validation losses).
    Diffusion(DiffusionArgs),
}

#[derive(Args, Debug)]
pub struct DiffusionArgs {
    /// Training CSV (CDVAE columns material_id, formula, cif); repeat for a mix of datasets.
    #[arg(long = "train", required = true, env = "GENMS_TRAIN_DATA", value_delimiter = ',')]
    pub train: Vec<PathBuf>,
    /// Validation CSV: its loss (EMA weights, fixed noise) is logged every --val-every steps.
    #[arg(long, env = "GENMS_VAL_DATA")]
    pub val: Option<PathBuf>,
    /// Output folder (checkpoints, model, log).
    #[arg(long, env = "GENMS_TRAIN_OUT")]
    pub out: PathBuf,
    /// Total optimiser steps to reach (a resumed run continues up to this number).
    #[arg(long, default_value_t = 200_000, env = "GENMS_TRAIN_STEPS")]
    pub steps: u64,
    /// Crystals per batch.
    #[arg(long, default_value_t = 128, env = "GENMS_TRAIN_BATCH")]
    pub batch: usize,
    /// Peak learning rate (AdamW, linear warm-up); default 5e-4. Given with --resume, it replaces the checkpoint's.
    #[arg(long, env = "GENMS_TRAIN_LR")]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 0.0, env = "GENMS_TRAIN_WEIGHT_DECAY")]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.999, env = "GENMS_TRAIN_EMA")]
    pub ema_decay: f64,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 1.0, env = "GENMS_TRAIN_CLIP")]
    pub clip: f64,
    #[arg(long, default_value_t = 500, env = "GENMS_TRAIN_WARMUP")]
    pub warmup: u64,
    #[arg(long, default_value_t = 0, env = "GENMS_TRAIN_SEED")]
    pub seed: u64,
    /// Hidden width of the denoiser.
    #[arg(long, default_value_t = 128, env = "GENMS_DIFFUSION_HIDDEN")]
    pub hidden: usize,
    #[arg(long, default_value_t = 4, env = "GENMS_DIFFUSION_LAYERS")]
    pub layers: usize,
    #[arg(long, default_value_t = 4, env = "GENMS_DIFFUSION_HEADS")]
    pub heads: usize,
    /// Fourier frequencies of the relative fractional coordinates.
    #[arg(long, default_value_t = 8, env = "GENMS_DIFFUSION_FREQS")]
    pub freqs: usize,
    #[arg(long, default_value_t = 32, env = "GENMS_DIFFUSION_EDGE_HIDDEN")]
    pub edge_hidden: usize,
    /// Skip training crystals with more atoms than this.
    #[arg(long, default_value_t = 64, env = "GENMS_TRAIN_MAX_ATOMS")]
    pub max_atoms: usize,
    /// Write a checkpoint (and the exported model) every N steps.
    #[arg(long, default_value_t = 500, env = "GENMS_TRAIN_CHECKPOINT_EVERY")]
    pub checkpoint_every: u64,
    /// Validation loss every N steps.
    #[arg(long, default_value_t = 1000, env = "GENMS_TRAIN_VAL_EVERY")]
    pub val_every: u64,
    /// Validation crystals used (the first N of --val).
    #[arg(long, default_value_t = 512, env = "GENMS_TRAIN_VAL_ITEMS")]
    pub val_items: usize,
    /// Append a training-loss line to the log every N steps.
    #[arg(long, default_value_t = 50, env = "GENMS_TRAIN_LOG_EVERY")]
    pub log_every: u64,
    /// Draw batches uniformly instead of from crystals of similar size.
    #[arg(long, env = "GENMS_TRAIN_NO_BUCKETS")]
    pub no_buckets: bool,
    /// Continue from `<out>/checkpoints/LATEST` (model and optimiser settings come from the checkpoint).
    #[arg(long, env = "GENMS_TRAIN_RESUME")]
    pub resume: bool,
    /// Continue from this checkpoint folder (e.g. `models/perov5/checkpoint`, holding train.safetensors and
    /// state.json) instead of `<out>/checkpoints/LATEST`; new checkpoints go to --out. Implies --resume.
    #[arg(long, env = "GENMS_TRAIN_RESUME_FROM")]
    pub resume_from: Option<PathBuf>,
}

pub fn run(cmd: TrainCommand) -> anyhow::Result<()> {
    match cmd {
        TrainCommand::Diffusion(args) => diffusion(args),
    }
}

/// Reads every crystal of a CDVAE CSV with at most `max_atoms` atoms.
pub fn load_items(path: &Path, max_atoms: usize) -> anyhow::Result<Vec<CrystalItem>> {
    let reader = CdvaeReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut items, mut skipped) = (Vec::new(), 0usize);
    for rec in reader {
        let rec = rec?;
        let s = rec.structure().map_err(anyhow::Error::msg).with_context(|| format!("in {}", path.display()))?;
        if s.num_sites() > max_atoms {
            skipped += 1;
            continue;
        }
        items.push(CrystalItem::from_structure(&s)?);
    }
    tracing::info!(path = %path.display(), kept = items.len(), skipped, "loaded training structures");
    if skipped > 0 {
        eprintln!("{}: skipped {skipped} structures with more than {max_atoms} atoms", path.display());
    }
    Ok(items)
}

fn log_line(out: &Path, value: serde_json::Value) -> anyhow::Result<()> {
    let path = out.join("log.jsonl");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    writeln!(f, "{value}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn diffusion(args: DiffusionArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut items = Vec::new();
    for p in &args.train {
        items.extend(load_items(p, args.max_atoms)?);
    }
    let val = match &args.val {
        Some(p) => load_items(p, args.max_atoms)?,
        None => Vec::new(),
    };
    eprintln!("{} training structures, {} validation structures", items.len(), val.len());
    let device = candle_core::Device::Cpu;
    let latest = latest_checkpoint(&args.out)?;
    let (latest, resume) = match (&args.resume_from, latest) {
        (Some(from), _) => (Some(from.clone()), true),
        (None, latest) => (latest, args.resume),
    };
    let mut trainer = match (latest, resume) {
        (Some(ck), true) => {
            eprintln!("resuming from {}", ck.display());
            let mut t =
                Trainer::resume(&ck, items, &device).with_context(|| format!("resuming from {}", ck.display()))?;
            if let Some(lr) = args.lr {
                eprintln!("learning rate {} -> {lr}", t.state.train.lr);
                t.state.train.lr = lr;
            }
            t
        }
        (Some(ck), false) => {
            bail!("{} already holds checkpoint {}; pass --resume to continue it", args.out.display(), ck.display())
        }
        (None, _) => {
            let model = DenoiserConfig {
                hidden: args.hidden,
                layers: args.layers,
                heads: args.heads,
                freqs: args.freqs,
                edge_hidden: args.edge_hidden,
                ..DenoiserConfig::default()
            };
            let train = TrainConfig {
                batch: args.batch,
                lr: args.lr.unwrap_or(5e-4),
                weight_decay: args.weight_decay,
                ema_decay: args.ema_decay,
                clip: args.clip,
                warmup: args.warmup,
                seed: args.seed,
                bucketed: !args.no_buckets,
            };
            Trainer::new(model, train, items, &device)?
        }
    };
    let start_step = trainer.state.step;
    eprintln!(
        "denoiser: {} parameters, {:?}; lattice stats {:?}",
        trainer.num_params(),
        trainer.state.model,
        trainer.state.lattice_stats
    );
    log_line(
        &args.out,
        serde_json::json!({"event": "start", "step": start_step, "params": trainer.num_params(),
            "train_files": args.train, "val_file": args.val, "target_steps": args.steps,
            "model": trainer.state.model, "train": trainer.state.train}),
    )?;
    let bar = ProgressBar::new(args.steps);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps ({per_sec}, eta {eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(start_step);
    let t0 = std::time::Instant::now();
    let mut window = (0.0, 0usize);
    while trainer.state.step < args.steps {
        let s = trainer.step()?;
        bar.inc(1);
        window.0 += s.loss.total;
        window.1 += 1;
        if s.step % args.log_every == 0 {
            let mean = window.0 / window.1 as f64;
            bar.set_message(format!("loss {mean:.4}"));
            let rate = (s.step - start_step) as f64 / t0.elapsed().as_secs_f64();
            log_line(
                &args.out,
                serde_json::json!({"event": "train", "step": s.step, "samples_seen": trainer.state.samples_seen,
                    "loss": mean, "last_lattice": s.loss.lattice, "last_coord": s.loss.coord,
                    "grad_norm": s.grad_norm, "lr": s.lr, "steps_per_s": rate,
                    "wall_s": trainer.state.wall_s, "cpu_s": trainer.state.cpu_s}),
            )?;
            window = (0.0, 0);
        }
        if !val.is_empty() && s.step % args.val_every == 0 {
            let v = trainer.validate(&val, args.val_items)?;
            bar.println(format!(
                "step {}: val loss {:.4} (lattice {:.4}, coord {:.4})",
                s.step, v.total, v.lattice, v.coord
            ));
            log_line(
                &args.out,
                serde_json::json!({"event": "val", "step": s.step, "samples_seen": trainer.state.samples_seen,
                    "val_loss": v.total, "val_lattice": v.lattice, "val_coord": v.coord}),
            )?;
        }
        if s.step % args.checkpoint_every == 0 || trainer.state.step >= args.steps {
            let dir = trainer.save_checkpoint(&args.out)?;
            trainer.export_model(&args.out.join("model"))?;
            tracing::info!(step = s.step, dir = %dir.display(), "checkpoint written");
        }
    }
    bar.finish();
    eprintln!(
        "done: {} steps, {} samples seen, {:.0} s wall, {:.2} CPU-hours",
        trainer.state.step,
        trainer.state.samples_seen,
        trainer.state.wall_s,
        trainer.state.cpu_s / 3600.0
    );
    Ok(())
}
