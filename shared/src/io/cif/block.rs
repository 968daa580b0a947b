//! CIF data blocks: groups the tokens of `lexer` into blocks of tagged items (single values or loop columns) and
//! offers typed look-ups. Tags are matched case-insensitively and with `.` read as `_`, so DDLm names such as
//! `_atom_site.fract_x` find the same column as `_atom_site_fract_x`.

use std::collections::HashMap;

use super::lexer::{Quoting, Token, TokenKind};
use crate::io::error::IoError;

/// One CIF value with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    pub text: &'a str,
    pub quoting: Quoting,
    pub line: usize,
}

impl Value<'_> {
    /// `?` (unknown) or `.` (inapplicable), written bare.
    pub fn is_null(&self) -> bool {
        self.quoting == Quoting::Bare && (self.text == "?" || self.text == ".")
    }

    /// The value as a number: standard uncertainties such as `1.234(5)` are dropped, `?`/`.` give `None`.
    pub fn number(&self) -> Option<f64> {
        if self.is_null() {
            return None;
        }
        parse_cif_number(self.text)
    }
}

/// A CIF number: optional sign, digits with optional `.` and exponent, optionally followed by an uncertainty in
/// parentheses (a missing `)` is tolerated, as pymatgen does). NaN and infinities are not numbers here.
pub fn parse_cif_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let core = match text.find('(') {
        Some(i) => &text[..i],
        None => text,
    };
    if core.is_empty() || !core.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    let x: f64 = core.parse().ok()?;
    x.is_finite().then_some(x)
}

#[derive(Debug, Clone)]
pub(crate) enum Item<'a> {
    Single { tag_line: usize, value: Value<'a> },
    Column { tag_line: usize, values: Vec<Value<'a>> },
}

/// One `data_` block.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    pub name: &'a str,
    pub line: usize,
    items: HashMap<String, Item<'a>>,
    /// Syntax problems that were skipped (stray values).
    pub warnings: Vec<String>,
}

/// Canonical form of a tag for look-ups: lower case, `.` as `_`.
pub(crate) fn canonical_tag(tag: &str) -> String {
    tag.chars().map(|c| if c == '.' { '_' } else { c.to_ascii_lowercase() }).collect()
}

impl<'a> Block<'a> {
    pub(crate) fn item(&self, tag: &str) -> Option<&Item<'a>> {
        self.items.get(&canonical_tag(tag))
    }

    pub fn has(&self, tag: &str) -> bool {
        self.item(tag).is_some()
    }

    /// The value of a non-looped item; for a looped tag, its first value.
    pub fn value(&self, tag: &str) -> Option<Value<'a>> {
        match self.item(tag)? {
            Item::Single { value, .. } => Some(*value),
            Item::Column { values, .. } => values.first().copied(),
        }
    }

    /// All values of a tag: a loop column, or the single value as a one-element column.
    pub fn column(&self, tag: &str) -> Option<Vec<Value<'a>>> {
        match self.item(tag)? {
            Item::Single { value, .. } => Some(vec![*value]),
            Item::Column { values, .. } => Some(values.clone()),
        }
    }

    /// The line the tag itself is on.
    pub fn tag_line(&self, tag: &str) -> Option<usize> {
        match self.item(tag)? {
            Item::Single { tag_line, .. } | Item::Column { tag_line, .. } => Some(*tag_line),
        }
    }
}

fn insert<'a>(
    items: &mut HashMap<String, Item<'a>>,
    block: &str,
    tag: &Token<'a>,
    item: Item<'a>,
) -> Result<(), IoError> {
    let key = canonical_tag(tag.text);
    if let Some(old) = items.get(&key) {
        let old_line = match old {
            Item::Single { tag_line, .. } | Item::Column { tag_line, .. } => *tag_line,
        };
        return Err(IoError::syntax(
            "CIF",
            tag.line,
            format!("tag {} repeats one from line {old_line} in data block '{block}'", tag.text),
        ));
    }
    items.insert(key, item);
    Ok(())
}

/// Group tokens into data blocks. Save frames (dictionary definitions) are skipped; `global_` and `stop_` are
/// reserved words that data files may not use.
pub(crate) fn parse_blocks<'a>(tokens: &[Token<'a>]) -> Result<Vec<Block<'a>>, IoError> {
    let mut blocks: Vec<Block<'a>> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        match tok.kind {
            TokenKind::DataBlock => {
                blocks.push(Block { name: tok.text, line: tok.line, items: HashMap::new(), warnings: Vec::new() });
                i += 1;
            }
            TokenKind::Global | TokenKind::Stop => {
                return Err(IoError::syntax("CIF", tok.line, format!("reserved word '{}' is not allowed", tok.text)));
            }
            TokenKind::Save => {
                if tok.text.is_empty() {
                    return Err(IoError::syntax("CIF", tok.line, "'save_' closes a save frame that was never opened"));
                }
                let start = tok.line;
                i += 1;
                while i < tokens.len() && !(tokens[i].kind == TokenKind::Save && tokens[i].text.is_empty()) {
                    i += 1;
                }
                if i >= tokens.len() {
                    return Err(IoError::syntax("CIF", start, "save frame is never closed by 'save_'"));
                }
                i += 1;
            }
            TokenKind::Value(_) => {
                // Strictly a syntax error; real files (e.g. a half-deleted duplicate loop) have such strays and
                // pymatgen skips them with a warning, so do the same inside a block.
                let message = format!("value '{}' does not follow a tag (or a loop_ header)", short(tok.text));
                match blocks.last_mut() {
                    Some(block) => block.warnings.push(format!("line {}: {message}; ignored", tok.line)),
                    None => return Err(IoError::syntax("CIF", tok.line, message)),
                }
                i += 1;
            }
            TokenKind::Tag | TokenKind::Loop => {
                let Some(block) = blocks.last_mut() else {
                    return Err(IoError::syntax(
                        "CIF",
                        tok.line,
                        format!("'{}' before the first data_ block", tok.text),
                    ));
                };
                if tok.kind == TokenKind::Tag {
                    let value = match tokens.get(i + 1) {
                        Some(Token { kind: TokenKind::Value(quoting), text, line }) => {
                            Value { text, quoting: *quoting, line: *line }
                        }
                        _ => return Err(IoError::syntax("CIF", tok.line, format!("tag {} has no value", tok.text))),
                    };
                    insert(&mut block.items, block.name, &tok, Item::Single { tag_line: tok.line, value })?;
                    i += 2;
                } else {
                    i = parse_loop(tokens, i, block)?;
                }
            }
        }
    }
    Ok(blocks)
}

/// Parse the `loop_` at `tokens[start]`; returns the index after it.
fn parse_loop<'a>(tokens: &[Token<'a>], start: usize, block: &mut Block<'a>) -> Result<usize, IoError> {
    let loop_line = tokens[start].line;
    let mut i = start + 1;
    let mut tags = Vec::new();
    while i < tokens.len() && tokens[i].kind == TokenKind::Tag {
        tags.push(tokens[i]);
        i += 1;
    }
    if tags.is_empty() {
        return Err(IoError::syntax("CIF", loop_line, "loop_ without any tags"));
    }
    let mut values = Vec::new();
    while i < tokens.len() {
        if let TokenKind::Value(quoting) = tokens[i].kind {
            values.push(Value { text: tokens[i].text, quoting, line: tokens[i].line });
            i += 1;
        } else {
            break;
        }
    }
    if values.len() % tags.len() != 0 {
        return Err(IoError::syntax(
            "CIF",
            loop_line,
            format!(
                "loop_ has {} values, not a multiple of its {} tags ({} ...); a row is incomplete or a value is \
                 unquoted",
                values.len(),
                tags.len(),
                tags[0].text
            ),
        ));
    }
    let rows = values.len() / tags.len();
    for (k, tag) in tags.iter().enumerate() {
        let column: Vec<Value<'a>> = (0..rows).map(|r| values[r * tags.len() + k]).collect();
        insert(&mut block.items, block.name, tag, Item::Column { tag_line: tag.line, values: column })?;
    }
    Ok(i)
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    #[test]
    fn numbers_with_uncertainties() {
        assert_eq!(parse_cif_number("1.234(5)"), Some(1.234));
        assert_eq!(parse_cif_number("-.2194(2)"), Some(-0.2194));
        assert_eq!(parse_cif_number("5.2719(8"), Some(5.2719));
        assert_eq!(parse_cif_number("1e3"), Some(1000.0));
        assert_eq!(parse_cif_number("NaN"), None);
        assert_eq!(parse_cif_number("inf"), None);
        assert_eq!(parse_cif_number("1e999"), None);
        assert_eq!(parse_cif_number("?"), None);
        assert_eq!(parse_cif_number("(1)"), None);
    }

    #[test]
    fn blocks_loops_and_lookups() {
        let text = "data_a\n_cell.length_a 3.5(1)\nloop_\n_atom_site_label\n_atom_site_fract_x\nFe1 0.1\nO1 ?\n\
                    data_b\n_Cell_Length_A '4'\n";
        let toks = tokenize(text).unwrap();
        let blocks = parse_blocks(&toks).unwrap();
        assert_eq!(blocks.len(), 2);
        let a = &blocks[0];
        assert_eq!(a.value("_cell_length_a").and_then(|v| v.number()), Some(3.5));
        let x = a.column("_atom_site_fract_x").unwrap();
        assert_eq!(x.len(), 2);
        assert!(x[1].is_null());
        assert_eq!(x[1].line, 7);
        assert_eq!(blocks[1].value("_cell_length_a").and_then(|v| v.number()), Some(4.0));
        // A quoted '?' is a real value, not "unknown".
        let toks = tokenize("data_c _t '?'").unwrap();
        assert!(!parse_blocks(&toks).unwrap()[0].value("_t").unwrap().is_null());
    }

    #[test]
    fn structural_errors_name_lines() {
        let err = |t: &str| parse_blocks(&tokenize(t).unwrap()).unwrap_err().to_string();
        assert!(err("data_a\nloop_\n_x\n_y\n1 2 3\n").contains("line 2"));
        assert!(err("_x 1\n").contains("before the first data_"));
        assert!(err("data_a\n_x\n_y 2\n").contains("tag _x has no value"));
        assert!(err("data_a\n_x 1\n_X 2\n").contains("repeats"));
        assert!(err("1 2\ndata_a\n").contains("does not follow a tag"));
        let blocks = parse_blocks(&tokenize("data_a\n_x 1 2\n_y 3").unwrap()).unwrap();
        assert!(
            blocks[0].warnings[0].starts_with("line 2: value '2' does not follow a tag"),
            "{:?}",
            blocks[0].warnings
        );
        assert_eq!(blocks[0].value("_y").and_then(|v| v.number()), Some(3.0));
    }
}
