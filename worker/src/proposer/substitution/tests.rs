//! Tests on the real shared data (`$GENMS_SHARED/data/compositions`).

use std::sync::OnceLock;

use genms_shared::constraints::interpret;

use super::*;

fn proposer() -> &'static SubstitutionProposer {
    static P: OnceLock<SubstitutionProposer> = OnceLock::new();
    P.get_or_init(|| SubstitutionProposer::default_paths().expect("shared composition data"))
}

fn task(constraints: Constraints, n: u32, seed: u64) -> ProposeTask {
    ProposeTask {
        task_id: "t".into(),
        prompt: String::new(),
        constraints,
        n,
        seed,
        exclude: Vec::new(),
        context: Vec::new(),
    }
}

fn from_prompt(prompt: &str, n: u32, seed: u64) -> ProposeTask {
    let i = interpret(prompt).expect("valid prompt");
    let mut t = task(i.constraints, n, seed);
    t.prompt = prompt.into();
    t
}

/// Every shared filter, re-checked independently of the proposer.
fn assert_valid(t: &ProposeTask, out: &[ProposedFormula]) {
    let known = &proposer().data.known;
    let mut seen = HashSet::new();
    for (i, p) in out.iter().enumerate() {
        let comp = Composition::parse(&p.formula).expect("parses");
        assert_eq!(comp.reduced_formula(), p.formula);
        assert_eq!(t.constraints.check_composition(&comp), Ok(()), "{}", p.formula);
        assert!(diffcsp_smact_validity(&comp, OxidationStates::Smact14), "{} not charge neutral", p.formula);
        if t.constraints.novel {
            assert!(!known.contains(p.formula.as_str()), "{} is known", p.formula);
        }
        assert!(!t.exclude.contains(&p.formula));
        assert!(seen.insert(p.formula.clone()), "duplicate {}", p.formula);
        assert!(p.logprob.is_finite() && p.logprob <= 0.0);
        if i > 0 {
            assert!(out[i - 1].logprob >= p.logprob);
        }
    }
}

#[test]
fn perovskite_oxides_are_novel_abo3() {
    let t = from_prompt("perovskite oxide", 50, 7);
    let out = proposer().propose(&t).unwrap();
    assert_eq!(out.len(), 50);
    assert_valid(&t, &out);
    for p in &out {
        let comp = Composition::parse(&p.formula).unwrap();
        assert_eq!(comp.anonymized_formula(), "ABC3", "{}", p.formula);
        assert!(comp.contains(Element::from_symbol("O").unwrap()));
    }
}

#[test]
fn excluded_elements_never_appear() {
    let t = from_prompt("lead-free, non-toxic halide perovskite without tin", 40, 3);
    let out = proposer().propose(&t).unwrap();
    assert!(!out.is_empty());
    assert_valid(&t, &out);
    for p in &out {
        for bad in ["Pb", "Sn", "Cd", "Hg", "As", "Tl"] {
            assert!(
                !Composition::parse(&p.formula).unwrap().contains(Element::from_symbol(bad).unwrap()),
                "{}",
                p.formula
            );
        }
    }
}

#[test]
fn deterministic_by_seed() {
    let t = from_prompt("Li-containing spinel", 30, 11);
    let a = proposer().propose(&t).unwrap();
    let b = proposer().propose(&t).unwrap();
    assert_eq!(a, b);
    assert_valid(&t, &a);
}

#[test]
fn empty_constraints_work_and_exclusions_hold() {
    let mut t = task(Constraints::novel_only(), 40, 1);
    let first = proposer().propose(&t).unwrap();
    assert_eq!(first.len(), 40);
    assert_valid(&t, &first);
    t.exclude = first.iter().take(10).map(|p| p.formula.clone()).collect();
    let second = proposer().propose(&t).unwrap();
    assert_valid(&t, &second);
}

#[test]
fn electronic_and_context_constraints() {
    let t = from_prompt("a ternary nitride semiconductor with a band gap between 1 and 3 eV", 30, 5);
    let out = proposer().propose(&t).unwrap();
    assert!(!out.is_empty());
    assert_valid(&t, &out);
    let mut t = from_prompt("perovskite oxide containing Ti", 20, 2);
    t.context = vec!["BaTiO3".into(), "SrTiO3".into()];
    let out = proposer().propose(&t).unwrap();
    assert!(!out.is_empty());
    assert_valid(&t, &out);
}

#[test]
fn impossible_requests_give_an_empty_list() {
    let mut c = Constraints::novel_only();
    c.element_pool = Some(vec![Element::from_symbol("Na").unwrap(), Element::from_symbol("Cl").unwrap()]);
    c.min_elements = Some(2);
    let out = proposer().propose(&task(c, 10, 0)).unwrap();
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn missing_files_are_named() {
    let e = SubstitutionProposer::load(Path::new("/nonexistent/dir"), Path::new("/x")).err().unwrap().to_string();
    assert!(e.contains("/nonexistent/dir"), "{e}");
}
