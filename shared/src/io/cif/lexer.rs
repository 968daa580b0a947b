//! CIF 1.1 tokenizer. Turns the text into reserved words (`data_`, `loop_`, `save_`, `global_`, `stop_`), tags
//! (`_cell_length_a`) and values, each with its line number, following the CIF 1.1 syntax rules that naive
//! whitespace splitting gets wrong:
//!
//! * a quoted string closes only at a matching quote that is followed by whitespace or the end of the line, so
//!   `'O'Neil'` is the value `O'Neil`; quoted strings never span lines;
//! * a `;` in the first column opens a text field that runs to the next line starting with `;`;
//! * `#` starts a comment only at the start of a token (`AMCSD#0010866` is one value);
//! * reserved words are case-insensitive.
//!
//! Tokens borrow from the input; line endings must already be `\n` (see `normalize_newlines`).

use std::borrow::Cow;

use crate::io::error::IoError;

/// How a value was written; `?` and `.` mean "unknown" / "inapplicable" only when bare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    Bare,
    Single,
    Double,
    TextField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `data_NAME`; the token text is NAME.
    DataBlock,
    Loop,
    /// `save_NAME` (text NAME) or a bare `save_` (empty text) closing a save frame.
    Save,
    Global,
    Stop,
    Tag,
    Value(Quoting),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    pub line: usize,
}

/// `\r\n` and lone `\r` become `\n`, and a leading byte-order mark is dropped, so the tokenizer sees one kind of line
/// break (old Mac files use `\r` alone).
pub(crate) fn normalize_newlines(text: &str) -> Cow<'_, str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c')
}

/// Split CIF text (with `\n` line breaks) into tokens.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, IoError> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut tokens = Vec::new();
    let mut pos = 0usize;
    let mut line = 1usize;
    while pos < n {
        let b = bytes[pos];
        if b == b'\n' {
            line += 1;
            pos += 1;
            continue;
        }
        if is_space(b) {
            pos += 1;
            continue;
        }
        let at_line_start = pos == 0 || bytes[pos - 1] == b'\n';
        if b == b';' && at_line_start {
            // Text field: everything up to the next line that starts with ';'.
            let start_line = line;
            let content_start = pos + 1;
            let mut i = content_start;
            let mut end = None;
            while i < n {
                if bytes[i] == b'\n' {
                    line += 1;
                    if i + 1 < n && bytes[i + 1] == b';' {
                        end = Some(i);
                        break;
                    }
                }
                i += 1;
            }
            let Some(end) = end else {
                return Err(IoError::syntax(
                    "CIF",
                    start_line,
                    "text field opened with ';' is never closed by a line starting with ';'",
                ));
            };
            tokens.push(Token {
                kind: TokenKind::Value(Quoting::TextField),
                text: &text[content_start..end],
                line: start_line,
            });
            pos = end + 2;
            continue;
        }
        if b == b'#' {
            while pos < n && bytes[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        if b == b'\'' || b == b'"' {
            let quoting = if b == b'\'' { Quoting::Single } else { Quoting::Double };
            let mut j = pos + 1;
            loop {
                if j >= n || bytes[j] == b'\n' {
                    return Err(IoError::syntax(
                        "CIF",
                        line,
                        format!("quoted string starting with {} is not closed on its line", b as char),
                    ));
                }
                if bytes[j] == b && (j + 1 >= n || is_space(bytes[j + 1])) {
                    break;
                }
                j += 1;
            }
            tokens.push(Token { kind: TokenKind::Value(quoting), text: &text[pos + 1..j], line });
            pos = j + 1;
            continue;
        }
        let start = pos;
        while pos < n && !is_space(bytes[pos]) {
            pos += 1;
        }
        let word = &text[start..pos];
        tokens.push(Token { kind: classify(word), text: word_text(word), line });
    }
    Ok(tokens)
}

fn has_prefix_ci(word: &str, prefix: &str) -> bool {
    word.len() >= prefix.len() && word.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn classify(word: &str) -> TokenKind {
    if word.starts_with('_') {
        TokenKind::Tag
    } else if has_prefix_ci(word, "data_") {
        TokenKind::DataBlock
    } else if word.eq_ignore_ascii_case("loop_") {
        TokenKind::Loop
    } else if has_prefix_ci(word, "save_") {
        TokenKind::Save
    } else if word.eq_ignore_ascii_case("global_") {
        TokenKind::Global
    } else if word.eq_ignore_ascii_case("stop_") {
        TokenKind::Stop
    } else {
        TokenKind::Value(Quoting::Bare)
    }
}

/// The payload of a bare word: the name for `data_`/`save_`, the word itself otherwise.
fn word_text(word: &str) -> &str {
    if !word.starts_with('_') && (has_prefix_ci(word, "data_") || has_prefix_ci(word, "save_")) {
        // The prefixes are ASCII, so byte 5 is a char boundary.
        &word[5..]
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, String, usize)> {
        tokenize(text).unwrap().into_iter().map(|t| (t.kind, t.text.to_string(), t.line)).collect()
    }

    #[test]
    fn quotes_close_only_before_whitespace() {
        let t = kinds("_a 'O'Neil' _b \"say \"hi\"\" _c 'x'y'\n");
        assert_eq!(t[1], (TokenKind::Value(Quoting::Single), "O'Neil".into(), 1));
        assert_eq!(t[3], (TokenKind::Value(Quoting::Double), "say \"hi\"".into(), 1));
        assert_eq!(t[5], (TokenKind::Value(Quoting::Single), "x'y".into(), 1));
    }

    #[test]
    fn text_fields_comments_and_lines() {
        let t = kinds("data_X # comment\n_t\n;line one\n line two\n;\n_u AMCSD#001 # c\nloop_ _v 1 2\n");
        assert_eq!(t[0], (TokenKind::DataBlock, "X".into(), 1));
        assert_eq!(t[1], (TokenKind::Tag, "_t".into(), 2));
        assert_eq!(t[2], (TokenKind::Value(Quoting::TextField), "line one\n line two".into(), 3));
        assert_eq!(t[3], (TokenKind::Tag, "_u".into(), 6));
        assert_eq!(t[4], (TokenKind::Value(Quoting::Bare), "AMCSD#001".into(), 6));
        assert_eq!(t[5].0, TokenKind::Loop);
        assert_eq!(t[5].2, 7);
    }

    #[test]
    fn unterminated_constructs_are_errors_with_lines() {
        let e = tokenize("data_x\n_a 'open\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = tokenize("data_x\n_a\n;never closed\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("text field"), "{e}");
    }

    #[test]
    fn reserved_words_are_case_insensitive() {
        let t = kinds("DATA_a LOOP_ Save_f save_ GLOBAL_ stop_");
        let k: Vec<_> = t.iter().map(|x| x.0).collect();
        assert_eq!(
            k,
            vec![
                TokenKind::DataBlock,
                TokenKind::Loop,
                TokenKind::Save,
                TokenKind::Save,
                TokenKind::Global,
                TokenKind::Stop
            ]
        );
        assert_eq!(t[2].1, "f");
        assert_eq!(t[3].1, "");
    }
}
