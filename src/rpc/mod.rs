//! The gRPC edge of genms: protobuf conversions, the WorkerService and CoordinatorService servers, and the worker
//! client the coordinator uses. Everything behind it (search, models) is transport-free.

pub mod convert;
pub mod coordinator_server;
pub mod worker_client;
pub mod worker_server;
