//! The coordinator's gRPC client of one worker: implements the transport-free `WorkerClient` trait over a lazily
//! connected tonic channel, with per-call deadlines and the standard health service for readiness.

use std::sync::Arc;
use std::time::Duration;

use genms_coordinator::workers::{CallResult, WorkerCallError, WorkerClient, WorkerConnector};
use genms_shared::search as dom;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::convert;
use crate::proto::genms::v1::worker_service_client::WorkerServiceClient;

/// gRPC health service name of the worker.
pub const WORKER_SERVICE_NAME: &str = "genms.v1.WorkerService";

pub struct GrpcWorkerClient {
    address: String,
    channel: Channel,
}

impl GrpcWorkerClient {
    /// A client for `host:port` (or a full `http://` URL); connects on first use and reconnects by itself.
    pub fn new(address: &str, tls: Option<ClientTlsConfig>) -> Result<GrpcWorkerClient, tonic::transport::Error> {
        let mut endpoint = Endpoint::from_shared(crate::tls::url(address, tls.is_some()))?;
        if let Some(cfg) = tls {
            endpoint = endpoint.tls_config(cfg)?;
        }
        let channel = endpoint
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .connect_lazy();
        Ok(GrpcWorkerClient { address: address.to_string(), channel })
    }

    fn client(&self) -> WorkerServiceClient<Channel> {
        WorkerServiceClient::new(self.channel.clone())
            .max_decoding_message_size(convert::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(convert::MAX_MESSAGE_BYTES)
    }
}

fn request<T>(msg: T, deadline: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(deadline);
    r
}

#[tonic::async_trait]
impl WorkerClient for GrpcWorkerClient {
    fn address(&self) -> &str {
        &self.address
    }

    async fn ready(&self, deadline: Duration) -> CallResult<bool> {
        let mut health = HealthClient::new(self.channel.clone());
        let req = request(HealthCheckRequest { service: WORKER_SERVICE_NAME.into() }, deadline);
        match health.check(req).await {
            Ok(r) => Ok(r.into_inner().status == ServingStatus::Serving as i32),
            Err(s) => Err(convert::status_to_call_error(s, deadline)),
        }
    }

    async fn info(&self, deadline: Duration) -> CallResult<dom::WorkerInfo> {
        let r = self.client().info(request(crate::proto::genms::v1::InfoRequest {}, deadline)).await;
        r.map(|r| convert::info_from_pb(r.into_inner())).map_err(|s| convert::status_to_call_error(s, deadline))
    }

    async fn propose(&self, task: dom::ProposeTask, deadline: Duration) -> CallResult<Vec<dom::ProposedFormula>> {
        let r = self.client().sample_formulas(request(convert::propose_to_pb(task), deadline)).await;
        r.map(|r| convert::formulas_from_pb(r.into_inner())).map_err(|s| convert::status_to_call_error(s, deadline))
    }

    async fn generate(&self, task: dom::GenerateTask, deadline: Duration) -> CallResult<Vec<dom::GeneratedStructure>> {
        let r = self.client().generate_structures(request(convert::generate_to_pb(task), deadline)).await;
        r.map(|r| convert::generated_from_pb(r.into_inner())).map_err(|s| convert::status_to_call_error(s, deadline))
    }

    async fn score(&self, task: dom::ScoreTask, deadline: Duration) -> CallResult<Vec<dom::ScoredStructure>> {
        let r = self.client().score_structures(request(convert::score_to_pb(task), deadline)).await;
        r.map(|r| convert::scored_from_pb(r.into_inner())).map_err(|s| convert::status_to_call_error(s, deadline))
    }
}

/// Makes gRPC clients for discovered worker addresses (TLS when configured).
#[derive(Default)]
pub struct GrpcConnector {
    pub tls: Option<ClientTlsConfig>,
}

impl WorkerConnector for GrpcConnector {
    fn connect(&self, address: &str) -> Arc<dyn WorkerClient> {
        match GrpcWorkerClient::new(address, self.tls.clone()) {
            Ok(c) => Arc::new(c),
            Err(e) => Arc::new(Unreachable { address: address.to_string(), why: e.to_string() }),
        }
    }
}

/// A worker whose address cannot even be turned into an endpoint: every call fails, so it stays unhealthy.
struct Unreachable {
    address: String,
    why: String,
}

#[tonic::async_trait]
impl WorkerClient for Unreachable {
    fn address(&self) -> &str {
        &self.address
    }
    async fn ready(&self, _: Duration) -> CallResult<bool> {
        Err(WorkerCallError::Unavailable(self.why.clone()))
    }
    async fn info(&self, _: Duration) -> CallResult<dom::WorkerInfo> {
        Err(WorkerCallError::Unavailable(self.why.clone()))
    }
    async fn propose(&self, _: dom::ProposeTask, _: Duration) -> CallResult<Vec<dom::ProposedFormula>> {
        Err(WorkerCallError::Unavailable(self.why.clone()))
    }
    async fn generate(&self, _: dom::GenerateTask, _: Duration) -> CallResult<Vec<dom::GeneratedStructure>> {
        Err(WorkerCallError::Unavailable(self.why.clone()))
    }
    async fn score(&self, _: dom::ScoreTask, _: Duration) -> CallResult<Vec<dom::ScoredStructure>> {
        Err(WorkerCallError::Unavailable(self.why.clone()))
    }
}
