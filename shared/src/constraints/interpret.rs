//! Rule-based prompt interpretation: a natural-language request ("a lead-free perovskite oxide semiconductor with a
//! band gap between 1 and 2 eV, not CsSnI3") becomes [`Constraints`], with every recognised phrase and every unknown
//! word reported, and contradictions refused with a message naming both sides.
//!
//! How it reads a prompt:
//! 1. Tokens: words split at spaces and punctuation; hyphenated words are opened up ("lead-free" -> `without lead`,
//!    "Li-based" -> `with Li`, "1-2" -> `1 to 2`, "half-Heusler" -> `half heusler`). Element symbols and formulae are
//!    read case-sensitively (`Co` is cobalt, `co` is not), except a capitalised first word that is also a vocabulary
//!    word (`No`, `In`, `As`), which is read as that word.
//! 2. Phrases: the longest vocabulary phrase at each position wins ([`vocab`]); plurals match.
//! 3. A small state machine: triggers ("containing", "without", "only", "like") set how the following elements,
//!    element classes, anion words and formulae apply, until a word that is not part of such a list resets it.
//!    Numbers bind to the comparator before them and the unit after them (`eV` -> band gap, `elements` -> count;
//!    without a unit they belong to the band gap when the prompt talks about a gap).
//! 4. Checks: contradictions are errors ([`PromptError`]).

mod vocab;

use serde::Serialize;
use thiserror::Error;

use crate::constraints::{Constraints, Family};
use crate::{Composition, Element};

/// The result of interpreting a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interpretation {
    pub constraints: Constraints,
    /// Words that are neither vocabulary nor stop words, in prompt order (never silently dropped).
    pub unknown_words: Vec<String>,
    /// (phrase as written, concept it was read as), in prompt order.
    pub recognised: Vec<(String, String)>,
}

/// Why a prompt cannot be interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PromptError {
    #[error("empty prompt: say what to search for, e.g. \"a lead-free perovskite oxide semiconductor\"")]
    Empty,
    #[error("contradiction: '{first}' and '{second}' cannot both hold ({why})")]
    Contradiction { first: String, second: String, why: String },
    #[error("invalid value in '{phrase}': {why}")]
    InvalidValue { phrase: String, why: String },
}

fn contradiction(first: &str, second: &str, why: impl Into<String>) -> PromptError {
    PromptError::Contradiction { first: first.to_string(), second: second.to_string(), why: why.into() }
}

/// One token: its text as written (after splitting), lowercase form, the original word it came from (for reports).
#[derive(Debug, Clone)]
struct Tok {
    text: String,
    lower: String,
    orig: String,
    sentence_start: bool,
    /// Marked "-type" / "-like" / "-structured": a formula here names a structural prototype.
    prototype: bool,
}

fn tok(text: &str, orig: &str, sentence_start: bool) -> Tok {
    Tok { text: text.to_string(), lower: text.to_lowercase(), orig: orig.to_string(), sentence_start, prototype: false }
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    s.parse::<f64>().is_ok_and(f64::is_finite) && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn number_word(s: &str) -> Option<f64> {
    let v = match s {
        "one" => 1.0,
        "two" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        _ => return s.parse::<f64>().ok().filter(|v| v.is_finite() && is_number(s)),
    };
    Some(v)
}

/// Splits the prompt into tokens (see the module notes).
fn tokenize(prompt: &str) -> Vec<Tok> {
    let mut norm = String::with_capacity(prompt.len() + 16);
    for c in prompt.chars() {
        match c {
            '\u{2013}' | '\u{2014}' | '\u{2212}' => norm.push('-'),
            '\u{2265}' => norm.push_str(" >= "),
            '\u{2264}' => norm.push_str(" <= "),
            '\u{2248}' | '~' => norm.push_str(" ~ "),
            ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | '!' | '?' | ':' | '&' => {
                norm.push(' ');
                if matches!(c, ',' | ';' | '!' | '?' | '&') {
                    norm.push(if c == ',' || c == '&' { c } else { '.' });
                    norm.push(' ');
                }
            }
            '>' | '<' => {
                norm.push(' ');
                norm.push(c);
            }
            '=' => norm.push_str("= "),
            _ => norm.push(c),
        }
    }
    let mut out = Vec::new();
    let mut sentence_start = true;
    for raw in suspended_hyphens(&norm) {
        let raw = raw.as_str();
        let (word, ends_sentence) = match raw.strip_suffix('.') {
            Some(w) if !w.is_empty() => (w, true),
            _ => (raw, false),
        };
        if word == "." {
            out.push(tok(".", ".", false));
            sentence_start = true;
            continue;
        }
        let word = word.trim_matches('\'');
        if !word.is_empty() {
            expand(word, sentence_start, &mut out);
            sentence_start = false;
        }
        if ends_sentence {
            out.push(tok(".", ".", false));
            sentence_start = true;
        }
    }
    out
}

/// Whitespace-split words with suspended hyphens completed: "Co- and Ni-free" -> "Co-free and Ni-free",
/// "Li-, Na- or K-based" -> "Li-based, Na-based or K-based".
fn suspended_hyphens(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    for i in (0..words.len()).rev() {
        let w = words[i].trim_end_matches(',');
        if w.len() < 2 || !w.ends_with('-') || w.starts_with('-') {
            continue;
        }
        let suffix = words[i + 1..]
            .iter()
            .take(6)
            .find(|n| !matches!(n.as_str(), "and" | "or" | "," | "&" | "/") && !n.trim_end_matches(',').ends_with('-'))
            .and_then(|n| n.rsplit_once('-').map(|(_, s)| s.to_string()))
            .filter(|s| !s.is_empty());
        if let Some(suffix) = suffix {
            let comma = if words[i].ends_with(',') { "," } else { "" };
            words[i] = format!("{w}{suffix}{comma}");
        }
    }
    words
}

/// Synthetic token closing the reach of a hyphen trigger ("lead-free", "Li-based").
pub(super) const END: &str = "<end>";

/// Opens up one whitespace-separated word into tokens.
fn expand(word: &str, sentence_start: bool, out: &mut Vec<Tok>) {
    // "1.5eV", "3eV"
    let lower = word.to_lowercase();
    if let Some(num) = lower.strip_suffix("ev").filter(|n| is_number(n)) {
        out.push(tok(num, word, sentence_start));
        out.push(tok("eV", word, false));
        return;
    }
    if !word.contains('-') || is_number(word) {
        out.push(tok(word, word, sentence_start));
        return;
    }
    let parts: Vec<&str> = word.split('-').filter(|p| !p.is_empty()).collect();
    let Some((last, prefix)) = parts.split_last() else {
        return;
    };
    let last_lower = last.to_lowercase();
    let push_prefix = |out: &mut Vec<Tok>, prototype: bool| {
        for (i, p) in prefix.iter().enumerate() {
            let mut t = tok(p, word, sentence_start && i == 0);
            t.prototype = prototype;
            out.push(t);
        }
    };
    match last_lower.as_str() {
        _ if prefix.is_empty() => out.push(tok(last, word, sentence_start)),
        // The trigger reaches only the prefix: "lead-free perovskite" does not negate "perovskite".
        "free" => {
            out.push(tok("without", word, false));
            push_prefix(out, false);
            out.push(tok(END, word, false));
        }
        "based" | "containing" | "bearing" | "rich" | "doped" | "substituted" => {
            out.push(tok("with", word, false));
            push_prefix(out, false);
            out.push(tok(END, word, false));
        }
        "type" | "like" | "structured" | "structure" | "prototype" | "derived" => push_prefix(out, true),
        "ev" if prefix.len() == 1 && is_number(prefix[0]) => {
            out.push(tok(prefix[0], word, sentence_start));
            out.push(tok("eV", word, false));
        }
        _ if parts.len() == 2
            && is_number(parts[0])
            && (is_number(parts[1]) || parts[1].to_lowercase().ends_with("ev")) =>
        {
            out.push(tok(parts[0], word, sentence_start));
            out.push(tok("to", word, false));
            expand(parts[1], false, out);
        }
        _ => {
            for (i, p) in parts.iter().enumerate() {
                out.push(tok(p, word, sentence_start && i == 0));
            }
        }
    }
}

/// English words that are also element symbols when capitalised; read as the word in the first position.
fn is_pronoun_i(toks: &[Tok], i: usize) -> bool {
    toks[i].text == "I"
        && (toks[i].sentence_start
            || toks.get(i + 1).is_some_and(|n| {
                matches!(n.lower.as_str(), "want" | "need" | "am" | "would" | "like" | "wish" | "require" | "am'")
            }))
}

/// A formula token: starts upper case, only letters/digits/brackets, parses, and is not a bare element symbol.
fn formula_of(text: &str) -> Option<Composition> {
    let first = text.chars().next()?;
    if !first.is_ascii_uppercase() || !text.chars().all(|c| c.is_ascii_alphanumeric() || "().".contains(c)) {
        return None;
    }
    let comp = Composition::parse(text).ok()?;
    (comp.len() >= 2 || text.chars().any(|c| c.is_ascii_digit())).then_some(comp)
}

/// A stoichiometry pattern such as `ABO3`, `ABX3`, `AB2O4`, `A2B2O7`: placeholders are letters that are not element
/// symbols or `X`/`M`; returns the family and any concrete anion named in it.
fn family_pattern(text: &str) -> Option<(Family, Option<Element>)> {
    let cleaned: String = text.chars().filter(|&c| c != '\'').collect();
    if !cleaned.starts_with('A') || !cleaned.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut parts: Vec<(String, u32)> = Vec::new();
    for c in cleaned.chars() {
        if c.is_ascii_uppercase() {
            parts.push((c.to_string(), 0));
        } else if c.is_ascii_lowercase() {
            parts.last_mut()?.0.push(c);
        } else if let Some(d) = c.to_digit(10) {
            let last = parts.last_mut()?;
            last.1 = last.1 * 10 + d;
        }
    }
    let mut counts: Vec<u32> = Vec::new();
    let mut anion = None;
    for (sym, n) in &parts {
        let n = (*n).max(1);
        let placeholder = matches!(sym.as_str(), "A" | "B" | "C" | "D" | "M" | "X" | "Y" | "Z" | "E" | "R" | "Q" | "T");
        if !placeholder {
            anion = Some(Element::from_symbol(sym)?);
        }
        counts.push(n);
    }
    counts.sort_unstable();
    Family::ALL.into_iter().find(|f| f.site_counts() == counts).map(|f| (f, anion))
}

/// Number of distinct elements of a family.
pub(crate) fn family_element_count(f: Family) -> u32 {
    f.site_counts().len() as u32
}

mod reader;

/// Interprets a prompt (see the module notes). Novelty defaults to true: genms searches for new materials.
pub fn interpret(prompt: &str) -> Result<Interpretation, PromptError> {
    let toks = tokenize(prompt);
    if toks.iter().all(|t| t.text == "." || t.text == ",") {
        return Err(PromptError::Empty);
    }
    reader::Reader::new(&toks).run()
}

#[cfg(test)]
mod tests;
