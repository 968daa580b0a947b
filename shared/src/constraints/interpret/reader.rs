//! The state machine of prompt interpretation: walks the tokens, applies each concept under the current trigger mode,
//! remembers which phrase set each constraint (so a contradiction names both sides), then checks the result.

use super::vocab::{Class, Cmp, Concept, Mode, Vocab, NONMETAL_MIN_GAP_EV, PV_GAP_EV};
use super::{contradiction, family_pattern, formula_of, is_pronoun_i, number_word, Interpretation, PromptError, Tok};
use crate::constraints::{ElectronicClass, Family};
use crate::Element;

/// A single capital letter naming a crystallographic site: `A` / `B` / `X` / `M` followed by "site(s)".
fn is_site_label(toks: &[Tok], i: usize) -> bool {
    matches!(toks[i].text.as_str(), "A" | "B" | "C" | "X" | "M" | "A'" | "B'")
        && toks.get(i + 1).is_some_and(|n| matches!(n.lower.as_str(), "site" | "sites" | "sublattice"))
}

/// A value and the phrase that set it.
type Said<T> = Option<(T, String)>;

pub(super) struct Reader<'a> {
    toks: &'a [Tok],
    vocab: &'static Vocab,
    mode: Mode,
    /// Nothing applied since the last trigger: "not a metal" negates the class, "no lead perovskite" does not.
    fresh: bool,
    /// The last excluded item was an anion type: "no oxides or sulfides" excludes both, "without cobalt oxide" does
    /// not exclude oxygen.
    anion_list: bool,
    pending_cmp: Option<(Cmp, String)>,
    gap_context: bool,
    unknown: Vec<String>,
    recognised: Vec<(String, String)>,
    required: Vec<(Element, String)>,
    excluded: Vec<(Element, String)>,
    pool: Option<(Vec<Element>, String)>,
    required_any: Vec<(Vec<Element>, String)>,
    anions: Vec<(Element, String)>,
    family: Said<Family>,
    min_el: Said<u32>,
    max_el: Said<u32>,
    electronic: Said<ElectronicClass>,
    nonmetal: Option<String>,
    gap_min: Said<f64>,
    gap_max: Said<f64>,
    stable: bool,
    novel: Said<bool>,
    excluded_formulas: Vec<String>,
    examples: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(toks: &'a [Tok]) -> Reader<'a> {
        let vocab = Vocab::get();
        // Numbers without a unit are band gaps only when the prompt talks about a gap.
        let gap_context = toks.iter().any(|t| {
            let words = [t.lower.as_str()];
            matches!(vocab.longest(&words), Some((_, Concept::GapWord))) || t.lower.contains("gap") || t.lower == "ev"
        });
        Reader {
            toks,
            vocab,
            mode: Mode::Neutral,
            fresh: false,
            anion_list: false,
            pending_cmp: None,
            gap_context,
            unknown: Vec::new(),
            recognised: Vec::new(),
            required: Vec::new(),
            excluded: Vec::new(),
            pool: None,
            required_any: Vec::new(),
            anions: Vec::new(),
            family: None,
            min_el: None,
            max_el: None,
            electronic: None,
            nonmetal: None,
            gap_min: None,
            gap_max: None,
            stable: false,
            novel: None,
            excluded_formulas: Vec::new(),
            examples: Vec::new(),
        }
    }

    fn phrase(&self, from: usize, to: usize) -> String {
        let mut words: Vec<&str> = Vec::new();
        for t in &self.toks[from..to] {
            if words.last() != Some(&t.orig.as_str()) {
                words.push(&t.orig);
            }
        }
        words.join(" ")
    }

    fn note(&mut self, phrase: &str, concept: impl Into<String>) {
        self.recognised.push((phrase.to_string(), concept.into()));
    }

    pub fn run(mut self) -> Result<Interpretation, PromptError> {
        let mut i = 0;
        while i < self.toks.len() {
            i = self.step(i)?;
        }
        self.finish()
    }

    /// Reads the token(s) at `i`; returns the index of the next unread token.
    fn step(&mut self, i: usize) -> Result<usize, PromptError> {
        let t = &self.toks[i];
        let as_word = t.sentence_start && t.text.chars().next().is_some_and(|c| c.is_uppercase()) && {
            let l = t.lower.as_str();
            self.vocab.is_word(l)
        };
        if !as_word && !is_pronoun_i(self.toks, i) {
            if is_site_label(self.toks, i) {
                // "Ti on the B site", "A-site cations": a crystallographic site, not boron / an element.
                let phrase = self.phrase(i, i + 2);
                self.note(&phrase, "site label (no constraint)");
                return Ok(i + 2);
            }
            if let Some(el) = Element::from_symbol(&t.text) {
                let phrase = t.orig.clone();
                self.apply_elements(&[el], &phrase, None);
                return Ok(i + 1);
            }
            if let Some(comp) = formula_of(&t.text) {
                let phrase = t.orig.clone();
                self.apply_formula(&comp, &phrase, t.prototype);
                return Ok(i + 1);
            }
            if let Some((family, anion)) = family_pattern(&t.text) {
                let phrase = t.orig.clone();
                self.set_family(family, &phrase)?;
                if let Some(a) = anion {
                    self.add_anions(&[a], &phrase, "anion");
                }
                self.mode = Mode::Neutral;
                return Ok(i + 1);
            }
        }
        if number_word(&t.lower).is_some() && (super::is_number(&t.lower) || self.unit_follows(i)) {
            return self.number(i);
        }
        let words: Vec<&str> = self.toks[i..].iter().take(6).map(|t| t.lower.as_str()).collect();
        let Some((n, concept)) = self.vocab.longest(&words) else {
            self.unknown.push(t.text.clone());
            self.mode = Mode::Neutral;
            self.pending_cmp = None;
            return Ok(i + 1);
        };
        let phrase = self.phrase(i, i + n);
        self.apply(concept, &phrase, i + n)?;
        Ok(i + n)
    }

    /// Whether a number word ("three") is followed by an element-count unit.
    fn unit_follows(&self, i: usize) -> bool {
        self.toks.get(i + 1).is_some_and(|n| {
            matches!(self.vocab.longest(&[n.lower.as_str()]), Some((_, Concept::ElementsUnit | Concept::ElectronVolt)))
        })
    }

    fn apply(&mut self, concept: Concept, phrase: &str, next: usize) -> Result<(), PromptError> {
        let keep_mode = matches!(concept, Concept::Connector | Concept::Stop | Concept::To | Concept::Compare(_));
        let negated = self.mode == Mode::Exclude && self.fresh;
        match concept {
            Concept::Element(el) => {
                self.apply_elements(&[el], phrase, None);
                return Ok(());
            }
            Concept::Class(class) => {
                // "metal oxide" / "metal halide": "metal" names the cation, not the electronic class (handled in
                // the Electronic arm); a class word keeps the mode so lists like "no Pb or toxic elements" work.
                self.apply_elements(&class.elements(), phrase, Some(class));
                return Ok(());
            }
            Concept::ExcludeClass(class) => {
                for el in class.elements() {
                    self.excluded.push((el, phrase.to_string()));
                }
                self.note(phrase, format!("exclude {}s", class.name()));
            }
            Concept::Anion(name, symbols) | Concept::MixedAnion(name, symbols) => {
                let els: Vec<Element> = symbols.iter().filter_map(|s| Element::from_symbol(s)).collect();
                let mixed = matches!(concept, Concept::MixedAnion(..));
                self.fresh = false;
                if self.mode == Mode::Exclude && !(negated || self.anion_list) {
                    self.mode = Mode::Neutral;
                }
                match self.mode {
                    Mode::Exclude if negated || self.anion_list => {
                        self.anion_list = true;
                        for &el in &els {
                            self.excluded.push((el, phrase.to_string()));
                        }
                        self.note(phrase, format!("exclude {name} ({})", symbols.join(", ")));
                    }
                    Mode::Pool | Mode::PoolRequire => self.extend_pool(&els, phrase),
                    _ if mixed => {
                        for &el in &els {
                            self.required.push((el, phrase.to_string()));
                        }
                        self.note(phrase, format!("mixed anion {name}: requires {}", symbols.join(", ")));
                    }
                    _ => self.add_anions(&els, phrase, name),
                }
                return Ok(());
            }
            Concept::Family(f) => {
                if negated {
                    self.unknown.push(format!("not {phrase}"));
                } else {
                    self.set_family(f, phrase)?;
                }
            }
            Concept::ElementCount(n) => {
                self.set_count(Some(n), Some(n), phrase)?;
            }
            Concept::MinElementCount(n) => {
                self.set_count(Some(n), None, phrase)?;
            }
            Concept::Electronic(class) => {
                let next_word = self.toks.get(next).map(|t| t.lower.clone()).unwrap_or_default();
                // Only the noun ("metal oxide", "metals halides"): "metallic borides" asks for metals.
                let noun = matches!(phrase.to_lowercase().as_str(), "metal" | "metals");
                let metal_as_cation = class == ElectronicClass::Metal
                    && noun
                    && matches!(self.vocab.longest(&[next_word.as_str()]), Some((_, Concept::Anion(..))));
                if metal_as_cation {
                    self.note(phrase, "metal cation (not an electronic class)");
                    return Ok(());
                }
                match (negated, class) {
                    (true, ElectronicClass::Metal) => self.set_nonmetal(phrase)?,
                    (true, _) => self.unknown.push(format!("not {phrase}")),
                    _ => self.set_electronic(class, phrase)?,
                }
            }
            Concept::NonMetal => self.set_nonmetal(phrase)?,
            Concept::GapWord => self.note(phrase, "band gap"),
            Concept::GapRange(lo, hi, label) => {
                if negated {
                    self.unknown.push(format!("not {phrase}"));
                } else {
                    self.set_gap(lo, hi, phrase)?;
                    self.note(phrase, format!("band gap {label}"));
                    if hi.is_some() && lo.is_none() && self.electronic.is_none() {
                        // A narrow gap is still a gap: the material is not a metal.
                        self.electronic = Some((ElectronicClass::Semiconductor, phrase.to_string()));
                    }
                }
            }
            Concept::Photovoltaic => {
                self.set_electronic(ElectronicClass::Semiconductor, phrase)?;
                self.set_gap(Some(PV_GAP_EV.0), Some(PV_GAP_EV.1), phrase)?;
                self.note(phrase, format!("photovoltaic absorber: band gap {}-{} eV", PV_GAP_EV.0, PV_GAP_EV.1));
            }
            Concept::Stable => {
                if negated {
                    self.unknown.push(format!("not {phrase}"));
                } else {
                    self.stable = true;
                    self.note(phrase, "stable (low formation energy)");
                }
            }
            Concept::Novel(v) => {
                let v = if negated { !v } else { v };
                if let Some((old, old_phrase)) = &self.novel {
                    if *old != v {
                        return Err(contradiction(old_phrase, phrase, "novel and known materials at once"));
                    }
                }
                self.novel = Some((v, phrase.to_string()));
                self.note(phrase, if v { "novel" } else { "known materials allowed" });
            }
            Concept::Trigger(m) => {
                // "containing only": the pool also requires its elements only when the phrase says "composed of".
                self.mode = m;
                self.fresh = true;
                self.anion_list = false;
                self.pending_cmp = None;
                return Ok(());
            }
            Concept::Reset => {
                self.mode = Mode::Neutral;
                self.pending_cmp = None;
                return Ok(());
            }
            Concept::Compare(c) => {
                self.pending_cmp = Some((c, phrase.to_string()));
            }
            Concept::ElectronVolt | Concept::ElementsUnit | Concept::Connector | Concept::To | Concept::Stop => {}
        }
        if !keep_mode {
            self.mode = Mode::Neutral;
            self.pending_cmp = None;
        }
        Ok(())
    }

    fn apply_elements(&mut self, els: &[Element], phrase: &str, class: Option<Class>) {
        self.fresh = false;
        let what = match class {
            Some(c) => format!("{}s", c.name()),
            None => els.iter().map(|e| e.symbol()).collect::<Vec<_>>().join(", "),
        };
        match self.mode {
            Mode::Exclude => {
                for &el in els {
                    self.excluded.push((el, phrase.to_string()));
                }
                self.note(phrase, format!("exclude {what}"));
            }
            Mode::Pool | Mode::PoolRequire => {
                self.extend_pool(els, phrase);
                if self.mode == Mode::PoolRequire && class.is_none() {
                    self.required.extend(els.iter().map(|&e| (e, phrase.to_string())));
                }
            }
            Mode::Neutral | Mode::Require | Mode::Example => {
                if class.is_some() {
                    self.required_any.push((els.to_vec(), phrase.to_string()));
                    self.note(phrase, format!("require one of the {what}"));
                } else {
                    self.required.extend(els.iter().map(|&e| (e, phrase.to_string())));
                    self.note(phrase, format!("require {what}"));
                }
            }
        }
    }

    fn extend_pool(&mut self, els: &[Element], phrase: &str) {
        let pool = self.pool.get_or_insert_with(|| (Vec::new(), phrase.to_string()));
        for &el in els {
            if !pool.0.contains(&el) {
                pool.0.push(el);
            }
        }
        let symbols: Vec<&str> = els.iter().map(|e| e.symbol()).collect();
        self.note(phrase, format!("allowed elements {}", symbols.join(", ")));
    }

    fn add_anions(&mut self, els: &[Element], phrase: &str, name: &str) {
        for &el in els {
            if !self.anions.iter().any(|(a, _)| *a == el) {
                self.anions.push((el, phrase.to_string()));
            }
        }
        let symbols: Vec<&str> = els.iter().map(|e| e.symbol()).collect();
        self.note(phrase, format!("{name}: anion {}", symbols.join(" or ")));
    }

    fn apply_formula(&mut self, comp: &crate::Composition, phrase: &str, prototype: bool) {
        self.fresh = false;
        let reduced = comp.reduced_formula();
        if prototype {
            let pattern = comp.anonymized_formula();
            if let Some(f) = Family::ALL.into_iter().find(|f| f.anonymized_formula() == pattern) {
                // "NaCl-type": the prototype names the family; mode and other constraints are untouched.
                if self.family.is_none() {
                    self.family = Some((f, phrase.to_string()));
                    self.note(phrase, format!("family {} ({reduced} prototype)", f.name()));
                    return;
                }
            }
        }
        if self.mode == Mode::Exclude {
            if !self.excluded_formulas.contains(&reduced) {
                self.excluded_formulas.push(reduced.clone());
            }
            self.note(phrase, format!("exclude formula {reduced}"));
        } else {
            if !self.examples.contains(&reduced) {
                self.examples.push(reduced.clone());
            }
            self.note(phrase, format!("example formula {reduced}"));
        }
    }

    fn set_family(&mut self, f: Family, phrase: &str) -> Result<(), PromptError> {
        if let Some((old, old_phrase)) = &self.family {
            if *old != f {
                return Err(contradiction(old_phrase, phrase, "a formula has one structural family"));
            }
        }
        self.family = Some((f, phrase.to_string()));
        self.note(phrase, format!("family {} ({})", f.name(), f.anonymized_formula()));
        Ok(())
    }

    fn set_count(&mut self, min: Option<u32>, max: Option<u32>, phrase: &str) -> Result<(), PromptError> {
        if let Some(m) = min {
            if let Some((old, p)) = &self.max_el {
                if m > *old {
                    return Err(contradiction(p, phrase, format!("at most {old} elements but at least {m}")));
                }
            }
            self.min_el = Some((m, phrase.to_string()));
        }
        if let Some(m) = max {
            if let Some((old, p)) = &self.min_el {
                if m < *old && p != phrase {
                    return Err(contradiction(p, phrase, format!("at least {old} elements but at most {m}")));
                }
            }
            self.max_el = Some((m, phrase.to_string()));
        }
        let label = match (min, max) {
            (Some(a), Some(b)) if a == b => format!("{a} elements"),
            (Some(a), Some(b)) => format!("{a} to {b} elements"),
            (Some(a), None) => format!("at least {a} elements"),
            (None, Some(b)) => format!("at most {b} elements"),
            (None, None) => return Ok(()),
        };
        self.note(phrase, label);
        Ok(())
    }

    fn set_electronic(&mut self, class: ElectronicClass, phrase: &str) -> Result<(), PromptError> {
        if let Some((old, old_phrase)) = &self.electronic {
            let nonmetals = |c: &ElectronicClass| *c != ElectronicClass::Metal;
            if *old != class {
                if nonmetals(old) && nonmetals(&class) {
                    // "semiconductor or insulator": any non-metal.
                    let first = old_phrase.clone();
                    self.electronic = None;
                    return self.set_nonmetal(&format!("{first} / {phrase}"));
                }
                return Err(contradiction(old_phrase, phrase, "a material is either a metal or not"));
            }
        }
        if class == ElectronicClass::Metal {
            if let Some(p) = &self.nonmetal {
                return Err(contradiction(p, phrase, "non-metal and metal at once"));
            }
        }
        self.electronic = Some((class, phrase.to_string()));
        let name = match class {
            ElectronicClass::Metal => "metal",
            ElectronicClass::Semiconductor => "semiconductor",
            ElectronicClass::Insulator => "insulator",
        };
        self.note(phrase, name);
        Ok(())
    }

    fn set_nonmetal(&mut self, phrase: &str) -> Result<(), PromptError> {
        if let Some((ElectronicClass::Metal, p)) = &self.electronic {
            return Err(contradiction(p, phrase, "metal and non-metal at once"));
        }
        self.nonmetal = Some(phrase.to_string());
        if self.gap_min.as_ref().is_none_or(|(g, _)| *g < NONMETAL_MIN_GAP_EV) {
            self.gap_min = Some((NONMETAL_MIN_GAP_EV, phrase.to_string()));
        }
        self.note(phrase, format!("non-metal (band gap >= {NONMETAL_MIN_GAP_EV} eV)"));
        Ok(())
    }

    fn set_gap(&mut self, lo: Option<f64>, hi: Option<f64>, phrase: &str) -> Result<(), PromptError> {
        for v in [lo, hi].into_iter().flatten() {
            if !(0.0..=20.0).contains(&v) {
                let why = format!("band gap {v} eV is outside 0..20 eV");
                return Err(PromptError::InvalidValue { phrase: phrase.to_string(), why });
            }
        }
        if let Some(lo) = lo {
            self.gap_min = Some((lo, phrase.to_string()));
        }
        if let Some(hi) = hi {
            self.gap_max = Some((hi, phrase.to_string()));
        }
        if let (Some((lo, pl)), Some((hi, ph))) = (&self.gap_min, &self.gap_max) {
            if lo > hi {
                return Err(contradiction(pl, ph, format!("band gap >= {lo} eV and <= {hi} eV")));
            }
        }
        Ok(())
    }
}

mod finish;
mod numbers;
