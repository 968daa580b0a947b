//! genms-worker: the models of genms on candle — formula proposers, the formula -> structure diffusion model and the
//! CGCNN scorer — behind a transport-free `Worker` API. Today it holds the CGCNN scorer ([`cgcnn`]); the diffusion
//! model and formula proposer arrive with their own issues.

pub mod cgcnn;
pub mod diffusion;

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
