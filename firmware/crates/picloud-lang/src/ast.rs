//! Syntax tree of a `.picloud` file. Every node carries its span.

use crate::diagnostic::Span;

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Index of the file in the apply set.
    pub file: usize,
    /// Declarations in source order.
    pub decls: Vec<Decl>,
}

/// `kind 'name' = { … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    /// The kind keyword as written (`feature-flag`).
    pub kind: String,
    /// Span of the kind keyword.
    pub kind_span: Span,
    /// The declared name (string contents).
    pub name: String,
    /// Span of the name string literal, quotes included.
    pub name_span: Span,
    /// The body.
    pub body: Object,
    /// From the kind keyword to the closing brace.
    pub span: Span,
}

/// `{ key: value … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Members in source order. Duplicate keys are reported by the parser (so a tree with
    /// them never reaches validation); [`Object::get`] returns the first.
    pub members: Vec<Member>,
    /// From `{` to `}`.
    pub span: Span,
}

impl Object {
    /// The member with this key.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.key == key)
    }
}

/// `key: value`
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The key (bare or the contents of a quoted key).
    pub key: String,
    /// Span of the key as written.
    pub key_span: Span,
    /// The value.
    pub value: Value,
}

/// A value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: ValueKind,
    /// Where it is.
    pub span: Span,
}

/// The value forms of the language.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `'text'` or `'''text'''`.
    Str(String),
    /// `42`, `-0.5`.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `[ v, v ]`
    Array(Vec<Value>),
    /// `{ k: v }`
    Object(Object),
    /// `name(arg, …)`, e.g. `secret('db-connection')`.
    Call {
        /// Function name.
        name: String,
        /// Span of the function name.
        name_span: Span,
        /// Arguments.
        args: Vec<Value>,
    },
    /// Placeholder for a value that failed to parse (already reported).
    Error,
}

impl ValueKind {
    /// "a string", "an array", … for "expected X, found Y".
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Str(_) => "a string",
            ValueKind::Number(_) => "a number",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Array(_) => "an array",
            ValueKind::Object(_) => "an object",
            ValueKind::Call { .. } => "a function call",
            ValueKind::Error => "an invalid value",
        }
    }
}
