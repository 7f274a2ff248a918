//! Splits the input into 1–3 files at 0xFF bytes (each file's bytes decoded lossily as UTF-8)
//! and runs `check` plus both renderers on the result. Nothing may panic, hang or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picloud_lang::{check, parse, render_human, render_json, SourceFile};

fuzz_target!(|data: &[u8]| {
    let files: Vec<SourceFile> = data
        .splitn(3, |&b| b == 0xFF)
        .enumerate()
        .map(|(i, part)| {
            SourceFile::new(
                format!("f{i}.picloud"),
                String::from_utf8_lossy(part).into_owned(),
            )
        })
        .collect();
    for (i, f) in files.iter().enumerate() {
        let _ = parse(i, &f.text);
    }
    if let Err(diags) = check(&files) {
        assert!(!diags.is_empty());
        let _ = render_human(&diags, &files, false);
        let _ = render_human(&diags, &files, true);
        let _ = render_json(&diags, &files);
    }
});
