//! The coordinator's API, transport-free: what `CoordinatorService` (gRPC) and `genms search` (in-process) call.
//! Creating campaigns (prompt interpretation + first transition), reading them, ranked candidates, events, live
//! parameter updates, pause / resume / cancel, and the worker list.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use genms_shared::constraints::{interpret, Constraints};
use genms_shared::search::{Candidate, ParamsUpdate, SearchParams};

use crate::engine::Engine;
use crate::expand;
use crate::model::{now_ms, CampaignMeta, CampaignSnapshot, CampaignState, Event, Node, Stage};
use crate::pool::WorkerStatus;
use crate::store::{StoreError, Transition};

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("campaign {0} not found")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CoordinatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => CoordinatorError::NotFound(id),
            other => CoordinatorError::Store(other),
        }
    }
}

pub type CoordResult<T> = Result<T, CoordinatorError>;

/// A campaign as reported to users.
#[derive(Debug, Clone)]
pub struct CampaignView {
    pub snapshot: CampaignSnapshot,
    /// Nodes waiting per stage.
    pub frontier: Vec<(Stage, u64)>,
    /// Words of the prompt the interpreter did not understand.
    pub unknown_words: Vec<String>,
}

pub struct Coordinator {
    engine: Arc<Engine>,
    seq: AtomicU64,
}

/// Longest accepted prompt (characters).
pub const MAX_PROMPT_CHARS: usize = 2000;

impl Coordinator {
    pub fn new(engine: Arc<Engine>) -> Coordinator {
        Coordinator { engine, seq: AtomicU64::new(0) }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Interprets the prompt and starts a campaign; returns its id. `id` may be chosen by the caller (embedded mode
    /// uses a stable id so that `--state` resumes the same campaign).
    pub async fn create_campaign(&self, prompt: &str, params: SearchParams, id: Option<String>) -> CoordResult<String> {
        let prompt = prompt.trim();
        if prompt.is_empty() {
            return Err(CoordinatorError::InvalidArgument("prompt is empty".into()));
        }
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(CoordinatorError::InvalidArgument(format!("prompt longer than {MAX_PROMPT_CHARS} characters")));
        }
        params.validate().map_err(CoordinatorError::InvalidArgument)?;
        let interpretation =
            interpret(prompt).map_err(|e| CoordinatorError::InvalidArgument(format!("prompt: {e}")))?;
        let constraints: Constraints = interpretation.constraints;
        let id = match id {
            Some(id) => {
                if id.is_empty()
                    || id.len() > 64
                    || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(CoordinatorError::InvalidArgument(format!(
                        "campaign id '{id}' must be 1-64 characters of A-Z a-z 0-9 - _"
                    )));
                }
                id
            }
            None => format!("c{:x}{:02x}", now_ms(), self.seq.fetch_add(1, Ordering::Relaxed) % 256),
        };
        let meta = CampaignMeta { id: id.clone(), prompt: prompt.to_string(), constraints, created_ms: now_ms() };
        let mut init = expand::initial(&params);
        if !interpretation.unknown_words.is_empty() {
            init.events.push(Event::new(
                "prompt_unknown_words",
                format!("words not understood: {}", interpretation.unknown_words.join(", ")),
            ));
        }
        self.engine.store().create_campaign(&meta, &params, &init).await.map_err(|e| match e {
            StoreError::AlreadyExists(id) => {
                CoordinatorError::FailedPrecondition(format!("campaign {id} already exists"))
            }
            other => other.into(),
        })?;
        tracing::info!(campaign = %id, prompt = %prompt, "campaign created");
        metrics::counter!("genms_campaigns_created_total").increment(1);
        self.engine.wake();
        Ok(id)
    }

    pub async fn campaign(&self, id: &str) -> CoordResult<CampaignView> {
        let store = self.engine.store();
        let snapshot = store.campaign(id).await?.ok_or_else(|| CoordinatorError::NotFound(id.to_string()))?;
        let mut frontier = Vec::new();
        for stage in Stage::WORK {
            frontier.push((stage, store.frontier_len(id, stage).await?));
        }
        let unknown_words = interpret(&snapshot.meta.prompt).map(|i| i.unknown_words).unwrap_or_default();
        Ok(CampaignView { snapshot, frontier, unknown_words })
    }

    pub async fn campaign_ids(&self) -> CoordResult<Vec<String>> {
        Ok(self.engine.store().campaign_ids().await?)
    }

    /// The best `top` candidates (all when 0), best first.
    pub async fn candidates(&self, id: &str, top: usize) -> CoordResult<Vec<Candidate>> {
        self.require(id).await?;
        let mut ranked = expand::ranked(self.engine.store().candidates(id).await?);
        if top > 0 {
            ranked.truncate(top);
        }
        Ok(ranked)
    }

    pub async fn nodes(&self, id: &str) -> CoordResult<Vec<Node>> {
        self.require(id).await?;
        Ok(self.engine.store().nodes(id).await?)
    }

    pub async fn events_after(&self, id: &str, after: u64, max: usize) -> CoordResult<Vec<Event>> {
        self.require(id).await?;
        Ok(self.engine.store().events_after(id, after, max).await?)
    }

    /// Changes live parameters; later expansions use them. Invalid values are rejected with the reason.
    pub async fn update_params(&self, id: &str, update: &ParamsUpdate) -> CoordResult<SearchParams> {
        let snap = self.require(id).await?;
        if !snap.state.is_active() {
            return Err(CoordinatorError::FailedPrecondition(format!(
                "campaign {id} is {}; parameters can no longer change",
                snap.state.as_str()
            )));
        }
        let params = snap.params.updated(update).map_err(CoordinatorError::InvalidArgument)?;
        let store = self.engine.store();
        store.set_params(id, &params).await?;
        let tx = Transition {
            events: vec![Event::new("params_updated", serde_json::to_string(update).unwrap_or_default())],
            ..Transition::default()
        };
        store.commit(id, None, &tx).await?;
        tracing::info!(campaign = %id, ?update, "search parameters updated");
        self.engine.wake();
        Ok(params)
    }

    pub async fn set_state(&self, id: &str, state: CampaignState) -> CoordResult<CampaignState> {
        let snap = self.require(id).await?;
        if !snap.state.is_active() {
            return Err(CoordinatorError::FailedPrecondition(format!(
                "campaign {id} is already {}",
                snap.state.as_str()
            )));
        }
        let store = self.engine.store();
        let after = store.set_state(id, state).await?;
        let tx = Transition { events: vec![Event::new("state", after.as_str())], ..Transition::default() };
        store.commit(id, None, &tx).await?;
        tracing::info!(campaign = %id, state = after.as_str(), "campaign state changed");
        self.engine.wake();
        Ok(after)
    }

    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.engine.pool().status()
    }

    async fn require(&self, id: &str) -> CoordResult<CampaignSnapshot> {
        self.engine.store().campaign(id).await?.ok_or_else(|| CoordinatorError::NotFound(id.to_string()))
    }
}
