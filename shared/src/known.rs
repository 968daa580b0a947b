//! The known-materials index used for novelty checks: a set of pymatgen reduced formulae (one per line in
//! `$GENMS_SHARED/data/compositions/known_formulas.txt`, ~427k lines) with a chemical-system index
//! (`"Fe-O"` -> `Fe2O3`, `Fe3O4`, ...).
//!
//! Membership is by exact reduced-formula string, which is how pymatgen-based novelty checks compare. Every line is
//! also parsed once at load to file it under its chemical system; lines that do not parse stay in the exact-string set
//! and are counted in [`KnownFormulas::unparsable`].

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::composition::Composition;
use crate::paths::shared_root;

#[derive(Debug, Error)]
pub enum KnownFormulasError {
    #[error("cannot read known formulae from {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A set of known reduced formulae with a chemical-system index.
#[derive(Debug, Clone, Default)]
pub struct KnownFormulas {
    /// Distinct formulae in input order.
    formulas: Vec<Box<str>>,
    /// Formula -> index into `formulas`.
    index: HashMap<Box<str>, u32>,
    /// Canonical chemical system (`Fe-O`) -> indices into `formulas`, in input order.
    systems: HashMap<Box<str>, Vec<u32>>,
    unparsable: usize,
}

impl KnownFormulas {
    /// The default file, `<shared root>/data/compositions/known_formulas.txt`.
    pub fn default_path() -> PathBuf {
        shared_root().join("data").join("compositions").join("known_formulas.txt")
    }

    /// Loads [`KnownFormulas::default_path`].
    pub fn load_default() -> Result<KnownFormulas, KnownFormulasError> {
        KnownFormulas::load(KnownFormulas::default_path())
    }

    /// Loads a file of one formula per line (surrounding whitespace and empty lines ignored).
    pub fn load(path: impl AsRef<Path>) -> Result<KnownFormulas, KnownFormulasError> {
        let path = path.as_ref();
        let text =
            fs::read_to_string(path).map_err(|source| KnownFormulasError::Io { path: path.to_path_buf(), source })?;
        Ok(KnownFormulas::from_formulas(text.lines()))
    }

    /// Builds the index from formula strings (taken as reduced formulae; duplicates kept once).
    pub fn from_formulas<I, S>(formulas: I) -> KnownFormulas
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut known = KnownFormulas::default();
        for line in formulas {
            let f = line.as_ref().trim();
            if f.is_empty() || known.index.contains_key(f) {
                continue;
            }
            let i = known.formulas.len() as u32;
            known.formulas.push(f.into());
            known.index.insert(f.into(), i);
            match Composition::parse(f) {
                Ok(comp) => {
                    let system = comp.chemical_system();
                    // get_mut first: most systems repeat, and entry() would allocate the key every time.
                    match known.systems.get_mut(system.as_str()) {
                        Some(ids) => ids.push(i),
                        None => {
                            known.systems.insert(system.into_boxed_str(), vec![i]);
                        }
                    }
                }
                Err(_) => known.unparsable += 1,
            }
        }
        known
    }

    /// Number of distinct formulae.
    pub fn len(&self) -> usize {
        self.formulas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.formulas.is_empty()
    }

    /// Number of formulae that did not parse (kept for exact-string membership only).
    pub fn unparsable(&self) -> usize {
        self.unparsable
    }

    /// Whether this exact reduced-formula string is known (`"Fe2O3"`, not `"O3Fe2"`).
    pub fn contains_reduced(&self, reduced_formula: &str) -> bool {
        self.index.contains_key(reduced_formula)
    }

    /// Whether the composition's reduced formula is known (`Fe4O6` matches `Fe2O3`).
    pub fn contains(&self, comp: &Composition) -> bool {
        self.contains_reduced(&comp.reduced_formula())
    }

    /// Known formulae whose element set is exactly `system` (`"Fe-O"`, in any order: `"O-Fe"` works too), in file
    /// order. Unknown symbols give an empty list.
    pub fn in_chemical_system(&self, system: &str) -> Vec<&str> {
        let Some(key) = canonical_system(system) else {
            return Vec::new();
        };
        self.systems
            .get(key.as_str())
            .map(|ids| ids.iter().map(|&i| &*self.formulas[i as usize]).collect())
            .unwrap_or_default()
    }

    /// Every known formula, in input order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.formulas.iter().map(|f| &**f)
    }
}

/// `"O-Fe"` -> `"Fe-O"`; `None` if a symbol is not an element.
fn canonical_system(system: &str) -> Option<String> {
    let mut syms: Vec<&str> = Vec::new();
    for s in system.split('-').map(str::trim) {
        let el = crate::element::Element::from_symbol(s)?;
        syms.push(el.symbol());
    }
    syms.sort_unstable();
    syms.dedup();
    (!syms.is_empty()).then(|| syms.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_index() {
        let k = KnownFormulas::from_formulas(["Fe2O3", "Fe3O4", " Fe2O3 ", "", "LiFePO4", "FeO", "Xx2O", "O2"]);
        assert_eq!(k.len(), 6);
        assert_eq!(k.unparsable(), 1);
        assert!(k.contains_reduced("Fe2O3"));
        assert!(k.contains_reduced("Xx2O"));
        assert!(!k.contains_reduced("O3Fe2"));
        assert!(k.contains(&Composition::parse("Fe4O6").unwrap()));
        assert!(k.contains(&Composition::parse("O").unwrap()));
        assert_eq!(k.in_chemical_system("Fe-O"), vec!["Fe2O3", "Fe3O4", "FeO"]);
        assert_eq!(k.in_chemical_system("O-Fe"), vec!["Fe2O3", "Fe3O4", "FeO"]);
        assert_eq!(k.in_chemical_system("O"), vec!["O2"]);
        assert!(k.in_chemical_system("Fe-Xx").is_empty());
        assert!(k.in_chemical_system("Fe").is_empty());
    }
}
