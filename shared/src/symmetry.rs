//! Space-group detection with moyo (a Rust re-implementation of spglib's symmetry search). genms reports the
//! space-group number and the short Hermann–Mauguin symbol spelled as spglib / pymatgen spell it (`Fd-3m`,
//! `P6_3/mmc`, `P2_1/c`), so outputs compare directly with pymatgen's `SpacegroupAnalyzer`.

use moyo::base::{AngleTolerance, Cell, Lattice as MoyoLattice};
use moyo::data::{hall_symbol_entry, Setting};
use moyo::MoyoDataset;
use thiserror::Error;

use crate::structure::Structure;

/// The tolerance genms uses everywhere (as pymatgen's `SpacegroupAnalyzer` default would be at 0.1 A).
pub const DEFAULT_SYMPREC: f64 = 0.1;

/// A detected space group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpaceGroup {
    /// International Tables number, 1..=230.
    pub number: u16,
    /// Short Hermann–Mauguin symbol in spglib's spelling.
    pub symbol: String,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum SymmetryError {
    #[error("symmetry search needs at least one site")]
    Empty,
    #[error("symmetry search failed at symprec {symprec}: {message}")]
    Failed { symprec: f64, message: String },
}

/// The space group of `structure` at `symprec` (A) with spglib's default angle tolerance.
pub fn space_group(structure: &Structure, symprec: f64) -> Result<SpaceGroup, SymmetryError> {
    if structure.is_empty() {
        return Err(SymmetryError::Empty);
    }
    let cell = Cell::new(
        MoyoLattice::new(*structure.lattice().matrix()),
        structure.frac_coords().to_vec(),
        structure.species().iter().map(|e| e.z() as i32).collect(),
    );
    // moyo can panic deep inside on pathological input (e.g. overlapping atoms); treat that as a failed search.
    let result =
        std::panic::catch_unwind(|| MoyoDataset::new(&cell, symprec, AngleTolerance::Default, Setting::Spglib, true));
    let dataset = match result {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return Err(SymmetryError::Failed { symprec, message: e.to_string() }),
        Err(_) => return Err(SymmetryError::Failed { symprec, message: "internal error in moyo".into() }),
    };
    let number = dataset.number as u16;
    Ok(SpaceGroup { number, symbol: spglib_symbol(number).unwrap_or_else(|| compact(&dataset.hm_symbol)) })
}

/// spglib's short international symbol of space group `number` (its default setting), e.g. 14 -> `P2_1/c`.
pub fn spglib_symbol(number: u16) -> Option<String> {
    let hall = Setting::Spglib.hall_numbers().get(number.checked_sub(1)? as usize).copied()?;
    let entry = hall_symbol_entry(hall)?;
    let mut tokens: Vec<&str> = entry.hm_short.split_whitespace().collect();
    // Monoclinic groups are written with the unique axis spelled out ("P 1 2_1/c 1"); spglib drops the 1s.
    if (3..=15).contains(&number) {
        let lattice = tokens.first().copied();
        tokens = lattice.into_iter().chain(tokens.iter().skip(1).copied().filter(|t| *t != "1")).collect();
    }
    Some(tokens.concat())
}

fn compact(symbol: &str) -> String {
    symbol.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Lattice};
    use nalgebra::Vector3;

    #[test]
    fn symbols_are_spelled_as_spglib() {
        assert_eq!(spglib_symbol(1).unwrap(), "P1");
        assert_eq!(spglib_symbol(2).unwrap(), "P-1");
        assert_eq!(spglib_symbol(14).unwrap(), "P2_1/c");
        assert_eq!(spglib_symbol(12).unwrap(), "C2/m");
        assert_eq!(spglib_symbol(62).unwrap(), "Pnma");
        assert_eq!(spglib_symbol(166).unwrap(), "R-3m");
        assert_eq!(spglib_symbol(194).unwrap(), "P6_3/mmc");
        assert_eq!(spglib_symbol(221).unwrap(), "Pm-3m");
        assert_eq!(spglib_symbol(227).unwrap(), "Fd-3m");
        assert!(spglib_symbol(0).is_none() && spglib_symbol(231).is_none());
    }

    #[test]
    fn cubic_perovskite_is_pm3m() {
        let el = |s| Element::from_symbol(s).unwrap();
        let s = Structure::new(
            Lattice::cubic(3.9).unwrap(),
            vec![el("Sr"), el("Ti"), el("O"), el("O"), el("O")],
            vec![
                Vector3::new(0.0, 0.0, 0.0),
                Vector3::new(0.5, 0.5, 0.5),
                Vector3::new(0.5, 0.5, 0.0),
                Vector3::new(0.5, 0.0, 0.5),
                Vector3::new(0.0, 0.5, 0.5),
            ],
        )
        .unwrap();
        let sg = space_group(&s, DEFAULT_SYMPREC).unwrap();
        assert_eq!((sg.number, sg.symbol.as_str()), (221, "Pm-3m"));
    }
}
