//! The dispatcher: the loop that turns waiting tree nodes into worker tasks and results back into tree growth.
//! Dynamic batching (structure and scoring items of many tree nodes go out together, up to `max_batch`, waiting at
//! most `max_wait` for a batch to fill), least-loaded scheduling over healthy workers, deadlines, retries with
//! exponential backoff on other workers, an attempts cap, and recovery of leases left behind by a coordinator that
//! died. Decisions themselves live in [`crate::expand`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use genms_shared::known::KnownFormulas;
use genms_shared::search::{GenerateItem, GenerateTask, ScoreItem, ScoreTask};
use tokio::sync::{watch, Notify};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::expand;
use crate::model::{now_ms, CampaignSnapshot, CampaignState, Node, Stage};
use crate::pool::{WorkerLease, WorkerPool};
use crate::store::{FrontierStore, StoreError, Transition};
use crate::workers::WorkerCallError;

/// Tuning of the dispatcher.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most structure or scoring items in one task.
    pub max_batch: usize,
    /// Longest a partial batch waits for more items.
    pub max_wait: Duration,
    /// Deadline of one worker call.
    pub task_timeout: Duration,
    /// Attempts per task before its nodes are marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to 32x.
    pub backoff: Duration,
    /// Longest the loop sleeps without being woken.
    pub tick: Duration,
    /// Worker readiness checks (and DNS re-resolution) interval.
    pub health_every: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_batch: 64,
            max_wait: Duration::from_millis(20),
            task_timeout: Duration::from_secs(600),
            max_attempts: 4,
            backoff: Duration::from_millis(200),
            tick: Duration::from_millis(200),
            health_every: Duration::from_secs(2),
        }
    }
}

pub struct Engine {
    store: Arc<dyn FrontierStore>,
    pool: Arc<WorkerPool>,
    known: Option<Arc<KnownFormulas>>,
    cfg: EngineConfig,
    wake: Notify,
    in_flight: AtomicUsize,
    task_seq: AtomicU64,
    instance: String,
}

enum Outcome {
    Proposed(Vec<genms_shared::search::ProposedFormula>),
    Generated(Vec<genms_shared::search::GeneratedStructure>),
    Scored(Vec<genms_shared::search::ScoredStructure>),
}

impl Engine {
    pub fn new(
        store: Arc<dyn FrontierStore>,
        pool: Arc<WorkerPool>,
        known: Option<Arc<KnownFormulas>>,
        cfg: EngineConfig,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            store,
            pool,
            known,
            cfg,
            wake: Notify::new(),
            in_flight: AtomicUsize::new(0),
            task_seq: AtomicU64::new(0),
            instance: format!("{:x}", now_ms()),
        })
    }

    pub fn store(&self) -> &Arc<dyn FrontierStore> {
        &self.store
    }

    pub fn pool(&self) -> &Arc<WorkerPool> {
        &self.pool
    }

    pub fn known(&self) -> Option<&KnownFormulas> {
        self.known.as_deref()
    }

    /// Makes the loop look at the store now (new campaign, resumed campaign, changed parameters).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tasks currently running.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requeues every lease in the store: called once at start, when no task of this process is in flight, so any
    /// lease belongs to a coordinator that died. Returns how many tasks were requeued.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let leases = self.store.leases().await?;
        let mut n = 0;
        for lease in leases {
            let nodes: Vec<Node> = {
                let all = self.store.nodes(&lease.campaign).await?;
                all.into_iter().filter(|x| lease.node_ids.contains(&x.id)).collect()
            };
            let tx = expand::requeue(&nodes, lease.stage, self.cfg.max_attempts, "coordinator restarted");
            if self.store.commit(&lease.campaign, Some(&lease.task_id), &tx).await? {
                n += 1;
                info!(campaign = %lease.campaign, task = %lease.task_id, nodes = nodes.len(), "requeued task of a previous coordinator");
            }
        }
        metrics::counter!("genms_tasks_recovered_total").increment(n as u64);
        Ok(n)
    }

    /// Runs until `stop` turns true, then stops dispatching (in-flight tasks finish on their own; see [`Self::drain`]).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            match self.recover().await {
                Ok(n) => {
                    info!(requeued = n, store = %self.store.describe(), "dispatcher started");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "store not ready; retrying recovery");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
        let health = {
            let pool = self.pool.clone();
            let every = self.cfg.health_every;
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    pool.refresh(every.max(Duration::from_millis(500))).await;
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            })
        };
        let mut waiting_since: HashMap<(String, Stage), Instant> = HashMap::new();
        while !*stop.borrow() {
            let sleep_for = match self.tick(&mut waiting_since).await {
                Ok(d) => d,
                Err(e) => {
                    warn!(error = %e, "dispatch pass failed; retrying");
                    Duration::from_millis(500)
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
                _ = stop.changed() => {}
            }
        }
        health.abort();
        info!(in_flight = self.in_flight(), "dispatcher stopped");
    }

    /// Waits until in-flight tasks finish, at most `deadline`; returns how many were still running.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let end = Instant::now() + deadline;
        while self.in_flight() > 0 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.in_flight()
    }

    fn next_task_id(&self, campaign: &str, stage: Stage) -> String {
        let n = self.task_seq.fetch_add(1, Ordering::Relaxed);
        format!("{campaign}:{}:{}-{n}", stage.as_str(), self.instance)
    }

    /// One pass over all campaigns; returns how long the loop may sleep.
    async fn tick(
        self: &Arc<Self>,
        waiting_since: &mut HashMap<(String, Stage), Instant>,
    ) -> Result<Duration, StoreError> {
        let mut sleep_for = self.cfg.tick;
        for id in self.store.campaign_ids().await? {
            let Some(snap) = self.store.campaign(&id).await? else { continue };
            metrics::gauge!("genms_campaign_candidates", "campaign" => id.clone()).set(snap.count("candidates") as f64);
            match snap.state {
                CampaignState::Running => {
                    if snap.count("open") <= 0 {
                        let tx = expand::on_round_complete(&snap);
                        self.store.commit(&id, None, &tx).await?;
                        sleep_for = Duration::ZERO;
                        continue;
                    }
                    for stage in Stage::WORK {
                        if let Some(d) = self.dispatch_stage(&snap, stage, waiting_since).await? {
                            sleep_for = sleep_for.min(d);
                        }
                    }
                }
                CampaignState::Cancelled if snap.count("open") > 0 => self.cancel_waiting(&snap).await?,
                _ => {}
            }
        }
        Ok(sleep_for)
    }

    /// Leases and launches tasks of one stage; returns a wake-up delay when a partial batch is waiting to fill.
    async fn dispatch_stage(
        self: &Arc<Self>,
        snap: &CampaignSnapshot,
        stage: Stage,
        waiting_since: &mut HashMap<(String, Stage), Instant>,
    ) -> Result<Option<Duration>, StoreError> {
        let id = &snap.meta.id;
        let key = (id.clone(), stage);
        let mut waiting = self.store.frontier_len(id, stage).await? as usize;
        metrics::gauge!("genms_frontier_depth", "stage" => stage.as_str()).set(waiting as f64);
        if waiting == 0 {
            waiting_since.remove(&key);
            return Ok(None);
        }
        let max = if stage == Stage::Propose { 1 } else { self.cfg.max_batch.max(1) };
        if waiting < max {
            let first = *waiting_since.entry(key.clone()).or_insert_with(Instant::now);
            let waited = first.elapsed();
            if waited < self.cfg.max_wait {
                return Ok(Some(self.cfg.max_wait - waited));
            }
        }
        while waiting > 0 {
            let Some(worker) = self.pool.acquire(None) else { break };
            let task_id = self.next_task_id(id, stage);
            let deadline = now_ms() + (self.cfg.task_timeout * 2).as_millis() as u64;
            let nodes = self.store.lease(id, stage, max, &task_id, deadline).await?;
            if nodes.is_empty() {
                break;
            }
            waiting = waiting.saturating_sub(nodes.len());
            waiting_since.remove(&key);
            metrics::histogram!("genms_batch_size", "kind" => stage.as_str()).record(nodes.len() as f64);
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            let engine = self.clone();
            let span = info_span!("task", campaign = %id, task = %task_id, kind = stage.as_str(), items = nodes.len());
            let campaign = id.clone();
            tokio::spawn(
                async move {
                    engine.execute(&campaign, stage, &task_id, nodes, worker).await;
                    engine.in_flight.fetch_sub(1, Ordering::AcqRel);
                    engine.wake();
                }
                .instrument(span),
            );
        }
        Ok(None)
    }

    async fn cancel_waiting(&self, snap: &CampaignSnapshot) -> Result<(), StoreError> {
        for stage in Stage::WORK {
            let task_id = self.next_task_id(&snap.meta.id, stage);
            let nodes = self.store.lease(&snap.meta.id, stage, usize::MAX >> 1, &task_id, now_ms()).await?;
            if !nodes.is_empty() {
                self.store.commit(&snap.meta.id, Some(&task_id), &expand::on_cancelled(&nodes)).await?;
            }
        }
        Ok(())
    }

    /// Runs one task to completion: calls workers (retrying elsewhere with backoff), then commits the outcome.
    async fn execute(&self, campaign: &str, stage: Stage, task_id: &str, nodes: Vec<Node>, first: WorkerLease) {
        let started = Instant::now();
        let mut worker = Some(first);
        let mut avoid: Option<String> = None;
        let mut attempt = 0u32;
        let mut busy_retries = 0u32;
        let mut called = Duration::ZERO;
        let tx = loop {
            let w = match worker.take() {
                Some(w) => w,
                None => match self.wait_for_worker(avoid.as_deref(), task_id).await {
                    Some(w) => w,
                    None => return,
                },
            };
            let _ = self.store.extend_lease(task_id, now_ms() + (self.cfg.task_timeout * 2).as_millis() as u64).await;
            let result = self.call(campaign, stage, task_id, &nodes, &w).await;
            match result {
                Ok(outcome) => {
                    w.report(true, false);
                    drop(w);
                    called = started.elapsed();
                    match self.outcome_transition(campaign, &nodes, outcome).await {
                        Some(tx) => break tx,
                        None => return,
                    }
                }
                Err(e) => {
                    w.report(false, e.marks_unhealthy());
                    // A busy worker is not the task's fault: back off, but do not spend an attempt on it.
                    let overloaded = matches!(e, WorkerCallError::Overloaded(_));
                    if !overloaded {
                        attempt += 1;
                    }
                    busy_retries += u32::from(overloaded);
                    metrics::counter!("genms_task_retries_total", "kind" => stage.as_str(), "reason" => e.code())
                        .increment(1);
                    warn!(worker = %w.address(), attempt, error = %e, "task attempt failed");
                    if !e.is_retryable() || attempt >= self.cfg.max_attempts {
                        break expand::on_failed(&nodes, &format!("{attempt} attempt(s): {e}"));
                    }
                    avoid = Some(w.address().to_string());
                    drop(w);
                    let delay = self.cfg.backoff * 2u32.pow((attempt + busy_retries).clamp(1, 6) - 1);
                    tokio::time::sleep(delay).await;
                }
            }
        };
        let kind = stage.as_str();
        let decided = started.elapsed();
        metrics::histogram!("genms_task_seconds", "kind" => kind).record(decided.as_secs_f64());
        self.commit_with_retry(campaign, task_id, &tx).await;
        metrics::counter!("genms_items_total", "kind" => kind).increment(nodes.len() as u64);
        debug!(
            call_us = called.as_micros() as u64,
            decide_us = (decided - called).as_micros() as u64,
            commit_us = (started.elapsed() - decided).as_micros() as u64,
            "task committed"
        );
    }

    async fn wait_for_worker(&self, avoid: Option<&str>, task_id: &str) -> Option<WorkerLease> {
        loop {
            if let Some(w) = self.pool.acquire(avoid) {
                return Some(w);
            }
            // Keep the lease alive while no worker is free; give up if it was taken from us.
            match self.store.extend_lease(task_id, now_ms() + (self.cfg.task_timeout * 2).as_millis() as u64).await {
                Ok(false) => return None,
                Ok(true) | Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn call(
        &self,
        campaign: &str,
        stage: Stage,
        task_id: &str,
        nodes: &[Node],
        w: &WorkerLease,
    ) -> Result<Outcome, WorkerCallError> {
        let deadline = self.cfg.task_timeout;
        let store_err = |e: StoreError| WorkerCallError::Unavailable(format!("store: {e}"));
        match stage {
            Stage::Propose => {
                let snap = self
                    .store
                    .campaign(campaign)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| WorkerCallError::Invalid(format!("campaign {campaign} vanished")))?;
                let all = self.store.nodes(campaign).await.map_err(store_err)?;
                let cands = self.store.candidates(campaign).await.map_err(store_err)?;
                let round = nodes.first().ok_or_else(|| WorkerCallError::Invalid("empty propose task".into()))?;
                let task = expand::propose_task(&snap, round, &all, &cands, task_id);
                w.slot.client.propose(task, deadline).await.map(Outcome::Proposed)
            }
            Stage::Generate => {
                let snap = self.store.campaign(campaign).await.map_err(store_err)?;
                let params = snap.map(|s| s.params).unwrap_or_default();
                let items = nodes
                    .iter()
                    .map(|n| GenerateItem {
                        item_id: n.id.clone(),
                        composition: n.composition.clone().unwrap_or_default(),
                        seed: n.seed,
                    })
                    .collect();
                let task =
                    GenerateTask { task_id: task_id.into(), model: params.model, steps: params.diffusion_steps, items };
                w.slot.client.generate(task, deadline).await.map(Outcome::Generated)
            }
            Stage::Score => {
                let items = nodes
                    .iter()
                    .map(|n| ScoreItem { item_id: n.id.clone(), cif: n.cif.clone().unwrap_or_default() })
                    .collect();
                w.slot.client.score(ScoreTask { task_id: task_id.into(), items }, deadline).await.map(Outcome::Scored)
            }
            other => Err(WorkerCallError::Invalid(format!("stage {} has no task", other.as_str()))),
        }
    }

    /// The transition recording an outcome, read against the campaign as it is now (live parameters apply).
    async fn outcome_transition(&self, campaign: &str, nodes: &[Node], outcome: Outcome) -> Option<Transition> {
        let mut delay = Duration::from_millis(100);
        let (snap, previous) = loop {
            let read = async {
                let snap = self.store.campaign(campaign).await?;
                let previous = match &outcome {
                    Outcome::Proposed(_) => self.store.nodes(campaign).await?,
                    _ => Vec::new(),
                };
                Ok::<_, StoreError>((snap, previous))
            };
            match read.await {
                Ok((Some(s), p)) => break (s, p),
                Ok((None, _)) => return None,
                Err(e) => {
                    warn!(error = %e, "store unavailable while recording a result; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        };
        if snap.state == CampaignState::Cancelled {
            return Some(expand::on_cancelled(nodes));
        }
        let known = self.known.as_deref();
        Some(match outcome {
            Outcome::Proposed(p) => expand::on_proposed(&snap, &nodes[0], &previous, &p, known),
            Outcome::Generated(g) => expand::on_generated(nodes, &g),
            Outcome::Scored(s) => expand::on_scored(&snap, nodes, &s, known),
        })
    }

    /// Commits a task's transition, riding out store outages (e.g. a Redis restart). A lease that is gone means the
    /// task was requeued meanwhile: the result is then ignored, never applied twice.
    async fn commit_with_retry(&self, campaign: &str, task_id: &str, tx: &Transition) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.store.commit(campaign, Some(task_id), tx).await {
                Ok(true) => return,
                Ok(false) => {
                    warn!("result ignored: the task's lease is gone (requeued meanwhile)");
                    metrics::counter!("genms_results_ignored_total").increment(1);
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "store unavailable while committing; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
