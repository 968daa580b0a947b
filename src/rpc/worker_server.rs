//! WorkerService over gRPC: each call becomes a job on the inference [`Executor`]; a full queue answers
//! ResourceExhausted, a draining worker Unavailable, a malformed task InvalidArgument.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tonic::{Request, Response, Status};
use tracing::info_span;

use super::convert;
use crate::executor::{Executor, Job, JobOutput, SubmitError};
use crate::proto::genms::v1 as pb;
use crate::proto::genms::v1::worker_service_server::WorkerService;

pub struct WorkerRpc {
    /// Set once the models are loaded; calls before then answer Unavailable.
    executor: OnceLock<Arc<Executor>>,
}

impl WorkerRpc {
    /// A service whose models are still loading.
    pub fn loading() -> WorkerRpc {
        WorkerRpc { executor: OnceLock::new() }
    }

    pub fn ready(&self, executor: Arc<Executor>) {
        let _ = self.executor.set(executor);
    }

    fn executor(&self) -> Result<&Arc<Executor>, Status> {
        self.executor.get().ok_or_else(|| Status::unavailable("models are still loading"))
    }

    async fn run(&self, job: Job) -> Result<JobOutput, Status> {
        let kind = job.kind();
        let started = Instant::now();
        let rx = self.executor()?.submit(job).map_err(|e| match e {
            SubmitError::Full(_) => Status::resource_exhausted(e.to_string()),
            SubmitError::Draining => Status::unavailable(e.to_string()),
        })?;
        let out = rx.await.map_err(|_| Status::unavailable("inference thread stopped"))?;
        let result = out.map_err(convert::worker_error_status);
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("genms_worker_tasks_total", "kind" => kind, "outcome" => outcome).increment(1);
        metrics::histogram!("genms_worker_task_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
        result
    }
}

fn unexpected() -> Status {
    Status::internal("backend answered a different task kind")
}

#[tonic::async_trait]
impl WorkerService for WorkerRpc {
    async fn sample_formulas(
        &self,
        request: Request<pb::SampleFormulasRequest>,
    ) -> Result<Response<pb::SampleFormulasResponse>, Status> {
        let task = convert::propose_from_pb(request.into_inner())?;
        let span = info_span!("sample_formulas", task = %task.task_id, n = task.n);
        let _e = span.enter();
        match self.run(Job::Propose(Box::new(task))).await? {
            JobOutput::Proposed(v) => Ok(Response::new(convert::formulas_to_pb(v))),
            _ => Err(unexpected()),
        }
    }

    async fn generate_structures(
        &self,
        request: Request<pb::GenerateStructuresRequest>,
    ) -> Result<Response<pb::GenerateStructuresResponse>, Status> {
        let task = convert::generate_from_pb(request.into_inner())?;
        metrics::histogram!("genms_worker_batch_size", "kind" => "generate").record(task.items.len() as f64);
        match self.run(Job::Generate(task)).await? {
            JobOutput::Generated(v) => Ok(Response::new(convert::generated_to_pb(v))),
            _ => Err(unexpected()),
        }
    }

    async fn score_structures(
        &self,
        request: Request<pb::ScoreStructuresRequest>,
    ) -> Result<Response<pb::ScoreStructuresResponse>, Status> {
        let task = convert::score_from_pb(request.into_inner())?;
        metrics::histogram!("genms_worker_batch_size", "kind" => "score").record(task.items.len() as f64);
        match self.run(Job::Score(task)).await? {
            JobOutput::Scored(v) => Ok(Response::new(convert::scored_to_pb(v))),
            _ => Err(unexpected()),
        }
    }

    async fn info(&self, _request: Request<pb::InfoRequest>) -> Result<Response<pb::InfoResponse>, Status> {
        Ok(Response::new(convert::info_to_pb(self.executor()?.info())))
    }
}
