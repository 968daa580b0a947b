//! The vocabulary shared by the search coordinator, the workers and the binary's transports: search parameters
//! (the live branching factors of a campaign), the three kinds of worker task with their results, and candidates.
//! Transport-free: the gRPC layer maps these to and from protobuf messages.

use serde::{Deserialize, Serialize};

use crate::constraints::Constraints;

/// Branching factors and limits of a campaign. H, W, L, rounds, budget and top-k are live: an operator may change
/// them while the campaign runs, and the next expansion uses the new values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchParams {
    /// H: formulae proposed per round.
    pub formulas: u32,
    /// W: formulae kept per round (best by proposer score), W <= H.
    pub keep: u32,
    /// L: structures generated per kept formula.
    pub structures: u32,
    /// Rounds of propose -> generate -> score.
    pub rounds: u32,
    /// Most structures the campaign generates in all.
    pub budget: u64,
    /// Candidates reported.
    pub top_k: u32,
    /// Seed of every per-item RNG stream.
    pub seed: u64,
    /// Reverse diffusion steps per structure.
    pub diffusion_steps: u32,
    /// Which diffusion model the workers use (`general`, `perov5`, ... or a name the workers know).
    pub model: String,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            formulas: 16,
            keep: 8,
            structures: 4,
            rounds: 2,
            budget: 256,
            top_k: 20,
            seed: 0,
            diffusion_steps: 64,
            model: "general".into(),
        }
    }
}

/// Largest branching factor accepted (keeps one expansion to a sane number of tasks).
pub const MAX_BRANCHING: u32 = 4096;
/// Most reverse diffusion steps accepted.
pub const MAX_DIFFUSION_STEPS: u32 = 5000;

impl SearchParams {
    /// Checks ranges; the message names the offending parameter.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [("formulas (H)", self.formulas), ("keep (W)", self.keep), ("structures (L)", self.structures)];
        for (name, v) in positive {
            if v == 0 || v > MAX_BRANCHING {
                return Err(format!("{name} must be in 1..={MAX_BRANCHING}, got {v}"));
            }
        }
        if self.keep > self.formulas {
            return Err(format!("keep (W = {}) must not exceed formulas (H = {})", self.keep, self.formulas));
        }
        if self.rounds == 0 || self.rounds > 1000 {
            return Err(format!("rounds must be in 1..=1000, got {}", self.rounds));
        }
        if self.budget == 0 {
            return Err("budget must be at least 1 structure".into());
        }
        if self.top_k == 0 {
            return Err("top_k must be at least 1".into());
        }
        if self.diffusion_steps == 0 || self.diffusion_steps > MAX_DIFFUSION_STEPS {
            return Err(format!("diffusion_steps must be in 1..={MAX_DIFFUSION_STEPS}, got {}", self.diffusion_steps));
        }
        if self.model.trim().is_empty() {
            return Err("model must name a diffusion model".into());
        }
        Ok(())
    }

    /// Applies a partial update and validates the result (the original is unchanged on error).
    pub fn updated(&self, update: &ParamsUpdate) -> Result<SearchParams, String> {
        let mut p = self.clone();
        if let Some(v) = update.formulas {
            p.formulas = v;
        }
        if let Some(v) = update.keep {
            p.keep = v;
        }
        if let Some(v) = update.structures {
            p.structures = v;
        }
        if let Some(v) = update.rounds {
            p.rounds = v;
        }
        if let Some(v) = update.budget {
            if v < 0 {
                return Err(format!("budget must not be negative, got {v}"));
            }
            p.budget = v as u64;
        }
        if let Some(v) = update.top_k {
            p.top_k = v;
        }
        p.validate()?;
        Ok(p)
    }
}

/// A live change of search parameters; `None` leaves a value as it is. `budget` is signed so that a negative value
/// is reported as such rather than wrapped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamsUpdate {
    pub formulas: Option<u32>,
    pub keep: Option<u32>,
    pub structures: Option<u32>,
    pub rounds: Option<u32>,
    pub budget: Option<i64>,
    pub top_k: Option<u32>,
}

/// Formula-sampling task: propose `n` formulae for a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposeTask {
    pub task_id: String,
    pub prompt: String,
    pub constraints: Constraints,
    pub n: u32,
    /// Seed of this proposal's RNG stream (derived from campaign seed and node id).
    pub seed: u64,
    /// Reduced formulae not to propose again (already proposed in earlier rounds).
    pub exclude: Vec<String>,
    /// Best formulae found so far, best first (conditioning for later rounds).
    pub context: Vec<String>,
}

/// One proposed formula with the proposer's log-probability (higher = more plausible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedFormula {
    /// Reduced formula as pymatgen writes it.
    pub formula: String,
    pub logprob: f64,
}

/// One structure to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateItem {
    /// Item id (the structure node's id): results are matched by it.
    pub item_id: String,
    /// Full cell composition, e.g. `Sr4Ti4O12`.
    pub composition: String,
    /// Seed of this item's RNG stream.
    pub seed: u64,
}

/// Diffusion-batch task: many formulae x samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateTask {
    pub task_id: String,
    pub model: String,
    pub steps: u32,
    pub items: Vec<GenerateItem>,
}

/// A generated structure with the worker's verdict on it, or why the item failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedStructure {
    pub item_id: String,
    pub result: Result<Generated, String>,
}

/// A generated cell. The worker, which holds the structure in memory, runs the generation checks
/// ([`crate::validity::generation_check`]) so the coordinator never re-parses structures on its hot path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// P1 CIF.
    pub cif: String,
    pub num_sites: u32,
    /// Reason code when the structure fails the checks (`atoms_too_close`, ...); `None` when it passes.
    pub rejection: Option<String>,
}

/// One structure to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreItem {
    pub item_id: String,
    pub cif: String,
}

/// GNN-scoring task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTask {
    pub task_id: String,
    pub items: Vec<ScoreItem>,
}

/// Predicted properties of one structure (None: head not loaded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Properties {
    pub e_form_per_atom: Option<f64>,
    pub band_gap: Option<f64>,
    pub p_metal: Option<f64>,
}

/// A scored structure, or why scoring failed (e.g. the graph could not be built).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredStructure {
    pub item_id: String,
    pub result: Result<Scored, String>,
}

/// Predictions for one structure plus what the worker read off it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub properties: Properties,
    /// Space group (moyo, symprec 0.1); `None` when symmetry detection failed or was not run (bench workers).
    pub spacegroup_number: Option<u16>,
    pub num_sites: u32,
}

/// What a worker can do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub name: String,
    pub device: String,
    pub max_batch: u32,
    pub proposer: String,
    pub diffusion_models: Vec<String>,
    pub score_heads: Vec<String>,
    /// Set on bench-mode workers, which answer after a simulated latency instead of running models.
    pub bench_latency_ms: Option<u64>,
}

/// A ranked result of a campaign, with provenance (prompt -> formula -> structure -> scores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub candidate_id: String,
    pub round: u32,
    pub formula: String,
    pub composition: String,
    pub formula_logprob: f64,
    pub properties: Properties,
    /// Ranking objective (lower is better): formation energy plus property penalties.
    pub objective: f64,
    pub spacegroup_number: Option<u16>,
    pub num_sites: u32,
    pub novel: bool,
    pub cif: String,
}
