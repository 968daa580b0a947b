//! The in-process worker of `genms search` (and of tests): implements the coordinator's `WorkerClient` trait by
//! submitting jobs straight to an inference [`Executor`] — the same queue and threads `genms worker` serves over
//! gRPC, without the network.

use std::sync::Arc;
use std::time::Duration;

use genms_coordinator::workers::{CallResult, WorkerCallError, WorkerClient};
use genms_shared::search as dom;
use genms_worker::WorkerError;

use crate::executor::{Executor, Job, JobOutput, SubmitError};

pub struct InProcessWorker {
    name: String,
    executor: Arc<Executor>,
}

impl InProcessWorker {
    pub fn new(name: &str, executor: Arc<Executor>) -> InProcessWorker {
        InProcessWorker { name: name.to_string(), executor }
    }

    async fn run(&self, job: Job, deadline: Duration) -> CallResult<JobOutput> {
        let rx = self.executor.submit(job).map_err(|e| match e {
            SubmitError::Full(_) => WorkerCallError::Overloaded(e.to_string()),
            SubmitError::Draining => WorkerCallError::Unavailable(e.to_string()),
        })?;
        let out = tokio::time::timeout(deadline, rx)
            .await
            .map_err(|_| WorkerCallError::DeadlineExceeded(deadline))?
            .map_err(|_| WorkerCallError::Unavailable("inference thread stopped".into()))?;
        out.map_err(|e| match e {
            WorkerError::Invalid(m) => WorkerCallError::Invalid(m),
            other => WorkerCallError::Other(other.to_string()),
        })
    }
}

fn unexpected() -> WorkerCallError {
    WorkerCallError::Other("backend answered a different task kind".into())
}

#[async_trait::async_trait]
impl WorkerClient for InProcessWorker {
    fn address(&self) -> &str {
        &self.name
    }

    async fn ready(&self, _deadline: Duration) -> CallResult<bool> {
        Ok(!self.executor.is_draining())
    }

    async fn info(&self, _deadline: Duration) -> CallResult<dom::WorkerInfo> {
        Ok(self.executor.info())
    }

    async fn propose(&self, task: dom::ProposeTask, deadline: Duration) -> CallResult<Vec<dom::ProposedFormula>> {
        match self.run(Job::Propose(Box::new(task)), deadline).await? {
            JobOutput::Proposed(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    async fn generate(&self, task: dom::GenerateTask, deadline: Duration) -> CallResult<Vec<dom::GeneratedStructure>> {
        match self.run(Job::Generate(task), deadline).await? {
            JobOutput::Generated(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    async fn score(&self, task: dom::ScoreTask, deadline: Duration) -> CallResult<Vec<dom::ScoredStructure>> {
        match self.run(Job::Score(task), deadline).await? {
            JobOutput::Scored(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }
}
