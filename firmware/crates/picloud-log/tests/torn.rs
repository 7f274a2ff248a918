//! Torn writes: cut or corrupt the last record of the last segment at every
//! byte offset; recovery keeps every earlier record and reports the drop.
//! Each case runs on a zero-filled segment (records followed by zero-filled
//! free space: a cut record is its bytes partly written, then zeros) and on an
//! old-style segment without a zero tail (written with zero fill off: a cut
//! record is a shorter file). A zero tail is never reported as dropped.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};

use common::*;
use picloud_log::{scan_segment, Backend, Log, LogError, RecoveryReport};

const SEG: u64 = 1024;
/// Zero-fill chunks tested: the default (clamped to the segment size, so every
/// segment file is zero-filled to `SEG`), and 0 (old-style files).
const CHUNKS: [u64; 2] = [picloud_log::DEFAULT_ZERO_FILL_CHUNK, 0];

fn entries(from: u64, n: u64) -> Vec<(u64, Vec<u8>)> {
    (from..from + n).map(|i| (i, payload(i, 0))).collect()
}

fn open_z(dir: &Path, b: Backend, chunk: u64) -> (Log, RecoveryReport) {
    Log::open(dir, cfg_zero(b, SEG, chunk)).unwrap()
}

/// The last segment of a log built by [`build`].
struct Built {
    bytes: Vec<u8>,
    path: PathBuf,
    /// Offset of the last record's frame.
    off: usize,
    /// Offset just past it.
    end: usize,
}

/// Builds a log of `n` records over several segments.
fn build(dir: &Path, b: Backend, n: u64, chunk: u64) -> Built {
    let (log, _) = open_z(dir, b, chunk);
    for i in 1..=n {
        log.append_wait(entries(i, 1)).unwrap();
    }
    drop(log);
    let segs = segment_files(dir);
    assert!(segs.len() >= 2, "want several segments");
    let path = segs.last().unwrap().clone();
    let bytes = std::fs::read(&path).unwrap();
    let scan = scan_segment(&bytes);
    assert_eq!(scan.error, None);
    let (idx, range) = scan.records.last().unwrap().clone();
    assert_eq!(idx, n);
    let (off, end) = (range.start - 16, range.end);
    if chunk == 0 {
        assert_eq!(end, bytes.len(), "old-style file ends with its last record");
    } else {
        assert_eq!(
            bytes.len() as u64,
            SEG,
            "zero-filled up to the segment size"
        );
        assert_eq!(nonzero_end(&bytes[end..]), 0, "zero tail");
    }
    Built {
        bytes,
        path,
        off,
        end,
    }
}

/// Checks the report of a recovery that found `bytes[off..]` after the last
/// good record `n - 1` (or nothing to drop if that is all zero).
fn check_report(rep: &RecoveryReport, bytes: &[u8], off: usize, n: u64, path: &Path, ctx: &str) {
    let damage = nonzero_end(&bytes[off..]) as u64;
    assert_eq!(rep.truncated_bytes, damage, "{ctx}: {rep:?}");
    if damage == 0 {
        assert_eq!(rep.dropped_records, 0, "{ctx}");
        assert_eq!(rep.first_dropped_index, None, "{ctx}");
        assert_eq!(rep.torn_segment, None, "{ctx}");
    } else {
        assert!(rep.dropped_records >= 1, "{ctx}");
        assert_eq!(rep.first_dropped_index, Some(n), "{ctx}");
        assert_eq!(rep.torn_segment.as_deref(), Some(path), "{ctx}");
    }
}

#[test]
fn cut_last_record_at_every_offset() {
    for b in backends() {
        for chunk in CHUNKS {
            let d = TempDir::new("torn-cut");
            let n = 40;
            let Built {
                bytes: orig,
                path,
                off,
                end,
            } = build(d.path(), b, n, chunk);
            for k in 0..(end - off) {
                let ctx = format!("{b:?} chunk {chunk} cut at +{k}");
                let bytes = if chunk == 0 {
                    orig[..off + k].to_vec()
                } else {
                    let mut z = orig.clone();
                    z[off + k..end].fill(0);
                    z
                };
                std::fs::write(&path, &bytes).unwrap();
                let (log, rep) = open_z(d.path(), b, chunk);
                assert_eq!(log.read(..).unwrap(), entries(1, n - 1), "{ctx}");
                assert_eq!(rep.last_index, Some(n - 1), "{ctx}");
                check_report(&rep, &bytes, off, n, &path, &ctx);
                // the log continues where it was cut, and the cut is durable
                log.append_wait(entries(n, 1)).unwrap();
                drop(log);
                let (log, rep) = open_z(d.path(), b, chunk);
                assert_eq!(rep.truncated_bytes, 0, "{ctx}");
                assert_eq!(rep.dropped_records, 0, "{ctx}");
                assert_eq!(log.read(..).unwrap(), entries(1, n), "{ctx}");
            }
        }
    }
}

#[test]
fn corrupt_last_record_at_every_offset() {
    for b in backends() {
        for chunk in CHUNKS {
            let d = TempDir::new("torn-flip");
            let n = 40;
            let Built {
                bytes: orig,
                path,
                off,
                end,
            } = build(d.path(), b, n, chunk);
            for k in 0..(end - off) {
                let ctx = format!("{b:?} chunk {chunk} flip at +{k}");
                let mut bytes = orig.clone();
                bytes[off + k] ^= 0x5a;
                std::fs::write(&path, &bytes).unwrap();
                let (log, rep) = open_z(d.path(), b, chunk);
                assert_eq!(log.read(..).unwrap(), entries(1, n - 1), "{ctx}");
                check_report(&rep, &bytes, off, n, &path, &ctx);
                assert!(rep.truncated_bytes >= 1, "{ctx}");
                drop(log);
                // the damage is gone from the file: cut, and zero-filled again
                let after = std::fs::read(&path).unwrap();
                assert_eq!(after[..off], orig[..off], "{ctx}");
                assert_eq!(nonzero_end(&after[off..]), 0, "{ctx}");
                if chunk == 0 {
                    assert_eq!(after.len(), off, "{ctx}");
                } else {
                    assert_eq!(after.len() as u64, SEG, "{ctx}: zero-filled again");
                }
                let (_, rep) = open_z(d.path(), b, chunk);
                assert_eq!(rep.truncated_bytes, 0, "{ctx}: reported twice");
                std::fs::write(&path, &orig).unwrap();
            }
        }
    }
}

/// A torn write whose first sector was lost while later ones landed: the last
/// record's frame header reads as zeros, its payload is there.
#[test]
fn lost_first_sector_of_last_record() {
    for b in backends() {
        for chunk in CHUNKS {
            let ctx = format!("{b:?} chunk {chunk}");
            let d = TempDir::new("torn-sector");
            let n = 40;
            let built = build(d.path(), b, n, chunk);
            let mut bytes = built.bytes.clone();
            bytes[built.off..built.off + 16].fill(0);
            std::fs::write(&built.path, &bytes).unwrap();
            let (log, rep) = open_z(d.path(), b, chunk);
            assert_eq!(log.read(..).unwrap(), entries(1, n - 1), "{ctx}");
            check_report(&rep, &bytes, built.off, n, &built.path, &ctx);
            assert_eq!(rep.truncated_bytes, (built.end - built.off) as u64, "{ctx}");
            drop(log);
            let (log, rep) = open_z(d.path(), b, chunk);
            assert_eq!(rep.truncated_bytes, 0, "{ctx}");
            assert_eq!(log.last_index(), Some(n - 1), "{ctx}");
        }
    }
}

/// Non-zero bytes inside the zero-filled space after an intact last record
/// are damage: reported and removed; every record is kept.
#[test]
fn garbage_in_zero_tail_of_last_segment() {
    for b in backends() {
        let d = TempDir::new("torn-garbage");
        let n = 40;
        let built = build(d.path(), b, n, picloud_log::DEFAULT_ZERO_FILL_CHUNK);
        if built.end + 20 > built.bytes.len() {
            continue;
        }
        let mut bytes = built.bytes.clone();
        bytes[built.end + 19] = 0xee;
        std::fs::write(&built.path, &bytes).unwrap();
        let (log, rep) = open_z(d.path(), b, picloud_log::DEFAULT_ZERO_FILL_CHUNK);
        assert_eq!(log.read(..).unwrap(), entries(1, n));
        assert_eq!(rep.truncated_bytes, 20, "{rep:?}");
        assert_eq!(rep.dropped_records, 1);
        assert_eq!(rep.first_dropped_index, Some(n + 1));
        drop(log);
        let (_, rep) = open_z(d.path(), b, picloud_log::DEFAULT_ZERO_FILL_CHUNK);
        assert_eq!(rep.truncated_bytes, 0);
    }
}

/// Old-style files (no zero tail) open with zero fill on, nothing is reported,
/// and the log continues in zero-filled space.
#[test]
fn old_style_segments_open_with_zero_fill() {
    for b in backends() {
        let d = TempDir::new("torn-old");
        let n = 40;
        let built = build(d.path(), b, n, 0);
        let (log, rep) = open_z(d.path(), b, picloud_log::DEFAULT_ZERO_FILL_CHUNK);
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!(rep.dropped_records, 0);
        assert_eq!(log.read(..).unwrap(), entries(1, n));
        log.append_wait(entries(n + 1, 1)).unwrap();
        drop(log);
        assert_eq!(std::fs::metadata(&built.path).unwrap().len(), SEG);
        let (log, rep) = open_z(d.path(), b, 0);
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!(log.read(..).unwrap(), entries(1, n + 1));
    }
}

#[test]
fn torn_header_of_newest_segment_is_removed() {
    for b in backends() {
        for chunk in CHUNKS {
            let d = TempDir::new("torn-head");
            let built = build(d.path(), b, 40, chunk);
            let (orig, path) = (built.bytes, built.path);
            let first: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            for cut in [0usize, 1, 31] {
                std::fs::write(&path, &orig[..cut]).unwrap();
                let (log, rep) = open_z(d.path(), b, chunk);
                assert_eq!(rep.removed_segments, vec![path.clone()]);
                assert_eq!(log.read(..).unwrap(), entries(1, first - 1));
                drop(log);
            }
            // zeroed header (blocks that never reached the disk)
            let mut z = orig.clone();
            z[..32].fill(0);
            std::fs::write(&path, &z).unwrap();
            let (log, rep) = open_z(d.path(), b, chunk);
            assert_eq!(rep.removed_segments, vec![path.clone()]);
            assert_eq!(log.last_index(), Some(first - 1));
        }
    }
}

#[test]
fn corruption_in_sealed_segment_is_a_hard_error() {
    for b in backends() {
        for chunk in CHUNKS {
            let ctx = format!("{b:?} chunk {chunk}");
            let d = TempDir::new("sealed");
            let _ = build(d.path(), b, 40, chunk);
            let segs = segment_files(d.path());
            let sealed = &segs[0];
            let orig = std::fs::read(sealed).unwrap();
            let valid = scan_segment(&orig).valid_len;
            let corrupt = |bytes: &[u8], what: &str| {
                std::fs::write(sealed, bytes).unwrap();
                assert!(
                    matches!(
                        Log::open(d.path(), cfg_zero(b, SEG, chunk)),
                        Err(LogError::Corrupt { .. })
                    ),
                    "{ctx}: {what}"
                );
            };
            // a flipped payload byte in the middle of the records
            let mut bytes = orig.clone();
            bytes[valid / 2] ^= 1;
            corrupt(&bytes, "flipped byte");
            // a cut last record of a sealed segment
            corrupt(&orig[..valid - 3], "cut record");
            // a cut record followed by zeros
            let mut bytes = orig.clone();
            bytes[valid - 3..valid].fill(0);
            corrupt(&bytes, "zeroed end of record");
            // non-zero bytes in its zero tail
            if valid < orig.len() {
                let mut bytes = orig.clone();
                *bytes.last_mut().unwrap() = 1;
                corrupt(&bytes, "garbage in zero tail");
            }
            // a deleted middle segment
            std::fs::write(sealed, &orig).unwrap();
            if segs.len() >= 3 {
                let mid = std::fs::read(&segs[1]).unwrap();
                std::fs::remove_file(&segs[1]).unwrap();
                assert!(matches!(
                    Log::open(d.path(), cfg_zero(b, SEG, chunk)),
                    Err(LogError::Discontiguous { .. })
                ));
                std::fs::write(&segs[1], mid).unwrap();
            }
            // intact again (zero tail included): opens, nothing reported
            let (log, rep) = open_z(d.path(), b, chunk);
            assert_eq!(rep.truncated_bytes, 0, "{ctx}");
            assert_eq!(log.read(..).unwrap(), entries(1, 40), "{ctx}");
        }
    }
}
