//! The prompt suite: requests phrased the way materials scientists write them, each with the constraint fields it
//! must produce (fields a case does not mention are not checked), and malformed or contradictory requests that must
//! be errors. Unknown words must be reported, never dropped: every valid case lists the words it expects to be
//! reported (usually none).

use genms_shared::constraints::{interpret, Constraints, ElectronicClass, Family};
use genms_shared::Element;

/// One expected field value.
#[derive(Debug, Clone, Copy)]
enum E {
    Req(&'static [&'static str]),
    Excl(&'static [&'static str]),
    /// The excluded elements include these (classes expand to many).
    ExclHas(&'static [&'static str]),
    Pool(&'static [&'static str]),
    Fam(Option<Family>),
    Anions(&'static [&'static str]),
    Count(Option<u32>, Option<u32>),
    Elec(Option<ElectronicClass>),
    Gap(Option<f64>, Option<f64>),
    Novel(bool),
    Stable(bool),
    ExclF(&'static [&'static str]),
    /// One required group holding these elements.
    AnyOf(&'static [&'static str]),
    Examples(&'static [&'static str]),
    Unknown(&'static [&'static str]),
}

use ElectronicClass::{Insulator, Metal, Semiconductor};
use E::*;

const SEMI: Option<ElectronicClass> = Some(Semiconductor);

const CASES: &[(&str, &[E])] = &[
    // Required elements, paraphrased.
    ("containing lithium", &[Req(&["Li"]), Excl(&[]), Novel(true)]),
    ("Li-based materials", &[Req(&["Li"])]),
    ("lithium-containing oxides", &[Req(&["Li"]), Anions(&["O"])]),
    ("compounds with Na and Mn", &[Req(&["Na", "Mn"])]),
    ("a sodium manganese oxide", &[Req(&["Na", "Mn"]), Anions(&["O"])]),
    ("iron-rich phosphides", &[Req(&["Fe"]), Anions(&["P"])]),
    // Excluded elements, paraphrased.
    ("lead-free halide perovskites", &[Excl(&["Pb"]), Fam(Some(Family::Perovskite)), Anions(&["F", "Cl", "Br", "I"])]),
    ("no lead", &[Excl(&["Pb"]), Req(&[])]),
    ("perovskites without Pb or Sn", &[Excl(&["Pb", "Sn"]), Fam(Some(Family::Perovskite))]),
    ("cobalt-free cathode oxides containing Li", &[Excl(&["Co"]), Req(&["Li"]), Anions(&["O"]), Unknown(&["cathode"])]),
    ("Co- and Ni-free layered oxides", &[Excl(&["Co", "Ni"]), Req(&[]), Anions(&["O"]), Unknown(&["layered"])]),
    ("non-toxic semiconductors", &[ExclHas(&["Pb", "Cd", "Hg", "As", "Tl"]), Elec(SEMI)]),
    (
        "earth-abundant sulfides for photovoltaics",
        &[ExclHas(&["Pt", "Au", "In", "Te"]), Anions(&["S"]), Gap(Some(1.0), Some(1.8))],
    ),
    (
        "rare-earth-free magnets made of Fe, Co and N",
        &[Pool(&["Fe", "Co", "N"]), Req(&["Fe", "Co", "N"]), Unknown(&["magnets"])],
    ),
    // Element pools.
    ("compounds made only of Ba, Ti and O", &[Pool(&["Ba", "Ti", "O"])]),
    ("materials consisting of Cu, Zn, Sn and S", &[Pool(&["Cu", "Zn", "Sn", "S"]), Req(&["Cu", "Zn", "Sn", "S"])]),
    // Families.
    ("perovskite oxide", &[Fam(Some(Family::Perovskite)), Anions(&["O"])]),
    ("ABO3 perovskites with Ti on the B site", &[Fam(Some(Family::Perovskite)), Anions(&["O"]), Req(&["Ti"])]),
    ("AB2O4 spinels", &[Fam(Some(Family::Spinel)), Anions(&["O"])]),
    ("spinel ferrites", &[Fam(Some(Family::Spinel)), Unknown(&["ferrites"])]),
    ("a pyrochlore oxide insulator", &[Fam(Some(Family::Pyrochlore)), Anions(&["O"]), Elec(Some(Insulator))]),
    ("rock-salt nitrides", &[Fam(Some(Family::RockSalt)), Anions(&["N"])]),
    ("NaCl-type chlorides", &[Fam(Some(Family::RockSalt)), Anions(&["Cl"])]),
    (
        "fluorite-structured oxides containing a rare earth",
        &[
            Fam(Some(Family::Fluorite)),
            Anions(&["O"]),
            AnyOf(&[
                "Sc", "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
            ]),
        ],
    ),
    ("lithium garnets", &[Fam(Some(Family::Garnet)), Req(&["Li"])]),
    ("olivine-type phosphates", &[Fam(Some(Family::Olivine)), Unknown(&["phosphates"])]),
    ("full Heusler alloys containing cobalt", &[Fam(Some(Family::Heusler)), Req(&["Co"]), Elec(Some(Metal))]),
    ("half-Heusler thermoelectrics", &[Fam(Some(Family::HalfHeusler)), Unknown(&["thermoelectrics"])]),
    (
        "lead-free double perovskite halides like Cs2AgBiBr6",
        &[Fam(Some(Family::DoublePerovskite)), Excl(&["Pb"]), Examples(&["Cs2AgBiBr6"])],
    ),
    // Number of elements.
    ("binary nitrides", &[Count(Some(2), Some(2)), Anions(&["N"])]),
    ("ternary chalcogenides", &[Count(Some(3), Some(3)), Anions(&["S", "Se", "Te"])]),
    ("quaternary oxides containing Li and Mn", &[Count(Some(4), Some(4)), Req(&["Li", "Mn"]), Anions(&["O"])]),
    ("high-entropy oxides", &[Count(Some(5), None), Anions(&["O"])]),
    ("compounds with at most 3 elements", &[Count(None, Some(3))]),
    // Electronic class and band gap.
    ("metallic borides", &[Elec(Some(Metal)), Anions(&["B"])]),
    ("a semiconductor with a band gap between 1 and 2 eV", &[Elec(SEMI), Gap(Some(1.0), Some(2.0))]),
    ("semiconducting sulfides with Eg of 1.2-1.6 eV", &[Elec(SEMI), Gap(Some(1.2), Some(1.6)), Anions(&["S"])]),
    ("band gap around 1.5 eV", &[Gap(Some(1.2), Some(1.8))]),
    ("a gap of ~2 eV", &[Gap(Some(1.7), Some(2.3))]),
    ("wide-gap oxides", &[Gap(Some(3.0), None), Anions(&["O"])]),
    ("wide band gap insulators", &[Gap(Some(3.0), None), Elec(Some(Insulator))]),
    ("band gap above 4 eV", &[Gap(Some(4.0), None)]),
    ("narrow-gap tellurides", &[Gap(None, Some(1.0)), Anions(&["Te"])]),
    ("band gap below 0.5 eV", &[Gap(None, Some(0.5))]),
    // Bounds in either order name the same interval.
    ("band gap between 3 and 1 eV", &[Gap(Some(1.0), Some(3.0))]),
    ("non-metallic nitrides", &[Gap(Some(0.1), None), Anions(&["N"])]),
    ("transparent conducting oxides with a gap > 3 eV", &[Gap(Some(3.0), None), Anions(&["O"]), Elec(None)]),
    ("Li- and Mn-containing oxides", &[Req(&["Li", "Mn"]), Anions(&["O"])]),
    // Exclusion lists, novelty and stability.
    (
        "Li cathode materials, not LiCoO2 or LiFePO4",
        &[Req(&["Li"]), ExclF(&["LiCoO2", "LiFePO4"]), Unknown(&["cathode"])],
    ),
    ("olivines other than LiFePO4 and LiMnPO4", &[Fam(Some(Family::Olivine)), ExclF(&["LiFePO4", "LiMnPO4"])]),
    ("new stable perovskites", &[Novel(true), Stable(true), Fam(Some(Family::Perovskite))]),
    ("known lithium conductors", &[Novel(false), Req(&["Li"]), Elec(Some(Metal))]),
    ("thermodynamically stable nitrides on the convex hull", &[Stable(true), Anions(&["N"])]),
    ("materials similar to SrTiO3 and BaTiO3", &[Examples(&["SrTiO3", "BaTiO3"]), ExclF(&[])]),
    // Element classes.
    ("oxides containing an alkali metal", &[AnyOf(&["Li", "Na", "K", "Rb", "Cs"]), Anions(&["O"])]),
    (
        "transition-metal nitrides",
        &[
            AnyOf(&[
                "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
                "Pd", "Ag", "Cd", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
            ]),
            Anions(&["N"]),
        ],
    ),
];

/// Prompts that must be refused, with a word the message must contain.
const ERRORS: &[(&str, &str)] = &[
    ("", "empty"),
    ("  ,, . ", "empty"),
    ("a metal with a 3 eV band gap", "contradiction"),
    ("metallic insulators", "contradiction"),
    ("lithium-free Li oxides", "contradiction"),
    ("perovskite spinels", "contradiction"),
    ("band gap above 3 eV and below 1 eV", "contradiction"),
    ("band gap of 50 eV", "invalid"),
    ("binary compounds with at least 4 elements", "contradiction"),
    ("new known materials", "contradiction"),
];

fn els(list: &[&str]) -> Vec<Element> {
    list.iter().map(|s| Element::from_symbol(s).unwrap_or_else(|| panic!("bad symbol {s}"))).collect()
}

fn near(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

/// The mismatches of one case (empty when it passes).
fn check(prompt: &str, expect: &[E]) -> Vec<String> {
    let i = match interpret(prompt) {
        Ok(i) => i,
        Err(e) => return vec![format!("{prompt:?}: error {e}")],
    };
    let c: &Constraints = &i.constraints;
    let mut bad = Vec::new();
    let mut unknown: &[&str] = &[];
    for e in expect {
        let ok = match *e {
            Req(l) => c.required_elements == els(l),
            Excl(l) => c.excluded_elements == els(l),
            ExclHas(l) => els(l).iter().all(|x| c.excluded_elements.contains(x)),
            Pool(l) => c.element_pool.as_ref().is_some_and(|p| {
                let mut a = p.clone();
                let mut b = els(l);
                a.sort_by_key(|x| x.z());
                b.sort_by_key(|x| x.z());
                a == b
            }),
            Fam(f) => c.family == f,
            Anions(l) => c.anions == els(l),
            Count(lo, hi) => c.min_elements == lo && c.max_elements == hi,
            Elec(x) => c.electronic == x,
            Gap(lo, hi) => near(c.band_gap_min, lo) && near(c.band_gap_max, hi),
            Novel(v) => c.novel == v,
            Stable(v) => c.stable == v,
            ExclF(l) => c.excluded_formulas == l.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            AnyOf(l) => c.required_any.iter().any(|g| g == &els(l)),
            Examples(l) => c.examples == l.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            Unknown(l) => {
                unknown = l;
                true
            }
        };
        if !ok {
            bad.push(format!("{prompt:?}: expected {e:?}, got {c:?}"));
        }
    }
    if i.unknown_words != unknown {
        bad.push(format!("{prompt:?}: unknown words {:?}, expected {unknown:?}", i.unknown_words));
    }
    bad
}

#[test]
fn suite_has_enough_prompts() {
    assert!(CASES.len() + ERRORS.len() >= 45, "{}", CASES.len() + ERRORS.len());
}

#[test]
fn valid_prompts_give_the_expected_constraints() {
    let bad: Vec<String> = CASES.iter().flat_map(|(p, e)| check(p, e)).collect();
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn malformed_and_contradictory_prompts_are_errors() {
    let mut bad = Vec::new();
    for (prompt, needle) in ERRORS {
        match interpret(prompt) {
            Ok(i) => bad.push(format!("{prompt:?} should fail, got {:?}", i.constraints)),
            Err(e) if !e.to_string().to_lowercase().contains(needle) => {
                bad.push(format!("{prompt:?}: message {e:?} lacks {needle:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
