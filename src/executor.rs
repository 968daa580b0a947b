//! Inference off the async runtime: dedicated threads fed by a bounded queue. A full queue answers at once
//! (ResourceExhausted) instead of piling up work; draining stops intake and lets queued jobs finish. Used by the gRPC
//! worker (`genms worker`) and by the in-process worker of `genms search`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use genms_shared::search::{
    GenerateTask, GeneratedStructure, ProposeTask, ProposedFormula, ScoreTask, ScoredStructure, WorkerInfo,
};
use genms_worker::{Worker, WorkerError};
use tokio::sync::oneshot;
use tracing::info_span;

/// A unit of inference work.
pub enum Job {
    Propose(Box<ProposeTask>),
    Generate(GenerateTask),
    Score(ScoreTask),
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Propose(_) => "propose",
            Job::Generate(_) => "generate",
            Job::Score(_) => "score",
        }
    }

    fn items(&self) -> usize {
        match self {
            Job::Propose(t) => t.n as usize,
            Job::Generate(t) => t.items.len(),
            Job::Score(t) => t.items.len(),
        }
    }

    fn task_id(&self) -> &str {
        match self {
            Job::Propose(t) => &t.task_id,
            Job::Generate(t) => &t.task_id,
            Job::Score(t) => &t.task_id,
        }
    }
}

pub enum JobOutput {
    Proposed(Vec<ProposedFormula>),
    Generated(Vec<GeneratedStructure>),
    Scored(Vec<ScoredStructure>),
}

/// What runs jobs: the real models, or the bench backend (simulated latency).
pub trait Backend: Send + Sync {
    fn run(&self, job: Job) -> Result<JobOutput, WorkerError>;
    fn info(&self) -> WorkerInfo;
}

impl Backend for Worker {
    fn run(&self, job: Job) -> Result<JobOutput, WorkerError> {
        match job {
            Job::Propose(t) => self.propose(&t).map(JobOutput::Proposed),
            Job::Generate(t) => self.generate(&t).map(JobOutput::Generated),
            Job::Score(t) => self.score(&t).map(JobOutput::Scored),
        }
    }

    fn info(&self) -> WorkerInfo {
        Worker::info(self)
    }
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("queue full ({0} jobs waiting)")]
    Full(usize),
    #[error("worker is draining")]
    Draining,
}

type Reply = oneshot::Sender<Result<JobOutput, WorkerError>>;

pub struct Executor {
    tx: Mutex<Option<SyncSender<(Job, Reply)>>>,
    backend: Arc<dyn Backend>,
    queued: Arc<AtomicUsize>,
    draining: AtomicBool,
    capacity: usize,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Executor {
    /// Starts `threads` inference threads over a queue of `capacity` jobs.
    pub fn start(backend: Arc<dyn Backend>, threads: usize, capacity: usize) -> Arc<Executor> {
        let (tx, rx) = sync_channel::<(Job, Reply)>(capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (rx, backend, queued, running) = (rx.clone(), backend.clone(), queued.clone(), running.clone());
            let handle = std::thread::Builder::new()
                .name(format!("genms-infer-{i}"))
                .spawn(move || inference_loop(rx, backend, queued, running))
                .expect("spawn inference thread");
            handles.push(handle);
        }
        Arc::new(Executor {
            tx: Mutex::new(Some(tx)),
            backend,
            queued,
            draining: AtomicBool::new(false),
            capacity: capacity.max(1),
            threads: Mutex::new(handles),
        })
    }

    pub fn info(&self) -> WorkerInfo {
        self.backend.info()
    }

    /// Queues a job; the receiver yields its result.
    pub fn submit(&self, job: Job) -> Result<oneshot::Receiver<Result<JobOutput, WorkerError>>, SubmitError> {
        if self.draining.load(Ordering::Acquire) {
            return Err(SubmitError::Draining);
        }
        let (reply, rx) = oneshot::channel();
        let guard = self.tx.lock().map_err(|_| SubmitError::Draining)?;
        let Some(tx) = guard.as_ref() else { return Err(SubmitError::Draining) };
        self.queued.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!("genms_worker_queue_depth").set(self.queued.load(Ordering::Relaxed) as f64);
        match tx.try_send((job, reply)) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                metrics::counter!("genms_worker_rejected_total", "reason" => "queue_full").increment(1);
                Err(SubmitError::Full(self.capacity))
            }
            Err(TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                Err(SubmitError::Draining)
            }
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Stops intake and waits (blocking) until queued and running jobs finish.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handles: Vec<_> = self.threads.lock().map(|mut h| h.drain(..).collect()).unwrap_or_default();
        for h in handles {
            let _ = h.join();
        }
    }
}

fn inference_loop(
    rx: Arc<Mutex<Receiver<(Job, Reply)>>>,
    backend: Arc<dyn Backend>,
    queued: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((job, reply)) = next else { return };
        let waiting = queued.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        metrics::gauge!("genms_worker_queue_depth").set(waiting as f64);
        running.fetch_add(1, Ordering::AcqRel);
        let kind = job.kind();
        let span = info_span!("infer", kind, task = %job.task_id(), items = job.items());
        let _enter = span.enter();
        let started = Instant::now();
        let out = backend.run(job);
        metrics::histogram!("genms_worker_job_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
        running.fetch_sub(1, Ordering::AcqRel);
        // The caller may have given up (deadline): nothing to do then.
        let _ = reply.send(out);
    }
}
