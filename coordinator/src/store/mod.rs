//! `FrontierStore`: everything needed to resume a campaign — campaign records, tree nodes, the per-stage frontier
//! (priority queues of nodes waiting for a worker task), task leases, candidates, counters and events. Two
//! implementations with the same semantics: [`redis::RedisStore`] (Lua scripts make each transition atomic) for the
//! cluster, and [`memory::MemoryStore`] (optionally persisted to a file) for `genms search`.
//!
//! The one write path for search progress is [`FrontierStore::commit`]: a [`Transition`] applied atomically, and —
//! when it carries a task id — only if that task still holds its lease. A late or duplicated result of a task whose
//! lease expired (and whose nodes were requeued) is therefore ignored: results are recorded once.

pub mod memory;
pub mod redis;

use async_trait::async_trait;
use genms_shared::search::{Candidate, SearchParams};
use serde::{Deserialize, Serialize};

use crate::model::{CampaignMeta, CampaignSnapshot, CampaignState, Event, Lease, Node, Stage};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("campaign {0} not found")]
    NotFound(String),
    #[error("campaign {0} already exists")]
    AlreadyExists(String),
    #[error("corrupt store record {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("store i/o: {0}")]
    Io(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One atomic step of a campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Nodes to insert or replace.
    pub nodes: Vec<Node>,
    /// Nodes to put on the frontier of a stage (id, priority; higher first).
    pub enqueue: Vec<(Stage, String, f64)>,
    /// Candidates to record (keyed by candidate id: recording one twice is a no-op).
    pub candidates: Vec<Candidate>,
    /// Counter increments.
    pub counts: Vec<(String, i64)>,
    /// New current round.
    pub round: Option<u32>,
    /// New campaign state (and error message for `failed`).
    pub state: Option<CampaignState>,
    pub error: Option<String>,
    pub events: Vec<Event>,
}

impl Transition {
    pub fn count(&mut self, key: impl Into<String>, delta: i64) {
        let key = key.into();
        match self.counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v += delta,
            None => self.counts.push((key, delta)),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Transition::default()
    }
}

#[async_trait]
pub trait FrontierStore: Send + Sync {
    /// Short description for logs (`redis://...`, `memory`, `file:...`).
    fn describe(&self) -> String;
    /// Checks the store answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Creates a campaign and applies its first transition; fails if the id exists.
    async fn create_campaign(&self, meta: &CampaignMeta, params: &SearchParams, init: &Transition) -> StoreResult<()>;
    /// Ids of all campaigns, oldest first.
    async fn campaign_ids(&self) -> StoreResult<Vec<String>>;
    async fn campaign(&self, id: &str) -> StoreResult<Option<CampaignSnapshot>>;
    /// Replaces the live search parameters.
    async fn set_params(&self, id: &str, params: &SearchParams) -> StoreResult<()>;
    /// Sets the state unless the campaign already finished (done / failed / cancelled); returns the state after.
    async fn set_state(&self, id: &str, state: CampaignState) -> StoreResult<CampaignState>;
    /// Takes up to `max` highest-priority nodes of `stage` off the campaign's frontier and leases them to `task_id`
    /// until `deadline_ms`. Returns the leased nodes (empty: nothing waiting, no lease recorded).
    async fn lease(
        &self,
        campaign: &str,
        stage: Stage,
        max: usize,
        task_id: &str,
        deadline_ms: u64,
    ) -> StoreResult<Vec<Node>>;
    /// Moves a lease's deadline; false when the lease is gone.
    async fn extend_lease(&self, task_id: &str, deadline_ms: u64) -> StoreResult<bool>;
    /// All leases (in flight, or left behind by a coordinator that died), soonest deadline first.
    async fn leases(&self) -> StoreResult<Vec<Lease>>;
    /// Applies a transition atomically. With `task_id`, only while that task holds its lease (the lease is released
    /// in the same step); returns false (nothing applied) otherwise.
    async fn commit(&self, campaign: &str, task_id: Option<&str>, tx: &Transition) -> StoreResult<bool>;
    async fn nodes(&self, campaign: &str) -> StoreResult<Vec<Node>>;
    /// Nodes waiting on the frontier of a stage.
    async fn frontier_len(&self, campaign: &str, stage: Stage) -> StoreResult<u64>;
    async fn candidates(&self, campaign: &str) -> StoreResult<Vec<Candidate>>;
    /// Events with `seq > after`, oldest first, at most `max`.
    async fn events_after(&self, campaign: &str, after: u64, max: usize) -> StoreResult<Vec<Event>>;
}

#[cfg(test)]
pub(crate) mod conformance;
