//! Replays the committed cargo-fuzz corpus (`firmware/fuzz/corpus/lang_check`) through the
//! same steps as the `lang_check` fuzz target, so every input the fuzzer kept stays a
//! regression test in plain `cargo test` (no nightly toolchain needed).

use std::path::Path;

use picloud_lang::{check, parse, render_human, render_json, SourceFile};

#[test]
fn every_corpus_input_is_handled_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/lang_check");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
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
            let _ = render_human(&diags, &files, true);
            let _ = render_json(&diags, &files);
        }
        count += 1;
    }
    assert!(
        count >= 100,
        "only {count} corpus inputs found in {}",
        dir.display()
    );
}
