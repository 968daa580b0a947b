//! Element substitution probabilities p(b | a), in the spirit of Hautier et al. (2011) ion substitution: two ions
//! substitute for each other when they take a common oxidation state, with a probability that decays with the
//! difference in electronegativity and size and is raised for elements of the same group. (Hautier learned these
//! weights from ICSD pairs; here they come from element properties, so the table needs no extra data file.)

use genms_shared::{Element, OxidationStates};

/// Electronegativity scale of the similarity kernel (Pauling units).
const CHI_SCALE: f64 = 0.3;
/// Covalent-radius scale of the similarity kernel (Angstrom).
const RADIUS_SCALE: f64 = 0.3;
/// Weight multiplier for a pair in the same group (lanthanides count as one group).
const SAME_GROUP_BONUS: f64 = 3.0;

/// Periodic-table group (1..18), with lanthanides and actinides as their own groups (100, 101).
fn group(z: u8) -> u8 {
    match z {
        1 => 1,
        2 => 18,
        3 | 11 => 1,
        4 | 12 => 2,
        5..=10 => z + 8,
        13..=18 => z,
        19..=36 => z - 18,
        37..=54 => z - 36,
        55 | 87 => 1,
        56 | 88 => 2,
        57..=71 => 100,
        89..=103 => 101,
        72..=86 => z - 68,
        _ => z.saturating_sub(100),
    }
}

/// Elements the proposer may substitute in: stable elements up to Bi, without noble gases and Tc / Pm (few known
/// compounds, radioactive). Elements outside this set still appear when a parent or the user brings them.
pub(crate) fn substitutable(el: Element) -> bool {
    let z = el.z();
    z <= 83 && !matches!(z, 2 | 10 | 18 | 36 | 54 | 43 | 61)
}

fn states(el: Element) -> Vec<i8> {
    let mut s: Vec<i8> = el.oxidation_states(OxidationStates::Icsd24).to_vec();
    s.extend_from_slice(el.oxidation_states(OxidationStates::Common));
    s.retain(|&o| o != 0);
    s.sort_unstable();
    s.dedup();
    s
}

/// p(b | a) for every a, as a list sorted by probability (descending), normalised over all b.
pub(crate) struct SubstitutionTable {
    rows: Vec<Vec<(Element, f64)>>,
}

impl SubstitutionTable {
    pub fn build() -> SubstitutionTable {
        let all: Vec<(Element, Vec<i8>)> =
            Element::all().filter(|e| substitutable(*e)).map(|e| (e, states(e))).collect();
        let mut rows = vec![Vec::new(); 119];
        for a in Element::all() {
            let sa = states(a);
            let (Some(xa), Some(ra)) = (a.electronegativity(), a.covalent_radius()) else {
                continue;
            };
            let mut row: Vec<(Element, f64)> = Vec::new();
            for (b, sb) in &all {
                if *b == a || !sa.iter().any(|o| sb.contains(o)) {
                    continue;
                }
                let (Some(xb), Some(rb)) = (b.electronegativity(), b.covalent_radius()) else {
                    continue;
                };
                let mut w = (-(xa - xb).abs() / CHI_SCALE).exp() * (-(ra - rb).abs() / RADIUS_SCALE).exp();
                if group(a.z()) == group(b.z()) {
                    w *= SAME_GROUP_BONUS;
                }
                row.push((*b, w));
            }
            let total: f64 = row.iter().map(|(_, w)| w).sum();
            if total > 0.0 {
                row.iter_mut().for_each(|(_, w)| *w /= total);
            }
            row.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            rows[a.z() as usize] = row;
        }
        SubstitutionTable { rows }
    }

    /// Substitutes for `a`, most probable first.
    pub fn row(&self, a: Element) -> &[(Element, f64)] {
        &self.rows[a.z() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_ions_rank_high() {
        let t = SubstitutionTable::build();
        let el = |s: &str| Element::from_symbol(s).unwrap();
        let top: Vec<Element> = t.row(el("Sr")).iter().take(4).map(|(e, _)| *e).collect();
        assert!(top.contains(&el("Ca")) || top.contains(&el("Ba")), "{top:?}");
        let sum: f64 = t.row(el("Ti")).iter().map(|(_, p)| p).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(t.row(el("O")).iter().take(3).any(|(e, _)| *e == el("S") || *e == el("F") || *e == el("N")));
    }
}
