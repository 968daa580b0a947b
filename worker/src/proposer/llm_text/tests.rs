//! The free-text parser on realistic LLM answers, the prompt construction and the filters.

use genms_shared::constraints::interpret;

use super::*;

fn formulas(text: &str) -> Vec<String> {
    extract_formulas(text).into_iter().map(|f| f.formula).collect()
}

/// Reduced formulae (pymatgen's ordering: `PbTiO3` -> `TiPbO3`, `Ca3Al2Si3O12` -> `Ca3Al2(SiO4)3`).
fn v(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| Composition::parse(s).unwrap().reduced_formula()).collect()
}

#[test]
fn plain_lines_and_numbered_lists() {
    assert_eq!(formulas("LiMnPO4\nLiCoPO4\nNaFePO4\n"), v(&["LiMnPO4", "LiCoPO4", "NaFePO4"]));
    let text = "Here are 4 candidates:\n1. LiMnPO4\n2. LiCoPO4\n3) NaFePO4\n4.LiNiPO4\n";
    assert_eq!(formulas(text), v(&["LiMnPO4", "LiCoPO4", "NaFePO4", "LiNiPO4"]));
    assert_eq!(formulas("1) Ca3(PO4)2\n2) Sr2TiO4"), v(&["Ca3(PO4)2", "Sr2TiO4"]));
}

#[test]
fn bullets_bold_code_and_tables() {
    let text = "- **BaSnO3** – a wide-gap transparent conductor\n* `SrHfO3`\n+ __CaZrO3__\n• KNbO3";
    assert_eq!(formulas(text), v(&["BaSnO3", "SrHfO3", "CaZrO3", "KNbO3"]));
    let table = "| # | Formula | Notes |\n|---|---------|-------|\n| 1 | Cs2AgBiBr6 | lead-free |\n| 2 | Cs2NaInCl6 | wide gap |";
    assert_eq!(formulas(table), v(&["Cs2AgBiBr6", "Cs2NaInCl6"]));
}

#[test]
fn labelled_answers_and_prose() {
    let text = "Formula: LiFeSO4F\nComposition - Na2FePO4F\nCandidate 3: K3V2(PO4)3.";
    assert_eq!(formulas(text), v(&["LiFeSO4F", "Na2FePO4F", "K3V2(PO4)3"]));
    let prose = "Replacing Fe in LiFePO4 by Mn gives LiMnPO4, which has a higher voltage; the sodium analogue \
                 (NaMnPO4) is also worth a look. I would also consider Li2MnSiO4.";
    assert_eq!(formulas(prose), v(&["LiFePO4", "LiMnPO4", "NaMnPO4", "Li2MnSiO4"]));
}

#[test]
fn subscripts_latex_and_html() {
    assert_eq!(formulas("Li₂O, LiFePO₄ and Ca₃Al₂Si₃O₁₂"), v(&["Li2O", "LiFePO4", "Ca3Al2Si3O12"]));
    assert_eq!(formulas("$\\mathrm{Li_{2}MnO_{3}}$ and Li$_2$TiO$_3$"), v(&["Li2MnO3", "Li2TiO3"]));
    assert_eq!(formulas("Sr<sub>2</sub>FeMoO<sub>6</sub>"), v(&["Sr2FeMoO6"]));
}

#[test]
fn words_that_look_like_formulae_are_not_formulae() {
    // Pronoun I, sentence-initial No / In / As / Be / He, bare element symbols, shouted words, placeholders.
    let text = "I think No. In fact As noted, Be careful. He said NO. NOTE: HOW ABOUT IT? Co and Fe. ABX3 or AB2O4.";
    assert_eq!(formulas(text), Vec::<String>::new());
    // Words that happen to be symbol strings: "OF", "IN" as capitals; "CO" is a formula and is kept.
    assert_eq!(formulas("LIST OF CANDIDATES IN ORDER: CO, BN, WC"), v(&["CO", "BN", "WC"]));
}

#[test]
fn charges_doping_and_fractional_formulae_are_dropped() {
    assert_eq!(formulas("Fe3+ and O2- ions; Li0.5CoO2; Li1-xFePO4; La0.7Sr0.3MnO3"), Vec::<String>::new());
    // A hyphenated suffix does not hide the formula.
    assert_eq!(
        formulas("LiFePO4-based cathodes and Cs2AgBiBr6-type double perovskites"),
        v(&["LiFePO4", "Cs2AgBiBr6"])
    );
}

#[test]
fn duplicates_and_scaled_formulae_collapse_to_one_reduced_formula() {
    let text = "1. LiMn2O4\n2. Li2Mn4O8 (same as 1)\n3. LiMn2O4\n4. MgAl2O4";
    let found = extract_formulas(text);
    assert_eq!(found.iter().map(|f| f.formula.as_str()).collect::<Vec<_>>(), vec!["LiMn2O4", "MgAl2O4"]);
    assert_eq!(&text[found[0].span.clone()], "LiMn2O4");
    assert_eq!(&text[found[1].span.clone()], "MgAl2O4");
}

#[test]
fn spans_point_into_the_original_text() {
    let text = "**1. Li₂MnO₃** and Li$_2$TiO$_3$";
    let found = extract_formulas(text);
    assert_eq!(&text[found[0].span.clone()], "Li₂MnO₃");
    assert_eq!(&text[found[1].span.clone()], "Li$_2$TiO$_3");
}

#[test]
fn reasoning_blocks_are_ignored() {
    let text = "<think>Maybe LiCoO2? No, it is known. What about NaCoO2...</think>\nLiNiO2\nNaNiO2";
    assert_eq!(formulas(text), v(&["LiNiO2", "NaNiO2"]));
}

#[test]
fn token_logprobs_sum_over_the_formula_span() {
    let text = "1. LiMnPO4\n2. NaFePO4";
    let tokens: Vec<(String, f64)> =
        [("1", -0.1), (".", -0.1), (" Li", -0.5), ("Mn", -1.0), ("PO", -0.2), ("4", -0.1), ("\n", -0.01)]
            .iter()
            .chain(&[("2", -0.1), (".", -0.1), (" Na", -2.0), ("FePO4", -0.3)])
            .map(|(t, l)| (t.to_string(), *l))
            .collect();
    let found = extract_formulas(text);
    let a = span_logprob(text, &tokens, &found[0].span).unwrap();
    let b = span_logprob(text, &tokens, &found[1].span).unwrap();
    assert!((a - (-1.8)).abs() < 1e-9, "{a}");
    assert!((b - (-2.3)).abs() < 1e-9, "{b}");
    // Tokens that do not spell the text: no score.
    let wrong = vec![("x".to_string(), -1.0)];
    assert_eq!(span_logprob(text, &wrong, &found[0].span), None);
}

fn task(prompt: &str) -> ProposeTask {
    let i = interpret(prompt).expect("valid prompt");
    ProposeTask {
        task_id: "t".into(),
        prompt: prompt.into(),
        constraints: i.constraints,
        n: 10,
        seed: 1,
        exclude: vec!["MgTiO3".into()],
        context: Vec::new(),
    }
}

#[test]
fn prompt_states_request_constraints_examples_and_exclusions() {
    let t = task("a lead-free perovskite oxide semiconductor with a band gap between 1 and 2 eV, not CaTiO3");
    let examples = v(&["SrTiO3", "BaTiO3"]);
    let excl = exclusion_list(&t, &examples, &v(&["KNbO3"]));
    assert_eq!(excl, v(&["CaTiO3", "MgTiO3", "SrTiO3", "BaTiO3", "KNbO3"]));
    let msgs = build_messages(&t, &examples, &excl, 15);
    assert_eq!(msgs.len(), 2);
    assert_eq!((msgs[0].role, msgs[1].role), ("system", "user"));
    assert!(msgs[0].content.contains("one per line"));
    let u = &msgs[1].content;
    for needle in [
        "Request: a lead-free perovskite oxide",
        "must not contain any of: Pb",
        "structural family: perovskite, stoichiometry ABC3",
        "anion: at least one of O",
        "electronic class: semiconductor",
        "band gap between 1 and 2 eV",
        "new: not a known material",
        "SrTiO3\nBaTiO3\n",
        "Do not propose any of these formulae:\nCaTiO3, MgTiO3, SrTiO3, BaTiO3, KNbO3",
        "Propose 15 distinct new, not yet known chemical formulae",
    ] {
        assert!(u.contains(needle), "missing {needle:?} in\n{u}");
    }
}

#[test]
fn known_materials_allowed_means_examples_are_not_exclusions() {
    let t = task("known Li-containing oxides");
    assert!(!t.constraints.novel);
    assert_eq!(exclusion_list(&t, &v(&["Li2O"]), &[]), v(&["MgTiO3"]));
    let msgs = build_messages(&t, &v(&["Li2O"]), &[], 5);
    assert!(msgs[1].content.contains("known materials are acceptable"));
    assert!(!msgs[1].content.contains("do not repeat"));
}

#[test]
fn filters_apply_every_rule_and_count_once() {
    let t = task("perovskite oxide containing Ti, not CaTiO3");
    let known: HashSet<Box<str>> = ["SrTiO3", "BaTiO3"].iter().map(|s| Box::from(*s)).collect();
    let mut f = Filters::new(&t, &known);
    assert_eq!(f.check("PbTiO3"), Some(v(&["PbTiO3"])[0].clone()));
    assert_eq!(f.check("Pb2Ti2O6"), None, "duplicate after reduction");
    assert_eq!(f.check("SrTiO3"), None, "known");
    assert_eq!(f.check("CaTiO3"), None, "excluded by the user");
    assert_eq!(f.check("MgTiO3"), None, "excluded by the task");
    assert_eq!(f.check("HeTiO3"), None, "not charge neutral");
    assert_eq!(f.check("KTaO3"), None, "no Ti");
    assert_eq!(f.check("Xx2O"), None, "does not parse");
    let s = f.stats;
    assert_eq!((s.drawn, s.accepted), (7, 1));
    assert_eq!(s.novel, 5);
    assert_eq!(s.satisfies_constraints, 4, "PbTiO3, SrTiO3, MgTiO3, HeTiO3");
    assert_eq!(s.charge_neutral, 5, "all but HeTiO3 and the unparsable one");
}
