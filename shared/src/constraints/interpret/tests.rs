//! Prompt suite: paraphrases of the same request must give the same constraints; contradictions must be errors that
//! name both sides; unknown words must be reported.

use super::*;
use crate::constraints::ElectronicClass;

fn el(s: &str) -> Element {
    Element::from_symbol(s).unwrap()
}

fn els(list: &[&str]) -> Vec<Element> {
    list.iter().map(|s| el(s)).collect()
}

fn ok(prompt: &str) -> Interpretation {
    match interpret(prompt) {
        Ok(i) => i,
        Err(e) => panic!("{prompt:?} failed: {e}"),
    }
}

fn c(prompt: &str) -> Constraints {
    let i = ok(prompt);
    assert!(i.unknown_words.is_empty(), "{prompt:?}: unexpected unknown words {:?}", i.unknown_words);
    i.constraints
}

fn err(prompt: &str) -> String {
    match interpret(prompt) {
        Ok(i) => panic!("{prompt:?} should fail, got {:?}", i.constraints),
        Err(e) => e.to_string(),
    }
}

#[test]
fn required_element_paraphrases() {
    for p in [
        "containing lithium",
        "Li-based materials",
        "with Li",
        "lithium-containing compounds",
        "a compound that contains Li",
        "materials including lithium",
        "Li-bearing phases",
    ] {
        let k = c(p);
        assert_eq!(k.required_elements, els(&["Li"]), "{p}");
        assert!(k.excluded_elements.is_empty(), "{p}");
        assert!(k.novel, "{p}");
    }
}

#[test]
fn excluded_element_paraphrases() {
    for p in [
        "no lead",
        "lead-free",
        "Pb-free",
        "without lead",
        "free of Pb",
        "excluding lead",
        "avoid Pb",
        "does not contain lead",
    ] {
        let k = c(p);
        assert_eq!(k.excluded_elements, els(&["Pb"]), "{p}");
        assert!(k.required_elements.is_empty(), "{p}");
    }
    let k = c("without cobalt or nickel");
    assert_eq!(k.excluded_elements, els(&["Co", "Ni"]));
    let k = c("cobalt-free, lithium-rich oxides");
    assert_eq!((k.excluded_elements, k.required_elements, k.anions), (els(&["Co"]), els(&["Li"]), els(&["O"])));
}

#[test]
fn excluded_formulas_are_reduced() {
    let k = ok("Li cathode materials not LiCoO2 or LiFePO4").constraints;
    assert_eq!(k.excluded_formulas, vec!["LiCoO2".to_string(), "LiFePO4".to_string()]);
    let k = c("a spinel but not Li2Mn4O8");
    assert_eq!(k.excluded_formulas, vec!["LiMn2O4".to_string()]);
    assert_eq!(k.family, Some(Family::Spinel));
}

#[test]
fn lead_free_perovskite_keeps_the_family() {
    let k = c("lead-free perovskite oxide");
    assert_eq!(k.family, Some(Family::Perovskite));
    assert_eq!(k.excluded_elements, els(&["Pb"]));
    assert_eq!(k.anions, els(&["O"]));
}

#[test]
fn families_and_patterns() {
    let cases = [
        ("perovskites", Family::Perovskite),
        ("ABO3 compounds", Family::Perovskite),
        ("an ABX3 halide", Family::Perovskite),
        ("double perovskite", Family::DoublePerovskite),
        ("A2BB'X6 elpasolites", Family::DoublePerovskite),
        ("spinel oxides", Family::Spinel),
        ("AB2O4", Family::Spinel),
        ("pyrochlore", Family::Pyrochlore),
        ("rock salt", Family::RockSalt),
        ("rock-salt structured", Family::RockSalt),
        ("NaCl-type", Family::RockSalt),
        ("fluorite-type", Family::Fluorite),
        ("CaF2-type", Family::Fluorite),
        ("garnet", Family::Garnet),
        ("olivine", Family::Olivine),
        ("Heusler alloys", Family::Heusler),
        ("full Heusler", Family::Heusler),
        ("half-Heusler compounds", Family::HalfHeusler),
        ("half Heusler", Family::HalfHeusler),
    ];
    for (p, f) in cases {
        assert_eq!(c(p).family, Some(f), "{p}");
    }
    assert_eq!(c("ABO3").anions, els(&["O"]));
}

#[test]
fn anion_types() {
    let cases: [(&str, &[&str]); 12] = [
        ("oxides", &["O"]),
        ("a nitride", &["N"]),
        ("sulfides", &["S"]),
        ("sulphide", &["S"]),
        ("selenide", &["Se"]),
        ("telluride", &["Te"]),
        ("fluoride", &["F"]),
        ("iodides", &["I"]),
        ("halide", &["F", "Cl", "Br", "I"]),
        ("chalcogenide", &["S", "Se", "Te"]),
        ("carbides or nitrides", &["C", "N"]),
        ("hydride", &["H"]),
    ];
    for (p, a) in cases {
        assert_eq!(c(p).anions, els(a), "{p}");
    }
    let k = c("oxynitride perovskite");
    assert_eq!(k.required_elements, els(&["O", "N"]));
    let k = ok("non-oxide ceramics").constraints;
    assert_eq!(k.excluded_elements, els(&["O"]));
}

#[test]
fn element_classes() {
    let k = c("containing an alkali metal");
    assert_eq!(k.required_any, vec![els(&["Li", "Na", "K", "Rb", "Cs"])]);
    let k = c("non-toxic");
    assert_eq!(k.excluded_elements, els(&["Pb", "Cd", "Hg", "As", "Tl"]));
    assert_eq!(c("nontoxic").excluded_elements, k.excluded_elements);
    assert_eq!(c("no toxic elements").excluded_elements, k.excluded_elements);
    let k = ok("rare-earth-free magnets").constraints;
    assert!(k.excluded_elements.contains(&el("Nd")) && k.excluded_elements.contains(&el("Y")));
    let k = c("without noble metals");
    assert!(k.excluded_elements.contains(&el("Pt")) && k.excluded_elements.contains(&el("Au")));
    let k = c("a transition-metal oxide");
    assert_eq!(k.anions, els(&["O"]));
    assert!(k.required_any[0].contains(&el("Fe")));
    assert_eq!(k.electronic, None);
    let k = c("lanthanide chalcogenides");
    assert!(k.required_any[0].contains(&el("La")));
    let k = c("alkaline-earth halides");
    assert!(k.required_any[0].contains(&el("Sr")));
    let k = c("no noble gases");
    assert_eq!(k.excluded_elements.len(), 6);
}

#[test]
fn element_counts() {
    assert_eq!((c("binary").min_elements, c("binary").max_elements), (Some(2), Some(2)));
    assert_eq!(c("ternary oxides").min_elements, Some(3));
    assert_eq!(c("quaternary compounds").max_elements, Some(4));
    let k = c("at most 4 elements");
    assert_eq!((k.min_elements, k.max_elements), (None, Some(4)));
    let k = c("no more than three elements");
    assert_eq!(k.max_elements, Some(3));
    let k = c("more than 3 elements");
    assert_eq!(k.min_elements, Some(4));
}

#[test]
fn electronic_classes() {
    for (p, e) in [
        ("a metal", ElectronicClass::Metal),
        ("metallic", ElectronicClass::Metal),
        ("semiconductor", ElectronicClass::Semiconductor),
        ("semiconducting", ElectronicClass::Semiconductor),
        ("insulators", ElectronicClass::Insulator),
        ("an insulating oxide", ElectronicClass::Insulator),
    ] {
        assert_eq!(c(p).electronic, Some(e), "{p}");
    }
    let k = c("not a metal");
    assert_eq!(k.electronic, None);
    assert_eq!(k.band_gap_min, Some(NONMETAL_MIN_GAP));
    // "metal" before an anion word names the cation.
    assert_eq!(c("metal oxides").electronic, None);
}

const NONMETAL_MIN_GAP: f64 = super::vocab::NONMETAL_MIN_GAP_EV;

#[test]
fn band_gap_phrases() {
    let range = |p: &str| {
        let k = c(p);
        (k.band_gap_min, k.band_gap_max)
    };
    for p in [
        "band gap between 1 and 2 eV",
        "a bandgap of 1-2 eV",
        "band gap from 1 to 2 eV",
        "Eg in the range 1 to 2 eV",
        "gap 1–2 eV",
        "with a gap between 1 eV and 2 eV",
    ] {
        assert_eq!(range(p), (Some(1.0), Some(2.0)), "{p}");
    }
    let (lo, hi) = range("band gap around 1.5 eV");
    assert!((lo.unwrap() - 1.2).abs() < 1e-9 && (hi.unwrap() - 1.8).abs() < 1e-9);
    assert_eq!(range("a semiconductor with a ~1.5 eV gap"), range("band gap around 1.5 eV"));
    assert_eq!(range("band gap above 3 eV"), (Some(3.0), None));
    assert_eq!(range("gap > 2.5 eV"), (Some(2.5), None));
    assert_eq!(range("band gap of at least 2 eV"), (Some(2.0), None));
    assert_eq!(range("band gap below 1 eV"), (None, Some(1.0)));
    assert_eq!(range("wide-gap semiconductor"), (Some(3.0), None));
    assert_eq!(range("wide band gap oxides"), (Some(3.0), None));
    assert_eq!(range("narrow-gap semiconductor"), (None, Some(1.0)));
    assert_eq!(range("small band gap"), (None, Some(1.0)));
    assert_eq!(ok("a 2 eV absorber").constraints.band_gap_min, Some(1.7));
}

#[test]
fn stability_and_novelty() {
    assert!(c("stable perovskites").stable);
    assert!(c("low energy").stable);
    assert!(c("low formation energy compounds").stable);
    assert!(c("a new oxide").novel);
    assert!(c("novel").novel);
    assert!(c("perovskites").novel, "novel by default");
    assert!(!c("known perovskites").novel);
    assert!(!c("existing compounds").novel);
    assert!(c("not yet known").novel);
}

#[test]
fn pools_and_examples() {
    let k = c("composed of Li, Fe, P and O");
    assert_eq!(k.element_pool, Some(els(&["Li", "Fe", "P", "O"])));
    assert_eq!(k.required_elements, els(&["Li", "Fe", "P", "O"]));
    let k = c("only Ba, Sr, Ti, Zr and O");
    assert_eq!(k.element_pool, Some(els(&["Ba", "Sr", "Ti", "Zr", "O"])));
    assert!(k.required_elements.is_empty());
    let k = c("materials similar to SrTiO3");
    assert_eq!(k.examples, vec!["SrTiO3".to_string()]);
}

#[test]
fn full_prompts() {
    let k = c("A lead-free, stable perovskite oxide semiconductor with a band gap between 1 and 2 eV, not CsSnI3");
    assert_eq!(k.family, Some(Family::Perovskite));
    assert_eq!(k.excluded_elements, els(&["Pb"]));
    assert_eq!(k.anions, els(&["O"]));
    assert_eq!(k.electronic, Some(ElectronicClass::Semiconductor));
    assert_eq!((k.band_gap_min, k.band_gap_max), (Some(1.0), Some(2.0)));
    assert!(k.stable && k.novel);
    assert_eq!(k.excluded_formulas, vec!["CsSnI3".to_string()]);

    let k = c("I want a novel Li-containing ternary nitride that is an insulator.");
    assert_eq!(k.required_elements, els(&["Li"]));
    assert_eq!(k.anions, els(&["N"]));
    assert_eq!(k.min_elements, Some(3));
    assert_eq!(k.electronic, Some(ElectronicClass::Insulator));

    let k = ok("Find new half-Heusler thermoelectric semiconductors with Ti and without Hf").constraints;
    assert_eq!(k.family, Some(Family::HalfHeusler));
    assert_eq!(k.required_elements, els(&["Ti"]));
    assert_eq!(k.excluded_elements, els(&["Hf"]));

    let k = ok("No cobalt. Sodium-ion cathode oxides with Mn").constraints;
    assert_eq!(k.excluded_elements, els(&["Co"]));
    assert_eq!(k.required_elements, els(&["Na", "Mn"]));
}

#[test]
fn sentence_initial_words_are_not_symbols() {
    let k = c("In perovskites, avoid Pb");
    assert!(k.required_elements.is_empty());
    assert_eq!(k.excluded_elements, els(&["Pb"]));
    let k = c("Cs, Pb and I halide perovskites");
    assert_eq!(k.required_elements, els(&["Cs", "Pb", "I"]));
}

#[test]
fn unknown_words_are_reported() {
    let i = ok("a perovskite for solid-oxide fuel cell cathodes");
    assert_eq!(i.constraints.family, Some(Family::Perovskite));
    assert!(i.unknown_words.contains(&"fuel".to_string()), "{:?}", i.unknown_words);
    assert!(i.unknown_words.contains(&"cathodes".to_string()));
    let i = ok("blorptastic spinel");
    assert_eq!(i.unknown_words, vec!["blorptastic".to_string()]);
}

#[test]
fn contradictions_name_both_sides() {
    let e = err("a metal with a 3 eV gap");
    assert!(e.contains("metal") && e.contains("3 eV"), "{e}");
    let e = err("metallic compounds with a band gap between 1 and 2 eV");
    assert!(e.contains("metallic") && e.contains("between 1 and 2 eV"), "{e}");
    let e = err("containing lead but lead-free");
    assert!(e.contains("lead") && e.contains("lead-free"), "{e}");
    let e = err("Ti-based oxides without titanium");
    assert!(e.contains("Ti-based") && e.contains("titanium"), "{e}");
    let e = err("a binary perovskite");
    assert!(e.contains("binary") && e.contains("perovskite"), "{e}");
    let e = err("quaternary spinel");
    assert!(e.contains("quaternary") && e.contains("spinel"), "{e}");
    let e = err("a perovskite spinel");
    assert!(e.contains("perovskite") && e.contains("spinel"), "{e}");
    let e = err("an oxide without oxygen");
    assert!(e.contains("oxide") && e.contains("oxygen"), "{e}");
    let e = err("band gap above 3 eV and below 1 eV");
    assert!(e.contains("above 3 eV") && e.contains("below 1 eV"), "{e}");
    let e = err("a metal that is a semiconductor");
    assert!(e.contains("metal") && e.contains("semiconductor"), "{e}");
    let e = err("Heusler oxides");
    assert!(e.contains("Heusler") && e.contains("oxides"), "{e}");
    let e = err("novel known materials");
    assert!(e.contains("novel") && e.contains("known"), "{e}");
    let e = err("a narrow-gap metal");
    assert!(e.contains("narrow-gap") && e.contains("metal"), "{e}");
    assert!(matches!(interpret("   "), Err(PromptError::Empty)));
    assert!(matches!(interpret(" , . "), Err(PromptError::Empty)));
    let e = err("band gap of -2 eV");
    assert!(e.contains("-2 eV"), "{e}");
}

#[test]
fn interpretation_serialises_to_json() {
    let i = ok("lead-free perovskite oxide");
    let json = serde_json::to_value(&i).unwrap();
    assert_eq!(json["constraints"]["family"], "perovskite");
    assert_eq!(json["constraints"]["excluded_elements"][0], "Pb");
    assert_eq!(json["recognised"][0][0], "lead-free");
}
