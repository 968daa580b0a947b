//! Compositional validity in the SMACT sense: some assignment of oxidation states is charge neutral and, optionally,
//! passes the Pauling electronegativity test (every cation less electronegative than every anion).
//!
//! Two flavours, matching the reference tools exactly on integer compositions (`fixtures/formulas.json`):
//! - [`diffcsp_smact_validity`]: the CDVAE / DiffCSP `eval_utils.smact_validity` metric ("compositional validity" in
//!   the papers). Counts are the gcd-reduced integer counts; one-element and all-metal compositions are valid; more
//!   than 1e7 oxidation-state combinations count as invalid; the charge test is `smact.neutral_ratios` with
//!   `stoichs = [(c,) for c in counts]`, i.e. `sum(ox_i * c_i) == 0`. Use [`OxidationStates::Smact14`] for the
//!   published metric.
//! - [`smact_validity`]: smact 4.0.2 `smact.screening.smact_validity` with its defaults (ICSD-24 consensus-3
//!   oxidation states, Pauling test, alloys valid, no combination limit).
//!
//! Missing Pauling electronegativity: smact 4's `pauling_test` (`eneg_states_test`) returns false as soon as a pair
//! involves an element without one, so with the Pauling test on such a composition is never valid. (CDVAE ran with
//! smact 2.x, where the comparison raised a TypeError that CDVAE caught and counted as a pass; the fixtures were made
//! with smact 4.0.2 and so are we.)
//!
//! Non-integer compositions (beyond pymatgen's 1e-8 tolerance) are not covered by the reference tools (smact would
//! truncate the amounts with `int()`). Here they are first scaled to the smallest integer ratio, taking each amount as
//! a fraction with denominator at most 10 000 (within 1e-6), e.g. `Ba0.5Sr0.5TiO3` is judged as `BaSrTi2O6`; when no
//! such ratio exists the composition is invalid (false). The empty composition is invalid.
//!
//! The search is a depth-first walk over the oxidation states with charge-bound and electronegativity pruning; it
//! answers the same yes/no question as SMACT's exhaustive `itertools.product` loop, only faster.

use std::collections::HashSet;

use crate::composition::{gcd_u64, Composition};
use crate::element::OxidationStates;

/// DiffCSP's cap on the number of oxidation-state combinations (`if oxn > 1e7: return False`).
pub const DIFFCSP_MAX_COMBINATIONS: f64 = 1e7;

/// Largest denominator tried when scaling a non-integer composition to integer counts.
const MAX_DENOMINATOR: u64 = 10_000;

/// Knobs of the validity test; [`SmactOptions::smact`] and [`SmactOptions::diffcsp`] are the two reference settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmactOptions {
    /// Which oxidation-state list each element contributes.
    pub oxidation_states: OxidationStates,
    /// Require cations to be less electronegative (SMACT Pauling values) than anions.
    pub use_pauling_test: bool,
    /// Count compositions made only of SMACT metals as valid (alloys).
    pub include_alloys: bool,
    /// Give up (invalid) when the product of the oxidation-state list lengths exceeds this.
    pub max_combinations: Option<f64>,
}

impl SmactOptions {
    /// smact 4.0.2 `smact_validity` defaults.
    pub fn smact() -> SmactOptions {
        SmactOptions {
            oxidation_states: OxidationStates::Icsd24Consensus,
            use_pauling_test: true,
            include_alloys: true,
            max_combinations: None,
        }
    }

    /// CDVAE / DiffCSP `eval_utils.smact_validity` with the given oxidation-state list.
    pub fn diffcsp(oxidation_states: OxidationStates) -> SmactOptions {
        SmactOptions {
            oxidation_states,
            use_pauling_test: true,
            include_alloys: true,
            max_combinations: Some(DIFFCSP_MAX_COMBINATIONS),
        }
    }
}

/// smact 4.0.2 `smact.screening.smact_validity(composition)` with default arguments.
pub fn smact_validity(comp: &Composition) -> bool {
    smact_validity_with(comp, &SmactOptions::smact())
}

/// The CDVAE / DiffCSP compositional-validity metric with the given oxidation-state list
/// ([`OxidationStates::Smact14`] reproduces the papers).
pub fn diffcsp_smact_validity(comp: &Composition, oxidation_states: OxidationStates) -> bool {
    smact_validity_with(comp, &SmactOptions::diffcsp(oxidation_states))
}

/// The validity test with explicit options.
pub fn smact_validity_with(comp: &Composition, options: &SmactOptions) -> bool {
    let elements = comp.elements();
    match elements.len() {
        0 => return false,
        1 => return true,
        _ => {}
    }
    if options.include_alloys && elements.iter().all(|e| e.is_smact_metal()) {
        return true;
    }
    let Some(counts) = integer_stoichiometry(comp) else {
        return false;
    };
    let lists: Vec<&[i8]> = elements.iter().map(|e| e.oxidation_states(options.oxidation_states)).collect();
    if let Some(max) = options.max_combinations {
        let combos: f64 = lists.iter().map(|l| l.len() as f64).product();
        if combos > max {
            return false;
        }
    }
    let enegs: Vec<Option<f64>> = elements.iter().map(|e| e.smact_pauling()).collect();
    if options.use_pauling_test && enegs.iter().any(Option::is_none) {
        // eneg_states_test rejects every combination (see the module notes).
        return false;
    }
    let search = Search::new(&lists, &counts, &enegs, options.use_pauling_test);
    search.run()
}

/// SMACT's `pauling_test(oxidation_states, electronegativities)` with its defaults (repeats allowed, threshold 0):
/// false if any electronegativity is missing or some cation is at least as electronegative as some anion.
pub fn pauling_test(oxidation_states: &[i8], electronegativities: &[Option<f64>]) -> bool {
    let n = oxidation_states.len().min(electronegativities.len());
    for i in 0..n {
        for j in (i + 1)..n {
            let (ox1, ox2) = (oxidation_states[i], oxidation_states[j]);
            let (Some(e1), Some(e2)) = (electronegativities[i], electronegativities[j]) else {
                return false;
            };
            if (ox1 > 0 && ox2 < 0 && e1 >= e2) || (ox1 < 0 && ox2 > 0 && e1 <= e2) {
                return false;
            }
        }
    }
    true
}

/// Whether the oxidation states balance in these counts (`smact._isneutral`).
pub fn is_charge_neutral(oxidation_states: &[i8], counts: &[u64]) -> bool {
    oxidation_states.iter().zip(counts).map(|(&o, &c)| i128::from(o) * i128::from(c)).sum::<i128>() == 0
}

/// Gcd-reduced integer counts in element order: exact for integer compositions, otherwise the smallest integer
/// ratio whose amounts are fractions with denominator <= 10 000 within 1e-6 (`None` if there is none).
pub fn integer_stoichiometry(comp: &Composition) -> Option<Vec<u64>> {
    if let Some(counts) = comp.reduced_integer_counts() {
        return Some(counts);
    }
    if comp.is_empty() {
        return None;
    }
    let amounts: Vec<f64> = comp.iter().map(|(_, a)| a).collect();
    let d = (1..=MAX_DENOMINATOR).find(|&d| {
        let d = d as f64;
        amounts.iter().all(|a| (a * d - (a * d).round()).abs() <= 1e-6 * d)
    })?;
    let counts: Vec<u64> = amounts.iter().map(|a| (a * d as f64).round() as u64).collect();
    let g = counts.iter().fold(0, |g, &c| gcd_u64(g, c));
    (g > 0 && counts.iter().all(|&c| c > 0)).then(|| counts.iter().map(|c| c / g).collect())
}

/// (element index, charge so far, max cation electronegativity bits, min anion electronegativity bits).
type DeadState = (usize, i128, u64, u64);

/// Depth-first search for a neutral, Pauling-consistent assignment.
struct Search<'a> {
    lists: &'a [&'a [i8]],
    counts: &'a [u64],
    enegs: &'a [Option<f64>],
    pauling: bool,
    /// Smallest / largest charge the elements from index i on can still add.
    suffix_min: Vec<i128>,
    suffix_max: Vec<i128>,
}

impl<'a> Search<'a> {
    fn new(lists: &'a [&'a [i8]], counts: &'a [u64], enegs: &'a [Option<f64>], pauling: bool) -> Search<'a> {
        let n = lists.len();
        let mut suffix_min = vec![0i128; n + 1];
        let mut suffix_max = vec![0i128; n + 1];
        for i in (0..n).rev() {
            let c = i128::from(counts[i]);
            let lo = lists[i].iter().map(|&o| i128::from(o) * c).min().unwrap_or(0);
            let hi = lists[i].iter().map(|&o| i128::from(o) * c).max().unwrap_or(0);
            suffix_min[i] = suffix_min[i + 1] + lo;
            suffix_max[i] = suffix_max[i + 1] + hi;
        }
        Search { lists, counts, enegs, pauling, suffix_min, suffix_max }
    }

    fn run(&self) -> bool {
        // An element without oxidation states leaves itertools.product empty.
        if self.lists.iter().any(|l| l.is_empty()) {
            return false;
        }
        self.step(0, 0, f64::NEG_INFINITY, f64::INFINITY, &mut HashSet::new())
    }

    /// `dead` remembers states already shown to have no completion, which keeps many-element compositions
    /// polynomial (the state is the element index, the charge so far and the two electronegativity bounds).
    fn step(&self, i: usize, charge: i128, max_cation: f64, min_anion: f64, dead: &mut HashSet<DeadState>) -> bool {
        if i == self.lists.len() {
            return charge == 0;
        }
        let key = (i, charge, max_cation.to_bits(), min_anion.to_bits());
        if dead.contains(&key) {
            return false;
        }
        let count = i128::from(self.counts[i]);
        for &ox in self.lists[i] {
            let c = charge + i128::from(ox) * count;
            if c + self.suffix_min[i + 1] > 0 || c + self.suffix_max[i + 1] < 0 {
                continue;
            }
            let (mut mc, mut ma) = (max_cation, min_anion);
            if self.pauling {
                let e = self.enegs[i].unwrap_or(f64::NAN);
                if ox > 0 {
                    mc = mc.max(e);
                } else if ox < 0 {
                    ma = ma.min(e);
                }
                if mc >= ma {
                    continue;
                }
            }
            if self.step(i + 1, c, mc, ma, dead) {
                return true;
            }
        }
        dead.insert(key);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::Element;

    fn c(s: &str) -> Composition {
        Composition::parse(s).unwrap()
    }

    #[test]
    fn basic_cases() {
        assert!(diffcsp_smact_validity(&c("NaCl"), OxidationStates::Smact14));
        assert!(diffcsp_smact_validity(&c("Fe2O3"), OxidationStates::Smact14));
        assert!(diffcsp_smact_validity(&c("Cu"), OxidationStates::Smact14));
        assert!(diffcsp_smact_validity(&c("Ni3Al"), OxidationStates::Smact14));
        assert!(!diffcsp_smact_validity(&c("NaO2"), OxidationStates::Smact14));
        assert!(smact_validity(&c("LiFePO4")));
        assert!(!smact_validity(&c("KO2")));
        assert!(!smact_validity(&Composition::default()));
    }

    #[test]
    fn many_elements_stay_tractable() {
        // 24 elements with several oxidation states each: an exhaustive product would be ~1e15 combinations.
        let pairs: Vec<(Element, f64)> = [
            "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr",
            "Mn", "Fe", "Co", "Ni", "Cu",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (Element::from_symbol(s).unwrap(), (1 + i % 7) as f64))
        .collect();
        let comp = Composition::from_elements(pairs).unwrap();
        let _ = smact_validity(&comp);
        let options = SmactOptions { max_combinations: None, ..SmactOptions::diffcsp(OxidationStates::Smact14) };
        let _ = smact_validity_with(&comp, &options);
        assert!(!diffcsp_smact_validity(&comp, OxidationStates::Smact14), "over DiffCSP's 1e7 cap");
    }

    #[test]
    fn pauling() {
        assert!(pauling_test(&[1, -1], &[Some(0.93), Some(3.16)]));
        assert!(!pauling_test(&[1, -1], &[Some(3.16), Some(0.93)]));
        assert!(!pauling_test(&[1, -1], &[Some(2.0), Some(2.0)]));
        assert!(!pauling_test(&[1, 1], &[Some(1.0), None]));
        assert!(pauling_test(&[2, 0, -2], &[Some(1.0), Some(3.0), Some(3.44)]));
        assert!(is_charge_neutral(&[3, -2], &[2, 3]));
        assert!(!is_charge_neutral(&[2, -2], &[2, 3]));
    }

    /// SMACT's loop, literally: every combination of `itertools.product`, neutral and Pauling-consistent.
    fn brute_force(comp: &Composition, set: OxidationStates) -> bool {
        let els = comp.elements();
        let counts = integer_stoichiometry(comp).unwrap();
        let enegs: Vec<Option<f64>> = els.iter().map(|e| e.smact_pauling()).collect();
        let lists: Vec<&[i8]> = els.iter().map(|e| e.oxidation_states(set)).collect();
        let mut idx = vec![0usize; els.len()];
        if lists.iter().any(|l| l.is_empty()) {
            return false;
        }
        loop {
            let ox: Vec<i8> = idx.iter().zip(&lists).map(|(&i, l)| l[i]).collect();
            if is_charge_neutral(&ox, &counts) && pauling_test(&ox, &enegs) {
                return true;
            }
            let mut k = 0;
            loop {
                if k == idx.len() {
                    return false;
                }
                idx[k] += 1;
                if idx[k] < lists[k].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    #[test]
    fn search_agrees_with_exhaustive_product() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for _ in 0..3000 {
            let n = 2 + next(3) as usize;
            let pairs: Vec<(Element, f64)> = (0..n)
                .filter_map(|_| Element::from_z(1 + next(103) as u32).map(|e| (e, (1 + next(6)) as f64)))
                .collect();
            let comp = Composition::from_elements(pairs).unwrap();
            if comp.len() < 2 {
                continue;
            }
            for set in [OxidationStates::Smact14, OxidationStates::Icsd24, OxidationStates::Icsd24Consensus] {
                let options = SmactOptions { include_alloys: false, ..SmactOptions::diffcsp(set) };
                assert_eq!(smact_validity_with(&comp, &options), brute_force(&comp, set), "{comp} {set:?}");
            }
        }
    }

    #[test]
    fn non_integer_compositions_are_scaled() {
        let comp = c("Ba0.5Sr0.5TiO3");
        assert_eq!(integer_stoichiometry(&comp), Some(vec![1, 1, 2, 6]));
        assert_eq!(smact_validity(&comp), smact_validity(&c("BaSrTi2O6")));
        assert_eq!(integer_stoichiometry(&c("Fe0.333333333333O0.5")), Some(vec![2, 3]));
        // 0.12345678 is 10/81 within 1e-6.
        assert_eq!(integer_stoichiometry(&c("Fe0.12345678O1")), Some(vec![10, 81]));
        assert_eq!(integer_stoichiometry(&c("Fe0.1234567O0.7654321Na0.3141593")), None);
        assert!(!smact_validity(&c("Fe0.1234567O0.7654321Na0.3141593")));
    }
}
