//! The formula parser behind [`super::Composition::parse`].
//!
//! pymatgen parses with regular expressions: it repeatedly expands the innermost `(...)factor` into `El<amt*factor>`
//! text and finally reads `([A-Z][a-z]*)\s*([-*.e\d]*)` tokens, complaining about whatever text is left over. This is a
//! recursive-descent parser that gives the same amounts, the same summation order and the same element order on every
//! string pymatgen accepts (for real elements), while naming the offending part when it rejects one.
//!
//! Two passes: the pymatgen reading first; if that fails and the string holds a hydrate separator, the hydrate
//! reading (`part SEP [coefficient] part ...`). So the extension never changes the result of a string pymatgen
//! accepts.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{add_amount, CompositionError};
use crate::element::Element;

/// Element by symbol, including pymatgen's named isotopes D and T (which it counts as H).
pub(crate) fn lookup_symbol(sym: &str) -> Option<Element> {
    static TABLE: OnceLock<HashMap<&'static str, Element>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut m: HashMap<&'static str, Element> = Element::all().map(|e| (e.symbol(), e)).collect();
        if let Some(h) = Element::from_z(1) {
            m.insert("D", h);
            m.insert("T", h);
        }
        m
    });
    table.get(sym).copied()
}

/// Characters that separate the parts of a hydrate in the extended reading (besides a spaced `.`).
fn is_hydrate_symbol(c: char) -> bool {
    matches!(c, '·' | '•' | '∙' | '⋅' | '*')
}

fn is_python_space(c: char) -> bool {
    c.is_whitespace()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pymatgen,
    Hydrate,
}

/// Parses `formula` into summed `(element, amount)` pairs in order of first appearance. Amounts are not yet
/// validated against the range limits (the caller does that on the sums, as pymatgen checks its final dict).
pub(crate) fn parse_formula(formula: &str) -> Result<Vec<(Element, f64)>, CompositionError> {
    if formula.trim().is_empty() {
        return Err(CompositionError::Empty);
    }
    // pymatgen: re.match(r"[\s\d.*/]*$") -> "Invalid formula"
    if formula.chars().all(|c| is_python_space(c) || c.is_ascii_digit() || matches!(c, '.' | '*' | '/')) {
        return Err(CompositionError::NoElements { formula: formula.to_string() });
    }
    let first = Parser::new(formula, Mode::Pymatgen).parse();
    if first.is_ok() || !has_hydrate_separator(formula) {
        return first;
    }
    Parser::new(formula, Mode::Hydrate).parse()
}

fn has_hydrate_separator(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| is_hydrate_symbol(c) || (c == '.' && is_spaced_dot(&chars, i)))
}

/// A `.` with whitespace (or the string end) on at least one side cannot be a decimal point of an amount.
fn is_spaced_dot(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j]);
    let after = chars.get(i + 1).copied();
    before.is_none_or(is_python_space) || after.is_none_or(is_python_space)
}

/// Python's `float()` on a string made of `[-.e0-9]` characters: `-?(d+.?d*|.d+)(e-?d+)?`.
fn python_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && b[i] == b'e' {
        i += 1;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
    mode: Mode,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, mode: Mode) -> Parser<'a> {
        // pymatgen deletes every '@' before parsing (so `Fe@2` is Fe2); positions in errors skip them.
        Parser { src, chars: src.chars().filter(|&c| c != '@').collect(), pos: 0, mode }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_python_space) {
            self.pos += 1;
        }
    }

    fn is_separator_at(&self, i: usize) -> bool {
        self.mode == Mode::Hydrate
            && match self.chars.get(i) {
                Some(&c) if is_hydrate_symbol(c) => true,
                Some('.') => is_spaced_dot(&self.chars, i),
                _ => false,
            }
    }

    fn invalid_char(&self, at: usize) -> CompositionError {
        CompositionError::InvalidCharacter {
            ch: self.chars.get(at).copied().unwrap_or(' '),
            position: at,
            formula: self.src.to_string(),
        }
    }

    fn parse(mut self) -> Result<Vec<(Element, f64)>, CompositionError> {
        // pymatgen's get_sym_dict(formula, 1): occurrences summed in text order.
        let mut total: Vec<(Element, f64)> = Vec::new();
        let mut part = 0;
        loop {
            let coefficient = if part == 0 { 1.0 } else { self.coefficient()? };
            let occurrences = self.sequence(None)?;
            if occurrences.is_empty() && (part > 0 || self.mode == Mode::Hydrate) {
                return Err(CompositionError::EmptyHydratePart { part: part + 1, formula: self.src.to_string() });
            }
            for (el, amt) in occurrences {
                add_amount(&mut total, el, amt * coefficient);
            }
            match self.peek() {
                None => break,
                Some(_) if self.is_separator_at(self.pos) => {
                    self.pos += 1;
                    part += 1;
                }
                Some(_) => return Err(self.invalid_char(self.pos)),
            }
        }
        Ok(total)
    }

    /// Optional leading count of a hydrate part (`5` in `·5H2O`).
    fn coefficient(&mut self) -> Result<f64, CompositionError> {
        self.skip_space();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') && !self.is_separator_at(self.pos) {
            self.pos += 1;
        }
        if start == self.pos {
            return Ok(1.0);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value = python_float(&text)
            .ok_or_else(|| CompositionError::InvalidAmount { amount: text.clone(), formula: self.src.to_string() })?;
        if !value.is_finite() {
            return Err(CompositionError::InvalidAmount { amount: text, formula: self.src.to_string() });
        }
        Ok(value)
    }

    /// Reads element tokens and bracket groups until the end, a separator, or the closing bracket `close`
    /// (consumed). Returns the occurrences in text order, each group already summed and multiplied by its factor.
    fn sequence(&mut self, close: Option<(char, char, usize)>) -> Result<Vec<(Element, f64)>, CompositionError> {
        let mut occ: Vec<(Element, f64)> = Vec::new();
        loop {
            self.skip_space();
            let Some(c) = self.peek() else {
                return match close {
                    Some((open, _, at)) => Err(CompositionError::UnclosedBracket {
                        bracket: open,
                        position: at,
                        formula: self.src.to_string(),
                    }),
                    None => Ok(occ),
                };
            };
            match c {
                '(' | '[' | '{' => {
                    let at = self.pos;
                    let want = match c {
                        '(' => ')',
                        '[' => ']',
                        _ => '}',
                    };
                    self.pos += 1;
                    let inner = self.sequence(Some((c, want, at)))?;
                    if inner.is_empty() {
                        return Err(CompositionError::EmptyGroup { position: at, formula: self.src.to_string() });
                    }
                    let factor = self.group_factor()?;
                    // pymatgen: sym_dict[el] += amt * factor inside the group, then writes the sums back as text.
                    let mut summed: Vec<(Element, f64)> = Vec::new();
                    for (el, amt) in inner {
                        add_amount(&mut summed, el, amt * factor);
                    }
                    occ.extend(summed);
                }
                ')' | ']' | '}' => {
                    return match close {
                        Some((_, want, _)) if want == c => {
                            self.pos += 1;
                            Ok(occ)
                        }
                        Some((open, _, at)) => Err(CompositionError::MismatchedBracket {
                            open,
                            open_position: at,
                            close: c,
                            position: self.pos,
                            formula: self.src.to_string(),
                        }),
                        None => Err(CompositionError::UnmatchedClosingBracket {
                            bracket: c,
                            position: self.pos,
                            formula: self.src.to_string(),
                        }),
                    };
                }
                'A'..='Z' => {
                    let (el, amt) = self.element_token()?;
                    occ.push((el, amt));
                }
                _ if close.is_none() && self.is_separator_at(self.pos) => return Ok(occ),
                _ => return Err(self.invalid_char(self.pos)),
            }
        }
    }

    /// `([A-Z][a-z]*)\s*(amount)?`.
    fn element_token(&mut self) -> Result<(Element, f64), CompositionError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_lowercase()) {
            self.pos += 1;
        }
        let symbol: String = self.chars[start..self.pos].iter().collect();
        let el = lookup_symbol(&symbol).ok_or_else(|| CompositionError::UnknownElement {
            symbol: symbol.clone(),
            formula: self.src.to_string(),
        })?;
        self.skip_space();
        let amount = self.amount(true)?;
        if amount < 0.0 {
            let part: String = self.chars[start..self.pos].iter().collect();
            return Err(CompositionError::NegativeAmount { part });
        }
        Ok((el, amount))
    }

    /// The factor after a closing bracket: pymatgen's `\)\s*([\.e\d]*)` (no sign).
    fn group_factor(&mut self) -> Result<f64, CompositionError> {
        self.skip_space();
        self.amount(false)
    }

    /// The maximal run of amount characters (pymatgen's `[-*\.e\d]*` after a symbol, `[\.e\d]*` after a bracket),
    /// read as a Python float; 1 when the run is empty. In the hydrate reading `*` and a spaced `.` end the run.
    fn amount(&mut self, signed: bool) -> Result<f64, CompositionError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_digit()
                || c == 'e'
                || (c == '.' && !self.is_separator_at(self.pos))
                || (signed && c == '-')
                || (signed && c == '*' && self.mode == Mode::Pymatgen);
            if !ok {
                break;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Ok(1.0);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        python_float(&text)
            .ok_or_else(|| CompositionError::InvalidAmount { amount: text, formula: self.src.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<(String, f64)>, CompositionError> {
        parse_formula(s).map(|v| v.into_iter().map(|(e, a)| (e.symbol().to_string(), a)).collect())
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(s, a)| (s.to_string(), *a)).collect()
    }

    #[test]
    fn python_float_grammar() {
        for (s, v) in [("2", 2.0), ("2.", 2.0), (".5", 0.5), ("1e3", 1000.0), ("1.5e-2", 0.015), ("-2", -2.0)] {
            assert_eq!(python_float(s), Some(v), "{s}");
        }
        for s in ["", ".", "-", "e", "1e", "2-3", "4*5", "1..2", "e3", "1e2e3", "--1"] {
            assert_eq!(python_float(s), None, "{s}");
        }
    }

    #[test]
    fn pymatgen_syntax() {
        assert_eq!(parse("LiFePO4").unwrap(), pairs(&[("Li", 1.0), ("Fe", 1.0), ("P", 1.0), ("O", 4.0)]));
        assert_eq!(parse("Fe2(SO4)3").unwrap(), pairs(&[("Fe", 2.0), ("S", 3.0), ("O", 12.0)]));
        assert_eq!(parse("Li2 O1").unwrap(), pairs(&[("Li", 2.0), ("O", 1.0)]));
        assert_eq!(parse("Ca[OH]2").unwrap(), pairs(&[("Ca", 1.0), ("O", 2.0), ("H", 2.0)]));
        assert_eq!(parse("{Fe}2O3").unwrap(), pairs(&[("Fe", 2.0), ("O", 3.0)]));
        assert!(parse("A l").is_err());
        assert_eq!(parse("K(Al(SO4)2)3").unwrap(), pairs(&[("K", 1.0), ("Al", 3.0), ("S", 6.0), ("O", 24.0)]));
        assert_eq!(parse("Ca ( O H ) 2").unwrap(), pairs(&[("Ca", 1.0), ("O", 2.0), ("H", 2.0)]));
        assert_eq!(parse("Y3N@C80").unwrap(), pairs(&[("Y", 3.0), ("N", 1.0), ("C", 80.0)]));
        assert_eq!(parse("D2O").unwrap(), pairs(&[("H", 2.0), ("O", 1.0)]));
        assert_eq!(parse("H1e2").unwrap(), pairs(&[("H", 100.0)]));
        assert_eq!(parse("Fe(OH)3.H2O").unwrap(), pairs(&[("Fe", 1.0), ("O", 4.0), ("H", 5.0)]));
        assert_eq!(parse("O(OH)2O").unwrap(), pairs(&[("O", 4.0), ("H", 2.0)]));
        assert_eq!(parse("Na0Cl").unwrap(), pairs(&[("Na", 0.0), ("Cl", 1.0)]));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(parse(""), Err(CompositionError::Empty));
        assert_eq!(parse("  \t"), Err(CompositionError::Empty));
        assert!(matches!(parse("123"), Err(CompositionError::NoElements { .. })));
        assert!(matches!(parse("Xx2O"), Err(CompositionError::UnknownElement { symbol, .. }) if symbol == "Xx"));
        assert!(matches!(parse("NaCL"), Err(CompositionError::UnknownElement { symbol, .. }) if symbol == "L"));
        assert!(matches!(parse("nacl"), Err(CompositionError::InvalidCharacter { ch: 'n', position: 0, .. })));
        assert!(matches!(parse("Fe2(SO4"), Err(CompositionError::UnclosedBracket { bracket: '(', position: 3, .. })));
        assert!(matches!(parse("H2O)"), Err(CompositionError::UnmatchedClosingBracket { bracket: ')', .. })));
        assert!(matches!(parse("Ca(OH]2"), Err(CompositionError::MismatchedBracket { open: '(', close: ']', .. })));
        assert!(matches!(parse("Ca()2"), Err(CompositionError::EmptyGroup { .. })));
        assert!(matches!(parse("Li-2O"), Err(CompositionError::NegativeAmount { part }) if part == "Li-2"));
        assert!(matches!(parse("Fe2+O"), Err(CompositionError::InvalidCharacter { ch: '+', .. })));
        assert!(matches!(parse("Na_Cl"), Err(CompositionError::InvalidCharacter { ch: '_', .. })));
        assert!(matches!(parse("O2e"), Err(CompositionError::InvalidAmount { amount, .. }) if amount == "2e"));
        // pymatgen: float('4*5') fails; the hydrate reading then finds an empty second part.
        assert!(matches!(parse("O4*5"), Err(CompositionError::EmptyHydratePart { part: 2, .. })));
        assert!(matches!(parse("2H2O"), Err(CompositionError::InvalidCharacter { ch: '2', .. })));
        let msg = parse("CuSO4·5Xx").unwrap_err().to_string();
        assert!(msg.contains("\"Xx\""), "{msg}");
    }
}
