//! The `.picloud` resource language: lexer, parser, validator and rustc-style diagnostics.
//!
//! This crate is pure (no file I/O): the CLI reads the files of an apply set, hands them to
//! [`check`] as [`SourceFile`]s, and prints [`render_human`] or [`render_json`].
//!
//! # The language
//!
//! ```text
//! // line comment            /* block comment */
//! product 'photo-app' = {
//!   version: '1.0.0'
//!   description: 'Photo sharing application'
//! }
//!
//! container 'api-server' = {
//!   product: 'photo-app'
//!   image: 'photo-api:1.0.0'
//!   identity: 'api-worker'
//!   mounts: [ { volume: 'media-store', path: '/data' } ]
//!   env: { DB_URL: secret('db-connection'), LOG_LEVEL: config('log-level') }
//! }
//! ```
//!
//! Grammar:
//!
//! ```text
//! file   := decl*
//! decl   := KIND STRING '=' object          KIND: a kebab word such as `feature-flag`
//! object := '{' (member (',')*)* '}'        commas are optional; newlines need no separator
//! member := KEY ':' value                   KEY: bare identifier or quoted string
//! value  := STRING | NUMBER | true | false | array | object | call
//! array  := '[' (value (',')*)* ']'
//! call   := IDENT '(' value (',' value)* ')'     only secret('name') and config('key')
//! ```
//!
//! - Strings are in single quotes, with escapes `\'` `\\` `\n` `\t` `\r` `\0` `\u{1F600}`;
//!   they end on their line. `'''…'''` strings span lines, take no escapes, drop a newline
//!   right after the opening `'''` and a whitespace-only last line, and lose the indentation
//!   common to their non-blank lines.
//! - Numbers: `42`, `-7`, `0.5`. There is no `null`: leave a field out instead. Quantities
//!   with units are strings: `size: '100GB'`, `cpu: '500m'`, `memory: '512MiB'`, `interval: '10s'`.
//! - Nesting of objects, arrays and calls is limited to [`parser::MAX_DEPTH`] levels.
//! - Every resource but `product` has a `product:` field naming a product declared in the
//!   apply set; names are DNS labels (`Name::parse`). References (`mounts[].volume`,
//!   `identity`, `secret('x')`, `config('key')`, ingress `target`, subscription `handler`,
//!   `roles`, `inherits`) resolve within the same product.
//! - Enumerations are spelled in kebab case: durability `full-replication|quorum|local|none`,
//!   performance `standard|fast|archive`, volumeType `mounted|raw-block`, restartPolicy
//!   `always|on-failure|never` (or `{ policy: 'on-failure', maxRetries: 5 }`), protocol `tcp|udp`.
//! - Defaults: `storageIntent` full-replication/standard, `volumeType` mounted, `restartPolicy`
//!   always, ingress `tls` true and `internal` false, feature-flag `enabled` true, port protocol
//!   tcp, mount `readOnly` false.
//!
//! Fields per kind (★ = required): product {★version, description}; identity {description,
//! roles}; role {description, permissions, inherits}; group {description, roles}; secret
//! {★value}; config {★entries}; feature-flag {description, enabled, version}; volume {★size,
//! storageIntent {durability, performance}, volumeType}; container {★image, identity, command,
//! args, env, mounts [{★volume, ★path, readOnly}], ports [n | {name, ★port, protocol}],
//! resources {cpu, memory}, healthCheck {http {★path, ★port} | tcp {★port} | exec {★command},
//! interval, timeout, failureThreshold}, restartPolicy}; binary {★executable, and the container
//! fields but image/command}; ingress {★target, ★port, path, host, tls, internal};
//! event-subscription {★source `'product@1.0.0'`, ★event `'UserCreated'`, ★handler}.
//!
//! Syntax errors are all reported (the parser recovers at the next member or declaration);
//! when a file has syntax errors, validation is skipped so no knock-on errors appear. Secret
//! values are never echoed: messages don't quote them and the human renderer masks them.
//!
//! # Error codes
//!
//! | code | meaning |
//! |---|---|
//! | PC0101 | unterminated string |
//! | PC0102 | unterminated block comment |
//! | PC0103 | invalid escape sequence |
//! | PC0104 | unexpected character |
//! | PC0105 | invalid number (e.g. unquoted `100GB`) |
//! | PC0106 | double-quoted string |
//! | PC0110 | unexpected token |
//! | PC0111 | missing `=` in a declaration |
//! | PC0112 | unclosed delimiter |
//! | PC0113 | nesting too deep |
//! | PC0114 | duplicate key in an object |
//! | PC0201 | unknown field (with "did you mean") |
//! | PC0202 | wrong type |
//! | PC0203 | missing required field |
//! | PC0204 | unknown resource kind |
//! | PC0205 | invalid value (enumeration, range, path, image, permission, …) |
//! | PC0206 | invalid name |
//! | PC0207 | invalid quantity (size, cpu, memory, duration, version) |
//! | PC0208 | invalid function call |
//! | PC0301 | duplicate resource (same product, kind and name) |
//! | PC0302 | undeclared product |
//! | PC0303 | undeclared reference (volume, identity, secret, config entry, workload, role) |
//! | PC0304 | role inheritance cycle |
//!
//! # Human format
//!
//! ```text
//! error[PC0201]: unknown field `storagIntent` on volume
//!   --> examples/invalid/unknown-field.picloud:4:3
//!    |
//!  4 |   storagIntent: { durability: 'full-replication' }
//!    |   ^^^^^^^^^^^^ unknown field
//!    |
//!    = help: did you mean `storageIntent`?
//! ```
//!
//! Each diagnostic ends with an empty line. Columns count chars; tabs show as 4 spaces.
//!
//! # JSON format
//!
//! [`render_json`] prints an array; each element is
//!
//! ```text
//! { "severity": "error" | "warning", "code": "PC0201", "message": "…",
//!   "file": "path", "line": 4, "column": 3, "endLine": 4, "endColumn": 15,
//!   "byteStart": 66, "byteEnd": 78, "label": "unknown field",
//!   "help": "did you mean `storageIntent`?" | null, "notes": ["…"],
//!   "related": [ { "file", "line", "column", "endLine", "endColumn",
//!                  "byteStart", "byteEnd", "message" } ] }
//! ```
//!
//! Lines and columns are 1-based; columns count Unicode scalar values; the end position is
//! exclusive (the position just after the span). Byte offsets are 0-based, end exclusive.

pub mod ast;
pub mod diagnostic;
mod fields;
mod kinds;
pub mod lexer;
pub mod parser;
mod render;
pub mod suggest;
mod validate;
mod workload;

pub use diagnostic::{Code, Diagnostic, Label, Severity, Span};
pub use picloud_domain::resource::Resource;
pub use render::{render_human, render_json};

/// At most this many diagnostics are returned (the last one notes how many were dropped), which
/// keeps rendering cheap on pathological input.
pub const MAX_DIAGNOSTICS: usize = 100;

/// One file of an apply set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user should see it in diagnostics.
    pub path: String,
    /// The file's text.
    pub text: String,
}

impl SourceFile {
    /// A source file.
    #[must_use]
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// A validated apply set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    /// Every resource, sorted by product, then kind (`ResourceKind` order), then name.
    pub resources: Vec<Resource>,
}

/// Parses one file (index `file` in its apply set) without validating it.
#[must_use]
pub fn parse(file: usize, text: &str) -> (ast::File, Vec<Diagnostic>) {
    parser::parse(file, text)
}

/// Parses and validates the files of an apply set. On failure, returns the diagnostics sorted
/// by file then position (at most [`MAX_DIAGNOSTICS`]).
///
/// # Errors
///
/// Returns the diagnostics when any file has a syntax error or the resources don't validate.
pub fn check(files: &[SourceFile]) -> Result<ApplySet, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut asts = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (ast, d) = parser::parse(i, &f.text);
        diags.extend(d);
        asts.push(ast);
    }
    if diags.is_empty() {
        let (resources, d) = validate::validate(&asts);
        if d.is_empty() {
            return Ok(ApplySet { resources });
        }
        diags = d;
    }
    diagnostic::sort_diagnostics(&mut diags);
    if diags.len() > MAX_DIAGNOSTICS {
        let more = diags.len() - MAX_DIAGNOSTICS;
        diags.truncate(MAX_DIAGNOSTICS);
        if let Some(last) = diags.last_mut() {
            last.notes.push(format!(
                "stopping after {MAX_DIAGNOSTICS} errors; {more} more not shown"
            ));
        }
    }
    let secrets = secret_spans(&asts);
    for d in &mut diags {
        let p = d.primary.span;
        if secrets
            .iter()
            .any(|s| s.file == p.file && p.start < s.end && s.start < p.end)
        {
            // A syntax error inside a secret value: say nothing that could quote it.
            d.message = format!("{} in a secret value", d.code.summary());
            d.primary.message = d.code.summary().to_owned();
            d.help = Some("the value is not shown because it is a secret".to_owned());
        }
        d.redact = secrets
            .iter()
            .filter(|s| {
                s.file == d.primary.span.file || d.secondary.iter().any(|l| l.span.file == s.file)
            })
            .copied()
            .collect();
    }
    Err(diags)
}

/// Spans of the `value` of every `secret` declaration (masked when rendering).
fn secret_spans(files: &[ast::File]) -> Vec<Span> {
    files
        .iter()
        .flat_map(|f| &f.decls)
        .filter(|d| d.kind == "secret")
        .flat_map(|d| &d.body.members)
        .filter(|m| m.key == "value")
        .map(|m| m.value.span)
        .collect()
}
