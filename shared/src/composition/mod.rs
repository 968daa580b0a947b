//! Chemical compositions: element amounts parsed from real-world formula strings, written back the way pymatgen
//! writes them.
//!
//! [`Composition`] keeps its elements in order of first appearance (pymatgen's `Composition.elements`) with `f64`
//! amounts. [`Composition::reduced_formula`], [`Composition::anonymized_formula`], [`Composition::formula`] and
//! [`Composition::chemical_system`] reproduce pymatgen 2026 string for string (checked against
//! `fixtures/formulas.json`), including its peroxide / diatomic special cases (`O` -> `O2`, `LiO` -> `Li2O2`), its
//! polyanion grouping (`Fe2(SO4)3`, `Lu(SiPd)2`) and its decimal formatting (`Ba0.5Sr0.5Ti1O3`).
//!
//! # Accepted formula syntax
//!
//! Everything pymatgen's `Composition(str)` accepts for real elements is accepted with the same result:
//! `LiFePO4`, `Li2 O1`, `Fe2(SO4)3`, `Ca[OH]2`, `{Fe}2O3`, nested brackets, decimal and exponent amounts
//! (`Ba0.5Sr0.5TiO3`, `H1e2`), whitespace between tokens, `@` (dropped, as in `Y3N@C80`), the isotopes `D` and `T`
//! (counted as H, as pymatgen does), and explicit zero amounts (`Na0Cl` is `Cl`). Note that, like pymatgen,
//! `CuSO4.5H2O` reads `O4.5` (a decimal amount), not a hydrate.
//!
//! Stricter than pymatgen (errors instead of invented dummy species or silent acceptance):
//! unknown symbols (`Xx2O`, `NaCL`), negative amounts anywhere, amounts that are not finite or exceed 1e6, a formula
//! whose amounts are all zero, empty brackets and brackets of different kinds closing each other (`(OH]2`).
//!
//! Extension (pymatgen rejects these): hydrate notation. When a string does not parse the pymatgen way and contains a
//! hydrate separator (`·`, `•`, `∙`, `⋅`, `*`, or a `.` with whitespace on at least one side), it is read as
//! `part SEP [coefficient] part ...`, e.g. `CuSO4·5H2O`, `CuSO4*5H2O`, `CuSO4 . 5H2O` = `CuH10SO9`. A `.` between
//! digits (or directly after an amount) is always a decimal point, because that is what pymatgen makes of it.

mod format;
mod parse;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::element::Element;
use crate::structure::Structure;

pub use format::python_float_repr;

/// pymatgen's `Composition.amount_tolerance`: amounts closer than this to zero are dropped, amounts closer than this
/// to an integer count as integral.
pub const AMOUNT_TOLERANCE: f64 = 1e-8;

/// Largest amount of one element accepted (per formula unit as written); larger values are treated as typos.
pub const MAX_AMOUNT: f64 = 1e6;

/// Why a formula or an amount list was rejected. Every message names the offending part.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CompositionError {
    #[error("empty formula")]
    Empty,
    #[error("formula {formula:?} names no element")]
    NoElements { formula: String },
    #[error("unknown element symbol {symbol:?} in formula {formula:?}")]
    UnknownElement { symbol: String, formula: String },
    #[error("unexpected character {ch:?} at position {position} in formula {formula:?}")]
    InvalidCharacter { ch: char, position: usize, formula: String },
    #[error("bracket {bracket:?} opened at position {position} is never closed in formula {formula:?}")]
    UnclosedBracket { bracket: char, position: usize, formula: String },
    #[error("closing bracket {bracket:?} at position {position} has no opening bracket in formula {formula:?}")]
    UnmatchedClosingBracket { bracket: char, position: usize, formula: String },
    #[error("bracket {open:?} at position {open_position} is closed by {close:?} at position {position} in formula {formula:?}")]
    MismatchedBracket { open: char, open_position: usize, close: char, position: usize, formula: String },
    #[error("brackets at position {position} hold no element in formula {formula:?}")]
    EmptyGroup { position: usize, formula: String },
    #[error("hydrate part {part} of formula {formula:?} holds no element")]
    EmptyHydratePart { part: usize, formula: String },
    #[error("invalid amount {amount:?} in formula {formula:?}")]
    InvalidAmount { amount: String, formula: String },
    #[error("negative amount in {part:?}: amounts cannot be negative")]
    NegativeAmount { part: String },
    #[error("amount {amount} of {element} is out of range (must be finite, non-negative and at most 1e6)")]
    AmountOutOfRange { element: String, amount: f64 },
    #[error("no atoms: every amount is zero in {formula:?}")]
    NoAtoms { formula: String },
}

/// Element amounts in order of first appearance. Amounts are positive (zero amounts are dropped on construction).
#[derive(Debug, Clone, Default)]
pub struct Composition {
    entries: Vec<(Element, f64)>,
}

impl Composition {
    /// Parses a formula string (see the module documentation for the accepted syntax).
    pub fn parse(formula: &str) -> Result<Composition, CompositionError> {
        let entries = parse::parse_formula(formula)?;
        let comp = Composition::build(entries, formula)?;
        if comp.is_empty() {
            return Err(CompositionError::NoAtoms { formula: formula.to_string() });
        }
        Ok(comp)
    }

    /// A composition from `(element, amount)` pairs; repeated elements are summed (first appearance fixes the
    /// order) and amounts below [`AMOUNT_TOLERANCE`] are dropped. An empty input gives the empty composition.
    pub fn from_elements<I>(pairs: I) -> Result<Composition, CompositionError>
    where
        I: IntoIterator<Item = (Element, f64)>,
    {
        let mut entries: Vec<(Element, f64)> = Vec::new();
        for (el, amount) in pairs {
            if !amount.is_finite() || amount > MAX_AMOUNT {
                return Err(CompositionError::AmountOutOfRange { element: el.symbol().to_string(), amount });
            }
            if amount < -AMOUNT_TOLERANCE {
                return Err(CompositionError::NegativeAmount { part: format!("{el}{amount}") });
            }
            add_amount(&mut entries, el, amount);
        }
        Composition::build(entries, "")
    }

    /// A composition from `(symbol, amount)` pairs, e.g. a `{"Fe": 2.0, "O": 3.0}` map. `D` and `T` count as H.
    pub fn from_symbols<I, S>(pairs: I) -> Result<Composition, CompositionError>
    where
        I: IntoIterator<Item = (S, f64)>,
        S: AsRef<str>,
    {
        let mut els = Vec::new();
        for (sym, amount) in pairs {
            let sym = sym.as_ref();
            let el = parse::lookup_symbol(sym)
                .ok_or_else(|| CompositionError::UnknownElement { symbol: sym.to_string(), formula: String::new() })?;
            els.push((el, amount));
        }
        Composition::from_elements(els)
    }

    /// Validates summed amounts and drops the ones pymatgen drops (|x| < 1e-8).
    fn build(entries: Vec<(Element, f64)>, formula: &str) -> Result<Composition, CompositionError> {
        let mut kept = Vec::with_capacity(entries.len());
        for (el, amount) in entries {
            if !amount.is_finite() || amount > MAX_AMOUNT {
                return Err(CompositionError::AmountOutOfRange { element: el.symbol().to_string(), amount });
            }
            if amount < -AMOUNT_TOLERANCE {
                let part = if formula.is_empty() { format!("{el}{amount}") } else { formula.to_string() };
                return Err(CompositionError::NegativeAmount { part });
            }
            if amount.abs() >= AMOUNT_TOLERANCE {
                kept.push((el, amount));
            }
        }
        Ok(Composition { entries: kept })
    }

    /// Amount of `el` (0 when absent).
    pub fn amount(&self, el: Element) -> f64 {
        self.entries.iter().find(|(e, _)| *e == el).map_or(0.0, |(_, a)| *a)
    }

    /// Elements in order of first appearance.
    pub fn elements(&self) -> Vec<Element> {
        self.entries.iter().map(|(e, _)| *e).collect()
    }

    /// `(element, amount)` pairs in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (Element, f64)> + '_ {
        self.entries.iter().copied()
    }

    /// Number of distinct elements.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, el: Element) -> bool {
        self.entries.iter().any(|(e, _)| *e == el)
    }

    /// Total number of atoms (sum of amounts).
    pub fn num_atoms(&self) -> f64 {
        self.entries.iter().map(|(_, a)| a.abs()).sum()
    }

    /// Atomic fraction of `el` (0 when absent or for the empty composition).
    pub fn fraction(&self, el: Element) -> f64 {
        let n = self.num_atoms();
        if n > 0.0 {
            self.amount(el) / n
        } else {
            0.0
        }
    }

    /// Whether every amount is within [`AMOUNT_TOLERANCE`] of an integer (pymatgen's test before reducing).
    pub fn is_integer(&self) -> bool {
        self.entries.iter().all(|(_, a)| (a - a.round_ties_even()).abs() < AMOUNT_TOLERANCE)
    }

    /// The same composition with every amount divided by `divisor` (order kept).
    pub fn divided_by(&self, divisor: f64) -> Composition {
        Composition { entries: self.entries.iter().map(|&(e, a)| (e, a / divisor)).collect() }
    }

    /// pymatgen's `get_reduced_composition_and_factor`: the reduced composition and the factor it was divided by
    /// (`Li4Fe4P4O16` -> (`LiFePO4`, 4); `O` -> (`O2`, 0.5); non-integer compositions -> (self, 1)).
    pub fn reduced_composition_and_factor(&self) -> (Composition, f64) {
        let (_, factor) = self.reduced_formula_and_factor();
        (self.divided_by(factor), factor)
    }

    /// Gcd-reduced integer counts in element order, for integer compositions; `None` otherwise or when empty.
    pub fn reduced_integer_counts(&self) -> Option<Vec<u64>> {
        if self.is_empty() || !self.is_integer() {
            return None;
        }
        let counts: Vec<u64> = self.entries.iter().map(|(_, a)| a.round_ties_even() as u64).collect();
        let g = counts.iter().fold(0u64, |g, &c| gcd_u64(g, c));
        (g > 0).then(|| counts.iter().map(|c| c / g).collect())
    }
}

pub(crate) fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Adds `amount` to `el`, appending it when new (pymatgen's `defaultdict(float)` accumulation order).
pub(crate) fn add_amount(entries: &mut Vec<(Element, f64)>, el: Element, amount: f64) {
    match entries.iter_mut().find(|(e, _)| *e == el) {
        Some((_, a)) => *a += amount,
        None => entries.push((el, 0.0 + amount)),
    }
}

/// pymatgen's equality: same elements, amounts within [`AMOUNT_TOLERANCE`]; element order does not matter.
impl PartialEq for Composition {
    fn eq(&self, other: &Composition) -> bool {
        self.len() == other.len()
            && self.entries.iter().all(|&(e, a)| (a - other.amount(e)).abs() <= AMOUNT_TOLERANCE && other.contains(e))
    }
}

impl FromStr for Composition {
    type Err = CompositionError;
    fn from_str(s: &str) -> Result<Composition, CompositionError> {
        Composition::parse(s)
    }
}

/// pymatgen's `str(Composition)`: elements in order of appearance with explicit amounts, e.g. `Li1 Fe1 P1 O4`.
impl fmt::Display for Composition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (el, amount)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{el}{}", format::formula_double_format(*amount, false))?;
        }
        Ok(())
    }
}

impl Structure {
    /// The composition of the cell: one atom per site, elements in order of first appearance among the sites.
    pub fn composition(&self) -> Composition {
        let mut entries: Vec<(Element, f64)> = Vec::new();
        for &el in self.species() {
            add_amount(&mut entries, el, 1.0);
        }
        Composition { entries }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::Lattice;
    use nalgebra::Vector3;

    fn el(s: &str) -> Element {
        Element::from_symbol(s).unwrap()
    }

    fn amounts(c: &Composition) -> Vec<(String, f64)> {
        c.iter().map(|(e, a)| (e.symbol().to_string(), a)).collect()
    }

    #[test]
    fn basic_api() {
        let c = Composition::parse("Li4Fe4P4O16").unwrap();
        assert_eq!(c.elements(), vec![el("Li"), el("Fe"), el("P"), el("O")]);
        assert_eq!(c.amount(el("O")), 16.0);
        assert_eq!(c.amount(el("Na")), 0.0);
        assert_eq!(c.num_atoms(), 28.0);
        assert_eq!(c.reduced_formula(), "LiFePO4");
        let (r, f) = c.reduced_composition_and_factor();
        assert_eq!(f, 4.0);
        assert_eq!(r, Composition::parse("LiFePO4").unwrap());
        assert_eq!(c.formula(), "Li4 Fe4 P4 O16");
        assert_eq!(c.to_string(), "Li4 Fe4 P4 O16");
        assert_eq!(c.chemical_system(), "Fe-Li-O-P");
        assert!(c.is_integer());
        assert_eq!(c.reduced_integer_counts(), Some(vec![1, 1, 1, 4]));
        assert!((c.fraction(el("O")) - 16.0 / 28.0).abs() < 1e-15);
        let parsed: Composition = "O2Li4".parse().unwrap();
        assert_eq!(parsed.to_string(), "O2 Li4");
        assert_eq!(parsed.reduced_formula(), "Li2O");
    }

    #[test]
    fn equality_ignores_order() {
        assert_eq!(Composition::parse("OLi2").unwrap(), Composition::parse("Li2O").unwrap());
        assert_ne!(Composition::parse("Li2O").unwrap(), Composition::parse("Li2O2").unwrap());
        assert_ne!(Composition::parse("Li2O").unwrap(), Composition::parse("Li2S").unwrap());
    }

    #[test]
    fn from_elements_sums_and_validates() {
        let c =
            Composition::from_elements([(el("Fe"), 1.0), (el("O"), 1.0), (el("Fe"), 1.0), (el("Na"), 0.0)]).unwrap();
        assert_eq!(amounts(&c), vec![("Fe".to_string(), 2.0), ("O".to_string(), 1.0)]);
        assert!(matches!(Composition::from_elements([(el("Fe"), -1.0)]), Err(CompositionError::NegativeAmount { .. })));
        assert!(matches!(
            Composition::from_elements([(el("Fe"), f64::NAN)]),
            Err(CompositionError::AmountOutOfRange { .. })
        ));
        assert!(matches!(
            Composition::from_elements([(el("Fe"), 2e6)]),
            Err(CompositionError::AmountOutOfRange { .. })
        ));
        let s = Composition::from_symbols([("Fe", 2.0), ("O", 3.0)]).unwrap();
        assert_eq!(s.reduced_formula(), "Fe2O3");
        assert!(matches!(Composition::from_symbols([("Xx", 1.0)]), Err(CompositionError::UnknownElement { .. })));
        assert!(Composition::from_elements([]).unwrap().is_empty());
    }

    #[test]
    fn structure_composition() {
        let lat = Lattice::cubic(4.0).unwrap();
        let species = vec![el("Ti"), el("O"), el("Sr"), el("O"), el("O")];
        let frac = (0..5).map(|i| Vector3::new(0.2 * i as f64, 0.0, 0.0)).collect();
        let s = Structure::new(lat, species, frac).unwrap();
        let c = s.composition();
        assert_eq!(c.to_string(), "Ti1 O3 Sr1");
        assert_eq!(c.reduced_formula(), "SrTiO3");
    }

    #[test]
    fn hydrates_are_an_extension() {
        let expect = Composition::parse("CuSO9H10").unwrap();
        for f in ["CuSO4·5H2O", "CuSO4*5H2O", "CuSO4 . 5H2O", "CuSO4. 5H2O", "CuSO4 • 5 H2O", "CuSO4∙5H2O"] {
            let c = Composition::parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(c, expect, "{f}");
            assert_eq!(c.elements(), vec![el("Cu"), el("S"), el("O"), el("H")], "{f}");
        }
        // pymatgen reads a dot between digits as a decimal point; so do we.
        let c = Composition::parse("CuSO4.5H2O").unwrap();
        assert_eq!(c.amount(el("O")), 5.5);
        assert_eq!(c.amount(el("H")), 2.0);
        // A trailing dot after an amount followed by a letter: both readings agree.
        assert_eq!(Composition::parse("Na2CO3.H2O").unwrap(), Composition::parse("Na2CO4H2").unwrap());
        assert_eq!(Composition::parse("Na2CO3·H2O").unwrap(), Composition::parse("Na2CO4H2").unwrap());
        assert_eq!(Composition::parse("Na2SO4·0.5H2O").unwrap(), Composition::parse("Na2SO4.5H1").unwrap());
        assert_eq!(Composition::parse("Fe(OH)3·2(H2O)").unwrap(), Composition::parse("FeO5H7").unwrap());
        assert_eq!(Composition::parse("KAl(SO4)2·12H2O").unwrap(), Composition::parse("KAl(SO4)2(H2O)12").unwrap());
        for bad in ["CuSO4·", "CuSO4·5", "·5H2O", "CuSO4··H2O", "Cu(SO4·H2O)", "CuSO4·5Xx"] {
            assert!(Composition::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
