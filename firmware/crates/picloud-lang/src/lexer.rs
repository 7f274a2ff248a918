//! Lexer: text → tokens with byte spans. Linear time, never fails: problems become diagnostics
//! and the lexer carries on.

use crate::diagnostic::{Code, Diagnostic, Span};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A bare word: `[A-Za-z_][A-Za-z0-9_-]*` (kinds, keys, `true`, function names).
    Ident(String),
    /// A string literal with escapes resolved.
    Str(String),
    /// A number; `None` when malformed (already reported).
    Number(Option<f64>),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:`
    Colon,
    /// `,`
    Comma,
    /// `=`
    Equals,
    /// End of input.
    Eof,
}

impl TokenKind {
    /// How the token is described in "expected X, found Y".
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Ident(w) => format!("`{w}`"),
            TokenKind::Str(_) => "a string".to_owned(),
            TokenKind::Number(_) => "a number".to_owned(),
            TokenKind::LBrace => "`{`".to_owned(),
            TokenKind::RBrace => "`}`".to_owned(),
            TokenKind::LBracket => "`[`".to_owned(),
            TokenKind::RBracket => "`]`".to_owned(),
            TokenKind::LParen => "`(`".to_owned(),
            TokenKind::RParen => "`)`".to_owned(),
            TokenKind::Colon => "`:`".to_owned(),
            TokenKind::Comma => "`,`".to_owned(),
            TokenKind::Equals => "`=`".to_owned(),
            TokenKind::Eof => "end of file".to_owned(),
        }
    }
}

/// A token with its span and whether it is the first token on its line.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What.
    pub kind: TokenKind,
    /// Where.
    pub span: Span,
    /// True when only whitespace/comments precede it on its line.
    pub line_start: bool,
}

struct Lexer<'a> {
    file: usize,
    src: &'a str,
    pos: usize,
    line_start: bool,
    tokens: Vec<Token>,
    diags: Vec<Diagnostic>,
}

/// Splits `src` into tokens (always ending with [`TokenKind::Eof`]) plus lexical diagnostics.
#[must_use]
pub fn lex(file: usize, src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lx = Lexer {
        file,
        src,
        pos: 0,
        line_start: true,
        tokens: Vec::new(),
        diags: Vec::new(),
    };
    lx.run();
    (lx.tokens, lx.diags)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().nth(n))
    }

    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.pos)
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        let span = self.span(start);
        self.tokens.push(Token {
            kind,
            span,
            line_start: self.line_start,
        });
        self.line_start = false;
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                '\n' => {
                    self.bump();
                    self.line_start = true;
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '/' if self.peek_at(1) == Some('*') => self.block_comment(),
                '{' | '}' | '[' | ']' | '(' | ')' | ':' | ',' | '=' => {
                    self.bump();
                    let kind = match c {
                        '{' => TokenKind::LBrace,
                        '}' => TokenKind::RBrace,
                        '[' => TokenKind::LBracket,
                        ']' => TokenKind::RBracket,
                        '(' => TokenKind::LParen,
                        ')' => TokenKind::RParen,
                        ':' => TokenKind::Colon,
                        ',' => TokenKind::Comma,
                        _ => TokenKind::Equals,
                    };
                    self.push(kind, start);
                }
                '\'' if self.rest().starts_with("'''") => self.multiline_string(),
                '\'' | '"' => self.string(c),
                c if c.is_ascii_digit() || c == '-' || c == '.' => self.number(),
                c if is_ident_start(c) => {
                    while self.peek().is_some_and(is_ident_continue) {
                        self.bump();
                    }
                    let word = self.src.get(start..self.pos).unwrap_or("").to_owned();
                    self.push(TokenKind::Ident(word), start);
                }
                _ => self.unexpected(),
            }
        }
        let end = self.src.len();
        self.tokens.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(self.file, end, end),
            line_start: self.line_start,
        });
    }

    fn unexpected(&mut self) {
        let start = self.pos;
        let first = self.bump().unwrap_or('?');
        // One diagnostic per run of junk characters.
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c.is_ascii_alphanumeric() || "{}[]():,='\"/-._".contains(c) {
                break;
            }
            self.bump();
        }
        let shown = if first.is_control() {
            format!("U+{:04X}", u32::from(first))
        } else {
            format!("`{first}`")
        };
        let mut d = Diagnostic::error(
            Code::UnexpectedCharacter,
            format!("unexpected character {shown}"),
            self.span(start),
            "not valid here",
        );
        if first == '#' {
            d = d.with_help("comments start with `//` or `/*`");
        } else if first == ';' {
            d = d.with_help("members are separated by newlines or `,`, not `;`");
        }
        self.diags.push(d);
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        match self.rest().find("*/") {
            Some(i) => {
                let body = self.rest().get(..i).unwrap_or("");
                if body.contains('\n') {
                    self.line_start = true;
                }
                self.pos += i + 2;
            }
            None => {
                self.diags.push(
                    Diagnostic::error(
                        Code::UnterminatedComment,
                        "unterminated block comment",
                        Span::new(self.file, start, start + 2),
                        "comment starts here and never ends",
                    )
                    .with_help("close the comment with `*/`"),
                );
                self.pos = self.src.len();
            }
        }
    }

    fn number(&mut self) {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.bump();
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        let digits = text.strip_prefix('-').unwrap_or(text);
        let well_formed = {
            let mut parts = digits.splitn(2, '.');
            let int = parts.next().unwrap_or("");
            let frac = parts.next();
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        };
        let value = if well_formed {
            text.parse::<f64>().ok().filter(|v| v.is_finite())
        } else {
            None
        };
        if value.is_none() {
            let mut d = Diagnostic::error(
                Code::InvalidNumber,
                format!("invalid number `{text}`"),
                self.span(start),
                "not a number",
            );
            if digits.starts_with(|c: char| c.is_ascii_digit())
                && digits.ends_with(|c: char| c.is_ascii_alphabetic())
            {
                d = d.with_help(format!(
                    "quantities with units are strings: write `'{text}'`"
                ));
            } else if text == "-" {
                d = d.with_help("a `-` must be followed by digits");
            } else {
                d = d.with_help("numbers look like `42`, `-7` or `0.5`");
            }
            self.diags.push(d);
        }
        self.push(TokenKind::Number(value), start);
    }

    fn string(&mut self, quote: char) {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        let mut closed = false;
        while let Some(c) = self.peek() {
            match c {
                '\n' => break,
                c if c == quote => {
                    self.bump();
                    closed = true;
                    break;
                }
                '\\' => {
                    let esc_start = self.pos;
                    self.bump();
                    self.escape(esc_start, &mut out);
                }
                c => {
                    self.bump();
                    out.push(c);
                }
            }
        }
        // A trailing '\r' of a CRLF line is not part of an unterminated string's span.
        let mut end = self.pos;
        if !closed && self.src.get(..end).is_some_and(|s| s.ends_with('\r')) {
            end -= 1;
        }
        if !closed {
            let q = if quote == '"' { "\"" } else { "'" };
            self.diags.push(
                Diagnostic::error(
                    Code::UnterminatedString,
                    "unterminated string",
                    Span::new(self.file, start, end),
                    "this string never ends",
                )
                .with_help(format!(
                    "close it with `{q}` on the same line, or use `'''` for a multi-line string"
                )),
            );
        } else if quote == '"' {
            self.diags.push(
                Diagnostic::error(
                    Code::DoubleQuotedString,
                    "strings use single quotes",
                    self.span(start),
                    "double-quoted string",
                )
                .with_help(format!("write `'{}'`", out.replace('\'', "\\'"))),
            );
        }
        self.push(TokenKind::Str(out), start);
    }

    fn escape(&mut self, esc_start: usize, out: &mut String) {
        let c = match self.peek() {
            Some(c) if c != '\n' => c,
            _ => {
                self.bad_escape(esc_start, "`\\` at the end of a line");
                return;
            }
        };
        self.bump();
        match c {
            '\'' => out.push('\''),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'u' => {
                if self.peek() != Some('{') {
                    self.bad_escape(esc_start, "expected `{` after `\\u`");
                    return;
                }
                self.bump();
                let hex_start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) && self.pos - hex_start < 6
                {
                    self.bump();
                }
                let hex = self.src.get(hex_start..self.pos).unwrap_or("");
                if self.peek() != Some('}') || hex.is_empty() {
                    self.bad_escape(esc_start, "`\\u{…}` takes 1 to 6 hex digits and a `}`");
                    return;
                }
                self.bump();
                match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => self.bad_escape(esc_start, "not a Unicode scalar value"),
                }
            }
            other => {
                let what = if other.is_control() {
                    format!("unknown escape U+{:04X}", u32::from(other))
                } else {
                    format!("unknown escape `\\{other}`")
                };
                self.bad_escape(esc_start, &what);
            }
        }
    }

    fn bad_escape(&mut self, esc_start: usize, label: &str) {
        self.diags.push(
            Diagnostic::error(
                Code::InvalidEscape,
                "invalid escape sequence",
                self.span(esc_start),
                label,
            )
            .with_help(r"valid escapes are \' \\ \n \t \r \0 and \u{1F600}"),
        );
    }

    fn multiline_string(&mut self) {
        let start = self.pos;
        self.pos += 3;
        let (raw, closed) = match self.rest().find("'''") {
            Some(i) => {
                let raw = self.rest().get(..i).unwrap_or("").to_owned();
                self.pos += i + 3;
                (raw, true)
            }
            None => {
                let raw = self.rest().to_owned();
                self.pos = self.src.len();
                (raw, false)
            }
        };
        if !closed {
            self.diags.push(
                Diagnostic::error(
                    Code::UnterminatedString,
                    "unterminated multi-line string",
                    Span::new(self.file, start, start + 3),
                    "this string never ends",
                )
                .with_help("close it with `'''`"),
            );
        }
        let text = dedent(&raw);
        self.push(TokenKind::Str(text), start);
    }
}

/// Strips a `'''` string the way Bicep-style configs expect: a newline right after the opening
/// `'''` is dropped, a last line holding only whitespace is dropped (keeping its newline), and
/// the common leading whitespace of the non-blank lines is removed. CRLF becomes LF.
#[must_use]
pub fn dedent(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let body = raw.strip_prefix('\n').unwrap_or(&raw);
    let mut lines: Vec<&str> = body.split('\n').collect();
    let mut trailing_newline = false;
    if lines.len() > 1 && lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
        trailing_newline = true;
    }
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(line.get(indent..).unwrap_or_else(|| line.trim_start()));
    }
    if trailing_newline {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(0, src).0.into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            kinds("volume 'a' = { size: -1.5 }"),
            vec![
                TokenKind::Ident("volume".into()),
                TokenKind::Str("a".into()),
                TokenKind::Equals,
                TokenKind::LBrace,
                TokenKind::Ident("size".into()),
                TokenKind::Colon,
                TokenKind::Number(Some(-1.5)),
                TokenKind::RBrace,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            kinds(r"'it\'s \\ \n \u{1F600}'"),
            vec![TokenKind::Str("it's \\ \n 😀".into()), TokenKind::Eof]
        );
        let (_, d) = lex(0, r"'\q \u{110000} \u{'");
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn multiline_dedent() {
        assert_eq!(dedent("\n    a\n      b\n    "), "a\n  b\n");
        assert_eq!(dedent("one line"), "one line");
    }

    #[test]
    fn comments_and_errors() {
        let (t, d) = lex(0, "// x\n/* y\n */ a /* never");
        assert_eq!(t.len(), 2);
        assert!(t.first().is_some_and(|t| t.line_start));
        assert_eq!(d.len(), 1);
        let (_, d) = lex(0, "'abc\nsize: 100GB # x");
        assert_eq!(d.len(), 3);
    }
}
