//! Command-line flags shared by the roles that start or run searches: the search parameters (`genms search`,
//! `genms ctl create`, coordinator defaults) and the dispatcher tuning (`genms search`, `genms coordinator`).

use std::time::Duration;

use clap::Args;
use genms_coordinator::EngineConfig;
use genms_shared::search::SearchParams;

/// Branching factors and limits of a search (ARCHITECTURE §1). H, W, L, rounds, budget and top are live.
#[derive(Args, Debug, Clone)]
pub struct ParamArgs {
    /// H: formulae proposed per round.
    #[arg(long, default_value_t = 16, env = "GENMS_FORMULAS")]
    pub formulas: u32,
    /// W: formulae kept per round (best by proposer score), W <= H.
    #[arg(long, default_value_t = 8, env = "GENMS_KEEP")]
    pub keep: u32,
    /// L: structures generated per kept formula.
    #[arg(long, default_value_t = 4, env = "GENMS_STRUCTURES")]
    pub structures: u32,
    /// Rounds of propose -> generate -> score.
    #[arg(long, default_value_t = 2, env = "GENMS_ROUNDS")]
    pub rounds: u32,
    /// Most structures generated in all.
    #[arg(long, default_value_t = 256, env = "GENMS_BUDGET")]
    pub budget: u64,
    /// Candidates reported.
    #[arg(long, default_value_t = 20, env = "GENMS_TOP")]
    pub top: u32,
    /// Seed of every per-item random stream (same seed, same results).
    #[arg(long, default_value_t = 0, env = "GENMS_SEED")]
    pub seed: u64,
    /// Reverse diffusion steps per structure (the models were trained for 256; fewer is faster and rougher).
    #[arg(long, default_value_t = 64, env = "GENMS_DIFFUSION_STEPS")]
    pub steps: u32,
    /// Diffusion model the workers use.
    #[arg(long, default_value = "general", env = "GENMS_DIFFUSION_MODEL")]
    pub model: String,
}

impl ParamArgs {
    pub fn params(&self) -> SearchParams {
        SearchParams {
            formulas: self.formulas,
            keep: self.keep,
            structures: self.structures,
            rounds: self.rounds,
            budget: self.budget,
            top_k: self.top,
            seed: self.seed,
            diffusion_steps: self.steps,
            model: self.model.clone(),
        }
    }
}

/// Dispatcher tuning.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Most structure / scoring items per worker task.
    #[arg(long, default_value_t = 64, env = "GENMS_MAX_BATCH_ITEMS")]
    pub batch_items: usize,
    /// Longest a partial batch waits for more items (ms).
    #[arg(long, default_value_t = 20, env = "GENMS_MAX_WAIT_MS")]
    pub max_wait_ms: u64,
    /// Deadline of one worker call (s).
    #[arg(long, default_value_t = 600, env = "GENMS_TASK_TIMEOUT_S")]
    pub task_timeout_s: u64,
    /// Attempts per task before its nodes are marked failed.
    #[arg(long, default_value_t = 4, env = "GENMS_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// First retry delay (ms); doubles per attempt.
    #[arg(long, default_value_t = 200, env = "GENMS_BACKOFF_MS")]
    pub backoff_ms: u64,
    /// Tasks in flight per worker.
    #[arg(long, default_value_t = 2, env = "GENMS_TASKS_PER_WORKER")]
    pub tasks_per_worker: usize,
    /// Worker health-check interval (ms).
    #[arg(long, default_value_t = 1000, env = "GENMS_HEALTH_EVERY_MS")]
    pub health_every_ms: u64,
}

impl EngineArgs {
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            max_batch: self.batch_items.max(1),
            max_wait: Duration::from_millis(self.max_wait_ms),
            task_timeout: Duration::from_secs(self.task_timeout_s.max(1)),
            max_attempts: self.max_attempts.max(1),
            backoff: Duration::from_millis(self.backoff_ms),
            tick: Duration::from_millis(200),
            health_every: Duration::from_millis(self.health_every_ms.max(50)),
        }
    }
}
