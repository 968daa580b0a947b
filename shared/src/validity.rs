//! Structural validity exactly as DiffCSP defines it (`scripts/eval_utils.py`, `compute_metrics.py`): a crystal is
//! structurally valid when its volume is at least 0.1 A^3 and no two different sites are closer than 0.5 A
//! (minimum image; an atom's distance to its own periodic images is not considered).

use serde::Serialize;

use crate::structure::Structure;

/// Smallest allowed distance between two different sites (A).
pub const MIN_DISTANCE: f64 = 0.5;
/// Smallest allowed cell volume (A^3); DiffCSP refuses to build smaller cells ("unrealistically small lattice").
pub const MIN_VOLUME: f64 = 0.1;

/// Why a structure is not structurally valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// Volume below [`MIN_VOLUME`].
    UnrealisticallySmallLattice,
    /// Two different sites closer than [`MIN_DISTANCE`].
    AtomsTooClose,
}

impl InvalidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::UnrealisticallySmallLattice => "unrealistically_small_lattice",
            InvalidReason::AtomsTooClose => "atoms_too_close",
        }
    }
}

/// The structural-validity verdict with the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StructValidity {
    pub struct_valid: bool,
    pub volume: f64,
    /// `None` for a single site.
    pub min_pairwise_distance: Option<f64>,
    pub reason: Option<InvalidReason>,
}

/// Shortest allowed lattice vector (A) of a generated cell (an atom this close to its own image is unphysical).
pub const MIN_LATTICE_VECTOR: f64 = 1.0;
/// Plausible volume per atom (A^3) of a generated structure.
pub const VOLUME_PER_ATOM: (f64, f64) = (2.0, 150.0);

/// The checks every generated structure must pass before it is scored, as a reason code when it fails:
/// `self_image_too_close` (shortest lattice vector of the LLL-reduced cell below [`MIN_LATTICE_VECTOR`]; checked
/// first, because such thin cells also make the distance search expensive), the DiffCSP reasons of
/// [`struct_validity`], and `implausible_volume` (outside [`VOLUME_PER_ATOM`]).
pub fn generation_check(structure: &Structure) -> Result<(), &'static str> {
    let (reduced, _) = structure.lattice().lll_reduced();
    if reduced.lengths().iter().any(|l| l.is_nan() || *l < MIN_LATTICE_VECTOR) {
        return Err("self_image_too_close");
    }
    let v = struct_validity(structure);
    if let Some(reason) = v.reason {
        return Err(reason.as_str());
    }
    let per_atom = v.volume / structure.num_sites().max(1) as f64;
    if !(VOLUME_PER_ATOM.0..=VOLUME_PER_ATOM.1).contains(&per_atom) {
        return Err("implausible_volume");
    }
    Ok(())
}

/// DiffCSP's structural validity of `structure`.
pub fn struct_validity(structure: &Structure) -> StructValidity {
    let volume = structure.volume();
    let min_pairwise_distance = structure.min_pairwise_distance();
    let reason = if volume < MIN_VOLUME {
        Some(InvalidReason::UnrealisticallySmallLattice)
    } else if min_pairwise_distance.is_some_and(|d| d < MIN_DISTANCE) {
        Some(InvalidReason::AtomsTooClose)
    } else {
        None
    };
    StructValidity { struct_valid: reason.is_none(), volume, min_pairwise_distance, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Lattice};
    use nalgebra::Vector3;

    #[test]
    fn close_pair_and_tiny_cell_are_invalid() {
        let c = Element::from_symbol("C").unwrap();
        let l = Lattice::cubic(3.0).unwrap();
        let ok = Structure::new(l, vec![c, c], vec![Vector3::zeros(), Vector3::new(0.5, 0.5, 0.5)]).unwrap();
        assert!(struct_validity(&ok).struct_valid);
        let close = Structure::new(l, vec![c, c], vec![Vector3::zeros(), Vector3::new(0.99, 0.0, 0.0)]).unwrap();
        let v = struct_validity(&close);
        assert_eq!(v.reason, Some(InvalidReason::AtomsTooClose));
        let tiny = Structure::new(Lattice::cubic(0.4).unwrap(), vec![c], vec![Vector3::zeros()]).unwrap();
        assert_eq!(struct_validity(&tiny).reason, Some(InvalidReason::UnrealisticallySmallLattice));
        // One atom 0.47 A from its own image is still valid: self-images do not count.
        let single = Structure::new(Lattice::cubic(0.47).unwrap(), vec![c], vec![Vector3::zeros()]).unwrap();
        assert!(struct_validity(&single).struct_valid);
    }
}
