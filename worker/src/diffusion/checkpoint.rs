//! Model files and training checkpoints.
//!
//! - An inference model is a folder with `model.safetensors` (the EMA weights) and `model.json` ([`ModelMeta`]:
//!   format, network config, lattice statistics, training totals). [`save_model`] / [`load_model`].
//! - A training checkpoint is `<out>/checkpoints/step-<N>/` with `train.safetensors` (`model.*`, `ema.*`,
//!   `adam_m.*`, `adam_v.*`) and `state.json`; `<out>/checkpoints/LATEST` names the newest. Every file is written to a
//!   temporary name and renamed, and a checkpoint folder is renamed into place only when complete, so a process
//!   killed at any moment leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::denoiser::{Denoiser, DenoiserConfig};
use super::representation::LatticeStats;
use super::{DiffusionError, Result};

/// The format tag of `model.json`.
pub const MODEL_FORMAT: &str = "genms-diffusion-v1";

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub config: DenoiserConfig,
    pub lattice_stats: LatticeStats,
    /// Optimiser steps behind these weights.
    pub steps: u64,
    /// Training structures seen (steps x batch).
    pub samples_seen: u64,
    /// Default Langevin corrector step size for sampling (DiffCSP's `step_lr`); 0 disables the corrector.
    #[serde(default = "default_corrector")]
    pub corrector_lr: f64,
}

fn default_corrector() -> f64 {
    super::sample::DEFAULT_CORRECTOR_LR
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DiffusionError + '_ {
    move |source| DiffusionError::Io { path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Saves tensors as safetensors through a temporary file and a rename.
pub fn save_tensors_atomic(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let tmp = path.with_extension("tmp-write");
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Writes an inference model folder (`model.safetensors` + `model.json`).
pub fn save_model(dir: &Path, weights: &HashMap<String, Tensor>, meta: &ModelMeta) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    save_tensors_atomic(&dir.join("model.safetensors"), weights)?;
    let json = serde_json::to_vec_pretty(meta).map_err(|e| DiffusionError::Invalid(e.to_string()))?;
    write_atomic(&dir.join("model.json"), &json)
}

/// Writes a **randomly initialised** (untrained) model folder: for tests and smoke checks of the sampling pipeline.
pub fn save_random_model(dir: &Path, cfg: &DenoiserConfig, stats: LatticeStats) -> Result<ModelMeta> {
    let varmap = candle_nn::VarMap::new();
    Denoiser::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
    let weights: HashMap<String, Tensor> =
        varmap.data().lock().expect("varmap lock").iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
    let meta = ModelMeta {
        format: MODEL_FORMAT.into(),
        config: cfg.clone(),
        lattice_stats: stats,
        steps: 0,
        samples_seen: 0,
        corrector_lr: default_corrector(),
    };
    save_model(dir, &weights, &meta)?;
    Ok(meta)
}

/// Reads `model.json` of a model folder.
pub fn read_meta(dir: &Path) -> Result<ModelMeta> {
    let path = dir.join("model.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let meta: ModelMeta =
        serde_json::from_str(&text).map_err(|e| DiffusionError::File { path: path.clone(), message: e.to_string() })?;
    if meta.format != MODEL_FORMAT {
        return Err(DiffusionError::File {
            path,
            message: format!("format {:?}, expected {MODEL_FORMAT}", meta.format),
        });
    }
    Ok(meta)
}

/// Loads a model folder written by [`save_model`].
pub fn load_model(dir: &Path, device: &Device) -> Result<(Denoiser, ModelMeta)> {
    let meta = read_meta(dir)?;
    let path = dir.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&path, device)
        .map_err(|e| DiffusionError::File { path: path.clone(), message: e.to_string() })?;
    let model = model_from_tensors(&meta.config, tensors, device)
        .map_err(|e| DiffusionError::File { path, message: e.to_string() })?;
    Ok((model, meta))
}

/// Builds a denoiser from named tensors (errors when one is missing or has the wrong shape).
pub fn model_from_tensors(cfg: &DenoiserConfig, tensors: HashMap<String, Tensor>, dev: &Device) -> Result<Denoiser> {
    Denoiser::new(cfg, VarBuilder::from_tensors(tensors, DType::F32, dev))
}

/// The checkpoint folder named by `<out>/checkpoints/LATEST`, if any.
pub fn latest_checkpoint(out: &Path) -> Result<Option<PathBuf>> {
    let latest = out.join("checkpoints").join("LATEST");
    match std::fs::read_to_string(&latest) {
        Ok(name) => {
            let dir = out.join("checkpoints").join(name.trim());
            if dir.is_dir() {
                Ok(Some(dir))
            } else {
                Err(DiffusionError::File { path: latest, message: format!("names missing folder {}", dir.display()) })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DiffusionError::Io { path: latest, source: e }),
    }
}

/// Writes a checkpoint folder `<out>/checkpoints/step-<step>` atomically, points LATEST at it and keeps the newest
/// `keep` checkpoints.
pub fn write_checkpoint(
    out: &Path,
    step: u64,
    tensors: &HashMap<String, Tensor>,
    state_json: &[u8],
    keep: usize,
) -> Result<PathBuf> {
    let root = out.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(io_err(&root))?;
    let name = format!("step-{step:09}");
    let tmp = root.join(format!("{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    candle_core::safetensors::save(tensors, tmp.join("train.safetensors"))?;
    std::fs::write(tmp.join("state.json"), state_json).map_err(io_err(&tmp))?;
    let dir = root.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    std::fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
    write_atomic(&root.join("LATEST"), name.as_bytes())?;
    // Prune old checkpoints (names sort by step).
    let mut all: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(io_err(&root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.ends_with(".tmp")))
        .collect();
    all.sort();
    while all.len() > keep.max(1) {
        let old = all.remove(0);
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(dir)
}

/// Reads a checkpoint folder: its tensors and its `state.json` text.
pub fn read_checkpoint(dir: &Path, device: &Device) -> Result<(HashMap<String, Tensor>, String)> {
    let path = dir.join("train.safetensors");
    let tensors = candle_core::safetensors::load(&path, device)
        .map_err(|e| DiffusionError::File { path: path.clone(), message: e.to_string() })?;
    let state = dir.join("state.json");
    let text = std::fs::read_to_string(&state).map_err(io_err(&state))?;
    Ok((tensors, text))
}
