//! Torn writes: cut or corrupt the last record of the last segment at every
//! byte offset; recovery keeps every earlier record and reports the drop.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use common::*;
use picloud_log::{Backend, LogError};

fn entries(from: u64, n: u64) -> Vec<(u64, Vec<u8>)> {
    (from..from + n).map(|i| (i, payload(i, 0))).collect()
}

/// Builds a log of `n` records over several segments; returns the last
/// segment's bytes, its path, and the last record's frame offset.
fn build(dir: &std::path::Path, b: Backend, n: u64) -> (Vec<u8>, std::path::PathBuf, usize) {
    let (log, _) = open(dir, b, 1024);
    for i in 1..=n {
        log.append_wait(entries(i, 1)).unwrap();
    }
    drop(log);
    let segs = segment_files(dir);
    assert!(segs.len() >= 2, "want several segments");
    let path = segs.last().unwrap().clone();
    let bytes = std::fs::read(&path).unwrap();
    let frame = 16 + payload(n, 0).len();
    (bytes.clone(), path, bytes.len() - frame)
}

#[test]
fn cut_last_record_at_every_offset() {
    for b in backends() {
        let d = TempDir::new("torn-cut");
        let n = 40;
        let (orig, path, off) = build(d.path(), b, n);
        for k in 0..(orig.len() - off) {
            std::fs::write(&path, &orig[..off + k]).unwrap();
            let (log, rep) = open(d.path(), b, 1024);
            assert_eq!(log.read(..).unwrap(), entries(1, n - 1), "cut at +{k}");
            assert_eq!(rep.last_index, Some(n - 1));
            if k == 0 {
                assert_eq!(rep.truncated_bytes, 0);
                assert_eq!(rep.dropped_records, 0);
            } else {
                assert_eq!(rep.truncated_bytes, k as u64, "cut at +{k}");
                assert_eq!(rep.dropped_records, 1);
                assert_eq!(rep.first_dropped_index, Some(n));
                assert_eq!(rep.torn_segment.as_deref(), Some(path.as_path()));
            }
            // the log continues where it was cut, and the cut is durable
            log.append_wait(entries(n, 1)).unwrap();
            drop(log);
            let (log, rep) = open(d.path(), b, 1024);
            assert_eq!(rep.truncated_bytes, 0);
            assert_eq!(log.read(..).unwrap(), entries(1, n));
        }
    }
}

#[test]
fn corrupt_last_record_at_every_offset() {
    for b in backends() {
        let d = TempDir::new("torn-flip");
        let n = 40;
        let (orig, path, off) = build(d.path(), b, n);
        let frame = orig.len() - off;
        for k in 0..frame {
            let mut bytes = orig.clone();
            bytes[off + k] ^= 0x5a;
            std::fs::write(&path, &bytes).unwrap();
            let (log, rep) = open(d.path(), b, 1024);
            assert_eq!(log.read(..).unwrap(), entries(1, n - 1), "flip at +{k}");
            assert_eq!(rep.truncated_bytes, frame as u64, "flip at +{k}");
            assert!(rep.dropped_records >= 1);
            assert_eq!(rep.first_dropped_index, Some(n));
            assert_eq!(std::fs::metadata(&path).unwrap().len(), off as u64);
        }
    }
}

#[test]
fn torn_header_of_newest_segment_is_removed() {
    for b in backends() {
        let d = TempDir::new("torn-head");
        let (orig, path, _) = build(d.path(), b, 40);
        let first: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        for cut in [0usize, 1, 31] {
            std::fs::write(&path, &orig[..cut]).unwrap();
            let (log, rep) = open(d.path(), b, 1024);
            assert_eq!(rep.removed_segments, vec![path.clone()]);
            assert_eq!(log.read(..).unwrap(), entries(1, first - 1));
            drop(log);
        }
        // zeroed header (blocks that never reached the disk)
        let mut z = orig.clone();
        z[..32].fill(0);
        std::fs::write(&path, &z).unwrap();
        let (log, rep) = open(d.path(), b, 1024);
        assert_eq!(rep.removed_segments, vec![path.clone()]);
        assert_eq!(log.last_index(), Some(first - 1));
    }
}

#[test]
fn corruption_in_sealed_segment_is_a_hard_error() {
    for b in backends() {
        let d = TempDir::new("sealed");
        let _ = build(d.path(), b, 40);
        let segs = segment_files(d.path());
        let sealed = &segs[0];
        let orig = std::fs::read(sealed).unwrap();
        // a flipped payload byte in the middle
        let mut bytes = orig.clone();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(sealed, &bytes).unwrap();
        assert!(matches!(
            picloud_log::Log::open(d.path(), cfg(b, 1024)),
            Err(LogError::Corrupt { .. })
        ));
        // a cut tail of a sealed segment
        std::fs::write(sealed, &orig[..orig.len() - 3]).unwrap();
        assert!(matches!(
            picloud_log::Log::open(d.path(), cfg(b, 1024)),
            Err(LogError::Corrupt { .. })
        ));
        // a deleted middle segment
        std::fs::write(sealed, &orig).unwrap();
        if segs.len() >= 3 {
            let mid = std::fs::read(&segs[1]).unwrap();
            std::fs::remove_file(&segs[1]).unwrap();
            assert!(matches!(
                picloud_log::Log::open(d.path(), cfg(b, 1024)),
                Err(LogError::Discontiguous { .. })
            ));
            std::fs::write(&segs[1], mid).unwrap();
        }
        // intact again: opens
        let (log, _) = open(d.path(), b, 1024);
        assert_eq!(log.read(..).unwrap(), entries(1, 40));
    }
}
