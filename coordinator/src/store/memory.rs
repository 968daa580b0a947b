//! The embedded `FrontierStore` of `genms search`: the same semantics as the Redis store, held in one process.
//! With a state file (`--state FILE`) every write is persisted before it returns (JSON written to a temporary file,
//! fsynced, then renamed over the old one), so an interrupted search resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use genms_shared::search::{Candidate, SearchParams};
use serde::{Deserialize, Serialize};

use super::{FrontierStore, StoreError, StoreResult, Transition};
use crate::model::{CampaignMeta, CampaignSnapshot, CampaignState, Event, Lease, Node, Stage};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CampaignData {
    meta: CampaignMeta,
    params: SearchParams,
    state: CampaignState,
    round: u32,
    error: Option<String>,
    counts: BTreeMap<String, i64>,
    nodes: BTreeMap<String, Node>,
    /// stage -> (node id -> priority)
    frontier: BTreeMap<Stage, BTreeMap<String, f64>>,
    candidates: BTreeMap<String, Candidate>,
    events: Vec<Event>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    format: u32,
    order: Vec<String>,
    campaigns: BTreeMap<String, CampaignData>,
    leases: BTreeMap<String, Lease>,
}

const FORMAT: u32 = 1;

/// In-process store, optionally persisted to a JSON file.
pub struct MemoryStore {
    state: Mutex<State>,
    path: Option<PathBuf>,
}

impl MemoryStore {
    /// A store that lives only as long as the process.
    pub fn new() -> MemoryStore {
        MemoryStore { state: Mutex::new(State { format: FORMAT, ..State::default() }), path: None }
    }

    /// A store persisted to `path`: loads it when it exists, creates it on the first write otherwise.
    pub fn open(path: &Path) -> StoreResult<MemoryStore> {
        let state = if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
            let state: State = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt { key: path.display().to_string(), message: e.to_string() })?;
            if state.format != FORMAT {
                return Err(StoreError::Corrupt {
                    key: path.display().to_string(),
                    message: format!("state format {} (this genms reads {FORMAT})", state.format),
                });
            }
            state
        } else {
            State { format: FORMAT, ..State::default() }
        };
        Ok(MemoryStore { state: Mutex::new(state), path: Some(path.to_path_buf()) })
    }

    fn with<T>(&self, write: bool, f: impl FnOnce(&mut State) -> StoreResult<T>) -> StoreResult<T> {
        let mut guard = self.state.lock().map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
        if !write {
            return f(&mut guard);
        }
        // Work on a copy so that a failed persist leaves memory and file agreeing.
        let mut next = guard.clone();
        let out = f(&mut next)?;
        if let Some(path) = &self.path {
            persist(path, &next)?;
        }
        *guard = next;
        Ok(out)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

fn persist(path: &Path, state: &State) -> StoreResult<()> {
    use std::io::Write;
    let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
    let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Io(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn campaign<'a>(state: &'a mut State, id: &str) -> StoreResult<&'a mut CampaignData> {
    state.campaigns.get_mut(id).ok_or_else(|| StoreError::NotFound(id.to_string()))
}

fn apply(c: &mut CampaignData, tx: &Transition) {
    for node in &tx.nodes {
        c.nodes.insert(node.id.clone(), node.clone());
    }
    for (stage, id, priority) in &tx.enqueue {
        c.frontier.entry(*stage).or_default().insert(id.clone(), *priority);
    }
    for cand in &tx.candidates {
        c.candidates.entry(cand.candidate_id.clone()).or_insert_with(|| cand.clone());
    }
    for (k, v) in &tx.counts {
        *c.counts.entry(k.clone()).or_insert(0) += v;
    }
    if let Some(r) = tx.round {
        c.round = r;
    }
    if let Some(s) = tx.state {
        c.state = s;
    }
    if tx.error.is_some() {
        c.error = tx.error.clone();
    }
    for e in &tx.events {
        let mut e = e.clone();
        e.seq = c.events.len() as u64 + 1;
        c.events.push(e);
    }
}

#[async_trait]
impl FrontierStore for MemoryStore {
    fn describe(&self) -> String {
        match &self.path {
            Some(p) => format!("file:{}", p.display()),
            None => "memory".into(),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn create_campaign(&self, meta: &CampaignMeta, params: &SearchParams, init: &Transition) -> StoreResult<()> {
        self.with(true, |s| {
            if s.campaigns.contains_key(&meta.id) {
                return Err(StoreError::AlreadyExists(meta.id.clone()));
            }
            let mut c = CampaignData {
                meta: meta.clone(),
                params: params.clone(),
                state: CampaignState::Running,
                round: 0,
                error: None,
                counts: BTreeMap::new(),
                nodes: BTreeMap::new(),
                frontier: BTreeMap::new(),
                candidates: BTreeMap::new(),
                events: Vec::new(),
            };
            apply(&mut c, init);
            s.order.push(meta.id.clone());
            s.campaigns.insert(meta.id.clone(), c);
            Ok(())
        })
    }

    async fn campaign_ids(&self) -> StoreResult<Vec<String>> {
        self.with(false, |s| Ok(s.order.clone()))
    }

    async fn campaign(&self, id: &str) -> StoreResult<Option<CampaignSnapshot>> {
        self.with(false, |s| {
            Ok(s.campaigns.get(id).map(|c| CampaignSnapshot {
                meta: c.meta.clone(),
                params: c.params.clone(),
                state: c.state,
                round: c.round,
                error: c.error.clone(),
                counts: c.counts.clone(),
            }))
        })
    }

    async fn set_params(&self, id: &str, params: &SearchParams) -> StoreResult<()> {
        self.with(true, |s| {
            campaign(s, id)?.params = params.clone();
            Ok(())
        })
    }

    async fn set_state(&self, id: &str, state: CampaignState) -> StoreResult<CampaignState> {
        self.with(true, |s| {
            let c = campaign(s, id)?;
            if c.state.is_active() {
                c.state = state;
            }
            Ok(c.state)
        })
    }

    async fn lease(
        &self,
        campaign_id: &str,
        stage: Stage,
        max: usize,
        task_id: &str,
        deadline_ms: u64,
    ) -> StoreResult<Vec<Node>> {
        self.with(true, |s| {
            let c = campaign(s, campaign_id)?;
            let Some(frontier) = c.frontier.get_mut(&stage) else { return Ok(Vec::new()) };
            // Redis ZREVRANGE order: score descending, then member descending.
            let mut waiting: Vec<(f64, String)> = frontier.iter().map(|(id, p)| (*p, id.clone())).collect();
            waiting.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
            waiting.truncate(max);
            if waiting.is_empty() {
                return Ok(Vec::new());
            }
            let mut nodes = Vec::with_capacity(waiting.len());
            for (_, id) in &waiting {
                frontier.remove(id);
                if let Some(n) = c.nodes.get(id) {
                    nodes.push(n.clone());
                }
            }
            let lease = Lease {
                task_id: task_id.to_string(),
                campaign: campaign_id.to_string(),
                stage,
                node_ids: waiting.into_iter().map(|(_, id)| id).collect(),
                deadline_ms,
            };
            s.leases.insert(task_id.to_string(), lease);
            Ok(nodes)
        })
    }

    async fn extend_lease(&self, task_id: &str, deadline_ms: u64) -> StoreResult<bool> {
        self.with(true, |s| {
            Ok(match s.leases.get_mut(task_id) {
                Some(l) => {
                    l.deadline_ms = deadline_ms;
                    true
                }
                None => false,
            })
        })
    }

    async fn leases(&self) -> StoreResult<Vec<Lease>> {
        self.with(false, |s| {
            let mut v: Vec<Lease> = s.leases.values().cloned().collect();
            v.sort_by(|a, b| a.deadline_ms.cmp(&b.deadline_ms).then_with(|| a.task_id.cmp(&b.task_id)));
            Ok(v)
        })
    }

    async fn commit(&self, campaign_id: &str, task_id: Option<&str>, tx: &Transition) -> StoreResult<bool> {
        self.with(true, |s| {
            if let Some(t) = task_id {
                if s.leases.remove(t).is_none() {
                    return Ok(false);
                }
            }
            apply(campaign(s, campaign_id)?, tx);
            Ok(true)
        })
    }

    async fn nodes(&self, campaign_id: &str) -> StoreResult<Vec<Node>> {
        self.with(false, |s| Ok(campaign(s, campaign_id)?.nodes.values().cloned().collect()))
    }

    async fn frontier_len(&self, campaign_id: &str, stage: Stage) -> StoreResult<u64> {
        self.with(false, |s| Ok(campaign(s, campaign_id)?.frontier.get(&stage).map_or(0, |f| f.len() as u64)))
    }

    async fn candidates(&self, campaign_id: &str) -> StoreResult<Vec<Candidate>> {
        self.with(false, |s| Ok(campaign(s, campaign_id)?.candidates.values().cloned().collect()))
    }

    async fn events_after(&self, campaign_id: &str, after: u64, max: usize) -> StoreResult<Vec<Event>> {
        self.with(false, |s| {
            let c = campaign(s, campaign_id)?;
            Ok(c.events.iter().skip(after as usize).take(max).cloned().collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_conforms() {
        crate::store::conformance::run(&MemoryStore::new()).await;
    }

    #[tokio::test]
    async fn file_store_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("genms-memstore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let _ = std::fs::remove_file(&path);
        {
            let store = MemoryStore::open(&path).unwrap();
            crate::store::conformance::run(&store).await;
        }
        let reopened = MemoryStore::open(&path).unwrap();
        crate::store::conformance::check_after_run(&reopened).await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
