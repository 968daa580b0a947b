//! Formula -> structure diffusion (crystal structure prediction, CSP): given the atoms of a cell, sample a lattice and
//! fractional coordinates. GenMS's second level, with DiffCSP's periodic treatment of coordinates.
//!
//! Design (what was chosen, and why):
//! - **Lattice**: the 6-vector `[ln(a/N^(1/3)), ln(b/N^(1/3)), ln(c/N^(1/3)), alpha, beta, gamma (radians)]`,
//!   standardised with the training set's mean/std (stored with the model), diffused with a DDPM in continuous time
//!   (cosine schedule, epsilon prediction). Decoding exponentiates the lengths, clamps the angles into 30..150 degrees
//!   and builds the cell with pymatgen's orientation ([`representation`]).
//! - **Fractional coordinates**: DiffCSP's wrapped-normal variance-exploding diffusion on the 3-torus,
//!   `x_t = wrap(x_0 + sigma_t eps)` with `sigma_t = 0.005 * 100^t`; the network predicts the wrapped-normal score
//!   divided by `sqrt(E|score|^2)` at that sigma (a table computed by quadrature, [`representation::ScoreNorm`]).
//! - **Denoiser** ([`denoiser`]): per-atom tokens = embedding(Z) + time embedding + MLP(noisy lattice, ln N); blocks of
//!   pre-LayerNorm self-attention whose logits get a bias, and whose values get a term, from an MLP of the *relative*
//!   Fourier features `sin/cos(2 pi k (x_j - x_i))`, k = 1..K, then a per-atom MLP. No positional encoding: the model
//!   is permutation-equivariant, and invariant to a global fractional shift because only differences enter. Padded
//!   atoms are masked out of every softmax and every pooled mean.
//! - **Sampling** ([`sample`]): DiffCSP's predictor-corrector for coordinates (reverse VE step + optional Langevin
//!   corrector) and ancestral DDPM steps for the lattice, on a shared time grid (256 steps by default); every sample
//!   has its own RNG stream seeded from (seed, row, sample index).
//! - **Training** ([`train`]): own AdamW with decoupled weight decay, global gradient-norm clipping, EMA weights,
//!   atomic checkpoints with the full optimiser state ([`checkpoint`]).

pub mod checkpoint;
pub mod denoiser;
pub mod representation;
pub mod rng;
pub mod sample;
pub mod train;

pub use checkpoint::{load_model, save_model, ModelMeta};
pub use denoiser::{Denoiser, DenoiserConfig, DenoiserInput, DenoiserOutput};
pub use representation::{CrystalItem, LatticeStats, ScoreNorm};
pub use sample::{sample_structures, SampleRequest, SamplerOptions};
pub use train::{TrainConfig, Trainer};

/// Errors of the diffusion model: tensor failures, bad inputs, bad model files.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    File { path: std::path::PathBuf, message: String },
    #[error("io error on {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, DiffusionError>;
