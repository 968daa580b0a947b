//! genms-shared: the crystal domain of genms, with no ML and no network. Elements and oxidation states, compositions
//! (pymatgen-compatible formulae, SMACT validity), lattices and structures, CIF/POSCAR/extxyz I/O, periodic neighbour
//! lists, validity checks, symmetry (moyo), CDVAE-style datasets and the known-formula index.

// `!(x <= limit)` is how this crate rejects NaN together with out-of-range values; keep it readable.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod composition;
pub mod constraints;
pub mod dataset;
pub mod element;
pub mod error;
pub mod io;
pub mod known;
pub mod lattice;
pub mod paths;
pub mod search;
pub mod smact;
pub mod structure;

pub use composition::{Composition, CompositionError};
pub use element::{Element, OxidationStates};
pub use error::CrystalError;
pub use lattice::Lattice;
pub use structure::Structure;
pub mod neighbors;
pub mod symmetry;
pub mod validity;
