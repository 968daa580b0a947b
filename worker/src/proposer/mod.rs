//! Formula proposers: the first level of the search, turning a [`ProposeTask`] (prompt, constraints, exclusions,
//! best formulae so far) into candidate reduced formulae with a log-probability-like score.
//!
//! Every proposer sits behind [`FormulaProposer`] so the worker serves whichever backend is configured (the
//! data-driven [`SubstitutionProposer`] baseline, the OpenAI-compatible [`openai::OpenAiProposer`]; the embedded
//! formula language model and the local LLM later). LLM backends share prompt construction, the free-text parser and
//! the filters in [`llm_text`].
//! A proposer returns only formulae that pass the shared filters (parse, satisfy the constraints, charge neutral by
//! `comp_valid`, novel when asked, not excluded, distinct), best first.

mod data;
pub mod llm_text;
pub mod openai;
mod similarity;
mod substitution;

use std::path::PathBuf;

use genms_shared::search::{ProposeTask, ProposedFormula};
use thiserror::Error;

pub use substitution::SubstitutionProposer;

/// Why a proposer could not load or answer.
#[derive(Debug, Error)]
pub enum ProposerError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad data file {path}: {why}")]
    BadFile { path: PathBuf, why: String },
    #[error("no composition CSV files (*.csv with a formula,target header) in {0}")]
    NoData(PathBuf),
    #[error("invalid task: {0}")]
    InvalidTask(String),
    /// An LLM endpoint failed (HTTP status, timeout, connection, unreadable answer); never carries the API key.
    #[error("LLM endpoint {url}: {why}")]
    Llm { url: String, why: String },
}

/// What one proposal drew before filtering (for reports and benchmarks): every count is over distinct reduced
/// formulae the backend generated, whether or not they were returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProposeStats {
    /// Distinct candidates drawn (an unparsable LLM string counts once per occurrence).
    pub drawn: u64,
    /// Of those, charge neutral by `diffcsp_smact_validity(.., Smact14)`.
    pub charge_neutral: u64,
    /// Of those, satisfying the formula constraints.
    pub satisfies_constraints: u64,
    /// Of those, absent from the known-formula list.
    pub novel: u64,
    /// Of those, passing every filter (before truncation to `n`).
    pub accepted: u64,
}

/// A source of candidate formulae.
pub trait FormulaProposer: Send + Sync {
    /// Backend name for logs and provenance (`substitution`, `embedded`, ...).
    fn name(&self) -> &str;
    /// Up to `task.n` distinct formulae that pass every filter, sorted by `logprob` descending; an empty list when
    /// nothing fits.
    fn propose(&self, task: &ProposeTask) -> Result<Vec<ProposedFormula>, ProposerError>;
}
