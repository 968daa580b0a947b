//! genms-coordinator: the search engine of genms. Campaigns and their tree (prompt -> formulae -> structures ->
//! candidates), the best-first expansion, dynamic batching and least-loaded scheduling of worker tasks, and the
//! `FrontierStore` that holds everything needed to resume (Redis in a cluster, in-process for `genms search`).
//! It talks to workers only through the [`workers::WorkerClient`] trait, never through a transport.

pub mod engine;
pub mod expand;
pub mod model;
pub mod pool;
pub mod service;
pub mod store;
pub mod workers;

pub use engine::{Engine, EngineConfig};
pub use model::{CampaignState, Node, Stage};
pub use pool::{WorkerPool, WorkerSource};
pub use service::{CampaignView, Coordinator, CoordinatorError};
pub use store::{FrontierStore, StoreError, Transition};
pub use workers::{WorkerCallError, WorkerClient, WorkerConnector};
