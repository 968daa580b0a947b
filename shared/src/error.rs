//! Errors of the crystal domain. Every message names what was wrong with the input.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CrystalError {
    #[error("invalid lattice: {0}")]
    InvalidLattice(String),
    #[error("invalid structure: {0}")]
    InvalidStructure(String),
}
