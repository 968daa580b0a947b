//! How the coordinator talks to a worker, without knowing the transport: the [`WorkerClient`] trait (a gRPC client
//! in production, an in-process client in embedded mode and tests) and the error classes that decide what happens to
//! a failed task (retry elsewhere, back off, or fail the items for good).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use genms_shared::search::{
    GenerateTask, GeneratedStructure, ProposeTask, ProposedFormula, ScoreTask, ScoredStructure, WorkerInfo,
};

/// Why a worker call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerCallError {
    /// The worker's queue is full (ResourceExhausted): try later or elsewhere; the worker is healthy.
    #[error("worker overloaded: {0}")]
    Overloaded(String),
    /// Not reachable, not serving, draining (Unavailable): retry on another worker.
    #[error("worker unavailable: {0}")]
    Unavailable(String),
    /// The call ran past its deadline.
    #[error("deadline exceeded after {0:?}")]
    DeadlineExceeded(Duration),
    /// The task itself is bad (InvalidArgument): retrying cannot help.
    #[error("invalid task: {0}")]
    Invalid(String),
    /// Anything else (internal errors): retried up to the attempts cap.
    #[error("worker error: {0}")]
    Other(String),
}

impl WorkerCallError {
    /// Whether another attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, WorkerCallError::Invalid(_))
    }

    /// Whether the worker itself looks unhealthy (as opposed to busy or handed a bad task).
    pub fn marks_unhealthy(&self) -> bool {
        matches!(
            self,
            WorkerCallError::Unavailable(_) | WorkerCallError::DeadlineExceeded(_) | WorkerCallError::Other(_)
        )
    }

    pub fn code(&self) -> &'static str {
        match self {
            WorkerCallError::Overloaded(_) => "overloaded",
            WorkerCallError::Unavailable(_) => "unavailable",
            WorkerCallError::DeadlineExceeded(_) => "deadline_exceeded",
            WorkerCallError::Invalid(_) => "invalid",
            WorkerCallError::Other(_) => "other",
        }
    }
}

pub type CallResult<T> = Result<T, WorkerCallError>;

/// One worker, as the coordinator sees it. Calls carry a deadline; implementations must honour it.
#[async_trait]
pub trait WorkerClient: Send + Sync {
    /// Address or name, for logs and `ListWorkers`.
    fn address(&self) -> &str;
    /// Whether the worker is serving (models loaded, not draining).
    async fn ready(&self, deadline: Duration) -> CallResult<bool>;
    async fn info(&self, deadline: Duration) -> CallResult<WorkerInfo>;
    async fn propose(&self, task: ProposeTask, deadline: Duration) -> CallResult<Vec<ProposedFormula>>;
    async fn generate(&self, task: GenerateTask, deadline: Duration) -> CallResult<Vec<GeneratedStructure>>;
    async fn score(&self, task: ScoreTask, deadline: Duration) -> CallResult<Vec<ScoredStructure>>;
}

/// Makes clients for worker addresses (discovered by DNS or listed on the command line).
pub trait WorkerConnector: Send + Sync {
    fn connect(&self, address: &str) -> Arc<dyn WorkerClient>;
}
