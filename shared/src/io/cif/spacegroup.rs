//! Symmetry operations for CIFs that name their space group (Hermann-Mauguin symbol, Hall symbol or International
//! Tables number) but do not list the operations. The operations come from moyo's built-in table of the 530 Hall
//! settings (spglib's database, MIT/Apache licensed), so the product needs no data files at run time and embeds no
//! GPL-licensed table (pymatgen's `symm_ops.yaml` comes from cod-tools under GPLv2).
//!
//! Setting choice when a symbol is ambiguous:
//! * rhombohedral groups (R...) use hexagonal axes unless the symbol says otherwise (`:R`, "rhombohedral axes") or
//!   the cell itself is rhombohedral (a = b = c, alpha = beta = gamma != 90); the cell shape wins over the symbol
//!   when it is unambiguous (pymatgen always uses hexagonal axes and produces nonsense for rhombohedral cells);
//! * groups with two origin choices use origin choice 2 (centre of inversion at the origin, the usual choice in
//!   ICSD/COD files) unless the symbol ends in `:1`;
//! * otherwise the first (standard) setting with that symbol, e.g. unique axis b for monoclinic short symbols.

use moyo::data::{hall_symbol_entry, HallSymbol};
use nalgebra::{Matrix3, Vector3};

use super::symop::SymOp;

const NUM_HALL: i32 = 530;

/// Which setting a caller prefers when a symbol or number has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axes {
    Hexagonal,
    Rhombohedral,
}

/// The shape of the cell, which decides between hexagonal and rhombohedral axes for R groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellShape {
    /// a = b = c and alpha = beta = gamma != 90 degrees.
    Rhombohedral,
    /// a = b, alpha = beta = 90, gamma = 120 degrees.
    Hexagonal,
    Other,
}

impl CellShape {
    /// Classify cell parameters (a, b, c, alpha, beta, gamma).
    pub fn of(p: [f64; 6]) -> CellShape {
        let [a, b, c, al, be, ga] = p;
        let close = |x: f64, y: f64, t: f64| (x - y).abs() <= t;
        if close(a, b, 1e-3 * a)
            && close(b, c, 1e-3 * a)
            && close(al, be, 1e-2)
            && close(be, ga, 1e-2)
            && !close(al, 90.0, 0.5)
        {
            CellShape::Rhombohedral
        } else if close(a, b, 1e-3 * a) && close(al, 90.0, 1e-2) && close(be, 90.0, 1e-2) && close(ga, 120.0, 1e-2) {
            CellShape::Hexagonal
        } else {
            CellShape::Other
        }
    }
}

/// Operations (with all centring translations) and a description of the setting used.
pub(crate) struct Resolved {
    pub ops: Vec<SymOp>,
    pub description: String,
}

fn normalize(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '_').collect()
}

/// Strip annotations such as `{rhombohedral axes}` or `(No. 14)` and a `:setting` suffix; returns the bare symbol,
/// the setting suffix and a hint about rhombohedral / hexagonal axes found in the annotation.
fn split_symbol(symbol: &str) -> (String, Option<String>, Option<Axes>) {
    let lower = symbol.to_ascii_lowercase();
    let mut axes = if lower.contains("rhomb") {
        Some(Axes::Rhombohedral)
    } else if lower.contains("hex") {
        Some(Axes::Hexagonal)
    } else {
        None
    };
    let mut bare = String::new();
    let mut depth = 0i32;
    for c in symbol.chars() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ if depth <= 0 => bare.push(c),
            _ => {}
        }
    }
    let (bare, suffix) = match bare.split_once(':') {
        Some((b, s)) => (b.to_string(), Some(normalize(s).to_ascii_uppercase())),
        None => (bare, None),
    };
    match suffix.as_deref() {
        Some("R") => axes = Some(Axes::Rhombohedral),
        Some("H") => axes = Some(Axes::Hexagonal),
        _ => {}
    }
    (normalize(&bare), suffix, axes)
}

/// Among Hall numbers that share a symbol or number, pick one by the rules in the module header.
fn choose(candidates: &[i32], suffix: Option<&str>, axes: Option<Axes>, cell: CellShape) -> Option<i32> {
    let setting = |h: i32| hall_symbol_entry(h).map(|e| e.setting).unwrap_or("");
    let first = *candidates.first()?;
    let is_rhombohedral_group = candidates.iter().any(|&h| setting(h) == "R");
    if is_rhombohedral_group {
        // The cell decides when its shape is unambiguous: files whose symbol says "rhombohedral axes" over a
        // hexagonal cell exist (and vice versa), and applying the wrong setting's operations gives nonsense.
        let want_r = match (cell, axes) {
            (CellShape::Rhombohedral, _) => true,
            (CellShape::Hexagonal, _) => false,
            (CellShape::Other, Some(a)) => a == Axes::Rhombohedral,
            (CellShape::Other, None) => false,
        };
        let want = if want_r { "R" } else { "H" };
        return candidates.iter().copied().find(|&h| setting(h) == want).or(Some(first));
    }
    let has_origin_choices = candidates.iter().any(|&h| setting(h) == "2");
    if has_origin_choices {
        let want = if suffix == Some("1") { "1" } else { "2" };
        return candidates.iter().copied().find(|&h| setting(h) == want).or(Some(first));
    }
    if let Some(s) = suffix {
        if let Some(h) = candidates.iter().copied().find(|&h| normalize(setting(h)).eq_ignore_ascii_case(s)) {
            return Some(h);
        }
    }
    Some(first)
}

/// Operations for a Hermann-Mauguin symbol ("P 21/c", "P 1 21/a 1", "R -3 :H", "R 3 c {rhombohedral axes}").
pub(crate) fn from_hermann_mauguin(symbol: &str, cell: CellShape) -> Option<Resolved> {
    let (bare, suffix, axes) = split_symbol(symbol);
    if bare.is_empty() {
        return None;
    }
    // Exact (case-sensitive) match first: glide letters are lower case and lattice letters upper case.
    for case_sensitive in [true, false] {
        let matches = |s: &str| {
            let n = normalize(s);
            if case_sensitive {
                n == bare
            } else {
                n.eq_ignore_ascii_case(&bare)
            }
        };
        let candidates: Vec<i32> = (1..=NUM_HALL)
            .filter(|&h| hall_symbol_entry(h).is_some_and(|e| matches(e.hm_short) || matches(e.hm_full)))
            .collect();
        if let Some(h) = choose(&candidates, suffix.as_deref(), axes, cell) {
            return resolve(h);
        }
    }
    None
}

/// Operations for a Hall symbol ("-P 2ybc"); compared with the table after collapsing whitespace.
pub(crate) fn from_hall(symbol: &str) -> Option<Resolved> {
    let want = normalize(symbol);
    if want.is_empty() {
        return None;
    }
    (1..=NUM_HALL).find(|&h| hall_symbol_entry(h).is_some_and(|e| normalize(e.hall_symbol) == want)).and_then(resolve)
}

/// Operations for an International Tables number 1-230 in its default setting.
pub(crate) fn from_number(number: i64, cell: CellShape) -> Option<Resolved> {
    if !(1..=230).contains(&number) {
        return None;
    }
    let candidates: Vec<i32> =
        (1..=NUM_HALL).filter(|&h| hall_symbol_entry(h).is_some_and(|e| i64::from(e.number) == number)).collect();
    choose(&candidates, None, None, cell).and_then(resolve)
}

/// All operations of a Hall setting: moyo's coset representatives times the centring translations.
fn resolve(hall_number: i32) -> Option<Resolved> {
    let entry = hall_symbol_entry(hall_number)?;
    let hall = HallSymbol::from_hall_number(hall_number)?;
    let mut translations = vec![Vector3::zeros()];
    for t in &hall.centering_translations {
        translations.push(Vector3::new(t[0], t[1], t[2]));
    }
    let mut ops = Vec::new();
    for t in &translations {
        for op in hall.traverse() {
            let rotation = Matrix3::from_fn(|i, j| f64::from(op.rotation[(i, j)]));
            let tr = Vector3::new(op.translation[0], op.translation[1], op.translation[2]) + t;
            ops.push(SymOp { rotation, translation: tr.map(|x| x - x.floor()) });
        }
    }
    let setting = if entry.setting.is_empty() { String::new() } else { format!(" setting {}", entry.setting) };
    Some(Resolved {
        ops,
        description: format!("{} (No. {}{setting}, Hall '{}')", entry.hm_full, entry.number, entry.hall_symbol),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: CellShape = CellShape::Other;
    const R: CellShape = CellShape::Rhombohedral;

    #[test]
    fn group_orders_include_centring() {
        assert_eq!(from_hermann_mauguin("F m -3 m", O).unwrap().ops.len(), 192);
        assert_eq!(from_hermann_mauguin("I 4/m m m", O).unwrap().ops.len(), 32);
        assert_eq!(from_hermann_mauguin("P 42/m n m", O).unwrap().ops.len(), 16);
        assert_eq!(from_hermann_mauguin("P 1 21/a 1", O).unwrap().ops.len(), 4);
        assert_eq!(from_number(227, O).unwrap().ops.len(), 192);
        assert_eq!(from_hall("-P 2ybc").unwrap().ops.len(), 4);
    }

    #[test]
    fn rhombohedral_settings() {
        assert_eq!(from_hermann_mauguin("R -3 c", O).unwrap().ops.len(), 36);
        assert_eq!(from_hermann_mauguin("R -3 c", R).unwrap().ops.len(), 12);
        assert_eq!(from_hermann_mauguin("R 3 c {rhombohedral axes}", O).unwrap().ops.len(), 6);
        assert_eq!(from_hermann_mauguin("R -3 :H", O).unwrap().ops.len(), 18);
        assert_eq!(from_hermann_mauguin("R -3 :R", O).unwrap().ops.len(), 6);
        // The cell shape wins over a contradicting setting suffix.
        assert_eq!(from_hermann_mauguin("R -3 :H", R).unwrap().ops.len(), 6);
        assert_eq!(from_number(148, O).unwrap().ops.len(), 18);
        // A hexagonal cell overrides a "rhombohedral axes" remark.
        let hex = CellShape::of([5.27, 5.27, 13.86, 90.0, 90.0, 120.0]);
        assert_eq!(hex, CellShape::Hexagonal);
        assert_eq!(from_hermann_mauguin("R 3 c {rhombohedral axes}", hex).unwrap().ops.len(), 18);
        assert_eq!(CellShape::of([6.69, 6.69, 6.69, 52.3, 52.3, 52.3]), R);
    }

    #[test]
    fn origin_choice_two_by_default() {
        // Fd-3m origin choice 2 puts an inversion centre at the origin: -x,-y,-z is an operation.
        let r = from_hermann_mauguin("F d -3 m", O).unwrap();
        assert!(r.ops.iter().any(|o| o.rotation == -Matrix3::identity() && o.translation.norm() < 1e-12));
        let r1 = from_hermann_mauguin("F d -3 m :1", O).unwrap();
        assert!(!r1.ops.iter().any(|o| o.rotation == -Matrix3::identity() && o.translation.norm() < 1e-12));
    }

    #[test]
    fn unknown_symbols() {
        assert!(from_hermann_mauguin("Q 7", O).is_none());
        assert!(from_hermann_mauguin("", O).is_none());
        assert!(from_number(231, O).is_none());
        assert!(from_hall("nonsense").is_none());
    }
}
