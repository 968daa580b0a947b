//! What a search asks for, independent of how it was phrased: the `Constraints` a prompt is interpreted into, the
//! structural families with their stoichiometry, and the checks every proposed formula and every scored candidate
//! goes through (formula constraints filter proposals; property constraints become ranking penalties).

use serde::{Deserialize, Serialize};

use crate::{Composition, Element};

mod interpret;
pub use interpret::{interpret, Interpretation, PromptError};

/// Electronic class asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectronicClass {
    Metal,
    Semiconductor,
    Insulator,
}

/// Structural families with a fixed stoichiometry pattern (pymatgen's anonymised formula of one formula unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// ABX3
    Perovskite,
    /// AB2X4
    Spinel,
    /// A2B2X7
    Pyrochlore,
    /// AX
    RockSalt,
    /// AX2
    Fluorite,
    /// A3B2C3X12 (e.g. Ca3Al2Si3O12)
    Garnet,
    /// A2BX4 (e.g. Mg2SiO4)
    Olivine,
    /// X2YZ
    Heusler,
    /// XYZ
    HalfHeusler,
    /// A2BB'X6
    DoublePerovskite,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::Perovskite,
        Family::Spinel,
        Family::Pyrochlore,
        Family::RockSalt,
        Family::Fluorite,
        Family::Garnet,
        Family::Olivine,
        Family::Heusler,
        Family::HalfHeusler,
        Family::DoublePerovskite,
    ];

    /// pymatgen's `anonymized_formula` of one formula unit of the family.
    pub fn anonymized_formula(self) -> &'static str {
        match self {
            Family::Perovskite => "ABC3",
            Family::Spinel | Family::Olivine => "AB2C4",
            Family::Pyrochlore => "A2B2C7",
            Family::RockSalt => "AB",
            Family::Fluorite => "AB2",
            Family::Garnet => "A2B3C3D12",
            Family::Heusler => "ABC2",
            Family::HalfHeusler => "ABC",
            Family::DoublePerovskite => "ABC2D6",
        }
    }

    /// Sorted site multiplicities of the family's anonymised formula (`ABC3` -> [1, 1, 3]).
    pub fn site_counts(self) -> Vec<u32> {
        let mut counts = Vec::new();
        let mut chars = self.anonymized_formula().chars().peekable();
        while let Some(c) = chars.next() {
            if c.is_ascii_uppercase() {
                let mut n = 0u32;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d;
                    chars.next();
                }
                counts.push(n.max(1));
            }
        }
        counts.sort_unstable();
        counts
    }

    /// Atoms in one formula unit.
    pub fn atoms_per_formula_unit(self) -> u32 {
        match self {
            Family::Perovskite => 5,
            Family::Spinel | Family::Olivine => 7,
            Family::Pyrochlore => 11,
            Family::RockSalt => 2,
            Family::Fluorite => 3,
            Family::Garnet => 20,
            Family::Heusler => 4,
            Family::HalfHeusler => 3,
            Family::DoublePerovskite => 10,
        }
    }

    /// Whether the family has an anion sublattice (so an anion constraint applies to its last site).
    pub fn is_ionic(self) -> bool {
        !matches!(self, Family::Heusler | Family::HalfHeusler)
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Perovskite => "perovskite",
            Family::Spinel => "spinel",
            Family::Pyrochlore => "pyrochlore",
            Family::RockSalt => "rock_salt",
            Family::Fluorite => "fluorite",
            Family::Garnet => "garnet",
            Family::Olivine => "olivine",
            Family::Heusler => "heusler",
            Family::HalfHeusler => "half_heusler",
            Family::DoublePerovskite => "double_perovskite",
        }
    }
}

/// Everything a prompt constrains. Empty lists / `None` mean "no constraint". Elements are element symbols.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Constraints {
    /// Every formula must contain all of these.
    pub required_elements: Vec<Element>,
    /// No formula may contain any of these.
    pub excluded_elements: Vec<Element>,
    /// When set, formulae may only use these elements.
    pub element_pool: Option<Vec<Element>>,
    /// Structural family (fixes the stoichiometry pattern).
    pub family: Option<Family>,
    /// Anion(s) asked for (oxide -> O, halide -> F/Cl/Br/I, ...): the formula must contain at least one of them.
    pub anions: Vec<Element>,
    /// Minimum and maximum number of distinct elements.
    pub min_elements: Option<u32>,
    pub max_elements: Option<u32>,
    /// Electronic class (metal / semiconductor / insulator).
    pub electronic: Option<ElectronicClass>,
    /// Band-gap range in eV (inclusive); either end may be open.
    pub band_gap_min: Option<f64>,
    pub band_gap_max: Option<f64>,
    /// The user asked for stable / low-energy materials.
    pub stable: bool,
    /// Only formulae absent from the known-formula list (default true: GenMS searches for new materials).
    pub novel: bool,
    /// Reduced formulae the user explicitly excluded ("not LiCoO2").
    pub excluded_formulas: Vec<String>,
    /// Groups of elements of which the formula must contain at least one each ("containing an alkali metal" ->
    /// `[[Li, Na, K, Rb, Cs]]`). Added after the first release, hence skipped when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_any: Vec<Vec<Element>>,
    /// Reduced formulae the user named as models ("like SrTiO3"): proposers use them as parents / in-context
    /// examples; they do not restrict which formulae are acceptable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// Why a formula does not satisfy the constraints (the reason string goes into rejection counts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("missing required element {0}")]
    MissingElement(Element),
    #[error("contains excluded element {0}")]
    ExcludedElement(Element),
    #[error("element {0} outside the allowed pool")]
    OutsidePool(Element),
    #[error("stoichiometry {found} is not the {family} pattern {expected}")]
    WrongFamily { family: &'static str, expected: &'static str, found: String },
    #[error("none of the requested anions present")]
    MissingAnion,
    #[error("{found} elements, outside {min}..={max}")]
    ElementCount { found: u32, min: u32, max: u32 },
    #[error("formula {0} is explicitly excluded")]
    ExcludedFormula(String),
    #[error("none of {0} present")]
    MissingFromGroup(String),
}

impl Violation {
    /// Short machine-readable reason (rejection counters).
    pub fn code(&self) -> &'static str {
        match self {
            Violation::MissingElement(_) => "missing_required_element",
            Violation::ExcludedElement(_) => "excluded_element",
            Violation::OutsidePool(_) => "outside_element_pool",
            Violation::WrongFamily { .. } => "wrong_family",
            Violation::MissingAnion => "missing_anion",
            Violation::ElementCount { .. } => "element_count",
            Violation::ExcludedFormula(_) => "excluded_formula",
            Violation::MissingFromGroup(_) => "missing_element_group",
        }
    }
}

/// Penalty (eV/atom added to the formation energy) per eV of band gap outside the requested range.
pub const GAP_PENALTY_PER_EV: f64 = 0.5;
/// Penalty (eV/atom) per unit of probability on the wrong side of metal / non-metal.
pub const METAL_PENALTY: f64 = 0.5;

impl Constraints {
    /// Constraints of a plain "find me something new" search.
    pub fn novel_only() -> Constraints {
        Constraints { novel: true, ..Constraints::default() }
    }

    /// Checks a composition against the formula-level constraints (not novelty: that needs the known list).
    pub fn check_composition(&self, comp: &Composition) -> Result<(), Violation> {
        for &el in &self.required_elements {
            if !comp.contains(el) {
                return Err(Violation::MissingElement(el));
            }
        }
        for el in comp.elements() {
            if self.excluded_elements.contains(&el) {
                return Err(Violation::ExcludedElement(el));
            }
            if let Some(pool) = &self.element_pool {
                if !pool.contains(&el) {
                    return Err(Violation::OutsidePool(el));
                }
            }
        }
        if let Some(family) = self.family {
            let found = comp.anonymized_formula();
            if found != family.anonymized_formula() {
                return Err(Violation::WrongFamily {
                    family: family.name(),
                    expected: family.anonymized_formula(),
                    found,
                });
            }
        }
        if !self.anions.is_empty() && !self.anions.iter().any(|&a| comp.contains(a)) {
            return Err(Violation::MissingAnion);
        }
        for group in &self.required_any {
            if !group.is_empty() && !group.iter().any(|&e| comp.contains(e)) {
                let names: Vec<&str> = group.iter().map(|e| e.symbol()).collect();
                return Err(Violation::MissingFromGroup(names.join("/")));
            }
        }
        let n = comp.len() as u32;
        let (min, max) = (self.min_elements.unwrap_or(1), self.max_elements.unwrap_or(u32::MAX));
        if n < min || n > max {
            return Err(Violation::ElementCount { found: n, min, max });
        }
        let reduced = comp.reduced_formula();
        if self.excluded_formulas.contains(&reduced) {
            return Err(Violation::ExcludedFormula(reduced));
        }
        Ok(())
    }

    /// Ranking penalty (eV/atom, >= 0) for predicted properties that miss the requested electronic class or band-gap
    /// range; 0 when satisfied or when the prediction is missing.
    pub fn property_penalty(&self, band_gap: Option<f64>, p_metal: Option<f64>) -> f64 {
        let mut penalty = 0.0;
        if let Some(p) = p_metal.filter(|p| p.is_finite()) {
            match self.electronic {
                Some(ElectronicClass::Metal) => penalty += METAL_PENALTY * (1.0 - p),
                Some(ElectronicClass::Semiconductor | ElectronicClass::Insulator) => penalty += METAL_PENALTY * p,
                None => {}
            }
        }
        if let Some(gap) = band_gap.filter(|g| g.is_finite()) {
            let below = self.band_gap_min.map_or(0.0, |lo| (lo - gap).max(0.0));
            let above = self.band_gap_max.map_or(0.0, |hi| (gap - hi).max(0.0));
            penalty += GAP_PENALTY_PER_EV * (below + above);
        }
        penalty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        Element::from_symbol(s).unwrap()
    }

    #[test]
    fn family_patterns_match_pymatgen_anonymized_formulae() {
        let examples = [
            (Family::Perovskite, "SrTiO3"),
            (Family::Spinel, "MgAl2O4"),
            (Family::Pyrochlore, "Y2Ti2O7"),
            (Family::RockSalt, "NaCl"),
            (Family::Fluorite, "CaF2"),
            (Family::Garnet, "Ca3Al2Si3O12"),
            (Family::Olivine, "Mg2SiO4"),
            (Family::Heusler, "Cu2MnAl"),
            (Family::HalfHeusler, "TiNiSn"),
            (Family::DoublePerovskite, "Ba2FeMoO6"),
        ];
        for (family, formula) in examples {
            let comp = Composition::parse(formula).unwrap();
            assert_eq!(comp.anonymized_formula(), family.anonymized_formula(), "{formula}");
            assert_eq!(comp.num_atoms() as u32, family.atoms_per_formula_unit(), "{formula}");
        }
    }

    #[test]
    fn composition_checks_name_the_violation() {
        let c = Constraints {
            required_elements: vec![el("Ti")],
            excluded_elements: vec![el("Pb")],
            family: Some(Family::Perovskite),
            anions: vec![el("O")],
            excluded_formulas: vec!["SrTiO3".into()],
            ..Constraints::default()
        };
        let check = |f: &str| c.check_composition(&Composition::parse(f).unwrap());
        assert_eq!(check("BaTiO3"), Ok(()));
        assert_eq!(check("BaZrO3"), Err(Violation::MissingElement(el("Ti"))));
        assert_eq!(check("PbTiO3"), Err(Violation::ExcludedElement(el("Pb"))));
        assert!(matches!(check("Ba2TiO4"), Err(Violation::WrongFamily { .. })));
        assert_eq!(check("BaTiS3"), Err(Violation::MissingAnion));
        assert_eq!(check("SrTiO3"), Err(Violation::ExcludedFormula("SrTiO3".into())));
    }

    #[test]
    fn penalties_are_zero_inside_the_range_and_grow_outside() {
        let c = Constraints {
            electronic: Some(ElectronicClass::Semiconductor),
            band_gap_min: Some(1.0),
            band_gap_max: Some(2.0),
            ..Constraints::default()
        };
        assert_eq!(c.property_penalty(Some(1.5), Some(0.0)), 0.0);
        assert!((c.property_penalty(Some(3.0), Some(0.0)) - 0.5).abs() < 1e-12);
        assert!((c.property_penalty(Some(1.5), Some(1.0)) - 0.5).abs() < 1e-12);
        assert_eq!(Constraints::default().property_penalty(Some(9.0), Some(1.0)), 0.0);
    }
}
