//! The concept vocabulary of prompt interpretation: which words and phrases mean which constraint, the element
//! classes with their members, and the stop words that carry no constraint. Kept apart from the parser so that a
//! reader can check (and extend) the vocabulary without reading the state machine.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::constraints::{ElectronicClass, Family};
use crate::Element;

/// Named groups of elements ("alkali metal", "toxic", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Alkali,
    AlkalineEarth,
    Transition,
    Lanthanide,
    Actinide,
    RareEarth,
    NobleGas,
    NobleMetal,
    PlatinumGroup,
    Halogen,
    Chalcogen,
    Pnictogen,
    Metalloid,
    Toxic,
    Radioactive,
    /// Scarce / expensive elements excluded by "earth-abundant" (precious metals, Re, In, Te, and radioactive ones).
    Scarce,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Alkali => "alkali metal",
            Class::AlkalineEarth => "alkaline-earth metal",
            Class::Transition => "transition metal",
            Class::Lanthanide => "lanthanide",
            Class::Actinide => "actinide",
            Class::RareEarth => "rare earth",
            Class::NobleGas => "noble gas",
            Class::NobleMetal => "noble metal",
            Class::PlatinumGroup => "platinum-group metal",
            Class::Halogen => "halogen",
            Class::Chalcogen => "chalcogen",
            Class::Pnictogen => "pnictogen",
            Class::Metalloid => "metalloid",
            Class::Toxic => "toxic element",
            Class::Radioactive => "radioactive element",
            Class::Scarce => "scarce element",
        }
    }

    fn symbols(self) -> &'static [&'static str] {
        match self {
            Class::Alkali => &["Li", "Na", "K", "Rb", "Cs"],
            Class::AlkalineEarth => &["Be", "Mg", "Ca", "Sr", "Ba"],
            Class::Transition => &[
                "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
                "Pd", "Ag", "Cd", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
            ],
            Class::Lanthanide => {
                &["La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"]
            }
            Class::Actinide => {
                &["Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr"]
            }
            Class::RareEarth => {
                &["Sc", "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"]
            }
            Class::NobleGas => &["He", "Ne", "Ar", "Kr", "Xe", "Rn"],
            Class::NobleMetal => &["Ru", "Rh", "Pd", "Ag", "Os", "Ir", "Pt", "Au"],
            Class::PlatinumGroup => &["Ru", "Rh", "Pd", "Os", "Ir", "Pt"],
            Class::Halogen => &["F", "Cl", "Br", "I"],
            Class::Chalcogen => &["O", "S", "Se", "Te"],
            Class::Pnictogen => &["N", "P", "As", "Sb", "Bi"],
            Class::Metalloid => &["B", "Si", "Ge", "As", "Sb", "Te"],
            Class::Toxic => &["Pb", "Cd", "Hg", "As", "Tl"],
            Class::Radioactive => &[
                "Tc", "Pm", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf",
                "Es", "Fm", "Md", "No", "Lr",
            ],
            Class::Scarce => &[
                "Ru", "Rh", "Pd", "Ag", "Os", "Ir", "Pt", "Au", "Re", "In", "Te", "Tc", "Pm", "Po", "At", "Rn", "Fr",
                "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu",
            ],
        }
    }

    pub fn elements(self) -> Vec<Element> {
        self.symbols().iter().filter_map(|s| Element::from_symbol(s)).collect()
    }
}

/// How the words after a trigger apply to the elements / classes / formulae that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// No trigger seen: an element mentioned is required, a formula is an example.
    Neutral,
    Require,
    Exclude,
    /// Allowed element pool ("only", "chosen from").
    Pool,
    /// Pool whose elements are also all required ("composed of", "made of").
    PoolRequire,
    /// Formulae named as models ("like", "similar to").
    Example,
}

/// Comparators in front of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    AtLeast,
    AtMost,
    Around,
    Between,
    Exactly,
}

/// What a phrase means.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Concept {
    Element(Element),
    Class(Class),
    /// A class excluded whatever the mode ("non-toxic", "earth-abundant").
    ExcludeClass(Class),
    /// Anion type: the formula must contain one of these.
    Anion(&'static str, &'static [&'static str]),
    /// Mixed-anion type ("oxynitride"): all of these are required.
    MixedAnion(&'static str, &'static [&'static str]),
    Family(Family),
    ElementCount(u32),
    /// "high-entropy", "multicomponent": at least this many elements.
    MinElementCount(u32),
    Electronic(ElectronicClass),
    /// Metal-free gap wish ("non-metallic") without picking semiconductor vs insulator.
    NonMetal,
    /// "band gap", "gap", "Eg": numbers without a unit refer to the gap.
    GapWord,
    /// Band-gap range implied by a phrase ("wide-gap" -> >= 3 eV).
    GapRange(Option<f64>, Option<f64>, &'static str),
    /// "photovoltaic", "solar absorber": a semiconductor with a gap in the range.
    Photovoltaic,
    Stable,
    Novel(bool),
    Trigger(Mode),
    /// Ends the reach of a trigger ("but", "instead").
    Reset,
    Compare(Cmp),
    /// "eV" unit.
    ElectronVolt,
    /// "elements" / "components" after a number.
    ElementsUnit,
    /// List glue that keeps the current mode ("and", "or", ",").
    Connector,
    /// "to" between two numbers, or the stop word "to".
    To,
    /// Words with no constraint ("a", "material", ...).
    Stop,
}

/// Gap tolerance for a single value ("around 1.5 eV" -> 1.2..1.8).
pub(super) const AROUND_TOLERANCE_EV: f64 = 0.3;
/// "wide gap" lower bound (eV).
pub(super) const WIDE_GAP_EV: f64 = 3.0;
/// "narrow / small gap" upper bound (eV).
pub(super) const NARROW_GAP_EV: f64 = 1.0;
/// Smallest gap counted as non-metallic (eV): "non-metal" / "semiconductor or insulator".
pub(super) const NONMETAL_MIN_GAP_EV: f64 = 0.1;
/// Shockley-Queisser-friendly absorber window for "photovoltaic" (eV).
pub(super) const PV_GAP_EV: (f64, f64) = (1.0, 1.8);

const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "that",
    "which",
    "who",
    "is",
    "are",
    "be",
    "being",
    "been",
    "was",
    "were",
    "with",
    "of",
    "for",
    "in",
    "on",
    "at",
    "by",
    "as",
    "me",
    "i",
    "we",
    "us",
    "our",
    "my",
    "you",
    "want",
    "wants",
    "need",
    "needs",
    "looking",
    "look",
    "search",
    "searching",
    "find",
    "finding",
    "give",
    "show",
    "suggest",
    "propose",
    "generate",
    "design",
    "discover",
    "predict",
    "list",
    "some",
    "several",
    "few",
    "many",
    "materials",
    "material",
    "compounds",
    "compound",
    "crystal",
    "crystals",
    "crystalline",
    "structure",
    "structures",
    "phase",
    "phases",
    "candidates",
    "candidate",
    "formula",
    "formulae",
    "formulas",
    "composition",
    "compositions",
    "chemistry",
    "system",
    "systems",
    "please",
    "can",
    "could",
    "would",
    "should",
    "will",
    "must",
    "may",
    "might",
    "like",
    "has",
    "have",
    "having",
    "its",
    "it",
    "their",
    "them",
    "these",
    "those",
    "this",
    "whose",
    "where",
    "also",
    "very",
    "highly",
    "good",
    "possible",
    "potential",
    "potentially",
    "promising",
    "interesting",
    "type",
    "types",
    "kind",
    "kinds",
    "family",
    "families",
    "class",
    "based",
    "structured",
    "prototype",
    "solid",
    "solids",
    "bulk",
    "inorganic",
    "so",
    "such",
    "there",
    "here",
    "all",
    "each",
    "every",
    "one",
    "ones",
    "should",
    "ideally",
    "preferably",
    "e.g",
    "eg",
    "i.e",
    "ie",
    "etc",
    "mainly",
    "mostly",
    "want",
    "something",
    "anything",
    "make",
    "made",
    "get",
    "what",
    "how",
    "do",
    "does",
    "please",
    "thanks",
    "value",
    "values",
    "exhibit",
    "exhibiting",
    "exhibits",
    "show",
    "shows",
    "showing",
    "display",
    "displaying",
    "feature",
    "featuring",
    "possess",
    "possessing",
    "within",
    "range",
    "ranging",
    "interval",
    "window",
    "order",
    "approximately",
    "roughly",
    "preferred",
    "prefer",
    "idea",
    "ideas",
    "study",
    "explore",
    "exploring",
    "screen",
    "screening",
    "candidate",
    "compositionally",
    "chemically",
    "composed",
    "consisting",
    "comprised",
    "comprising",
    "consist",
    "form",
    "forms",
    "forming",
    "site",
    "sites",
    "cation",
    "cations",
    "anion",
    "anions",
    "containing",
    "contain",
    "contains",
    "includes",
    "include",
    "including",
    "element",
    "elements",
];

/// Phrases (lowercase, space-separated words) and their concepts. Longer phrases win over their prefixes.
fn phrases() -> Vec<(&'static str, Concept)> {
    use Concept as C;
    let mut v: Vec<(&'static str, Concept)> = vec![
        // triggers
        ("containing", C::Trigger(Mode::Require)),
        ("contain", C::Trigger(Mode::Require)),
        ("contains", C::Trigger(Mode::Require)),
        ("with", C::Trigger(Mode::Require)),
        ("including", C::Trigger(Mode::Require)),
        ("include", C::Trigger(Mode::Require)),
        ("includes", C::Trigger(Mode::Require)),
        ("incorporating", C::Trigger(Mode::Require)),
        ("featuring", C::Trigger(Mode::Require)),
        ("bearing", C::Trigger(Mode::Require)),
        ("based on", C::Trigger(Mode::Require)),
        ("has", C::Trigger(Mode::Require)),
        ("having", C::Trigger(Mode::Require)),
        ("no", C::Trigger(Mode::Exclude)),
        ("not", C::Trigger(Mode::Exclude)),
        ("non", C::Trigger(Mode::Exclude)),
        ("nor", C::Trigger(Mode::Exclude)),
        ("without", C::Trigger(Mode::Exclude)),
        ("excluding", C::Trigger(Mode::Exclude)),
        ("exclude", C::Trigger(Mode::Exclude)),
        ("excludes", C::Trigger(Mode::Exclude)),
        ("except", C::Trigger(Mode::Exclude)),
        ("except for", C::Trigger(Mode::Exclude)),
        ("other than", C::Trigger(Mode::Exclude)),
        ("apart from", C::Trigger(Mode::Exclude)),
        ("avoid", C::Trigger(Mode::Exclude)),
        ("avoiding", C::Trigger(Mode::Exclude)),
        ("free of", C::Trigger(Mode::Exclude)),
        ("free from", C::Trigger(Mode::Exclude)),
        ("lacking", C::Trigger(Mode::Exclude)),
        ("devoid of", C::Trigger(Mode::Exclude)),
        ("does not contain", C::Trigger(Mode::Exclude)),
        ("do not contain", C::Trigger(Mode::Exclude)),
        ("doesn't contain", C::Trigger(Mode::Exclude)),
        ("don't contain", C::Trigger(Mode::Exclude)),
        ("not containing", C::Trigger(Mode::Exclude)),
        ("only", C::Trigger(Mode::Pool)),
        ("exclusively", C::Trigger(Mode::Pool)),
        ("solely", C::Trigger(Mode::Pool)),
        ("chosen from", C::Trigger(Mode::Pool)),
        ("selected from", C::Trigger(Mode::Pool)),
        ("drawn from", C::Trigger(Mode::Pool)),
        ("restricted to", C::Trigger(Mode::Pool)),
        ("limited to", C::Trigger(Mode::Pool)),
        ("composed of", C::Trigger(Mode::PoolRequire)),
        ("consisting of", C::Trigger(Mode::PoolRequire)),
        ("made of", C::Trigger(Mode::PoolRequire)),
        ("made from", C::Trigger(Mode::PoolRequire)),
        ("comprised of", C::Trigger(Mode::PoolRequire)),
        ("similar to", C::Trigger(Mode::Example)),
        ("analogous to", C::Trigger(Mode::Example)),
        ("analogues of", C::Trigger(Mode::Example)),
        ("analogs of", C::Trigger(Mode::Example)),
        ("related to", C::Trigger(Mode::Example)),
        ("inspired by", C::Trigger(Mode::Example)),
        ("derived from", C::Trigger(Mode::Example)),
        ("variants of", C::Trigger(Mode::Example)),
        ("like", C::Trigger(Mode::Example)),
        ("such as", C::Trigger(Mode::Example)),
        ("but", C::Reset),
        ("instead", C::Reset),
        ("however", C::Reset),
        ("rather", C::Reset),
        ("while", C::Reset),
        (";", C::Reset),
        (super::END, C::Reset),
        (".", C::Reset),
        ("and", C::Connector),
        ("or", C::Connector),
        ("either", C::Connector),
        ("neither", C::Connector),
        ("any", C::Connector),
        (",", C::Connector),
        ("/", C::Connector),
        ("&", C::Connector),
        ("plus", C::Connector),
        ("to", C::To),
        ("through", C::To),
        // comparators
        ("above", C::Compare(Cmp::AtLeast)),
        ("over", C::Compare(Cmp::AtLeast)),
        ("exceeding", C::Compare(Cmp::AtLeast)),
        ("at least", C::Compare(Cmp::AtLeast)),
        ("more than", C::Compare(Cmp::AtLeast)),
        ("greater than", C::Compare(Cmp::AtLeast)),
        ("larger than", C::Compare(Cmp::AtLeast)),
        ("higher than", C::Compare(Cmp::AtLeast)),
        ("bigger than", C::Compare(Cmp::AtLeast)),
        ("minimum", C::Compare(Cmp::AtLeast)),
        ("min", C::Compare(Cmp::AtLeast)),
        (">", C::Compare(Cmp::AtLeast)),
        (">=", C::Compare(Cmp::AtLeast)),
        ("below", C::Compare(Cmp::AtMost)),
        ("under", C::Compare(Cmp::AtMost)),
        ("at most", C::Compare(Cmp::AtMost)),
        ("up to", C::Compare(Cmp::AtMost)),
        ("less than", C::Compare(Cmp::AtMost)),
        ("fewer than", C::Compare(Cmp::AtMost)),
        ("smaller than", C::Compare(Cmp::AtMost)),
        ("lower than", C::Compare(Cmp::AtMost)),
        ("no more than", C::Compare(Cmp::AtMost)),
        ("not more than", C::Compare(Cmp::AtMost)),
        ("no larger than", C::Compare(Cmp::AtMost)),
        ("not exceeding", C::Compare(Cmp::AtMost)),
        ("maximum", C::Compare(Cmp::AtMost)),
        ("max", C::Compare(Cmp::AtMost)),
        ("<", C::Compare(Cmp::AtMost)),
        ("<=", C::Compare(Cmp::AtMost)),
        ("around", C::Compare(Cmp::Around)),
        ("about", C::Compare(Cmp::Around)),
        ("approximately", C::Compare(Cmp::Around)),
        ("roughly", C::Compare(Cmp::Around)),
        ("near", C::Compare(Cmp::Around)),
        ("close to", C::Compare(Cmp::Around)),
        ("circa", C::Compare(Cmp::Around)),
        ("~", C::Compare(Cmp::Around)),
        ("of about", C::Compare(Cmp::Around)),
        ("of around", C::Compare(Cmp::Around)),
        ("between", C::Compare(Cmp::Between)),
        ("from", C::Compare(Cmp::Between)),
        ("exactly", C::Compare(Cmp::Exactly)),
        ("ev", C::ElectronVolt),
        ("electronvolts", C::ElectronVolt),
        ("electronvolt", C::ElectronVolt),
        ("elements", C::ElementsUnit),
        ("element", C::ElementsUnit),
        ("components", C::ElementsUnit),
        ("component", C::ElementsUnit),
        ("species", C::ElementsUnit),
        // element classes
        ("alkali", C::Class(Class::Alkali)),
        ("alkali metal", C::Class(Class::Alkali)),
        ("alkaline earth", C::Class(Class::AlkalineEarth)),
        ("alkaline earth metal", C::Class(Class::AlkalineEarth)),
        ("transition metal", C::Class(Class::Transition)),
        ("lanthanide", C::Class(Class::Lanthanide)),
        ("lanthanoid", C::Class(Class::Lanthanide)),
        ("actinide", C::Class(Class::Actinide)),
        ("rare earth", C::Class(Class::RareEarth)),
        ("rare earth element", C::Class(Class::RareEarth)),
        ("rare earth metal", C::Class(Class::RareEarth)),
        ("ree", C::Class(Class::RareEarth)),
        ("noble gas", C::Class(Class::NobleGas)),
        ("noble metal", C::Class(Class::NobleMetal)),
        ("precious metal", C::Class(Class::NobleMetal)),
        ("platinum group", C::Class(Class::PlatinumGroup)),
        ("platinum group metal", C::Class(Class::PlatinumGroup)),
        ("pgm", C::Class(Class::PlatinumGroup)),
        ("halogen", C::Class(Class::Halogen)),
        ("chalcogen", C::Class(Class::Chalcogen)),
        ("pnictogen", C::Class(Class::Pnictogen)),
        ("metalloid", C::Class(Class::Metalloid)),
        ("toxic", C::Class(Class::Toxic)),
        ("toxic element", C::Class(Class::Toxic)),
        ("heavy metal", C::Class(Class::Toxic)),
        ("toxic metal", C::Class(Class::Toxic)),
        ("radioactive", C::Class(Class::Radioactive)),
        ("radioactive element", C::Class(Class::Radioactive)),
        ("nontoxic", C::ExcludeClass(Class::Toxic)),
        ("environmentally friendly", C::ExcludeClass(Class::Toxic)),
        ("eco friendly", C::ExcludeClass(Class::Toxic)),
        ("earth abundant", C::ExcludeClass(Class::Scarce)),
        ("abundant", C::ExcludeClass(Class::Scarce)),
        ("cheap", C::ExcludeClass(Class::Scarce)),
        ("low cost", C::ExcludeClass(Class::Scarce)),
        ("inexpensive", C::ExcludeClass(Class::Scarce)),
        // anion types
        ("oxide", C::Anion("oxide", &["O"])),
        ("nitride", C::Anion("nitride", &["N"])),
        ("sulfide", C::Anion("sulfide", &["S"])),
        ("sulphide", C::Anion("sulfide", &["S"])),
        ("selenide", C::Anion("selenide", &["Se"])),
        ("telluride", C::Anion("telluride", &["Te"])),
        ("fluoride", C::Anion("fluoride", &["F"])),
        ("chloride", C::Anion("chloride", &["Cl"])),
        ("bromide", C::Anion("bromide", &["Br"])),
        ("iodide", C::Anion("iodide", &["I"])),
        ("halide", C::Anion("halide", &["F", "Cl", "Br", "I"])),
        ("chalcogenide", C::Anion("chalcogenide", &["S", "Se", "Te"])),
        ("pnictide", C::Anion("pnictide", &["N", "P", "As", "Sb"])),
        ("carbide", C::Anion("carbide", &["C"])),
        ("phosphide", C::Anion("phosphide", &["P"])),
        ("hydride", C::Anion("hydride", &["H"])),
        ("boride", C::Anion("boride", &["B"])),
        ("silicide", C::Anion("silicide", &["Si"])),
        ("arsenide", C::Anion("arsenide", &["As"])),
        ("antimonide", C::Anion("antimonide", &["Sb"])),
        ("germanide", C::Anion("germanide", &["Ge"])),
        ("oxynitride", C::MixedAnion("oxynitride", &["O", "N"])),
        ("oxysulfide", C::MixedAnion("oxysulfide", &["O", "S"])),
        ("oxyfluoride", C::MixedAnion("oxyfluoride", &["O", "F"])),
        ("oxychloride", C::MixedAnion("oxychloride", &["O", "Cl"])),
        ("oxyhydride", C::MixedAnion("oxyhydride", &["O", "H"])),
        ("carbonitride", C::MixedAnion("carbonitride", &["C", "N"])),
        // families
        ("perovskite", C::Family(Family::Perovskite)),
        ("double perovskite", C::Family(Family::DoublePerovskite)),
        ("elpasolite", C::Family(Family::DoublePerovskite)),
        ("spinel", C::Family(Family::Spinel)),
        ("pyrochlore", C::Family(Family::Pyrochlore)),
        ("rock salt", C::Family(Family::RockSalt)),
        ("rocksalt", C::Family(Family::RockSalt)),
        ("halite", C::Family(Family::RockSalt)),
        ("fluorite", C::Family(Family::Fluorite)),
        ("antifluorite", C::Family(Family::Fluorite)),
        ("anti fluorite", C::Family(Family::Fluorite)),
        ("garnet", C::Family(Family::Garnet)),
        ("olivine", C::Family(Family::Olivine)),
        ("heusler", C::Family(Family::Heusler)),
        ("full heusler", C::Family(Family::Heusler)),
        ("half heusler", C::Family(Family::HalfHeusler)),
        ("halfheusler", C::Family(Family::HalfHeusler)),
        // element counts
        ("unary", C::ElementCount(1)),
        ("elemental", C::ElementCount(1)),
        ("binary", C::ElementCount(2)),
        ("ternary", C::ElementCount(3)),
        ("quaternary", C::ElementCount(4)),
        ("quinary", C::ElementCount(5)),
        ("high entropy", C::MinElementCount(5)),
        ("multicomponent", C::MinElementCount(4)),
        ("multi component", C::MinElementCount(4)),
        // electronic class
        ("metal", C::Electronic(ElectronicClass::Metal)),
        ("metallic", C::Electronic(ElectronicClass::Metal)),
        ("conductor", C::Electronic(ElectronicClass::Metal)),
        ("conducting", C::Electronic(ElectronicClass::Metal)),
        ("semimetal", C::Electronic(ElectronicClass::Metal)),
        ("semi metal", C::Electronic(ElectronicClass::Metal)),
        ("half metal", C::Electronic(ElectronicClass::Metal)),
        ("intermetallic", C::Electronic(ElectronicClass::Metal)),
        ("alloy", C::Electronic(ElectronicClass::Metal)),
        ("gapless", C::Electronic(ElectronicClass::Metal)),
        ("zero gap", C::Electronic(ElectronicClass::Metal)),
        ("semiconductor", C::Electronic(ElectronicClass::Semiconductor)),
        ("semiconducting", C::Electronic(ElectronicClass::Semiconductor)),
        ("semi conductor", C::Electronic(ElectronicClass::Semiconductor)),
        ("semi conducting", C::Electronic(ElectronicClass::Semiconductor)),
        ("insulator", C::Electronic(ElectronicClass::Insulator)),
        ("insulating", C::Electronic(ElectronicClass::Insulator)),
        ("dielectric", C::Electronic(ElectronicClass::Insulator)),
        ("nonmetal", C::NonMetal),
        ("nonmetallic", C::NonMetal),
        ("gapped", C::NonMetal),
        // band gap
        ("gap", C::GapWord),
        ("band gap", C::GapWord),
        ("bandgap", C::GapWord),
        ("electronic gap", C::GapWord),
        ("optical gap", C::GapWord),
        ("eg", C::GapWord),
        ("wide", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("wide gap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("wide band gap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("wide bandgap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("wide band", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("large gap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("large band gap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("large bandgap", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV")),
        ("ultrawide", C::GapRange(Some(4.5), None, ">= 4.5 eV")),
        ("ultra wide", C::GapRange(Some(4.5), None, ">= 4.5 eV")),
        ("narrow", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("narrow gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("narrow band gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("narrow bandgap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("small gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("small band gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("small bandgap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("low band gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("low bandgap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        ("low gap", C::GapRange(None, Some(NARROW_GAP_EV), "<= 1 eV")),
        // Transparent conductors are degenerately doped wide-gap materials, not metals.
        ("transparent", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV (transparent)")),
        ("transparent conducting", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV (transparent conductor)")),
        ("transparent conductive", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV (transparent conductor)")),
        ("transparent conductor", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV (transparent conductor)")),
        ("tco", C::GapRange(Some(WIDE_GAP_EV), None, ">= 3 eV (transparent conductor)")),
        ("photovoltaic", C::Photovoltaic),
        ("photovoltaics", C::Photovoltaic),
        ("solar absorber", C::Photovoltaic),
        ("solar cell", C::Photovoltaic),
        ("solar cell absorber", C::Photovoltaic),
        ("pv", C::Photovoltaic),
        // stability
        ("stable", C::Stable),
        ("thermodynamically stable", C::Stable),
        ("low energy", C::Stable),
        ("low formation energy", C::Stable),
        ("negative formation energy", C::Stable),
        ("synthesizable", C::Stable),
        ("synthesisable", C::Stable),
        ("on the hull", C::Stable),
        ("on the convex hull", C::Stable),
        ("ground state", C::Stable),
        ("energetically favorable", C::Stable),
        ("energetically favourable", C::Stable),
        ("low lying", C::Stable),
        // novelty
        ("novel", C::Novel(true)),
        ("new", C::Novel(true)),
        ("unknown", C::Novel(true)),
        ("undiscovered", C::Novel(true)),
        ("unreported", C::Novel(true)),
        ("hypothetical", C::Novel(true)),
        ("unexplored", C::Novel(true)),
        ("previously unknown", C::Novel(true)),
        ("not yet known", C::Novel(true)),
        ("not yet reported", C::Novel(true)),
        ("not yet synthesized", C::Novel(true)),
        ("known", C::Novel(false)),
        ("existing", C::Novel(false)),
        ("reported", C::Novel(false)),
        ("well known", C::Novel(false)),
        ("already known", C::Novel(false)),
        ("previously reported", C::Novel(false)),
        ("experimentally known", C::Novel(false)),
    ];
    // Element names ("lithium") and common variants.
    for el in Element::all() {
        let name: &'static str = Box::leak(el.name().to_lowercase().into_boxed_str());
        v.push((name, C::Element(el)));
    }
    for (alias, sym) in
        [("aluminum", "Al"), ("sulphur", "S"), ("cesium", "Cs"), ("caesium", "Cs"), ("wolfram", "W"), ("niobium", "Nb")]
    {
        if let Some(el) = Element::from_symbol(sym) {
            v.push((alias, C::Element(el)));
        }
    }
    v
}

/// Lookup table: first word -> (phrase words, concept), longest phrase first.
pub(super) struct Vocab {
    by_first: HashMap<&'static str, Vec<(Vec<&'static str>, Concept)>>,
}

impl Vocab {
    pub fn get() -> &'static Vocab {
        static VOCAB: OnceLock<Vocab> = OnceLock::new();
        VOCAB.get_or_init(|| {
            let mut by_first: HashMap<&'static str, Vec<(Vec<&'static str>, Concept)>> = HashMap::new();
            for (phrase, concept) in phrases() {
                let words: Vec<&'static str> = phrase.split(' ').collect();
                by_first.entry(words[0]).or_default().push((words, concept));
            }
            for w in STOP_WORDS {
                by_first.entry(w).or_default().push((vec![w], Concept::Stop));
            }
            for list in by_first.values_mut() {
                // Longest first; among equal lengths the earlier entry (concepts before stop words) wins.
                list.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
            }
            Vocab { by_first }
        })
    }

    /// The longest phrase starting at `words[0]`, as (words consumed, concept). Plural `-s`/`-es` forms of the
    /// last word match too ("oxides", "perovskites").
    pub fn longest(&self, words: &[&str]) -> Option<(usize, Concept)> {
        let first = *words.first()?;
        let candidates = self.by_first.get(first).into_iter().chain(
            [first.strip_suffix("es"), first.strip_suffix('s')]
                .into_iter()
                .flatten()
                .filter_map(|f| self.by_first.get(f))
                .filter(|_| first.len() > 3),
        );
        let mut best: Option<(usize, Concept)> = None;
        for list in candidates {
            for (phrase, concept) in list {
                let n = phrase.len();
                if n > words.len() || best.as_ref().is_some_and(|(b, _)| *b >= n) {
                    continue;
                }
                let matches = phrase.iter().zip(words).enumerate().all(|(i, (p, w))| {
                    p == w
                        || (i + 1 == n && (w.strip_suffix('s') == Some(p) || w.strip_suffix("es") == Some(p)))
                        || (i == 0 && n > 1 && (w.strip_suffix('s') == Some(p)))
                });
                if matches {
                    best = Some((n, concept.clone()));
                }
            }
        }
        best
    }

    /// Whether a lowercase word is part of the vocabulary (so a capitalised sentence-initial `No` / `In` / `As` is
    /// read as the word, not as an element symbol or formula).
    pub fn is_word(&self, lower: &str) -> bool {
        self.longest(&[lower]).is_some()
    }
}
