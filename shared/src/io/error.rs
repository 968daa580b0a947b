//! The one error type of structure file I/O. Every message says what was wrong and where (file format, line, CIF
//! data block, atom-site label), so a user can fix the file without reading this code.

use std::path::PathBuf;

use thiserror::Error;

use crate::error::CrystalError;

/// Why reading or writing a structure file failed.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file could not be opened, read or written.
    #[error("cannot access {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The extension / file name does not say which format to use.
    #[error(
        "cannot tell the structure format of {0} from its name (expected .cif, .vasp, .poscar, POSCAR*, CONTCAR*, \
         .xyz or .extxyz)"
    )]
    UnknownFormat(PathBuf),

    /// The text does not follow the format's grammar.
    #[error("{format} syntax error at line {line}: {message}")]
    Syntax { format: &'static str, line: usize, message: String },

    /// A required CIF data item is absent.
    #[error("CIF data block '{block}': missing {field}")]
    MissingField { block: String, field: String },

    /// A CIF value that must be a number (or a known value) is not.
    #[error("CIF data block '{block}', line {line}: {field} = '{value}' {reason}")]
    InvalidValue { block: String, line: usize, field: String, value: String, reason: String },

    /// An atom-site or species symbol names no element.
    #[error("{context}: '{symbol}' is not a chemical element")]
    UnknownElement { context: String, symbol: String },

    /// A symmetry operation string such as `-x+1/2,y,z` could not be parsed or is not an isometry.
    #[error("CIF data block '{block}', line {line}: bad symmetry operation '{op}': {reason}")]
    BadSymop { block: String, line: usize, op: String, reason: String },

    /// The block names a space group but lists no operations, and the symbol/number is not one we know.
    #[error("CIF data block '{block}': no symmetry operations and space group {symbol} unsupported")]
    UnsupportedSpaceGroup { block: String, symbol: String },

    /// A site is partially occupied or shared by several species, and the policy is to refuse such files.
    #[error(
        "disordered site {label}: {detail} (CIF data block '{block}'; read it with DisorderPolicy::MajorityOccupant \
         or DisorderPolicy::Ignore to get an ordered approximation)"
    )]
    Disordered { block: String, label: String, detail: String },

    /// Occupancies at one position add up to more than the tolerance allows (often a site listed twice).
    #[error("CIF data block '{block}': {detail}")]
    Occupancy { block: String, detail: String },

    /// The input asks for more work or memory than any real crystal needs; refused rather than hanging.
    #[error("{what} exceeds the limit of {limit}; refusing an absurd input")]
    Limit { what: String, limit: String },

    /// The CIF has no data block with both a unit cell and atom sites.
    #[error("no crystal structure in the CIF: {0}")]
    NoStructure(String),

    /// The numbers were read but do not make a valid lattice or structure.
    #[error("{context}: {source}")]
    Crystal {
        context: String,
        #[source]
        source: CrystalError,
    },
}

impl IoError {
    pub(crate) fn syntax(format: &'static str, line: usize, message: impl Into<String>) -> IoError {
        IoError::Syntax { format, line, message: message.into() }
    }
}
