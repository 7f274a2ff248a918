//! Zero fill ahead: group commits overwrite zero-filled space inside the
//! segment file (its length does not change), the zeroed space never takes a
//! segment past `max_segment_size`, it is refilled while idle, and a clean
//! reopen reports nothing dropped.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::path::Path;

use common::*;
use picloud_log::{scan_segment, Log, SyncPolicy, DEFAULT_ZERO_FILL_CHUNK, ZERO_FILL_STEP};

const MIB: u64 = 1 << 20;

fn entries(from: u64, n: u64) -> Vec<(u64, Vec<u8>)> {
    (from..from + n)
        .map(|i| (i, vec![(i % 251) as u8 + 1; 256]))
        .collect()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Waits (polling, up to 10 s) until `cond` holds.
#[allow(clippy::disallowed_methods)] // test: polls the I/O thread's idle work
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn group_commits_after_warm_up_do_not_change_the_file_length() {
    for b in backends() {
        let d = TempDir::new("zf-len");
        let (log, _) = Log::open(d.path(), cfg_zero(b, 64 * MIB, DEFAULT_ZERO_FILL_CHUNK)).unwrap();
        log.append_wait(entries(1, 1)).unwrap();
        let seg = segment_files(d.path()).pop().unwrap();
        // the segment was created with its first step of zeros; the idle
        // I/O thread then fills a whole chunk ahead
        assert!(file_len(&seg) >= 32 + 272 + ZERO_FILL_STEP);
        wait_for("the first chunk", || {
            file_len(&seg) == 32 + 272 + DEFAULT_ZERO_FILL_CHUNK
        });
        let len = file_len(&seg);
        for i in 2..=300 {
            log.append_wait(entries(i, 1)).unwrap();
            assert_eq!(
                file_len(&seg),
                len,
                "{b:?}: append {i} changed the file length"
            );
        }
        // concurrent appends (group commits) too
        let tickets: Vec<_> = (301..=400)
            .map(|i| log.append_async(entries(i, 1)).unwrap())
            .collect();
        for t in tickets {
            t.wait().unwrap();
        }
        assert_eq!(file_len(&seg), len);
        assert_eq!(log.read(..).unwrap(), entries(1, 400));
        drop(log);
        // the file holds the records, then zeros
        let bytes = std::fs::read(&seg).unwrap();
        let scan = scan_segment(&bytes);
        assert_eq!(scan.error, None);
        assert_eq!(scan.records.len(), 400);
        assert_eq!(nonzero_end(&bytes), scan.valid_len);
    }
}

#[test]
fn clean_reopen_reports_nothing_dropped() {
    for b in backends() {
        let d = TempDir::new("zf-reopen");
        let cfg = cfg_zero(b, 64 * MIB, DEFAULT_ZERO_FILL_CHUNK);
        {
            let (log, _) = Log::open(d.path(), cfg.clone()).unwrap();
            log.append_wait(entries(1, 50)).unwrap();
            log.close().unwrap();
        }
        let seg = segment_files(d.path()).pop().unwrap();
        let logical = 32 + 272 * 50;
        for _ in 0..2 {
            let len = file_len(&seg);
            let (log, rep) = Log::open(d.path(), cfg.clone()).unwrap();
            assert_eq!(rep.truncated_bytes, 0, "{rep:?}");
            assert_eq!(rep.dropped_records, 0);
            assert_eq!(rep.first_dropped_index, None);
            assert_eq!(rep.torn_segment, None);
            assert!(rep.removed_segments.is_empty());
            assert_eq!(rep.last_index, Some(50));
            assert_eq!(log.read(..).unwrap(), entries(1, 50));
            drop(log);
            // the zero tail is kept (the idle fill may have extended it)
            assert!(file_len(&seg) >= len);
            assert_eq!(nonzero_end(&std::fs::read(&seg).unwrap()), logical);
        }
    }
}

#[test]
fn zero_fill_never_passes_the_segment_size() {
    for b in backends() {
        let d = TempDir::new("zf-cap");
        // chunk far larger than the segment
        let (log, _) = Log::open(d.path(), cfg_zero(b, 4096, MIB)).unwrap();
        for i in 1..=100 {
            log.append_wait(entries(i, 1)).unwrap();
        }
        drop(log);
        let segs = segment_files(d.path());
        assert!(segs.len() > 3);
        for s in &segs {
            assert_eq!(file_len(s), 4096, "{s:?}");
        }
        let (log, rep) = Log::open(d.path(), cfg_zero(b, 4096, MIB)).unwrap();
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!(log.read(..).unwrap(), entries(1, 100));
    }
}

#[test]
fn idle_zero_fill_keeps_a_chunk_ahead() {
    for b in backends() {
        let d = TempDir::new("zf-idle");
        let chunk = 16 << 10;
        let (log, _) = Log::open(d.path(), cfg_zero(b, MIB, chunk)).unwrap();
        log.append_wait(entries(1, 1)).unwrap();
        let seg = segment_files(d.path()).pop().unwrap();
        let first = file_len(&seg);
        assert_eq!(first, 32 + 272 + chunk, "header, record, one chunk");
        // use more than half the chunk, one append at a time (idle between)
        let n = chunk / 272;
        for i in 2..=n {
            log.append_wait(entries(i, 1)).unwrap();
        }
        let logical = 32 + 272 * n;
        // the idle I/O thread extends the zeroed space to a chunk ahead
        wait_for("the idle zero fill", || {
            file_len(&seg) >= logical + chunk / 2
        });
        let len = file_len(&seg);
        assert!(len > first, "zeroed space extended: {len} > {first}");
        assert!(len <= logical + chunk, "at most a chunk ahead: {len}");
        drop(log);
        let bytes = std::fs::read(&seg).unwrap();
        assert_eq!(nonzero_end(&bytes) as u64, logical);
        let (log, rep) = Log::open(d.path(), cfg_zero(b, MIB, chunk)).unwrap();
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!(log.read(..).unwrap(), entries(1, n));
    }
}

#[test]
fn zero_fill_off_keeps_files_at_their_logical_length() {
    for b in backends() {
        let d = TempDir::new("zf-off");
        let (log, _) = Log::open(d.path(), cfg_zero(b, MIB, 0)).unwrap();
        for i in 1..=20 {
            log.append_wait(entries(i, 1)).unwrap();
            let seg = segment_files(d.path()).pop().unwrap();
            assert_eq!(file_len(&seg), 32 + 272 * i);
        }
    }
}

#[test]
fn truncate_cuts_and_zero_fills_again() {
    for b in backends() {
        let d = TempDir::new("zf-trunc");
        let chunk = 16 << 10;
        let cfg = cfg_zero(b, MIB, chunk);
        let (log, _) = Log::open(d.path(), cfg.clone()).unwrap();
        log.append_wait(entries(1, 100)).unwrap();
        log.truncate(51).unwrap();
        let seg = segment_files(d.path()).pop().unwrap();
        let logical = 32 + 272 * 50;
        wait_for("the zero fill after truncate", || {
            file_len(&seg) >= logical + chunk / 2
        });
        log.append_wait(entries(51, 10)).unwrap();
        drop(log);
        let (log, rep) = Log::open(d.path(), cfg).unwrap();
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!(log.read(..).unwrap(), entries(1, 60));
    }
}

#[test]
fn on_demand_logs_are_not_zero_filled() {
    for b in backends() {
        let d = TempDir::new("zf-ondemand");
        let cfg = picloud_log::LogConfig {
            sync: SyncPolicy::OnDemand,
            ..cfg_zero(b, MIB, DEFAULT_ZERO_FILL_CHUNK)
        };
        let (log, _) = Log::open(d.path(), cfg).unwrap();
        log.append_wait(entries(1, 10)).unwrap();
        log.sync().unwrap();
        let seg = segment_files(d.path()).pop().unwrap();
        assert_eq!(file_len(&seg), 32 + 272 * 10);
    }
}
