//! Behaviour of `check` and the renderers beyond the example files.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use picloud_domain::resource::{ResourceKind, ResourceSpec};
use picloud_lang::{check, parse, render_human, render_json, Code, Diagnostic, SourceFile, Span};

fn err(files: &[SourceFile]) -> Vec<Diagnostic> {
    check(files).expect_err("expected diagnostics")
}

const PRODUCT: &str = "product 'photo-app' = { version: '1.0.0' }\n";

#[test]
fn resources_are_sorted_and_typed() {
    let files = [SourceFile::new(
        "a.picloud",
        format!(
            "{PRODUCT}volume 'b' = {{ product: 'photo-app', size: '1GB' }}\n\
             volume 'a' = {{ product: 'photo-app', size: '512MiB', volumeType: 'raw-block' }}\n\
             product 'aaa' = {{ version: '0.1.0' }}"
        ),
    )];
    let set = check(&files).unwrap();
    let ids: Vec<(String, ResourceKind, String)> = set
        .resources
        .iter()
        .map(|r| (r.product.to_string(), r.kind, r.name.to_string()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("aaa".into(), ResourceKind::Product, "aaa".into()),
            (
                "photo-app".into(),
                ResourceKind::Product,
                "photo-app".into()
            ),
            ("photo-app".into(), ResourceKind::Volume, "a".into()),
            ("photo-app".into(), ResourceKind::Volume, "b".into()),
        ]
    );
    let ResourceSpec::Volume(v) = &set.resources[2].spec else {
        panic!()
    };
    assert_eq!(v.size.bytes(), 512 * 1024 * 1024);
}

#[test]
fn duplicates_across_files_point_at_the_first() {
    let files = [
        SourceFile::new(
            "one.picloud",
            format!("{PRODUCT}secret 's' = {{ product: 'photo-app', value: 'x' }}"),
        ),
        SourceFile::new(
            "two.picloud",
            "secret 's' = { product: 'photo-app', value: 'y' }",
        ),
    ];
    let d = err(&files);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::DuplicateResource);
    assert_eq!(d[0].primary.span.file, 1);
    assert_eq!(d[0].secondary[0].span.file, 0);
    let text = render_human(&d, &files, false);
    assert!(text.contains("::: one.picloud:2:8"), "{text}");
    assert!(text.contains("--> two.picloud:1:8"), "{text}");
    // Secret values are masked, never printed.
    assert!(!text.contains("'y'") && !text.contains("'x'"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&render_json(&d, &files)).unwrap();
    assert_eq!(json[0]["code"], "PC0301");
    assert_eq!(json[0]["file"], "two.picloud");
    assert_eq!(json[0]["line"], 1);
    assert_eq!(json[0]["column"], 8);
    assert_eq!(json[0]["endColumn"], 11);
    assert_eq!(json[0]["related"][0]["file"], "one.picloud");
    assert_eq!(json[0]["related"][0]["message"], "first declared here");
    assert!(json[0]["help"].is_string());
}

#[test]
fn all_syntax_errors_are_reported() {
    let src = "product 'p' = {\n  version: '1.0.0'\n  a: ]\n  b: 'x\n  c = 1\n}\nvolume 'v' = { product: 'p' size: 1x }\n";
    let d = err(&[SourceFile::new("f", src)]);
    let codes: Vec<Code> = d.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        vec![
            Code::UnexpectedToken,
            Code::UnterminatedString,
            Code::UnexpectedToken,
            Code::InvalidNumber
        ]
    );
}

#[test]
fn tabs_and_wide_chars_align() {
    let src = "product 'p' = {\n\tversion: '1.0.0'\n\tdescription: '日本語'  colour: 'x'\n}\n";
    let files = [SourceFile::new("f.picloud", src)];
    let d = err(&files);
    let text = render_human(&d, &files, false);
    let lines: Vec<&str> = text.lines().collect();
    let src_line = lines.iter().position(|l| l.contains("colour:")).unwrap();
    let caret = lines[src_line + 1];
    // "    description: '日本語'  " is 4 + 13 + 8 + 2 display columns before `colour`.
    let prefix = lines[src_line].find("    description").unwrap();
    assert_eq!(caret.find('^').unwrap() - prefix, 4 + 13 + 8 + 2, "{text}");
    assert!(text.contains("--> f.picloud:3:22"), "{text}");
}

#[test]
fn renderers_survive_bogus_spans() {
    let files = [SourceFile::new("f", "é\r\nab\tc")];
    let mut d = Diagnostic::error(Code::WrongType, "m", Span::new(0, 1, 999), "l")
        .with_label(Span::new(7, 0, 1), "other file")
        .with_label(Span::new(0, 5, 2), "reversed");
    d.redact.push(Span::new(0, 0, 100));
    for color in [false, true] {
        let _ = render_human(std::slice::from_ref(&d), &files, color);
    }
    let _ = render_json(&[d], &files);
}

#[test]
fn color_adds_ansi() {
    let files = [SourceFile::new("f", "volum 'x' = {}")];
    let d = err(&files);
    assert!(render_human(&d, &files, true).contains("\x1b[1;31merror[PC0204]"));
    assert!(!render_human(&d, &files, false).contains('\x1b'));
}

#[test]
fn multiline_strings_and_references() {
    let src = format!(
        "{PRODUCT}feature-flag 'f' = {{\n  product: 'photo-app'\n  description: '''\n    line one\n      indented\n    '''\n}}\n"
    );
    let set = check(&[SourceFile::new("f", src)]).unwrap();
    let ResourceSpec::FeatureFlag(f) = &set.resources[1].spec else {
        panic!()
    };
    assert_eq!(f.description.as_deref(), Some("line one\n  indented\n"));
    assert!(f.enabled);

    let bad = format!(
        "{PRODUCT}identity 'w' = {{ product: 'photo-app', roles: ['admin'] }}\n\
         container 'c' = {{ product: 'photo-app', image: 'x:1', env: {{ A: config('nope'), B: secrt('x') }} }}\n"
    );
    let d = err(&[SourceFile::new("f", bad)]);
    let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        vec![
            "undeclared role `admin`",
            "undeclared config entry `nope`",
            "unknown function `secrt`"
        ]
    );
}

#[test]
fn parse_is_exposed() {
    let (file, diags) = parse(0, "product 'p' = { version: '1.0.0' }");
    assert!(diags.is_empty());
    assert_eq!(file.decls.len(), 1);
}

#[test]
fn resource_limits_are_bounded() {
    let src = format!(
        "{PRODUCT}container 'c' = {{ product: 'photo-app', image: 'x:1', resources: {{ cpu: '500', memory: '1MiB' }} }}\n"
    );
    let d = err(&[SourceFile::new("f", src)]);
    let labels: Vec<&str> = d.iter().map(|d| d.primary.message.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "must be from '1m' to '128' cores",
            "must be from '4MiB' to '1TiB'"
        ]
    );
}

#[test]
fn self_inheritance_is_a_cycle() {
    let src = format!("{PRODUCT}role 'r' = {{ product: 'photo-app', inherits: ['r'] }}\n");
    let d = err(&[SourceFile::new("f", src)]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::InheritanceCycle);
    assert_eq!(d[0].notes, vec!["the cycle is `r` → `r`".to_owned()]);
}

#[test]
fn secret_values_are_never_echoed() {
    for value in [
        "\"hunter2-secret\"",
        "hunter2-secret",
        "'hunter2-secret",
        "'hunter2-secret\\q'",
        "12hunter2secret",
    ] {
        let src =
            format!("{PRODUCT}secret 's' = {{\n  product: 'photo-app'\n  value: {value}\n}}\n");
        let files = [SourceFile::new("f", src)];
        let d = err(&files);
        let human = render_human(&d, &files, false);
        let json = render_json(&d, &files);
        assert!(!human.contains("hunter2"), "{value}:\n{human}");
        assert!(!json.contains("hunter2"), "{value}:\n{json}");
    }
}
