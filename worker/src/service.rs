//! The transport-free `Worker`: the three task kinds of the search (formula sampling, diffusion batches, GNN scoring)
//! run on models loaded once. The binary serves it over gRPC (`genms worker`) or calls it in-process (`genms
//! search`); either way inference runs on dedicated threads, never on the async runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::Device;
use genms_shared::io::{read_cif_structure, write_cif, CifOptions};
use genms_shared::search::{
    GenerateTask, Generated, GeneratedStructure, Properties, ProposeTask, ProposedFormula, ScoreTask, Scored,
    ScoredStructure, WorkerInfo,
};
use genms_shared::symmetry::{space_group, DEFAULT_SYMPREC};
use genms_shared::validity::generation_check;
use genms_shared::Composition;
use tracing::info;

use crate::cgcnn::{Head, Scorer};
use crate::diffusion::checkpoint::load_model;
use crate::diffusion::sample::species_of;
use crate::diffusion::{sample_structures, Denoiser, ModelMeta, SampleRequest, SamplerOptions};
use crate::proposer::FormulaProposer;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The task is malformed (unknown model, too many items, ...): retrying cannot help.
    #[error("invalid task: {0}")]
    Invalid(String),
    /// A model failed while running.
    #[error("model error: {0}")]
    Model(String),
    /// Loading models failed.
    #[error("loading {what}: {message}")]
    Load { what: String, message: String },
}

/// Most atoms in one requested cell (the diffusion models' trained range plus headroom).
pub const MAX_ITEM_ATOMS: usize = 64;

/// What a worker loads.
pub struct WorkerConfig {
    pub name: String,
    pub device: Device,
    pub device_name: String,
    /// Most items per task; larger tasks are rejected as invalid.
    pub max_batch: usize,
    /// Diffusion models by name (model folder paths).
    pub diffusion_models: Vec<(String, PathBuf)>,
    /// CGCNN models root (`--models-dir`).
    pub cgcnn_dir: PathBuf,
    pub heads: Vec<Head>,
    /// Items per CGCNN forward pass.
    pub score_batch: usize,
}

pub struct Worker {
    name: String,
    device: Device,
    device_name: String,
    max_batch: usize,
    proposer: Box<dyn FormulaProposer>,
    diffusion: BTreeMap<String, (Denoiser, ModelMeta)>,
    scorer: Scorer,
    heads: Vec<Head>,
    score_batch: usize,
}

impl Worker {
    /// Loads every model once.
    pub fn load(cfg: WorkerConfig, proposer: Box<dyn FormulaProposer>) -> Result<Worker, WorkerError> {
        let mut diffusion = BTreeMap::new();
        for (name, path) in &cfg.diffusion_models {
            let (model, meta) = load_model(path, &cfg.device).map_err(|e| WorkerError::Load {
                what: format!("diffusion model {name} ({})", path.display()),
                message: e.to_string(),
            })?;
            info!(model = %name, path = %path.display(), "diffusion model loaded");
            diffusion.insert(name.clone(), (model, meta));
        }
        if diffusion.is_empty() {
            return Err(WorkerError::Load { what: "diffusion models".into(), message: "none given".into() });
        }
        let scorer = Scorer::load(&cfg.cgcnn_dir, &cfg.heads, &cfg.device).map_err(|e| WorkerError::Load {
            what: format!("CGCNN heads from {}", cfg.cgcnn_dir.display()),
            message: e.to_string(),
        })?;
        Ok(Worker {
            name: cfg.name,
            device: cfg.device,
            device_name: cfg.device_name,
            max_batch: cfg.max_batch.max(1),
            proposer,
            diffusion,
            scorer,
            heads: cfg.heads,
            score_batch: cfg.score_batch.max(1),
        })
    }

    pub fn info(&self) -> WorkerInfo {
        WorkerInfo {
            name: self.name.clone(),
            device: self.device_name.clone(),
            max_batch: self.max_batch as u32,
            proposer: self.proposer.name().to_string(),
            diffusion_models: self.diffusion.keys().cloned().collect(),
            score_heads: self.heads.iter().map(|h| h.column().to_string()).collect(),
            bench_latency_ms: None,
        }
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub fn propose(&self, task: &ProposeTask) -> Result<Vec<ProposedFormula>, WorkerError> {
        if task.n == 0 || task.n as usize > 4096 {
            return Err(WorkerError::Invalid(format!("n = {} formulae (allowed 1..=4096)", task.n)));
        }
        self.proposer.propose(task).map_err(|e| WorkerError::Model(e.to_string()))
    }

    /// Samples one structure per item; an item that cannot be generated (bad composition) gets its own error.
    pub fn generate(&self, task: &GenerateTask) -> Result<Vec<GeneratedStructure>, WorkerError> {
        self.check_batch(task.items.len())?;
        let (model, meta) = self.diffusion.get(&task.model).ok_or_else(|| {
            WorkerError::Invalid(format!(
                "unknown diffusion model '{}' (this worker has: {})",
                task.model,
                self.diffusion.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if task.steps == 0 || task.steps > genms_shared::search::MAX_DIFFUSION_STEPS {
            return Err(WorkerError::Invalid(format!("steps = {} out of range", task.steps)));
        }
        let mut out: Vec<GeneratedStructure> = Vec::with_capacity(task.items.len());
        let mut requests = Vec::new();
        let mut slots = Vec::new();
        for item in &task.items {
            let species = Composition::parse(&item.composition)
                .map_err(|e| e.to_string())
                .and_then(|c| species_of(&c).map_err(|e| e.to_string()))
                .and_then(|s| {
                    if s.len() > MAX_ITEM_ATOMS {
                        Err(format!("{} atoms (at most {MAX_ITEM_ATOMS})", s.len()))
                    } else {
                        Ok(s)
                    }
                });
            match species {
                Ok(species) => {
                    slots.push(out.len());
                    // The item's seed keys its RNG stream: results do not depend on the batch it travels in.
                    requests.push(SampleRequest { species, row: item.seed, sample: 0 });
                    out.push(GeneratedStructure { item_id: item.item_id.clone(), result: Err(String::new()) });
                }
                Err(e) => out.push(GeneratedStructure {
                    item_id: item.item_id.clone(),
                    result: Err(format!("composition '{}': {e}", item.composition)),
                }),
            }
        }
        let opts = SamplerOptions { steps: task.steps as usize, corrector_lr: meta.corrector_lr, seed: 0 };
        let structures = sample_structures(model, meta, &requests, &opts, &self.device)
            .map_err(|e| WorkerError::Model(e.to_string()))?;
        for (slot, s) in slots.into_iter().zip(structures) {
            let rejection = generation_check(&s).err().map(str::to_string);
            out[slot].result = Ok(Generated { cif: write_cif(&s), num_sites: s.num_sites() as u32, rejection });
        }
        Ok(out)
    }

    /// Scores structures; a CIF that cannot be read or graphed gets its own error.
    pub fn score(&self, task: &ScoreTask) -> Result<Vec<ScoredStructure>, WorkerError> {
        self.check_batch(task.items.len())?;
        let mut out: Vec<ScoredStructure> = Vec::with_capacity(task.items.len());
        let mut structures = Vec::new();
        let mut slots = Vec::new();
        for item in &task.items {
            match read_cif_structure(&item.cif, &CifOptions::default()) {
                Ok(s) => {
                    slots.push(out.len());
                    structures.push(s);
                    out.push(ScoredStructure { item_id: item.item_id.clone(), result: Err(String::new()) });
                }
                Err(e) => out.push(ScoredStructure { item_id: item.item_id.clone(), result: Err(format!("cif: {e}")) }),
            }
        }
        let scores = self.scorer.score(&structures, self.score_batch).map_err(|e| WorkerError::Model(e.to_string()))?;
        for ((slot, s), structure) in slots.into_iter().zip(scores).zip(&structures) {
            out[slot].result = s
                .map(|s| Scored {
                    properties: Properties {
                        e_form_per_atom: s.e_form_per_atom,
                        band_gap: s.band_gap,
                        p_metal: s.p_metal,
                    },
                    spacegroup_number: space_group(structure, DEFAULT_SYMPREC).ok().map(|g| g.number),
                    num_sites: structure.num_sites() as u32,
                })
                .map_err(|e| format!("graph: {e}"));
        }
        Ok(out)
    }

    fn check_batch(&self, n: usize) -> Result<(), WorkerError> {
        if n > self.max_batch {
            return Err(WorkerError::Invalid(format!("{n} items exceed this worker's max batch {}", self.max_batch)));
        }
        Ok(())
    }
}
