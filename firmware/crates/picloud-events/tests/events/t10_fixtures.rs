//! Committed fixtures pin every variant's log bytes and API JSON forever.
//!
//! `UPDATE_FIXTURES=1 cargo test -p picloud-events --test events` writes the fixtures that
//! are *missing* (a new variant); it never overwrites one. See the crate docs.

use std::path::{Path, PathBuf};

use picloud_events::{decode_json, decode_log, encode_log, Envelope, EventPayload};

use crate::samples;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json_path(type_name: &str, version: u32) -> PathBuf {
    fixtures_dir()
        .join(type_name)
        .join(format!("v{version}.json"))
}

fn hex_path(type_name: &str, version: u32) -> PathBuf {
    fixtures_dir()
        .join(type_name)
        .join(format!("v{version}.postcard.hex"))
}

fn pretty_json(e: &Envelope) -> String {
    serde_json::to_string_pretty(e).unwrap() + "\n"
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.push('\n');
    s
}

fn from_hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn write_missing(path: &Path, contents: &str) {
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        eprintln!("wrote new fixture {}", path.display());
    }
}

#[test]
fn samples_follow_the_catalogue() {
    let payloads = samples::payloads();
    let listed: Vec<(&str, u32)> = payloads
        .iter()
        .map(|p| (p.type_name(), p.version()))
        .collect();
    assert_eq!(
        listed,
        EventPayload::CATALOGUE,
        "one sample per variant, in catalogue order"
    );
}

#[test]
fn every_variant_has_committed_fixtures() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut missing = Vec::new();
    for envelope in samples::envelopes() {
        let (t, v) = (envelope.payload.type_name(), envelope.payload.version());
        if update {
            write_missing(&json_path(t, v), &pretty_json(&envelope));
            write_missing(&hex_path(t, v), &to_hex(&encode_log(&envelope).unwrap()));
        }
        for path in [json_path(t, v), hex_path(t, v)] {
            if !path.exists() {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing fixtures (generate with UPDATE_FIXTURES=1, review, commit): {missing:#?}"
    );
}

#[test]
fn no_orphan_fixtures() {
    let Ok(dirs) = std::fs::read_dir(fixtures_dir()) else {
        return; // nothing committed yet; every_variant_has_committed_fixtures reports it
    };
    for dir in dirs {
        let dir = dir.unwrap().path();
        let type_name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().file_name().into_string().unwrap();
            let version: u32 = file
                .strip_prefix('v')
                .and_then(|f| f.split('.').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("unexpected fixture file {type_name}/{file}"));
            assert!(
                EventPayload::CATALOGUE.contains(&(type_name.as_str(), version)),
                "fixture {type_name}/{file} has no catalogue variant"
            );
        }
    }
}

#[test]
fn committed_fixtures_decode_and_reencode_identically() {
    for (index, &(t, v)) in EventPayload::CATALOGUE.iter().enumerate() {
        let Ok(json) = std::fs::read_to_string(json_path(t, v)) else {
            continue;
        };
        let Ok(hex) = std::fs::read_to_string(hex_path(t, v)) else {
            continue;
        };

        let from_json = decode_json(&json).unwrap_or_else(|e| panic!("{t}/v{v}.json: {e}"));
        assert_eq!(
            pretty_json(&from_json),
            json,
            "{t}/v{v}.json re-encodes differently"
        );

        let bytes = from_hex(&hex);
        let from_log = decode_log(&bytes).unwrap_or_else(|e| panic!("{t}/v{v}.postcard.hex: {e}"));
        assert_eq!(
            encode_log(&from_log).unwrap(),
            bytes,
            "{t}/v{v} log bytes differ"
        );

        assert_eq!(
            from_json, from_log,
            "{t}/v{v}: json and log fixtures disagree"
        );
        let sample = samples::envelopes().swap_remove(index);
        assert_eq!(
            from_log, sample,
            "{t}/v{v}: the sample drifted from the fixture"
        );
    }
}

#[test]
fn client_registered_v1_upcasts_to_v2_without_an_identity() {
    let text = std::fs::read_to_string(json_path("ClientRegistered", 1)).unwrap();
    let envelope = decode_json(&text).unwrap();
    match envelope.payload.upcast() {
        EventPayload::ClientRegisteredV2(p) => {
            assert_eq!(p.client_id.as_str(), "photo-app");
            assert_eq!(p.identity, None);
            assert_eq!(p.redirect_uris.len(), 1);
        }
        other => panic!("not upcast: {other:?}"),
    }
}
