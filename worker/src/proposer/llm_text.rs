//! What every LLM backend shares: the retrieval of known examples that match a task, the chat prompt built from
//! them, the parser that pulls formulae out of free LLM text, and the filters its candidates go through.
//!
//! Prompt. A system message fixes the role and the answer format (one formula per line, nothing else); the user
//! message states the request as written, the interpreted constraints in plain words, up to `k` retrieved known
//! formulae that satisfy the constraints (context first: `task.context` and the user's "like X" examples), and the
//! exclusion list (the known formulae shown plus `task.exclude` and the user's excluded formulae, at most
//! [`MAX_EXCLUSIONS_SHOWN`]), then asks for N formulae.
//!
//! Parser ([`extract_formulas`]). LLMs answer in numbered lists, bullets, markdown tables, bold, "Formula: X", prose,
//! with Unicode subscripts (`Li₂O`), LaTeX (`Li$_2$O`, `\mathrm{Li_{2}O}`) or HTML (`Li<sub>2</sub>O`). The text is
//! normalised (subscripts to digits; `$ _ { } * \`` and the LaTeX/HTML markup dropped so the parts of a formula join;
//! `<think>...</think>` blocks removed), split into runs of `[A-Za-z0-9().]`, and each run is cleaned (leading list
//! numbers like `1.` / `2)`, trailing full stops, unbalanced or wrapping brackets). A run is a formula when
//! pymatgen's parser reads it and:
//! - it has at least two elements (so the words `I`, `In`, `As`, `No`, `Be`, `He` and bare symbols are not formulae;
//!   genms proposes compounds);
//! - its reduced composition is integer (doped / fractional notations such as `Li0.5CoO2` are dropped: the structure
//!   model needs an integer cell);
//! - it is not an all-capital word without digits of three or more letters (`HOW`, `NOTE`, `SHE`, `KOH`, `DFT`),
//!   nor one of the two-letter English words that happen to parse (`NO`, `ON`, `IN`, `IS`, `OF`, `IF`, `SO`, `US`,
//!   `BY`, `OK`, `OH`, `HI`); other all-capital pairs such as `BN`, `WC`, `CO` are kept as written and left to the
//!   filters (`CO` is a formula; whether it is wanted is the constraints' business);
//! - it does not use pymatgen's isotope symbols `D` / `T` (so `DO`, `TO`, `IT` are not read as water or HI).
//!
//! Candidates are deduplicated by reduced formula, in order of first appearance; each keeps the byte span of its
//! first occurrence so a backend that returns token log-probabilities can score it.
//!
//! Filters ([`Filters`]): the embedded backend's — parses, `constraints.check_composition`, charge neutral by
//! `diffcsp_smact_validity(.., Smact14)`, novel (reduced formula not in the known list) when `constraints.novel`, not
//! in `task.exclude` / the user's excluded formulae, distinct.

use std::collections::HashSet;
use std::ops::Range;

use genms_shared::constraints::{Constraints, ElectronicClass};
use genms_shared::search::ProposeTask;
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::{Composition, OxidationStates};
use serde::Serialize;

use super::data::KnownData;
use super::substitution::label_weight;
use super::ProposeStats;
use crate::diffusion::rng::Rng;

/// Most excluded formulae listed in a prompt (the filters enforce the full list whatever the prompt shows).
pub const MAX_EXCLUSIONS_SHOWN: usize = 300;

/// One chat message (`role` is `system` or `user`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: &'static str,
    pub content: String,
}

/// A formula found in LLM text: its reduced formula and the byte span of its first occurrence in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFormula {
    pub formula: String,
    pub span: Range<usize>,
}

/// Two-letter English words that parse as formulae (capitalised as in a shouted or title-case heading).
const ENGLISH_PAIRS: &[&str] = &["NO", "ON", "IN", "IS", "OF", "IF", "SO", "US", "BY", "OK", "OH", "HI"];

/// Markup removed before splitting (LaTeX / HTML wrappers around formulae).
const MARKUP: &[&str] =
    &["<sub>", "</sub>", "<sup>", "</sup>", "<b>", "</b>", "<i>", "</i>", "\\mathrm", "\\textrm", "\\text", "\\rm"];

/// Normalised text with, for every byte, the byte offset in the original it came from.
struct Normalised {
    text: String,
    origin: Vec<usize>,
}

fn normalise(text: &str) -> Normalised {
    let mut out = Normalised { text: String::with_capacity(text.len()), origin: Vec::with_capacity(text.len()) };
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with("<think>") {
            i += rest.find("</think>").map_or(rest.len(), |e| e + "</think>".len());
            continue;
        }
        if let Some(m) = MARKUP.iter().find(|m| rest.starts_with(**m)) {
            i += m.len();
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        let len = c.len_utf8();
        let mapped = match c {
            '\u{2080}'..='\u{2089}' => char::from_digit(c as u32 - 0x2080, 10),
            '$' | '_' | '{' | '}' | '*' | '`' => None,
            _ => Some(c),
        };
        if let Some(m) = mapped {
            out.text.push(m);
            out.origin.extend(std::iter::repeat_n(i, m.len_utf8()));
        }
        i += len;
    }
    out
}

fn is_formula_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | '.')
}

/// Cleans one run into the byte range of its formula part (relative to the run), or `None`.
fn clean(run: &str) -> Option<Range<usize>> {
    let b = run.as_bytes();
    let (mut s, mut e) = (0, b.len());
    // Leading list numbers and punctuation: "1.", "2)", "3.LiF".
    while s < e && (b[s].is_ascii_digit() || matches!(b[s], b'.' | b')')) {
        s += 1;
    }
    while e > s && b[e - 1] == b'.' {
        e -= 1;
    }
    loop {
        let part = &run[s..e];
        let open = part.matches('(').count();
        let close = part.matches(')').count();
        if part.starts_with('(') && (open > close || (part.ends_with(')') && wraps(part))) {
            s += 1;
            if part.ends_with(')') && open == close {
                e -= 1;
            }
        } else if part.ends_with(')') && close > open {
            e -= 1;
        } else {
            break;
        }
        while e > s && b[e - 1] == b'.' {
            e -= 1;
        }
    }
    (s < e && (b[s].is_ascii_uppercase() || b[s] == b'(')).then_some(s..e)
}

/// Whether the brackets at both ends of `part` enclose everything ("(LiFePO4)", not "(PO4)2" nor "(Li)(Fe)").
fn wraps(part: &str) -> bool {
    let mut depth = 0i32;
    for (i, c) in part.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 && i + 1 < part.len() {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// The reduced formula of `token` when it reads as a compound formula (see the module notes).
pub fn formula_of(token: &str) -> Option<String> {
    let letters_only = token.chars().all(|c| c.is_ascii_alphabetic());
    if letters_only
        && token.chars().all(|c| c.is_ascii_uppercase())
        && (token.len() >= 3 || ENGLISH_PAIRS.contains(&token))
    {
        return None;
    }
    // pymatgen reads D and T as hydrogen isotopes: "DO", "TO", "IT" would become water and HI.
    let b = token.as_bytes();
    let isotope =
        (0..b.len()).any(|i| matches!(b[i], b'D' | b'T') && !b.get(i + 1).is_some_and(u8::is_ascii_lowercase));
    if isotope {
        return None;
    }
    let comp = Composition::parse(token).ok()?;
    if comp.len() < 2 || comp.reduced_integer_counts().is_none() {
        return None;
    }
    Some(comp.reduced_formula())
}

/// Every distinct formula in `text`, in order of first appearance (see the module notes).
pub fn extract_formulas(text: &str) -> Vec<FoundFormula> {
    let norm = normalise(text);
    let mut out: Vec<FoundFormula> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let t = norm.text.as_str();
    let mut i = 0;
    while i < t.len() {
        let Some(c) = t[i..].chars().next() else { break };
        if !is_formula_char(c) {
            i += c.len_utf8();
            continue;
        }
        let end = t[i..].find(|c: char| !is_formula_char(c)).map_or(t.len(), |e| i + e);
        if let Some(r) = clean(&t[i..end]) {
            let (s, e) = (i + r.start, i + r.end);
            if let Some(formula) = formula_of(&t[s..e]) {
                if seen.insert(formula.clone()) {
                    let start = norm.origin[s];
                    let last = norm.origin[e - 1];
                    let stop = last + text[last..].chars().next().map_or(1, char::len_utf8);
                    out.push(FoundFormula { formula, span: start..stop });
                }
            }
        }
        i = end;
    }
    out
}

/// Sum of the log-probabilities of the tokens that overlap `span`; `tokens` are `(text, logprob)` in order and must
/// concatenate to the text the span refers to (otherwise `None`).
pub fn span_logprob(text: &str, tokens: &[(String, f64)], span: &Range<usize>) -> Option<f64> {
    let mut pos = 0;
    let mut sum = 0.0;
    let mut hit = false;
    for (tok, lp) in tokens {
        let end = pos + tok.len();
        if text.get(pos..end) != Some(tok.as_str()) {
            return None;
        }
        if end > span.start && pos < span.end {
            sum += lp;
            hit = true;
        }
        pos = end;
    }
    (hit && sum.is_finite()).then_some(sum.min(0.0))
}

fn symbols(els: &[genms_shared::Element]) -> String {
    els.iter().map(|e| e.symbol()).collect::<Vec<_>>().join(", ")
}

/// The interpreted constraints in plain words, one per line.
pub fn describe_constraints(c: &Constraints) -> Vec<String> {
    let mut lines = Vec::new();
    if !c.required_elements.is_empty() {
        lines.push(format!("must contain every one of: {}", symbols(&c.required_elements)));
    }
    for group in &c.required_any {
        lines.push(format!("must contain at least one of: {}", symbols(group)));
    }
    if !c.excluded_elements.is_empty() {
        lines.push(format!("must not contain any of: {}", symbols(&c.excluded_elements)));
    }
    if let Some(pool) = &c.element_pool {
        lines.push(format!("may only use the elements: {}", symbols(pool)));
    }
    if let Some(f) = c.family {
        let name = f.name().replace('_', " ");
        lines.push(format!("structural family: {name}, stoichiometry {} per formula unit", f.anonymized_formula()));
    }
    if !c.anions.is_empty() {
        lines.push(format!("anion: at least one of {}", symbols(&c.anions)));
    }
    match (c.min_elements, c.max_elements) {
        (Some(a), Some(b)) if a == b => lines.push(format!("exactly {a} distinct elements")),
        (Some(a), Some(b)) => lines.push(format!("{a} to {b} distinct elements")),
        (Some(a), None) => lines.push(format!("at least {a} distinct elements")),
        (None, Some(b)) => lines.push(format!("at most {b} distinct elements")),
        (None, None) => {}
    }
    match c.electronic {
        Some(ElectronicClass::Metal) => lines.push("electronic class: metal".into()),
        Some(ElectronicClass::Semiconductor) => lines.push("electronic class: semiconductor".into()),
        Some(ElectronicClass::Insulator) => lines.push("electronic class: insulator".into()),
        None => {}
    }
    match (c.band_gap_min, c.band_gap_max) {
        (Some(a), Some(b)) => lines.push(format!("band gap between {a} and {b} eV")),
        (Some(a), None) => lines.push(format!("band gap at least {a} eV")),
        (None, Some(b)) => lines.push(format!("band gap at most {b} eV")),
        (None, None) => {}
    }
    if c.stable {
        lines.push("thermodynamically stable (low formation energy)".into());
    }
    lines.push(if c.novel { "new: not a known material".into() } else { "known materials are acceptable".into() });
    if !c.excluded_formulas.is_empty() {
        lines.push(format!("explicitly excluded: {}", c.excluded_formulas.join(", ")));
    }
    lines
}

/// Up to `k` known formulae that fit the task, best-matching first: the task's context and the user's examples,
/// then known formulae that satisfy every formula constraint and whose band-gap / metal labels fit, then (when too
/// few) ones with the same family, anion and element count; only when neither exists, any formula free of the
/// excluded elements. Deterministic for a seed.
pub(crate) fn retrieve_examples(data: &KnownData, task: &ProposeTask, k: usize) -> Vec<String> {
    let c = &task.constraints;
    let mut out: Vec<String> = Vec::new();
    for f in task.context.iter().chain(&c.examples) {
        if let Ok(comp) = Composition::parse(f) {
            let r = comp.reduced_formula();
            if !out.contains(&r) && out.len() < k {
                out.push(r);
            }
        }
    }
    let shape = Constraints {
        required_elements: Vec::new(),
        required_any: Vec::new(),
        element_pool: None,
        excluded_formulas: Vec::new(),
        ..c.clone()
    };
    let open =
        Constraints { family: None, anions: Vec::new(), min_elements: None, max_elements: None, ..shape.clone() };
    let mut tiers: [Vec<(u64, String)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut rng = Rng::from_keys(&[task.seed, 0x11e7_e8a3]);
    for p in &data.parents {
        let key = rng.next_u64();
        let Ok(comp) = Composition::from_elements(p.sites.iter().map(|(e, n)| (*e, f64::from(*n)))) else {
            continue;
        };
        let tier = if label_weight(c, p) >= 1.0 && c.check_composition(&comp).is_ok() {
            0
        } else if shape.check_composition(&comp).is_ok() {
            1
        } else if tiers[0].is_empty() && tiers[1].is_empty() && open.check_composition(&comp).is_ok() {
            2
        } else {
            continue;
        };
        tiers[tier].push((key, comp.reduced_formula()));
    }
    if !(tiers[0].is_empty() && tiers[1].is_empty()) {
        tiers[2].clear();
    }
    for mut tier in tiers {
        tier.sort_unstable();
        for (_, f) in tier {
            if out.len() >= k {
                return out;
            }
            if !out.contains(&f) && !c.excluded_formulas.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// The formulae the prompt tells the model not to propose: the known examples shown (when novelty is asked), the
/// task's exclusions and the user's excluded formulae, then `extra` (earlier answers), at most
/// [`MAX_EXCLUSIONS_SHOWN`].
pub fn exclusion_list(task: &ProposeTask, examples: &[String], extra: &[String]) -> Vec<String> {
    let shown = if task.constraints.novel { examples } else { &[] };
    let mut out: Vec<String> = Vec::new();
    let all = task.constraints.excluded_formulas.iter().chain(&task.exclude).chain(shown).chain(extra);
    for f in all {
        if out.len() >= MAX_EXCLUSIONS_SHOWN {
            break;
        }
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// The chat messages asking for `ask` formulae (see the module notes).
pub fn build_messages(task: &ProposeTask, examples: &[String], exclusions: &[String], ask: u32) -> Vec<ChatMessage> {
    let system = "You are an expert solid-state chemist who proposes new inorganic crystalline materials. \
                  Answer with chemical formulae only, one per line, written like LiFePO4 or Ca3Al2Si3O12 (plain \
                  ASCII, no subscripts, no charges, no fractional or doped compositions), most promising first, with \
                  no numbering, explanations or other text.";
    let mut user = String::new();
    let request =
        if task.prompt.trim().is_empty() { "new inorganic crystalline materials" } else { task.prompt.trim() };
    user.push_str(&format!("Request: {request}\n\nConstraints every formula must satisfy:\n"));
    for line in describe_constraints(&task.constraints) {
        user.push_str(&format!("- {line}\n"));
    }
    user.push_str("- charge balanced with common oxidation states\n");
    if !examples.is_empty() {
        user.push_str("\nKnown materials that fit the request (for inspiration");
        user.push_str(if task.constraints.novel { "; do not repeat them):\n" } else { "):\n" });
        for e in examples {
            user.push_str(e);
            user.push('\n');
        }
    }
    if !exclusions.is_empty() {
        user.push_str("\nDo not propose any of these formulae:\n");
        user.push_str(&exclusions.join(", "));
        user.push('\n');
    }
    let novel = if task.constraints.novel { "new, not yet known " } else { "" };
    user.push_str(&format!(
        "\nPropose {ask} distinct {novel}chemical formulae that satisfy the constraints, one per line."
    ));
    vec![ChatMessage { role: "system", content: system.to_string() }, ChatMessage { role: "user", content: user }]
}

/// The shared filters with their counters (see the module notes).
pub(crate) struct Filters<'a> {
    c: &'a Constraints,
    known: &'a HashSet<Box<str>>,
    excluded: HashSet<String>,
    seen: HashSet<String>,
    pub stats: ProposeStats,
}

impl<'a> Filters<'a> {
    pub fn new(task: &'a ProposeTask, known: &'a HashSet<Box<str>>) -> Filters<'a> {
        let excluded = task
            .exclude
            .iter()
            .chain(&task.constraints.excluded_formulas)
            .map(|f| Composition::parse(f.trim()).map(|c| c.reduced_formula()).unwrap_or_else(|_| f.trim().into()))
            .collect();
        Filters { c: &task.constraints, known, excluded, seen: HashSet::new(), stats: ProposeStats::default() }
    }

    /// The reduced formula when `formula` passes every filter; counts it (once per distinct reduced formula).
    pub fn check(&mut self, formula: &str) -> Option<String> {
        let Ok(comp) = Composition::parse(formula) else {
            self.stats.drawn += 1;
            return None;
        };
        let reduced = comp.reduced_formula();
        if !self.seen.insert(reduced.clone()) {
            return None;
        }
        self.stats.drawn += 1;
        let integer = comp.reduced_integer_counts().is_some();
        let satisfies = integer && self.c.check_composition(&comp).is_ok();
        let neutral = integer && diffcsp_smact_validity(&comp, OxidationStates::Smact14);
        let novel = !self.known.contains(reduced.as_str());
        self.stats.satisfies_constraints += u64::from(satisfies);
        self.stats.charge_neutral += u64::from(neutral);
        self.stats.novel += u64::from(novel);
        let ok = satisfies && neutral && (novel || !self.c.novel) && !self.excluded.contains(&reduced);
        self.stats.accepted += u64::from(ok);
        ok.then_some(reduced)
    }
}

#[cfg(test)]
mod tests;
