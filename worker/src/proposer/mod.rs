//! Formula proposers: the first level of the search, turning a [`ProposeTask`] (prompt, constraints, exclusions,
//! best formulae so far) into candidate reduced formulae with a log-probability-like score.
//!
//! Every proposer sits behind [`FormulaProposer`] so the worker serves whichever backend is configured (the
//! data-driven [`SubstitutionProposer`] baseline here; the embedded formula language model and LLM backends later).
//! A proposer returns only formulae that pass the shared filters (parse, satisfy the constraints, charge neutral by
//! `comp_valid`, novel when asked, not excluded, distinct), best first.

mod data;
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
}

/// A source of candidate formulae.
pub trait FormulaProposer: Send + Sync {
    /// Backend name for logs and provenance (`substitution`, `embedded`, ...).
    fn name(&self) -> &str;
    /// Up to `task.n` distinct formulae that pass every filter, sorted by `logprob` descending; an empty list when
    /// nothing fits.
    fn propose(&self, task: &ProposeTask) -> Result<Vec<ProposedFormula>, ProposerError>;
}
