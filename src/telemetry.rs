//! Process plumbing shared by the long-running roles: the Prometheus metrics endpoint and the shutdown signal.
//!
//! Metric names (documented in README.md): coordinator — `genms_frontier_depth{stage}`, `genms_batch_size{kind}`,
//! `genms_task_seconds{kind}`, `genms_items_total{kind}`, `genms_task_retries_total{kind,reason}`,
//! `genms_tasks_recovered_total`, `genms_results_ignored_total`, `genms_workers_healthy`, `genms_workers_known`,
//! `genms_campaign_candidates{campaign}`, `genms_campaigns_created_total`, `genms_auth_rejected_total{reason}`;
//! worker — `genms_worker_queue_depth`, `genms_worker_batch_size{kind}`, `genms_worker_task_seconds{kind}`,
//! `genms_worker_job_seconds{kind}`, `genms_worker_tasks_total{kind,outcome}`, `genms_worker_rejected_total{reason}`.

use std::net::SocketAddr;

use anyhow::Context;

/// Serves `/metrics` on `addr` (Prometheus text format).
pub fn serve_metrics(addr: SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .with_context(|| format!("starting the metrics endpoint on {addr}"))?;
    tracing::info!(listen = %addr, "metrics endpoint up");
    Ok(())
}

/// Serves only the gRPC health service, plaintext, on `addr` (kubelet's gRPC probes cannot speak TLS).
pub async fn serve_health<S>(addr: SocketAddr, health: S) -> anyhow::Result<()>
where
    S: tonic::codegen::Service<
            tonic::codegen::http::Request<tonic::body::Body>,
            Response = tonic::codegen::http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding health port {addr}"))?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    tracing::info!(listen = %addr, "plaintext health endpoint up");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
