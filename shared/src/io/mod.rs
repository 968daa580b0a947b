//! Structure file I/O: CIF (reader with symmetry expansion, P1 writer), VASP 5 POSCAR (reader and writer) and extended
//! XYZ (reader and writer), plus [`read_structure_file`] / [`write_structure_file`], which pick the format from the
//! file name and are what `genms convert in out` calls.
//!
//! Everything here is pure text processing on the crystal types of this crate: no network and no data files at run
//! time (space-group operations for CIFs that only name their group come from moyo's built-in Hall-symbol table).

pub mod cif;
mod error;
pub mod extxyz;
pub mod poscar;

use std::path::{Path, PathBuf};

pub use cif::{read_cif, read_cif_structure, write_cif, CifOptions, CifStructure, DisorderPolicy, SymmetrySource};
pub use error::IoError;
pub use extxyz::{read_extxyz, write_extxyz};
pub use poscar::{read_poscar, write_poscar, write_poscar_cartesian};

use crate::structure::Structure;

/// The structure file formats this module reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StructureFormat {
    Cif,
    Poscar,
    ExtXyz,
}

impl StructureFormat {
    /// The format a file name implies: `.cif`; `.vasp`, `.poscar` or a name starting with `POSCAR` / `CONTCAR`
    /// (any case, e.g. `POSCAR`, `CONTCAR_relaxed`); `.xyz` / `.extxyz`. `None` when the name says nothing.
    pub fn from_path(path: &Path) -> Option<StructureFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("cif") => return Some(StructureFormat::Cif),
            Some("vasp") | Some("poscar") => return Some(StructureFormat::Poscar),
            Some("xyz") | Some("extxyz") => return Some(StructureFormat::ExtXyz),
            _ => {}
        }
        if name.starts_with("poscar") || name.starts_with("contcar") {
            return Some(StructureFormat::Poscar);
        }
        None
    }

    /// Parse `text` in this format; for CIF, the first structure with the default options (disorder rejected).
    pub fn read_str(self, text: &str) -> Result<Structure, IoError> {
        match self {
            StructureFormat::Cif => read_cif_structure(text, &CifOptions::default()),
            StructureFormat::Poscar => read_poscar(text),
            StructureFormat::ExtXyz => read_extxyz(text),
        }
    }

    /// Render `structure` in this format (POSCAR in Direct coordinates).
    pub fn write_string(self, structure: &Structure) -> String {
        match self {
            StructureFormat::Cif => write_cif(structure),
            StructureFormat::Poscar => write_poscar(structure),
            StructureFormat::ExtXyz => write_extxyz(structure),
        }
    }
}

fn format_of(path: &Path) -> Result<StructureFormat, IoError> {
    StructureFormat::from_path(path).ok_or_else(|| IoError::UnknownFormat(path.to_path_buf()))
}

/// Read one structure from a file whose format follows from its name (see [`StructureFormat::from_path`]). CIFs are
/// read with [`CifOptions::default`] (disordered sites are an error) and the first structure is returned. Bytes that
/// are not UTF-8 are replaced (they can only occur in free-text fields of real files).
pub fn read_structure_file(path: impl AsRef<Path>) -> Result<Structure, IoError> {
    let path = path.as_ref();
    let format = format_of(path)?;
    let bytes = std::fs::read(path).map_err(|source| IoError::File { path: path.to_path_buf(), source })?;
    format.read_str(&String::from_utf8_lossy(&bytes))
}

/// Write a structure to a file in the format its name implies (CIF: P1; POSCAR: VASP 5, Direct; extended XYZ).
pub fn write_structure_file(path: impl AsRef<Path>, structure: &Structure) -> Result<(), IoError> {
    let path = path.as_ref();
    let format = format_of(path)?;
    std::fs::write(path, format.write_string(structure))
        .map_err(|source| IoError::File { path: PathBuf::from(path), source })
}

/// Shortest decimal text of `x` that parses back to exactly `x`, with `-0` written as `0`; writers use it where
/// round-tripping matters more than column alignment.
pub(crate) fn exact(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_names() {
        let f = |s: &str| StructureFormat::from_path(Path::new(s));
        assert_eq!(f("a/b/NaCl.cif"), Some(StructureFormat::Cif));
        assert_eq!(f("x.CIF"), Some(StructureFormat::Cif));
        assert_eq!(f("POSCAR"), Some(StructureFormat::Poscar));
        assert_eq!(f("run/CONTCAR_relaxed"), Some(StructureFormat::Poscar));
        assert_eq!(f("Si.vasp"), Some(StructureFormat::Poscar));
        assert_eq!(f("traj.extxyz"), Some(StructureFormat::ExtXyz));
        assert_eq!(f("traj.xyz"), Some(StructureFormat::ExtXyz));
        assert_eq!(f("notes.txt"), None);
        assert!(matches!(read_structure_file("nothing.txt"), Err(IoError::UnknownFormat(_))));
    }
}
