//! Numbers in a prompt: "band gap between 1 and 2 eV", "around 1.5 eV", "> 3 eV", "at most 4 elements", "1-2 eV".
//! A number binds to the comparator just before it and to the unit just after it; without a unit it is a band gap
//! when the prompt talks about a gap, and otherwise reported as an unknown word (never guessed).

use super::super::vocab::{Cmp, Concept, AROUND_TOLERANCE_EV};
use super::super::{number_word, PromptError};
use super::Reader;

/// What a number measures.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Gap,
    Elements,
}

/// Comparator phrases that exclude the bound itself ("more than 3 elements" = at least 4).
fn is_strict(phrase: &str) -> bool {
    let p = phrase.to_lowercase();
    let inclusive = p.starts_with("no ") || p.starts_with("not ") || p.contains('=') || p.contains("least");
    !inclusive
        && (p.contains("than") || ["above", "over", "under", "below", "exceeding", ">", "<"].contains(&p.as_str()))
}

impl Reader<'_> {
    /// Reads a number (or a range) starting at `i`; returns the next unread index.
    pub(super) fn number(&mut self, i: usize) -> Result<usize, PromptError> {
        let lower = |k: usize| self.toks.get(k).map(|t| t.lower.as_str()).unwrap_or("");
        let v1 = number_word(lower(i)).unwrap_or(0.0);
        let mut j = i + 1;
        let cmp = self.pending_cmp.take();
        let mut v2 = None;
        let joins_range = |w: &str| {
            matches!(w, "to" | "through") || (w == "and" && cmp.as_ref().is_some_and(|(c, _)| *c == Cmp::Between))
        };
        // "1 to 2 eV", and "between 1 eV and 2 eV" (a unit after each bound).
        let unit_after_first = matches!(self.vocab.longest(&[lower(j)]), Some((_, Concept::ElectronVolt)));
        let k = j + usize::from(unit_after_first);
        if joins_range(lower(k)) {
            if let Some(v) = number_word(lower(k + 1)) {
                v2 = Some(v);
                j = k + 2;
            }
        }
        if matches!(lower(j), "different" | "distinct" | "unique" | "chemical") {
            j += 1;
        }
        let unit = match self.vocab.longest(&[lower(j)]) {
            Some((_, Concept::ElectronVolt)) => Some(Unit::Gap),
            Some((_, Concept::ElementsUnit)) => Some(Unit::Elements),
            _ => None,
        };
        let unit = match unit {
            Some(u) => {
                j += 1;
                u
            }
            None if self.gap_context => Unit::Gap,
            None => {
                // A bare number with nothing to attach to: report it rather than guess.
                self.unknown.push(self.phrase(i, j));
                return Ok(j);
            }
        };
        let cmp_phrase = cmp.as_ref().map(|(_, p)| p.clone());
        let phrase = match &cmp_phrase {
            Some(p) => format!("{p} {}", self.phrase(i, j)),
            None => self.phrase(i, j),
        };
        let (lo, hi) = match (v2, cmp.map(|(c, _)| c)) {
            (Some(b), _) => (Some(v1.min(b)), Some(v1.max(b))),
            (None, Some(Cmp::AtLeast)) => (Some(v1), None),
            (None, Some(Cmp::AtMost)) => (None, Some(v1)),
            (None, _) => match unit {
                Unit::Gap => (Some((v1 - AROUND_TOLERANCE_EV).max(0.0)), Some(v1 + AROUND_TOLERANCE_EV)),
                Unit::Elements => (Some(v1), Some(v1)),
            },
        };
        match unit {
            Unit::Gap => {
                self.set_gap(lo, hi, &phrase)?;
                let label = match (lo, hi) {
                    (Some(a), Some(b)) => format!("band gap {a}-{b} eV"),
                    (Some(a), None) => format!("band gap >= {a} eV"),
                    (None, Some(b)) => format!("band gap <= {b} eV"),
                    (None, None) => "band gap".to_string(),
                };
                self.note(&phrase, label);
            }
            Unit::Elements => {
                let strict = v2.is_none() && cmp_phrase.as_deref().is_some_and(is_strict);
                let to_count = |v: f64| -> Result<u32, PromptError> {
                    if v.fract() != 0.0 || !(1.0..=20.0).contains(&v) {
                        let why = format!("{v} is not a number of elements between 1 and 20");
                        return Err(PromptError::InvalidValue { phrase: phrase.clone(), why });
                    }
                    Ok(v as u32)
                };
                let lo = lo.map(to_count).transpose()?.map(|v| v + u32::from(strict));
                let hi = hi.map(to_count).transpose()?.map(|v| v.saturating_sub(u32::from(strict)));
                if hi == Some(0) {
                    let why = "a formula has at least one element".to_string();
                    return Err(PromptError::InvalidValue { phrase, why });
                }
                self.set_count(lo, hi, &phrase)?;
            }
        }
        self.mode = super::Mode::Neutral;
        Ok(j)
    }
}
