//! Recursive-descent parser with error recovery.
//!
//! Every loop consumes at least one token per iteration or stops, and nesting is capped at
//! [`MAX_DEPTH`], so work is linear in the input and the stack is bounded.

use std::collections::HashMap;

use crate::ast::{Decl, File, Member, Object, Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic, Label, Span};
use crate::lexer::{lex, Token, TokenKind};

/// Deepest nesting of objects, arrays and calls accepted.
pub const MAX_DEPTH: usize = 64;

/// Parses one file. Returns the (possibly partial) tree and all syntax diagnostics.
#[must_use]
pub fn parse(file: usize, src: &str) -> (File, Vec<Diagnostic>) {
    let (tokens, diags) = lex(file, src);
    let mut p = Parser {
        file,
        tokens,
        pos: 0,
        diags,
        depth: 0,
        eof: Token {
            kind: TokenKind::Eof,
            span: Span::new(file, src.len(), src.len()),
            line_start: true,
        },
        last_unclosed: None,
    };
    let decls = p.file();
    (File { file, decls }, p.diags)
}

struct Parser {
    file: usize,
    tokens: Vec<Token>,
    pos: usize,
    diags: Vec<Diagnostic>,
    depth: usize,
    eof: Token,
    /// Token position and diagnostic index of the last "unclosed delimiter" report.
    last_unclosed: Option<(usize, usize)>,
}

impl Parser {
    fn tok(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.eof)
    }

    fn nth(&self, n: usize) -> &TokenKind {
        self.tokens
            .get(self.pos + n)
            .map_or(&TokenKind::Eof, |t| &t.kind)
    }

    fn kind(&self) -> &TokenKind {
        &self.tok().kind
    }

    fn span(&self) -> Span {
        self.tok().span
    }

    fn bump(&mut self) -> Token {
        let t = self.tok().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn at_eof(&self) -> bool {
        matches!(self.kind(), TokenKind::Eof)
    }

    /// `kind 'name' =`/`{` at the start of a line: the beginning of the next declaration.
    fn at_decl_start(&self) -> bool {
        let t = self.tok();
        t.line_start
            && matches!(t.kind, TokenKind::Ident(_))
            && matches!(self.nth(1), TokenKind::Str(_))
            && matches!(self.nth(2), TokenKind::Equals | TokenKind::LBrace)
    }

    /// `key:` at the start of a line: the next member of an enclosing object.
    fn at_member_start(&self) -> bool {
        let t = self.tok();
        t.line_start
            && matches!(t.kind, TokenKind::Ident(_) | TokenKind::Str(_))
            && matches!(self.nth(1), TokenKind::Colon)
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn unexpected(&mut self, expected: &str) -> Diagnostic {
        let found = self.kind().describe();
        let span = self.span();
        Diagnostic::error(
            Code::UnexpectedToken,
            format!("expected {expected}, found {found}"),
            span,
            format!("expected {expected}"),
        )
    }

    /// Skips to the next declaration start (always consuming at least one token).
    fn recover_to_decl(&mut self) {
        self.bump();
        while !self.at_eof() && !self.at_decl_start() {
            self.bump();
        }
    }

    fn file(&mut self) -> Vec<Decl> {
        let mut decls = Vec::new();
        while !self.at_eof() {
            if let TokenKind::Ident(_) = self.kind() {
                if let Some(d) = self.decl() {
                    decls.push(d);
                }
            } else {
                let d = self.unexpected("a resource declaration").with_help(
                    "declarations look like `product 'photo-app' = { version: '1.0.0' }`",
                );
                self.error(d);
                self.recover_to_decl();
            }
        }
        decls
    }

    fn decl(&mut self) -> Option<Decl> {
        let kw = self.bump();
        let TokenKind::Ident(kind) = kw.kind else {
            return None;
        };
        let (name, name_span) = if let TokenKind::Str(s) = self.kind() {
            let s = s.clone();
            (s, self.bump().span)
        } else {
            let d = self
                .unexpected("the resource name as a quoted string")
                .with_help(format!("write `{kind} 'my-name' = {{ … }}`"));
            self.error(d);
            if self.at_decl_start() {
                return None;
            }
            self.recover_to_decl();
            return None;
        };
        match self.kind() {
            TokenKind::Equals => {
                self.bump();
            }
            TokenKind::LBrace => {
                let at = self.span();
                self.error(
                    Diagnostic::error(
                        Code::MissingEquals,
                        "missing `=` between the resource name and its body",
                        Span::new(self.file, name_span.end, at.start),
                        "expected `=` here",
                    )
                    .with_help(format!("write `{kind} '{name}' = {{`")),
                );
            }
            _ => {
                let d = self
                    .unexpected("`=`")
                    .with_help(format!("write `{kind} '{name}' = {{ … }}`"));
                self.error(d);
                self.recover_to_decl();
                return None;
            }
        }
        if !matches!(self.kind(), TokenKind::LBrace) {
            let d = self
                .unexpected("`{`")
                .with_help("the body of a declaration is an object: `{ key: value }`");
            self.error(d);
            self.recover_to_decl();
            return None;
        }
        let body = self.object();
        let span = kw.span.to(body.span);
        Some(Decl {
            kind,
            kind_span: kw.span,
            name,
            name_span,
            body,
            span,
        })
    }

    /// Reports too-deep nesting and skips the balanced group starting at the current opener.
    fn too_deep(&mut self) -> Value {
        let open = self.bump();
        self.error(
            Diagnostic::error(
                Code::NestingTooDeep,
                format!("nesting too deep (the limit is {MAX_DEPTH} levels)"),
                open.span,
                "this level is too deep",
            )
            .with_help("flatten the structure"),
        );
        let mut depth = 1usize;
        while depth > 0 && !self.at_eof() {
            match self.kind() {
                TokenKind::LBrace | TokenKind::LBracket | TokenKind::LParen => depth += 1,
                TokenKind::RBrace | TokenKind::RBracket | TokenKind::RParen => depth -= 1,
                _ => {}
            }
            self.bump();
        }
        let end = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(open.span, |t| t.span);
        Value {
            kind: ValueKind::Error,
            span: open.span.to(end),
        }
    }

    fn unclosed(&mut self, open: Span, delim: char, close: char) {
        // Enclosing delimiters left open at the same place join the first report.
        if let Some((pos, idx)) = self.last_unclosed {
            if pos == self.pos {
                if let Some(d) = self.diags.get_mut(idx) {
                    if d.secondary.len() < 4 {
                        d.secondary
                            .push(Label::new(open, format!("`{delim}` also unclosed")));
                    }
                }
                return;
            }
        }
        self.last_unclosed = Some((self.pos, self.diags.len()));
        let here = self.span();
        let found = self.kind().describe();
        let mut d = Diagnostic::error(
            Code::UnclosedDelimiter,
            format!("unclosed `{delim}`"),
            open,
            "unclosed delimiter",
        )
        .with_help(format!("add `{close}` to close it"));
        d = if self.at_decl_start() {
            d.with_label(here, "the next declaration starts here")
        } else {
            d.with_label(here, format!("expected `{close}`, found {found}"))
        };
        self.error(d);
    }

    /// Skips the rest of a broken member: up to a `}` closing the enclosing object, or the next
    /// token at the start of a line. Always consumes at least one token.
    fn recover_member(&mut self) {
        let mut depth = 0usize;
        self.bump();
        loop {
            let t = self.tok();
            match t.kind {
                TokenKind::Eof => return,
                TokenKind::RBrace | TokenKind::RBracket | TokenKind::RParen if depth == 0 => return,
                _ if depth == 0 && t.line_start => return,
                TokenKind::LBrace | TokenKind::LBracket | TokenKind::LParen => depth += 1,
                TokenKind::RBrace | TokenKind::RBracket | TokenKind::RParen => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    /// Parses `{ … }`; the current token is `{`.
    fn object(&mut self) -> Object {
        let open = self.bump().span;
        let mut members: Vec<Member> = Vec::new();
        let mut seen: HashMap<String, Span> = HashMap::new();
        let end;
        self.depth += 1;
        loop {
            match self.kind().clone() {
                TokenKind::RBrace => {
                    end = self.bump().span;
                    break;
                }
                TokenKind::Eof => {
                    self.unclosed(open, '{', '}');
                    end = self.span();
                    break;
                }
                _ if self.at_decl_start() => {
                    self.unclosed(open, '{', '}');
                    end = self
                        .tokens
                        .get(self.pos.saturating_sub(1))
                        .map_or(open, |t| t.span);
                    break;
                }
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::Ident(key) | TokenKind::Str(key) => {
                    let key_span = self.bump().span;
                    match self.kind() {
                        TokenKind::Colon => {
                            self.bump();
                        }
                        TokenKind::Equals => {
                            let sp = self.bump().span;
                            self.error(
                                Diagnostic::error(
                                    Code::UnexpectedToken,
                                    "expected `:`, found `=`",
                                    sp,
                                    "use `:` here",
                                )
                                .with_help(format!("object members are written `{key}: value`")),
                            );
                        }
                        _ => {
                            let d = self
                                .unexpected("`:` after the field name")
                                .with_help(format!("object members are written `{key}: value`"));
                            self.error(d);
                            if !self.tok().line_start {
                                self.recover_member();
                            }
                            continue;
                        }
                    }
                    let value = self.value();
                    if let Some(first) = seen.get(&key) {
                        self.error(
                            Diagnostic::error(
                                Code::DuplicateKey,
                                format!("duplicate key `{key}`"),
                                key_span,
                                "duplicate key",
                            )
                            .with_label(*first, "first set here"),
                        );
                    } else {
                        seen.insert(key.clone(), key_span);
                    }
                    // Duplicates stay in the tree (the file is rejected anyway) so that, e.g.,
                    // every secret value is known and masked when rendering.
                    members.push(Member {
                        key,
                        key_span,
                        value,
                    });
                }
                _ => {
                    let d = self.unexpected("a field name or `}`");
                    self.error(d);
                    self.recover_member();
                }
            }
        }
        self.depth -= 1;
        Object {
            members,
            span: open.to(end),
        }
    }

    fn value(&mut self) -> Value {
        let t = self.tok().clone();
        if matches!(
            t.kind,
            TokenKind::LBrace | TokenKind::LBracket | TokenKind::LParen
        ) && self.depth >= MAX_DEPTH
        {
            return self.too_deep();
        }
        let kind = match t.kind {
            TokenKind::Str(s) => {
                self.bump();
                ValueKind::Str(s)
            }
            TokenKind::Number(n) => {
                self.bump();
                n.map_or(ValueKind::Error, ValueKind::Number)
            }
            TokenKind::LBrace => {
                let o = self.object();
                let span = o.span;
                return Value {
                    kind: ValueKind::Object(o),
                    span,
                };
            }
            TokenKind::LBracket => return self.array(),
            TokenKind::Ident(w) if matches!(self.nth(1), TokenKind::LParen) => {
                return self.call(w, t.span);
            }
            TokenKind::Ident(w) => {
                self.bump();
                match w.as_str() {
                    "true" => ValueKind::Bool(true),
                    "false" => ValueKind::Bool(false),
                    _ => {
                        // Take in the rest of an unquoted phrase (`description: Photo app`).
                        let mut phrase = w.clone();
                        let mut span = t.span;
                        while !self.tok().line_start
                            && !matches!(
                                self.kind(),
                                TokenKind::RBrace
                                    | TokenKind::RBracket
                                    | TokenKind::Comma
                                    | TokenKind::Eof
                            )
                        {
                            let next = self.bump();
                            if let TokenKind::Ident(word) = &next.kind {
                                phrase.push(' ');
                                phrase.push_str(word);
                                span = span.to(next.span);
                            }
                        }
                        let w = phrase;
                        let help = if w == "null" {
                            "there is no `null`: leave the field out instead".to_owned()
                        } else {
                            format!("strings are quoted: `'{w}'`")
                        };
                        self.error(
                            Diagnostic::error(
                                Code::UnexpectedToken,
                                format!("expected a value, found unquoted text `{w}`"),
                                span,
                                "not a value",
                            )
                            .with_help(help),
                        );
                        ValueKind::Error
                    }
                }
            }
            _ => {
                let d = self.unexpected("a value").with_help(
                    "values are strings ('x'), numbers, true/false, [arrays], {objects} or calls like secret('x')",
                );
                self.error(d);
                if !matches!(t.kind, TokenKind::RBrace | TokenKind::Eof) && !t.line_start {
                    self.bump();
                }
                ValueKind::Error
            }
        };
        Value { kind, span: t.span }
    }

    fn array(&mut self) -> Value {
        let open = self.bump().span;
        let mut items = Vec::new();
        let end;
        self.depth += 1;
        loop {
            match self.kind() {
                TokenKind::RBracket => {
                    end = self.bump().span;
                    break;
                }
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::Eof | TokenKind::RBrace | TokenKind::RParen => {
                    self.unclosed(open, '[', ']');
                    end = self.span();
                    break;
                }
                _ if self.at_decl_start() || self.at_member_start() => {
                    self.unclosed(open, '[', ']');
                    end = self.span();
                    break;
                }
                _ => {
                    let before = self.pos;
                    items.push(self.value());
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        self.depth -= 1;
        Value {
            kind: ValueKind::Array(items),
            span: open.to(end),
        }
    }

    fn call(&mut self, name: String, name_span: Span) -> Value {
        self.bump();
        let open = self.bump().span;
        let mut args = Vec::new();
        let end;
        self.depth += 1;
        loop {
            match self.kind() {
                TokenKind::RParen => {
                    end = self.bump().span;
                    break;
                }
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::Eof | TokenKind::RBrace | TokenKind::RBracket => {
                    self.unclosed(open, '(', ')');
                    end = self.span();
                    break;
                }
                _ if self.at_decl_start() || self.at_member_start() => {
                    self.unclosed(open, '(', ')');
                    end = self.span();
                    break;
                }
                _ => {
                    let before = self.pos;
                    args.push(self.value());
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        self.depth -= 1;
        Value {
            kind: ValueKind::Call {
                name,
                name_span,
                args,
            },
            span: name_span.to(end),
        }
    }
}
