//! genms-worker: the models of genms on candle — formula proposers, the formula -> structure diffusion model and the
//! CGCNN scorer — behind the transport-free [`Worker`] API ([`service`]) that the binary serves over gRPC or calls
//! in-process.

pub mod cgcnn;
pub mod diffusion;
pub mod proposer;
pub mod service;

pub use service::{Worker, WorkerConfig, WorkerError};

/// Parses a device name: `cpu` or `cuda:N` (`cuda` = `cuda:0`; needs the `cuda` feature).
pub fn parse_device(name: &str) -> candle_core::Result<candle_core::Device> {
    match name.trim() {
        "cpu" => Ok(candle_core::Device::Cpu),
        "cuda" => candle_core::Device::new_cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => candle_core::Device::new_cuda(n),
            None => candle_core::bail!("unknown device '{other}' (expected cpu or cuda:N)"),
        },
    }
}
