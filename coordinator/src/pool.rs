//! The worker pool: which workers exist (a fixed list or a DNS name re-resolved as pods come and go), which are
//! healthy (periodic readiness checks; a failed call marks a worker unhealthy until it answers again), and
//! least-loaded selection with a per-worker cap on tasks in flight.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genms_shared::search::WorkerInfo;
use tracing::{info, warn};

use crate::workers::{WorkerClient, WorkerConnector};

/// Where workers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerSource {
    /// `host:port` addresses.
    Static(Vec<String>),
    /// A DNS name with port (a Kubernetes headless service): every address it resolves to is a worker.
    Dns(String),
}

/// One worker's state in the pool.
pub struct WorkerSlot {
    pub client: Arc<dyn WorkerClient>,
    in_flight: AtomicUsize,
    healthy: AtomicBool,
    completed: AtomicU64,
    failed: AtomicU64,
    info: Mutex<Option<WorkerInfo>>,
}

impl WorkerSlot {
    fn new(client: Arc<dyn WorkerClient>) -> WorkerSlot {
        WorkerSlot {
            client,
            in_flight: AtomicUsize::new(0),
            healthy: AtomicBool::new(false),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            info: Mutex::new(None),
        }
    }
}

/// A snapshot of one worker for `ListWorkers`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub address: String,
    pub healthy: bool,
    pub in_flight: usize,
    pub completed: u64,
    pub failed: u64,
    pub info: Option<WorkerInfo>,
}

/// A claimed slot on a worker; releasing it (drop) frees the slot.
pub struct WorkerLease {
    pub slot: Arc<WorkerSlot>,
}

impl WorkerLease {
    pub fn address(&self) -> &str {
        self.slot.client.address()
    }

    /// Records the call's outcome: failures that look like a sick worker take it out of rotation.
    pub fn report(&self, ok: bool, unhealthy: bool) {
        if ok {
            self.slot.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.slot.failed.fetch_add(1, Ordering::Relaxed);
            if unhealthy && self.slot.healthy.swap(false, Ordering::Relaxed) {
                warn!(worker = %self.address(), "worker marked unhealthy after a failed call");
            }
        }
    }
}

impl Drop for WorkerLease {
    fn drop(&mut self) {
        self.slot.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct WorkerPool {
    source: WorkerSource,
    connector: Arc<dyn WorkerConnector>,
    per_worker: usize,
    slots: Mutex<BTreeMap<String, Arc<WorkerSlot>>>,
}

impl WorkerPool {
    /// `per_worker`: most tasks in flight on one worker (keeps its queue fed without overfilling it).
    pub fn new(source: WorkerSource, connector: Arc<dyn WorkerConnector>, per_worker: usize) -> WorkerPool {
        let pool = WorkerPool { source, connector, per_worker: per_worker.max(1), slots: Mutex::new(BTreeMap::new()) };
        if let WorkerSource::Static(addrs) = &pool.source {
            pool.set_addresses(addrs.clone());
        }
        pool
    }

    /// A pool over ready-made clients (embedded mode, tests).
    pub fn from_clients(clients: Vec<Arc<dyn WorkerClient>>, per_worker: usize) -> WorkerPool {
        struct NoConnector;
        impl WorkerConnector for NoConnector {
            fn connect(&self, address: &str) -> Arc<dyn WorkerClient> {
                panic!("no connector for {address}: pool built from fixed clients")
            }
        }
        let pool = WorkerPool {
            source: WorkerSource::Static(clients.iter().map(|c| c.address().to_string()).collect()),
            connector: Arc::new(NoConnector),
            per_worker: per_worker.max(1),
            slots: Mutex::new(BTreeMap::new()),
        };
        if let Ok(mut slots) = pool.slots.lock() {
            for c in clients {
                slots.insert(c.address().to_string(), Arc::new(WorkerSlot::new(c)));
            }
        }
        pool
    }

    fn set_addresses(&self, addrs: Vec<String>) {
        let Ok(mut slots) = self.slots.lock() else { return };
        slots.retain(|a, _| addrs.contains(a));
        for a in addrs {
            if let std::collections::btree_map::Entry::Vacant(slot) = slots.entry(a) {
                info!(worker = %slot.key(), "worker added");
                let client = self.connector.connect(slot.key());
                slot.insert(Arc::new(WorkerSlot::new(client)));
            }
        }
    }

    fn slots(&self) -> Vec<Arc<WorkerSlot>> {
        self.slots.lock().map(|s| s.values().cloned().collect()).unwrap_or_default()
    }

    /// Re-resolves DNS (if used) and checks every worker's readiness.
    pub async fn refresh(&self, deadline: Duration) {
        if let WorkerSource::Dns(name) = &self.source {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => {
                    let mut list: Vec<String> = addrs.map(|a| a.to_string()).collect();
                    list.sort();
                    list.dedup();
                    self.set_addresses(list);
                }
                Err(e) => warn!(name = %name, error = %e, "worker DNS lookup failed"),
            }
        }
        let checks = self.slots().into_iter().map(|slot| async move {
            let ready = matches!(slot.client.ready(deadline).await, Ok(true));
            if ready {
                let need_info = slot.info.lock().map(|i| i.is_none()).unwrap_or(false);
                if need_info {
                    if let Ok(info) = slot.client.info(deadline).await {
                        if let Ok(mut i) = slot.info.lock() {
                            *i = Some(info);
                        }
                    }
                }
            }
            let was = slot.healthy.swap(ready, Ordering::Relaxed);
            if was != ready {
                info!(worker = %slot.client.address(), healthy = ready, "worker health changed");
            }
        });
        for check in checks {
            check.await;
        }
        metrics::gauge!("genms_workers_healthy").set(self.healthy_count() as f64);
        metrics::gauge!("genms_workers_known").set(self.slots().len() as f64);
    }

    pub fn healthy_count(&self) -> usize {
        self.slots().iter().filter(|s| s.healthy.load(Ordering::Relaxed)).count()
    }

    /// Free task slots over healthy workers.
    pub fn free_slots(&self) -> usize {
        self.slots()
            .iter()
            .filter(|s| s.healthy.load(Ordering::Relaxed))
            .map(|s| self.per_worker.saturating_sub(s.in_flight.load(Ordering::Relaxed)))
            .sum()
    }

    /// Claims a slot on the healthy worker with the fewest tasks in flight, preferring one other than `avoid`.
    pub fn acquire(&self, avoid: Option<&str>) -> Option<WorkerLease> {
        let slots = self.slots();
        let candidates = |skip: Option<&str>| {
            slots
                .iter()
                .filter(|s| s.healthy.load(Ordering::Relaxed))
                .filter(|s| Some(s.client.address()) != skip)
                .filter(|s| s.in_flight.load(Ordering::Relaxed) < self.per_worker)
                .min_by_key(|s| s.in_flight.load(Ordering::Relaxed))
                .cloned()
        };
        let slot = candidates(avoid).or_else(|| candidates(None))?;
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(WorkerLease { slot })
    }

    pub fn status(&self) -> Vec<WorkerStatus> {
        self.slots()
            .iter()
            .map(|s| WorkerStatus {
                address: s.client.address().to_string(),
                healthy: s.healthy.load(Ordering::Relaxed),
                in_flight: s.in_flight.load(Ordering::Relaxed),
                completed: s.completed.load(Ordering::Relaxed),
                failed: s.failed.load(Ordering::Relaxed),
                info: s.info.lock().ok().and_then(|i| i.clone()),
            })
            .collect()
    }
}
