//! Diagnostics: what went wrong, where, and how to fix it.

use std::fmt;

/// A byte range inside one source file of the apply set.
///
/// `file` indexes the `&[SourceFile]` slice given to [`crate::check`]; `start..end` are byte
/// offsets into that file's text (`end` exclusive). Renderers never panic on out-of-range or
/// non-char-boundary offsets: they clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Index of the file in the apply set.
    pub file: usize,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span in `file` covering `start..end`.
    #[must_use]
    pub const fn new(file: usize, start: usize, end: usize) -> Self {
        Self { file, start, end }
    }

    /// The smallest span covering both (they must be in the same file; `self`'s file wins).
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The apply set is rejected.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span with a short explanation shown under the underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What (may be empty).
    pub message: String,
}

impl Label {
    /// A label.
    #[must_use]
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $summary:literal; )*) => {
        /// Stable diagnostic codes. The string form (`PC0201`) never changes meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable string form, e.g. `"PC0201"`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// A one-line summary of what the code means.
            #[must_use]
            pub const fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }
        }
    };
}

codes! {
    /// A `'…'` string runs to the end of the line (or a `'''` string to the end of the file).
    UnterminatedString = "PC0101", "unterminated string";
    /// A `/*` comment has no closing `*/`.
    UnterminatedComment = "PC0102", "unterminated block comment";
    /// An unknown `\x` escape or a bad `\u{…}` in a string.
    InvalidEscape = "PC0103", "invalid escape sequence";
    /// A character that cannot start any token.
    UnexpectedCharacter = "PC0104", "unexpected character";
    /// A malformed number, e.g. `100GB` without quotes or `1.2.3`.
    InvalidNumber = "PC0105", "invalid number";
    /// A string in double quotes.
    DoubleQuotedString = "PC0106", "strings use single quotes";
    /// A token that does not fit the grammar here.
    UnexpectedToken = "PC0110", "unexpected token";
    /// `kind 'name' {` without the `=`.
    MissingEquals = "PC0111", "missing `=` in declaration";
    /// A `{`, `[` or `(` that is never closed.
    UnclosedDelimiter = "PC0112", "unclosed delimiter";
    /// Objects/arrays/calls nested deeper than the limit (64).
    NestingTooDeep = "PC0113", "nesting too deep";
    /// The same key twice in one object.
    DuplicateKey = "PC0114", "duplicate key";
    /// A field the resource kind (or nested object) does not have.
    UnknownField = "PC0201", "unknown field";
    /// A value of the wrong type, e.g. an array where a string is expected.
    WrongType = "PC0202", "wrong type";
    /// A required field is absent.
    MissingField = "PC0203", "missing required field";
    /// The declaration keyword is not a resource kind.
    UnknownKind = "PC0204", "unknown resource kind";
    /// A value outside an enumeration (e.g. `durability`).
    InvalidValue = "PC0205", "invalid value";
    /// A resource or reference name that is not a valid DNS label.
    InvalidName = "PC0206", "invalid name";
    /// A size, CPU quantity, duration or version that does not parse.
    InvalidQuantity = "PC0207", "invalid quantity";
    /// An unknown function, or a function called with the wrong arguments.
    InvalidCall = "PC0208", "invalid function call";
    /// Two resources of the same kind and name in one product.
    DuplicateResource = "PC0301", "duplicate resource";
    /// `product:` names a product that is not declared in the apply set.
    UnknownProduct = "PC0302", "undeclared product";
    /// A reference to a volume, identity, secret, config entry, workload or role that is not declared.
    UndeclaredReference = "PC0303", "undeclared reference";
    /// Roles whose `inherits` form a cycle.
    InheritanceCycle = "PC0304", "role inheritance cycle";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the apply set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code.
    pub code: Code,
    /// One-line message (the headline).
    pub message: String,
    /// The offending text.
    pub primary: Label,
    /// Related places (e.g. the first of two duplicates), possibly in other files.
    pub secondary: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
    /// Extra context.
    pub notes: Vec<String>,
    /// Byte ranges (secret values) whose text the human renderer masks with `*`.
    pub redact: Vec<Span>,
}

impl Diagnostic {
    /// An error with a primary label.
    #[must_use]
    pub fn error(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label::new(span, label),
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
            redact: Vec::new(),
        }
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a secondary label.
    #[must_use]
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label::new(span, message));
        self
    }

    /// Sort key: file, then position, then code.
    pub(crate) fn sort_key(&self) -> (usize, usize, usize, Code) {
        (
            self.primary.span.file,
            self.primary.span.start,
            self.primary.span.end,
            self.code,
        )
    }
}

/// Sorts diagnostics by file then position (stable for equal keys) and removes exact duplicates.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(Diagnostic::sort_key);
    diags.dedup();
}
