//! Renderers: rustc-style text for humans, JSON for editors. Neither panics on any span.

use std::fmt::Write as _;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Label, Severity, Span};
use crate::SourceFile;

/// Multi-line spans up to this many lines are shown whole.
const MAX_SPAN_LINES: usize = 6;

/// Width of a tab in rendered source lines.
const TAB_WIDTH: usize = 4;

/// Line/column lookup for one text.
struct Lines<'a> {
    path: &'a str,
    text: &'a str,
    starts: Vec<usize>,
}

/// Line indexes of every file, built once per render call (so rendering is linear).
type Index<'a> = [Lines<'a>];

fn index(files: &[SourceFile]) -> Vec<Lines<'_>> {
    files.iter().map(|f| Lines::new(&f.path, &f.text)).collect()
}

/// A resolved position: 0-based line, byte offset in the text, and the line's text.
#[derive(Clone, Copy)]
struct Pos {
    line: usize,
    offset: usize,
}

impl<'a> Lines<'a> {
    fn new(path: &'a str, text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { path, text, starts }
    }

    /// Clamps to the text and backs up to a char boundary.
    fn clamp(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while o > 0 && !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = self.clamp(offset);
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        Pos { line, offset }
    }

    fn line_start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.text.len())
    }

    /// The line's text without its `\n` / `\r\n`.
    fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_start(line);
        let end = self
            .starts
            .get(line + 1)
            .map_or(self.text.len(), |&s| s.saturating_sub(1));
        let s = self.text.get(start..end.max(start)).unwrap_or("");
        s.strip_suffix('\r').unwrap_or(s)
    }

    /// 1-based column in chars.
    fn column(&self, p: Pos) -> usize {
        let start = self.line_start(p.line);
        self.text
            .get(start..p.offset.max(start))
            .map_or(0, |s| s.chars().count())
            + 1
    }
}

/// Display width of one char in a terminal (approximate East-Asian-width handling).
fn char_width(c: char) -> usize {
    let u = u32::from(c);
    match u {
        0x09 => TAB_WIDTH,
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x1FA70..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The line as shown: tabs expanded, control characters replaced.
fn display_line(line: &str, base: usize, redact: &[Span]) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, c) in line.char_indices() {
        let at = base + i;
        if redact.iter().any(|s| at > s.start && at + 1 < s.end) {
            out.push_str(&"*".repeat(char_width(c).max(1)));
            continue;
        }
        match c {
            '\t' => out.push_str(&" ".repeat(TAB_WIDTH)),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                1
            } else {
                char_width(c)
            }
        })
        .sum()
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn blue(&self, s: &str) -> String {
        self.paint("1;34", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn severity(&self, sev: Severity, s: &str) -> String {
        match sev {
            Severity::Error => self.paint("1;31", s),
            Severity::Warning => self.paint("1;33", s),
        }
    }
}

/// One underline row: line, display columns, primary?, message.
struct Mark {
    line: usize,
    from: usize,
    to: usize,
    primary: bool,
    message: String,
}

fn marks_for(lines: &Lines<'_>, label: &Label, primary: bool) -> Vec<Mark> {
    let a = lines.pos(label.span.start);
    let b = lines.pos(label.span.end.max(label.span.start));
    let col = |p: Pos| {
        let s = lines.line_start(p.line);
        lines.text.get(s..p.offset.max(s)).map_or(0, width)
    };
    if a.line == b.line {
        let from = col(a);
        let to = col(b).max(from + 1);
        return vec![Mark {
            line: a.line,
            from,
            to,
            primary,
            message: label.message.clone(),
        }];
    }
    let first_end = width(lines.line_text(a.line)).max(col(a) + 1);
    let last = lines.line_text(b.line);
    let indent = width(
        last.get(..last.len() - last.trim_start().len())
            .unwrap_or(""),
    );
    let last_to = col(b).max(indent + 1);
    vec![
        Mark {
            line: a.line,
            from: col(a),
            to: first_end,
            primary,
            message: String::new(),
        },
        Mark {
            line: b.line,
            from: indent.min(last_to - 1),
            to: last_to,
            primary,
            message: label.message.clone(),
        },
    ]
}

fn location(files: &Index<'_>, span: Span) -> String {
    match files.get(span.file) {
        Some(lines) => {
            let p = lines.pos(span.start);
            format!("{}:{}:{}", lines.path, p.line + 1, lines.column(p))
        }
        None => "<unknown file>".to_owned(),
    }
}

/// Largest line number shown for a diagnostic (sets the gutter width).
fn max_line(d: &Diagnostic, files: &Index<'_>) -> usize {
    std::iter::once(&d.primary)
        .chain(&d.secondary)
        .filter_map(|l| {
            let lines = files.get(l.span.file)?;
            Some(lines.pos(l.span.end.max(l.span.start)).line + 1)
        })
        .max()
        .unwrap_or(1)
}

fn snippet(
    out: &mut String,
    st: &Style,
    pad: usize,
    (lines, redact): (&Lines<'_>, &[Span]),
    labels: &[(&Label, bool)],
    sev: Severity,
) {
    let mut marks: Vec<Mark> = labels
        .iter()
        .flat_map(|(l, p)| marks_for(lines, l, *p))
        .collect();
    marks.sort_by_key(|m| (m.line, !m.primary, m.from));
    let gutter = st.blue(&format!("{:pad$} |", ""));
    let _ = writeln!(out, "{gutter}");
    let mut shown: Vec<usize> = marks.iter().map(|m| m.line).collect();
    // A span over a few lines shows them all; a longer one shows its ends around `...`.
    for (l, _) in labels {
        let (a, b) = (lines.pos(l.span.start).line, lines.pos(l.span.end).line);
        if b > a && b - a <= MAX_SPAN_LINES {
            shown.extend(a..=b);
        }
    }
    shown.sort_unstable();
    shown.dedup();
    let mut prev: Option<usize> = None;
    for &line in &shown {
        if let Some(p) = prev {
            if line == p + 2 {
                print_line(out, st, pad, lines, p + 1, redact);
            } else if line > p + 2 {
                let _ = writeln!(out, "{}", st.blue("..."));
            }
        }
        print_line(out, st, pad, lines, line, redact);
        let on_line: Vec<&Mark> = marks.iter().filter(|m| m.line == line).collect();
        underline_rows(out, st, &gutter, &on_line, sev);
        prev = Some(line);
    }
}

/// Writes the underline rows of one source line. Non-overlapping marks share one row, and
/// their messages hang below on `|` connectors, rustc style; overlapping marks get a row each.
fn underline_rows(out: &mut String, st: &Style, gutter: &str, marks: &[&Mark], sev: Severity) {
    let mut sorted: Vec<&Mark> = marks.to_vec();
    sorted.sort_by_key(|m| (m.from, m.to));
    let overlap = sorted.windows(2).any(|w| match w {
        [a, b] => a.to > b.from,
        _ => false,
    });
    let paint = |m: &Mark, text: &str| {
        if m.primary {
            st.severity(sev, text)
        } else {
            st.blue(text)
        }
    };
    if overlap || sorted.len() < 2 {
        for m in &sorted {
            let ch = if m.primary { "^" } else { "-" };
            let under = ch.repeat(m.to.saturating_sub(m.from).max(1));
            let text = if m.message.is_empty() {
                under
            } else {
                format!("{under} {}", m.message)
            };
            let _ = writeln!(out, "{gutter} {}{}", " ".repeat(m.from), paint(m, &text));
        }
        return;
    }
    // Row 1: every underline, the last mark's message inline.
    let mut row = String::new();
    let mut col = 0;
    for (i, m) in sorted.iter().enumerate() {
        row.push_str(&" ".repeat(m.from.saturating_sub(col)));
        let ch = if m.primary { "^" } else { "-" };
        let mut text = ch.repeat(m.to.saturating_sub(m.from).max(1));
        if i + 1 == sorted.len() && !m.message.is_empty() {
            text = format!("{text} {}", m.message);
        }
        row.push_str(&paint(m, &text));
        col = m.to.max(m.from + 1);
    }
    let _ = writeln!(out, "{gutter} {row}");
    // Then, right to left, each other message on a connector.
    let rest = sorted.get(..sorted.len() - 1).unwrap_or(&[]);
    for (i, m) in rest.iter().enumerate().rev() {
        if m.message.is_empty() {
            continue;
        }
        for with_message in [false, true] {
            let mut row = String::new();
            let mut col = 0;
            for (j, c) in rest.iter().enumerate().take(i + 1) {
                row.push_str(&" ".repeat(c.from.saturating_sub(col)));
                if j == i && with_message {
                    row.push_str(&paint(c, &c.message));
                } else {
                    row.push_str(&paint(c, "|"));
                }
                col = c.from + 1;
            }
            let _ = writeln!(out, "{gutter} {row}");
        }
    }
}

fn print_line(
    out: &mut String,
    st: &Style,
    pad: usize,
    lines: &Lines<'_>,
    line: usize,
    redact: &[Span],
) {
    let num = st.blue(&format!("{:>pad$} |", line + 1));
    let text = display_line(lines.line_text(line), lines.line_start(line), redact);
    if text.is_empty() {
        let _ = writeln!(out, "{num}");
    } else {
        let _ = writeln!(out, "{num} {text}");
    }
}

fn render_one(out: &mut String, d: &Diagnostic, files: &Index<'_>, st: &Style) {
    let head = st.severity(d.severity, &format!("{}[{}]", d.severity.as_str(), d.code));
    let _ = writeln!(out, "{head}{}", st.bold(&format!(": {}", d.message)));
    let pad = max_line(d, files).to_string().len();
    let _ = writeln!(
        out,
        "{}{} {}",
        " ".repeat(pad),
        st.blue("-->"),
        location(files, d.primary.span)
    );
    let mut groups: Vec<(usize, Vec<(&Label, bool)>)> = Vec::new();
    for (l, primary) in
        std::iter::once((&d.primary, true)).chain(d.secondary.iter().map(|l| (l, false)))
    {
        match groups.iter_mut().find(|(f, _)| *f == l.span.file) {
            Some((_, v)) => v.push((l, primary)),
            None => groups.push((l.span.file, vec![(l, primary)])),
        }
    }
    for (i, (file, labels)) in groups.iter().enumerate() {
        let Some(f) = files.get(*file) else {
            continue;
        };
        if i > 0 {
            let first = labels
                .first()
                .map_or(Span::new(*file, 0, 0), |(l, _)| l.span);
            let _ = writeln!(
                out,
                "{}{} {}",
                " ".repeat(pad),
                st.blue(":::"),
                location(files, first)
            );
        }
        let redact: Vec<Span> = d
            .redact
            .iter()
            .filter(|s| s.file == *file)
            .copied()
            .collect();
        snippet(out, st, pad, (f, &redact), labels, d.severity);
    }
    if d.help.is_some() || !d.notes.is_empty() {
        let _ = writeln!(out, "{}", st.blue(&format!("{:pad$} |", "")));
    }
    let eq = st.blue(&format!("{:pad$} =", ""));
    for n in &d.notes {
        let _ = writeln!(out, "{eq} {}: {n}", st.bold("note"));
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "{eq} {}: {h}", st.bold("help"));
    }
    out.push('\n');
}

/// Renders diagnostics the way rustc does (see the crate docs). `color` adds ANSI escapes.
#[must_use]
pub fn render_human(diags: &[Diagnostic], files: &[SourceFile], color: bool) -> String {
    let st = Style { color };
    let files = index(files);
    let mut out = String::new();
    for d in diags {
        render_one(&mut out, d, &files, &st);
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRange {
    file: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    byte_start: usize,
    byte_end: usize,
}

fn range(files: &Index<'_>, span: Span) -> JsonRange {
    let (file, (line, column), (end_line, end_column)) = match files.get(span.file) {
        Some(lines) => {
            let a = lines.pos(span.start);
            let b = lines.pos(span.end.max(span.start));
            (
                lines.path.to_owned(),
                (a.line + 1, lines.column(a)),
                (b.line + 1, lines.column(b)),
            )
        }
        None => (String::new(), (1, 1), (1, 1)),
    };
    JsonRange {
        file,
        line,
        column,
        end_line,
        end_column,
        byte_start: span.start,
        byte_end: span.end,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRelated {
    #[serde(flatten)]
    range: JsonRange,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDiagnostic {
    severity: &'static str,
    code: &'static str,
    message: String,
    #[serde(flatten)]
    range: JsonRange,
    label: String,
    help: Option<String>,
    notes: Vec<String>,
    related: Vec<JsonRelated>,
}

/// Renders diagnostics as a pretty-printed JSON array (format in the crate docs).
#[must_use]
pub fn render_json(diags: &[Diagnostic], files: &[SourceFile]) -> String {
    let files = &index(files);
    let items: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| JsonDiagnostic {
            severity: d.severity.as_str(),
            code: d.code.as_str(),
            message: d.message.clone(),
            range: range(files, d.primary.span),
            label: d.primary.message.clone(),
            help: d.help.clone(),
            notes: d.notes.clone(),
            related: d
                .secondary
                .iter()
                .map(|l| JsonRelated {
                    range: range(files, l.span),
                    message: l.message.clone(),
                })
                .collect(),
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned())
}
