//! Property tests of the formula writer and parser: writing a composition's reduced formula and parsing it back
//! gives the same reduced formula and proportional amounts.

use genms_shared::composition::Composition;
use genms_shared::Element;
use proptest::prelude::*;

/// 1-5 distinct real elements with integer counts 1-20, or decimal amounts (multiples of 0.05 / 0.001).
fn composition() -> impl Strategy<Value = Composition> {
    let amount = prop_oneof![
        3 => (1u32..=20).prop_map(f64::from),
        1 => (1u32..=200).prop_map(|k| f64::from(k) * 0.05),
        1 => (1u32..=5000).prop_map(|k| f64::from(k) / 1000.0),
    ];
    proptest::collection::btree_map(1u32..=118, amount, 1..=5).prop_map(|m| {
        let pairs = m.into_iter().filter_map(|(z, a)| Element::from_z(z).map(|e| (e, a)));
        Composition::from_elements(pairs).expect("valid amounts")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reduced_formula_round_trips(comp in composition()) {
        let formula = comp.reduced_formula();
        let back = Composition::parse(&formula).map_err(|e| TestCaseError::fail(format!("{formula}: {e}")))?;
        prop_assert_eq!(back.reduced_formula(), formula.clone());
        prop_assert_eq!(back.len(), comp.len());
        let ratio = back.num_atoms() / comp.num_atoms();
        for (el, amount) in comp.iter() {
            let rel = (back.amount(el) - amount * ratio).abs() / (amount * ratio);
            prop_assert!(rel < 1e-7, "{}: {} vs {} * {}", formula, back.amount(el), amount, ratio);
        }
    }

    #[test]
    fn display_and_formula_round_trip(comp in composition()) {
        for text in [comp.to_string(), comp.formula()] {
            let back = Composition::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back.reduced_formula(), comp.reduced_formula());
            prop_assert_eq!(back.elements().len(), comp.len());
        }
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,24}") {
        let _ = Composition::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_formula_alphabet(s in "[A-Za-z0-9()\\[\\]{}. ·*@e-]{0,24}") {
        if let Ok(c) = Composition::parse(&s) {
            prop_assert!(!c.is_empty());
            prop_assert!(c.iter().all(|(_, a)| a > 0.0 && a.is_finite()));
        }
    }
}
