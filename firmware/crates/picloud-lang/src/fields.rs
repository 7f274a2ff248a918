//! Typed access to AST objects: field lookup with unknown-field detection, type checks and
//! value parsing, all reporting rustc-style diagnostics.

use std::fmt::Display;

use picloud_domain::name::Name;
use picloud_domain::resource::ResourceKind;

use crate::ast::{Object, Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::suggest::did_you_mean;

/// What a cross-resource reference must resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A resource of one of these kinds in the same product.
    Kinds(&'static [ResourceKind]),
    /// An entry of a config resource in the same product.
    ConfigEntry,
}

/// A reference to check once every resource is known.
#[derive(Debug, Clone)]
pub(crate) struct PendingRef {
    pub product: Name,
    pub target: Target,
    pub name: String,
    pub span: Span,
    /// "volume", "identity", "secret", … (for the message).
    pub what: &'static str,
}

/// The validation context: collected diagnostics and references.
#[derive(Debug, Default)]
pub(crate) struct Cx {
    pub diags: Vec<Diagnostic>,
    pub refs: Vec<PendingRef>,
}

impl Cx {
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn wrong_type(&mut self, v: &Value, expected: &str) {
        if matches!(v.kind, ValueKind::Error) {
            return;
        }
        let mut d = Diagnostic::error(
            Code::WrongType,
            format!("expected {expected}, found {}", v.kind.describe()),
            v.span,
            format!("expected {expected}"),
        );
        d = match &v.kind {
            ValueKind::Number(n) if expected.starts_with("a string") => {
                d.with_help(format!("quote it: `'{n}'`"))
            }
            ValueKind::Str(s) if expected == "a boolean" && (s == "true" || s == "false") => {
                d.with_help(format!("booleans are not quoted: write `{s}`"))
            }
            ValueKind::Str(s) if expected.starts_with("an array") => {
                d.with_help(format!("wrap it in brackets: `['{s}']`"))
            }
            ValueKind::Str(s) if expected.contains("number") && s.parse::<f64>().is_ok() => {
                d.with_help(format!("numbers are not quoted: write `{s}`"))
            }
            _ => d,
        };
        self.push(d);
    }

    pub fn str<'v>(&mut self, v: &'v Value) -> Option<&'v str> {
        match &v.kind {
            ValueKind::Str(s) => Some(s),
            _ => {
                self.wrong_type(v, "a string");
                None
            }
        }
    }

    pub fn string(&mut self, v: &Value) -> Option<String> {
        self.str(v).map(str::to_owned)
    }

    pub fn bool(&mut self, v: &Value) -> Option<bool> {
        match v.kind {
            ValueKind::Bool(b) => Some(b),
            _ => {
                self.wrong_type(v, "a boolean");
                None
            }
        }
    }

    pub fn object<'v>(&mut self, v: &'v Value) -> Option<&'v Object> {
        match &v.kind {
            ValueKind::Object(o) => Some(o),
            _ => {
                self.wrong_type(v, "an object");
                None
            }
        }
    }

    pub fn array<'v>(&mut self, v: &'v Value, of: &str) -> Option<&'v [Value]> {
        match &v.kind {
            ValueKind::Array(a) => Some(a),
            _ => {
                self.wrong_type(v, &format!("an array of {of}"));
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, v: &Value, min: i64, max: i64) -> Option<i64> {
        let ValueKind::Number(n) = v.kind else {
            self.wrong_type(v, "a whole number");
            return None;
        };
        #[allow(clippy::cast_possible_truncation)]
        let i = n as i64;
        #[allow(clippy::cast_precision_loss)]
        let exact = n.fract() == 0.0 && (i as f64) == n;
        if exact && (min..=max).contains(&i) {
            return Some(i);
        }
        self.push(Diagnostic::error(
            Code::InvalidValue,
            format!("`{n}` is out of range"),
            v.span,
            format!("expected a whole number from {min} to {max}"),
        ));
        None
    }

    pub fn port(&mut self, v: &Value) -> Option<u16> {
        self.int(v, 1, 65_535).and_then(|i| u16::try_from(i).ok())
    }

    pub fn u32(&mut self, v: &Value, min: i64, max: i64) -> Option<u32> {
        self.int(v, min, max).and_then(|i| u32::try_from(i).ok())
    }

    /// A string parsed by `f`; errors become `code` diagnostics carrying the error's text.
    pub fn parsed<T, E: Display>(
        &mut self,
        v: &Value,
        code: Code,
        what: &str,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let s = self.str(v)?;
        match f(s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(Diagnostic::error(
                    code,
                    format!("invalid {what} `{}`", s.escape_debug()),
                    v.span,
                    e.to_string(),
                ));
                None
            }
        }
    }

    /// A resource name.
    pub fn name(&mut self, v: &Value, what: &str) -> Option<Name> {
        let s = self.str(v)?;
        name_at(self, s, v.span, what)
    }

    /// One of `options` (the string spelling of an enumeration).
    pub fn choice<T: Copy>(&mut self, v: &Value, field: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.str(v)?;
        if let Some((_, t)) = options.iter().find(|(k, _)| *k == s) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        let list = names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut d = Diagnostic::error(
            Code::InvalidValue,
            format!("invalid {field} `{}`", s.escape_debug()),
            v.span,
            format!("expected one of {list}"),
        );
        if let Some(best) = did_you_mean(s, names.iter().copied()) {
            d = d.with_help(format!("did you mean `'{best}'`?"));
        }
        self.push(d);
        None
    }

    /// Records a reference to check later.
    pub fn reference(
        &mut self,
        product: Option<&Name>,
        target: Target,
        name: &str,
        span: Span,
        what: &'static str,
    ) {
        if let Some(product) = product {
            self.refs.push(PendingRef {
                product: product.clone(),
                target,
                name: name.to_owned(),
                span,
                what,
            });
        }
    }
}

/// Validates a name at `span`, reporting the `NameError` text.
pub(crate) fn name_at(cx: &mut Cx, s: &str, span: Span, what: &str) -> Option<Name> {
    match Name::parse(s) {
        Ok(n) => Some(n),
        Err(e) => {
            let mut d = Diagnostic::error(
                Code::InvalidName,
                format!("invalid {what} name `{}`", s.escape_debug()),
                span,
                e.to_string(),
            )
            .with_note(
                "names are DNS labels: 1 to 63 characters a-z, 0-9 and '-', starting with a letter",
            );
            if let Some(fixed) = fix_name(s) {
                d = d.with_help(format!("try `'{fixed}'`"));
            }
            cx.push(d);
            None
        }
    }
}

/// A plausible valid spelling of a bad name, if there is an obvious one.
fn fix_name(s: &str) -> Option<String> {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    let out: String = out.chars().take(63).collect();
    let out = out.trim_end_matches('-').to_owned();
    (out != s && Name::parse(&out).is_ok()).then_some(out)
}

/// Field access on one object, remembering which keys the schema knows.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    obj: &'a Object,
    /// Human name of the object for messages: "volume", "`storageIntent`".
    what: String,
    known: Vec<&'static str>,
    /// Where "missing field" errors point.
    anchor: Span,
    /// How "missing field" errors name the object (defaults to `what`).
    owner: Option<String>,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Object, what: impl Into<String>, anchor: Span) -> Self {
        Self {
            obj,
            what: what.into(),
            known: Vec::new(),
            anchor,
            owner: None,
        }
    }

    /// Names the object differently in "missing field" errors, e.g. "volume `media-store`".
    #[must_use]
    pub fn with_owner(mut self, owner: String) -> Self {
        self.owner = Some(owner);
        self
    }

    /// An optional field.
    pub fn opt(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.obj.get(key).map(|m| &m.value)
    }

    /// A required field; reports it missing with an example.
    pub fn req(&mut self, cx: &mut Cx, key: &'static str, example: &str) -> Option<&'a Value> {
        let v = self.opt(key);
        if v.is_none() {
            cx.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!(
                        "missing field `{key}` in {}",
                        self.owner.as_deref().unwrap_or(&self.what)
                    ),
                    self.anchor,
                    format!("`{key}` is required"),
                )
                .with_help(format!("add `{key}: {example}`")),
            );
        }
        v
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, cx: &mut Cx) {
        for m in &self.obj.members {
            if self.known.contains(&m.key.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(
                Code::UnknownField,
                format!("unknown field `{}` on {}", m.key.escape_debug(), self.what),
                m.key_span,
                "unknown field",
            );
            d = match did_you_mean(&m.key, self.known.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_note(format!(
                    "{} has the fields {}",
                    self.what,
                    fmt_list(&self.known)
                )),
            };
            cx.push(d);
        }
    }
}

/// "`a`, `b` and `c`"
pub(crate) fn fmt_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
