//! The records a campaign is made of, as the store keeps them: campaign metadata and state, tree nodes with their
//! stage, worker-task leases and campaign events. Node ids spell their place in the tree (`r0`, `r0/f003`,
//! `r0/f003/s01`), so ids are stable across restarts and per-item RNG streams can be keyed by them.

use serde::{Deserialize, Serialize};

use genms_shared::constraints::Constraints;
use genms_shared::search::SearchParams;

/// Lifecycle of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Running,
    Paused,
    Done,
    Failed,
    Cancelled,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Done => "done",
            CampaignState::Failed => "failed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<CampaignState> {
        [
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Done,
            CampaignState::Failed,
            CampaignState::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the campaign can still change (running or paused).
    pub fn is_active(self) -> bool {
        matches!(self, CampaignState::Running | CampaignState::Paused)
    }
}

/// What does not change after creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignMeta {
    pub id: String,
    pub prompt: String,
    pub constraints: Constraints,
    pub created_ms: u64,
}

/// A campaign as read back from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSnapshot {
    pub meta: CampaignMeta,
    pub params: SearchParams,
    pub state: CampaignState,
    /// Round being expanded (0-based).
    pub round: u32,
    pub error: Option<String>,
    /// Counters: `<level>.<what>` (e.g. `formulas.proposed`, `structures.rejected.too_close`, `open`).
    pub counts: std::collections::BTreeMap<String, i64>,
}

impl CampaignSnapshot {
    pub fn count(&self, key: &str) -> i64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
}

/// Tree levels below the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// One round's formula proposal (child of the prompt).
    Round,
    /// A proposed formula.
    Formula,
    /// A structure of a kept formula.
    Structure,
}

/// Where a node is. `Propose`, `Generate` and `Score` are waiting for (or leased to) a worker task; the others are
/// terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Propose,
    Generate,
    Score,
    /// Expanded (round, kept formula) or scored into a candidate (structure).
    Done,
    /// Filtered out by a check (reason says which).
    Rejected,
    /// Valid formula not kept (beyond W or out of budget).
    Pruned,
    /// A task failed permanently or ran out of attempts (reason says why).
    Failed,
    /// The campaign was cancelled before the node finished.
    Cancelled,
}

impl Stage {
    pub const WORK: [Stage; 3] = [Stage::Propose, Stage::Generate, Stage::Score];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Propose => "propose",
            Stage::Generate => "generate",
            Stage::Score => "score",
            Stage::Done => "done",
            Stage::Rejected => "rejected",
            Stage::Pruned => "pruned",
            Stage::Failed => "failed",
            Stage::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        !Stage::WORK.contains(&self)
    }
}

/// One node of the search tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub round: u32,
    pub stage: Stage,
    /// Frontier priority (higher first).
    pub priority: f64,
    /// Task attempts so far (retries after worker failures or expired leases).
    #[serde(default)]
    pub attempts: u32,
    /// Reduced formula (formula and structure nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// Full cell composition (structure nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob: Option<f64>,
    /// Seed of this node's RNG stream.
    #[serde(default)]
    pub seed: u64,
    /// Generated structure (structure nodes after generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cif: Option<String>,
    /// Why the node was rejected / pruned / failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Node {
    pub fn new(id: String, kind: NodeKind, round: u32, stage: Stage, priority: f64, seed: u64) -> Node {
        Node {
            id,
            kind,
            round,
            stage,
            priority,
            attempts: 0,
            formula: None,
            composition: None,
            logprob: None,
            seed,
            cif: None,
            reason: None,
        }
    }
}

/// A worker task in flight: which nodes it holds and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub task_id: String,
    pub campaign: String,
    pub stage: Stage,
    pub node_ids: Vec<String>,
    pub deadline_ms: u64,
}

/// Something that happened in a campaign (the `WatchCampaign` stream). `seq` is assigned by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub seq: u64,
    pub ts_ms: u64,
    pub kind: String,
    pub message: String,
}

impl Event {
    pub fn new(kind: &str, message: impl Into<String>) -> Event {
        Event { seq: 0, ts_ms: now_ms(), kind: kind.into(), message: message.into() }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Seed of a node's RNG stream: a hash of (campaign seed, node id), so results do not depend on batching, worker or
/// restart order (ARCHITECTURE §6).
pub fn node_seed(campaign_seed: u64, node_id: &str) -> u64 {
    // FNV-1a over the id, then mixed with the seed by splitmix64: cheap, stable across versions and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h ^ campaign_seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_seeds_are_stable_and_distinct() {
        assert_eq!(node_seed(7, "r0/f001/s00"), node_seed(7, "r0/f001/s00"));
        assert_ne!(node_seed(7, "r0/f001/s00"), node_seed(7, "r0/f001/s01"));
        assert_ne!(node_seed(7, "r0/f001/s00"), node_seed(8, "r0/f001/s00"));
    }

    #[test]
    fn terminal_stages() {
        assert!(!Stage::Generate.is_terminal());
        assert!(Stage::Pruned.is_terminal());
        assert_eq!(CampaignState::parse("paused"), Some(CampaignState::Paused));
    }
}
