//! `genms coordinator`: serves CoordinatorService over gRPC, expands campaigns held in Redis and dispatches their
//! tasks to workers (a fixed list or a DNS name). Started again after a crash, it requeues the tasks the previous
//! process left leased and carries on. SIGTERM: not ready -> stop dispatching -> let in-flight tasks finish (up to
//! `--drain-timeout-s`; unfinished ones keep their lease and are requeued by the next start) -> stop the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use genms_coordinator::store::redis::{redact_url, RedisStore};
use genms_coordinator::{Coordinator, Engine, FrontierStore, WorkerPool, WorkerSource};
use genms_shared::known::KnownFormulas;
use tracing::{info, warn};

use crate::params::{EngineArgs, ParamArgs};
use crate::proto::genms::v1::coordinator_service_server::CoordinatorServiceServer;
use crate::rpc::convert::MAX_MESSAGE_BYTES;
use crate::rpc::coordinator_server::CoordinatorRpc;
use crate::rpc::worker_client::GrpcConnector;

/// gRPC health service name of the coordinator.
pub const COORDINATOR_SERVICE_NAME: &str = "genms.v1.CoordinatorService";

#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:50051", env = "GENMS_COORDINATOR_LISTEN")]
    pub listen: SocketAddr,
    /// Redis holding the campaigns (`redis://[:password@]host:port[/db]`).
    #[arg(long, default_value = "redis://127.0.0.1:6379", env = "GENMS_REDIS")]
    pub redis: String,
    /// Key prefix in Redis (several deployments can share one server).
    #[arg(long, default_value = "genms", env = "GENMS_REDIS_PREFIX")]
    pub redis_prefix: String,
    /// Worker addresses (host:port, comma separated).
    #[arg(long, value_delimiter = ',', env = "GENMS_WORKERS", conflicts_with = "workers_dns")]
    pub workers: Vec<String>,
    /// A DNS name:port resolving to every worker (a Kubernetes headless service); re-resolved continuously.
    #[arg(long, env = "GENMS_WORKERS_DNS")]
    pub workers_dns: Option<String>,
    /// Bearer token that mutating calls must carry; without one the API is open to anyone who can reach it.
    #[arg(long, env = "GENMS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: crate::tls::ServerTlsArgs,
    /// Also serve the gRPC health service, plaintext, on this address (for kubelet probes when --tls-cert is set).
    #[arg(long, env = "GENMS_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
    /// CA (PEM) that worker certificates are verified with; enables TLS to workers.
    #[arg(long, env = "GENMS_WORKER_TLS_CA")]
    pub worker_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to workers (mutual TLS).
    #[arg(long, env = "GENMS_WORKER_TLS_CERT", requires = "worker_tls_key")]
    pub worker_tls_cert: Option<PathBuf>,
    /// Key of --worker-tls-cert.
    #[arg(long, env = "GENMS_WORKER_TLS_KEY", requires = "worker_tls_cert")]
    pub worker_tls_key: Option<PathBuf>,
    /// Server name expected in worker certificates (default: the host part of each worker address).
    #[arg(long, env = "GENMS_WORKER_TLS_DOMAIN")]
    pub worker_tls_domain: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Defaults for parameters a CreateCampaign leaves unset.
    #[command(flatten)]
    pub defaults: ParamArgs,
    /// Novelty list (default $GENMS_SHARED/data/compositions/known_formulas.txt; `none` disables the check).
    #[arg(long, env = "GENMS_KNOWN_FORMULAS")]
    pub known_formulas: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (`/metrics`).
    #[arg(long, env = "GENMS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds in-flight tasks may take to finish after SIGTERM.
    #[arg(long, default_value_t = 30, env = "GENMS_DRAIN_TIMEOUT_S")]
    pub drain_timeout_s: u64,
}

/// Loads the novelty list (`none` = no novelty check).
pub fn load_known(path: Option<&std::path::Path>) -> anyhow::Result<Option<Arc<KnownFormulas>>> {
    let path = match path {
        Some(p) if p.as_os_str() == "none" => return Ok(None),
        Some(p) => p.to_path_buf(),
        None => KnownFormulas::default_path(),
    };
    let known = KnownFormulas::load(&path).with_context(|| format!("loading the novelty list {}", path.display()))?;
    Ok(Some(Arc::new(known)))
}

pub fn run(args: CoordinatorArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: CoordinatorArgs) -> anyhow::Result<()> {
    args.defaults.params().validate().map_err(anyhow::Error::msg).context("default search parameters")?;
    let source = match (&args.workers_dns, args.workers.is_empty()) {
        (Some(dns), _) => WorkerSource::Dns(dns.clone()),
        (None, false) => WorkerSource::Static(args.workers.clone()),
        (None, true) => bail!("no workers: pass --workers host:port,... or --workers-dns name:port"),
    };
    if let Some(addr) = args.metrics_listen {
        crate::telemetry::serve_metrics(addr)?;
    }
    if args.token.is_none() {
        warn!("no --token / GENMS_TOKEN: mutating calls are not authenticated");
    }
    let known = load_known(args.known_formulas.as_deref())?;
    let store: Arc<dyn FrontierStore> = Arc::new(
        RedisStore::connect(&args.redis, &args.redis_prefix)
            .await
            .with_context(|| format!("connecting to {}", redact_url(&args.redis)))?,
    );
    let worker_tls = crate::tls::ClientTls {
        ca: args.worker_tls_ca.clone(),
        cert: args.worker_tls_cert.clone(),
        key: args.worker_tls_key.clone(),
        domain: args.worker_tls_domain.clone(),
    }
    .config()
    .context("worker TLS")?;
    let server_tls = args.tls.config()?;
    let connector = GrpcConnector { tls: worker_tls };
    let pool = Arc::new(WorkerPool::new(source, Arc::new(connector), args.engine.tasks_per_worker));
    let engine = Engine::new(store, pool, known, args.engine.config());
    let coordinator = Arc::new(Coordinator::new(engine.clone()));

    let (reporter, health_service) = tonic_health::server::health_reporter();
    if let Some(addr) = args.health_listen {
        crate::telemetry::serve_health(addr, health_service.clone()).await?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(engine.clone().run(stop_rx.clone()));

    let rpc = CoordinatorRpc { coordinator, token: args.token.clone(), defaults: args.defaults.params() };
    let svc = CoordinatorServiceServer::new(rpc)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let (server_stop_tx, mut server_stop_rx) = tokio::sync::watch::channel(false);
    let mut builder = tonic::transport::Server::builder();
    if let Some(cfg) = server_tls {
        builder = builder.tls_config(cfg).context("TLS configuration")?;
    }
    let server = tokio::spawn(builder.add_service(health_service).add_service(svc).serve_with_incoming_shutdown(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        async move {
            let _ = server_stop_rx.wait_for(|s| *s).await;
        },
    ));
    reporter.set_service_status(COORDINATOR_SERVICE_NAME, tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    eprintln!("genms coordinator listening on {local}");
    info!(listen = %local, redis = %redact_url(&args.redis), "coordinator serving");

    crate::telemetry::shutdown_signal().await;
    info!("shutdown requested: not ready, stopping dispatch, draining");
    reporter.set_service_status(COORDINATOR_SERVICE_NAME, tonic_health::ServingStatus::NotServing).await;
    reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
    let _ = stop_tx.send(true);
    let _ = dispatcher.await;
    let left = engine.drain(Duration::from_secs(args.drain_timeout_s)).await;
    if left > 0 {
        warn!(tasks = left, "drain deadline passed; their leases stay in Redis and are requeued on the next start");
    }
    let _ = server_stop_tx.send(true);
    let _ = server.await;
    info!("coordinator stopped");
    Ok(())
}
