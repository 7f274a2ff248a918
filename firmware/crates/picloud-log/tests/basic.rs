//! Log engine behaviour: append, read, rollover, truncate, purge, reopen, concurrency, metadata, snapshots; each on both backends.
// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use picloud_log::{Backend, Log, LogConfig, LogError};

fn entries(from: u64, n: u64, g: u64) -> Vec<(u64, Vec<u8>)> {
    (from..from + n).map(|i| (i, payload(i, g))).collect()
}

fn assert_range(log: &Log, from: u64, to: u64, g: u64) {
    let got = log.read(..).unwrap();
    let want = entries(from, to + 1 - from, g);
    assert_eq!(got.len(), want.len(), "entry count");
    assert_eq!(got, want);
}

#[test]
fn append_read_reopen() {
    for b in backends() {
        let d = TempDir::new("basic");
        {
            let (log, rep) = open(d.path(), b, 1 << 20);
            assert_eq!(rep.backend, b);
            assert_eq!(rep.last_index, None);
            assert_eq!(log.first_index(), None);
            log.append_wait(entries(1, 10, 0)).unwrap();
            assert_eq!(log.first_index(), Some(1));
            assert_eq!(log.last_index(), Some(10));
            assert_range(&log, 1, 10, 0);
            assert_eq!(log.read(3..5).unwrap(), entries(3, 2, 0));
            assert_eq!(log.read(9..100).unwrap(), entries(9, 2, 0));
            assert!(log.read(11..).unwrap().is_empty());
        }
        let (log, rep) = open(d.path(), b, 1 << 20);
        assert_eq!(rep.truncated_bytes, 0);
        assert_eq!((rep.first_index, rep.last_index), (Some(1), Some(10)));
        assert_range(&log, 1, 10, 0);
        log.append_wait(entries(11, 1, 0)).unwrap();
        assert_range(&log, 1, 11, 0);
    }
}

#[test]
fn contiguity_errors() {
    for b in backends() {
        let d = TempDir::new("contig");
        let (log, _) = open(d.path(), b, 1 << 20);
        log.append_wait(entries(5, 3, 0)).unwrap();
        assert!(matches!(
            log.append_wait(entries(9, 1, 0)),
            Err(LogError::IndexGap {
                expected: 8,
                got: 9
            })
        ));
        assert!(matches!(
            log.append_wait(entries(7, 1, 0)),
            Err(LogError::IndexOverlap {
                expected: 8,
                got: 7
            })
        ));
        assert!(matches!(
            log.append_wait(vec![(8, vec![1]), (10, vec![2])]),
            Err(LogError::NotContiguous {
                previous: 8,
                got: 10
            })
        ));
        assert!(matches!(
            log.append_wait(vec![(8, vec![0; 1025])]),
            Err(LogError::RecordTooLarge {
                index: 8,
                len: 1025,
                max: 1024
            })
        ));
        log.append_wait(Vec::new()).unwrap();
        log.append_wait(entries(8, 1, 0)).unwrap();
        assert_range(&log, 5, 8, 0);
    }
}

#[test]
fn bad_config() {
    let d = TempDir::new("cfg");
    let r = Log::open(
        d.path(),
        LogConfig {
            max_segment_size: 100,
            max_record_size: 1000,
            backend: Backend::Std,
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(LogError::Config { .. })));
}

#[test]
fn rollover_and_reads_across_segments() {
    for b in backends() {
        let d = TempDir::new("roll");
        {
            let (log, _) = open(d.path(), b, 2048);
            for i in 0..30 {
                log.append_wait(entries(1 + i * 10, 10, 0)).unwrap();
            }
            assert!(segment_files(d.path()).len() > 10);
            assert_range(&log, 1, 300, 0);
            for (lo, hi) in [(1, 2), (17, 18), (100, 250), (299, 301), (33, 34)] {
                assert_eq!(log.read(lo..hi).unwrap(), entries(lo, hi.min(301) - lo, 0));
            }
        }
        let (log, rep) = open(d.path(), b, 2048);
        assert_eq!(rep.segments, segment_files(d.path()).len());
        assert_eq!(rep.last_index, Some(300));
        assert_range(&log, 1, 300, 0);
        // every segment is within the size limit
        for f in segment_files(d.path()) {
            assert!(std::fs::metadata(&f).unwrap().len() <= 2048);
        }
    }
}

#[test]
fn truncate_then_append() {
    for b in backends() {
        let d = TempDir::new("trunc");
        let (log, _) = open(d.path(), b, 2048);
        log.append_wait(entries(1, 100, 0)).unwrap();
        // inside the last segment
        log.truncate(98).unwrap();
        assert_eq!(log.last_index(), Some(97));
        assert_range(&log, 1, 97, 0);
        log.append_wait(entries(98, 3, 1)).unwrap();
        let mut want = entries(1, 97, 0);
        want.extend(entries(98, 3, 1));
        assert_eq!(log.read(..).unwrap(), want);
        // across several segments
        log.truncate(20).unwrap();
        assert_range(&log, 1, 19, 0);
        log.append_wait(entries(20, 50, 2)).unwrap();
        drop(log);
        let (log, rep) = open(d.path(), b, 2048);
        assert_eq!(rep.truncated_bytes, 0);
        let mut want = entries(1, 19, 0);
        want.extend(entries(20, 50, 2));
        assert_eq!(log.read(..).unwrap(), want);
        // at a segment boundary: find the first index of the second segment
        let second = segment_files(d.path())[1].clone();
        let first_of_second: u64 = second
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        log.truncate(first_of_second).unwrap();
        assert_eq!(log.last_index(), Some(first_of_second - 1));
        assert_eq!(segment_files(d.path()).len(), 1);
        log.append_wait(entries(first_of_second, 5, 3)).unwrap();
        drop(log);
        let (log, _) = open(d.path(), b, 2048);
        assert_eq!(log.last_index(), Some(first_of_second + 4));
        assert_eq!(
            log.read(first_of_second..).unwrap(),
            entries(first_of_second, 5, 3)
        );
        // everything
        log.truncate(1).unwrap();
        assert_eq!(log.last_index(), None);
        log.append_wait(entries(1, 3, 4)).unwrap();
        assert_range(&log, 1, 3, 4);
        assert!(matches!(
            log.truncate(0),
            Err(LogError::TruncateBeforeStart { .. })
        ));
    }
}

#[test]
fn purge_prefix() {
    for b in backends() {
        let d = TempDir::new("purge");
        let (log, _) = open(d.path(), b, 2048);
        log.append_wait(entries(1, 200, 0)).unwrap();
        let before = segment_files(d.path()).len();
        log.purge(120, b"m120".to_vec()).unwrap();
        assert!(segment_files(d.path()).len() < before);
        assert_eq!(log.first_index(), Some(121));
        assert_eq!(log.read(..).unwrap(), entries(121, 80, 0));
        assert_eq!(log.read(1..130).unwrap(), entries(121, 9, 0));
        assert_eq!(log.purged(), Some((120, b"m120".to_vec())));
        assert!(matches!(
            log.truncate(120),
            Err(LogError::TruncateBeforeStart { .. })
        ));
        drop(log);
        let (log, rep) = open(d.path(), b, 2048);
        assert_eq!(rep.purged_index, Some(120));
        assert_eq!((rep.first_index, rep.last_index), (Some(121), Some(200)));
        assert_eq!(log.read(..).unwrap(), entries(121, 80, 0));
        // purge past the end: log empty, continues after the marker
        log.purge(500, b"m500".to_vec()).unwrap();
        assert_eq!(log.first_index(), None);
        assert_eq!(segment_files(d.path()).len(), 0);
        assert!(matches!(
            log.append_wait(entries(201, 1, 0)),
            Err(LogError::IndexOverlap { .. })
        ));
        log.append_wait(entries(501, 5, 0)).unwrap();
        drop(log);
        let (log, rep) = open(d.path(), b, 2048);
        assert_eq!((rep.first_index, rep.last_index), (Some(501), Some(505)));
        assert_eq!(log.read(..).unwrap(), entries(501, 5, 0));
    }
}

#[test]
fn vote_committed_snapshot() {
    for b in backends() {
        let d = TempDir::new("meta");
        {
            let (log, _) = open(d.path(), b, 4096);
            assert_eq!(log.read_vote(), None);
            assert_eq!(log.load_snapshot().unwrap(), None);
            for v in 0..5u8 {
                log.save_vote(&[v; 10]).unwrap();
            }
            log.save_committed(Some(b"c9")).unwrap();
            log.save_snapshot(b"meta1", &[7u8; 10000]).unwrap();
            log.save_snapshot(b"meta2", &[8u8; 5000]).unwrap();
            assert!(matches!(
                log.save_vote(&[0; 5000]),
                Err(LogError::MetaTooLarge { .. })
            ));
        }
        let (log, _) = open(d.path(), b, 4096);
        assert_eq!(log.read_vote(), Some(vec![4; 10]));
        assert_eq!(log.read_committed(), Some(b"c9".to_vec()));
        let s = log.load_snapshot().unwrap().unwrap();
        assert_eq!(
            (s.meta.as_slice(), s.data.as_slice()),
            (&b"meta2"[..], &[8u8; 5000][..])
        );
        log.save_committed(None).unwrap();
        drop(log);
        let (log, _) = open(d.path(), b, 4096);
        assert_eq!(log.read_committed(), None);
        assert_eq!(log.read_vote(), Some(vec![4; 10]));
    }
}

#[test]
fn torn_metadata_slot_falls_back() {
    let d = TempDir::new("metatorn");
    {
        let (log, _) = open(d.path(), Backend::Std, 4096);
        log.save_vote(b"one").unwrap();
        log.save_vote(b"two").unwrap();
    }
    // seq 2 lives in slot 0: corrupt it.
    let p = d.path().join("meta");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let (log, _) = open(d.path(), Backend::Std, 4096);
    assert_eq!(log.read_vote(), Some(b"one".to_vec()));
    log.save_vote(b"three").unwrap();
    drop(log);
    let (log, _) = open(d.path(), Backend::Std, 4096);
    assert_eq!(log.read_vote(), Some(b"three".to_vec()));
    drop(log);
    // both slots bad: hard error
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[40] ^= 0xff;
    bytes[4096 + 40] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    assert!(matches!(
        Log::open(d.path(), cfg(Backend::Std, 4096)),
        Err(LogError::MetaCorrupt { .. })
    ));
}

#[test]
fn concurrent_appenders() {
    for b in backends() {
        let d = TempDir::new("conc");
        let (log, _) = open(d.path(), b, 64 << 10);
        let log = Arc::new(log);
        let next = Arc::new(Mutex::new(1u64));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let log = Arc::clone(&log);
                let next = Arc::clone(&next);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for k in 0..50u64 {
                        let n = 1 + (t + k) % 3;
                        let ticket = {
                            let mut g = next.lock().unwrap();
                            let from = *g;
                            *g += n;
                            mine.push(from);
                            log.append_async(entries(from, n, 0)).unwrap()
                        };
                        ticket.wait().unwrap();
                        // durable and readable
                        assert_eq!(
                            log.read(mine[mine.len() - 1]..mine[mine.len() - 1] + 1)
                                .unwrap()
                                .len(),
                            1
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let last = *next.lock().unwrap() - 1;
        assert_range(&log, 1, last, 0);
        drop(log);
        let (log, _) = open(d.path(), b, 64 << 10);
        assert_range(&log, 1, last, 0);
    }
}

#[test]
fn callbacks_run_in_order_and_entries_readable_before_durable() {
    for b in backends() {
        let d = TempDir::new("order");
        let (log, _) = open(d.path(), b, 1 << 20);
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 1..=200u64 {
            let o = Arc::clone(&order);
            log.append(
                entries(i, 1, 0),
                Box::new(move |r| {
                    r.unwrap();
                    o.lock().unwrap().push(i);
                }),
            )
            .unwrap();
            // readable immediately after append returns
            assert_eq!(log.read(i..=i).unwrap(), entries(i, 1, 0));
        }
        log.append_wait(Vec::new()).unwrap();
        assert_eq!(*order.lock().unwrap(), (1..=200).collect::<Vec<_>>());
    }
}

#[test]
fn truncate_while_appends_queued() {
    for b in backends() {
        let d = TempDir::new("tq");
        let (log, _) = open(d.path(), b, 2048);
        let mut tickets = Vec::new();
        for i in 1..=50u64 {
            tickets.push(log.append_async(entries(i, 1, 0)).unwrap());
        }
        log.truncate(30).unwrap();
        let t2 = log.append_async(entries(30, 10, 1)).unwrap();
        assert_eq!(log.read(28..32).unwrap(), {
            let mut v = entries(28, 2, 0);
            v.extend(entries(30, 2, 1));
            v
        });
        for t in tickets {
            t.wait().unwrap();
        }
        t2.wait().unwrap();
        let mut want = entries(1, 29, 0);
        want.extend(entries(30, 10, 1));
        assert_eq!(log.read(..).unwrap(), want);
        drop(log);
        let (log, _) = open(d.path(), b, 2048);
        assert_eq!(log.read(..).unwrap(), want);
    }
}

#[test]
fn closed_log_refuses() {
    let d = TempDir::new("closed");
    let (log, _) = open(d.path(), Backend::Std, 4096);
    log.close().unwrap();
    assert!(matches!(
        log.append_wait(entries(1, 1, 0)),
        Err(LogError::Closed)
    ));
}

#[test]
fn purge_below_start_keeps_log_openable() {
    for b in backends() {
        let d = TempDir::new("purgelow");
        let (log, _) = open(d.path(), b, 2048);
        log.append_wait(entries(100, 5, 0)).unwrap();
        log.purge(50, b"m".to_vec()).unwrap();
        assert_eq!(log.first_index(), Some(100));
        drop(log);
        let (log, rep) = open(d.path(), b, 2048);
        assert_eq!((rep.first_index, rep.last_index), (Some(100), Some(104)));
        assert_eq!(log.read(..).unwrap(), entries(100, 5, 0));
    }
}

/// One append by one client: one `pwrite` + one `fdatasync` (std) or one
/// `io_uring_enter` with a linked write+fsync (io_uring), no directory fsync;
/// run under `strace -f -c` to see the syscalls.
#[test]
fn single_append_sync_count() {
    for b in backends() {
        let d = TempDir::new("syncs");
        let (log, _) = open(d.path(), b, 1 << 20);
        log.append_wait(entries(1, 1, 0)).unwrap();
        for i in 2..=200 {
            log.append_wait(vec![(i, vec![7u8; 256])]).unwrap();
        }
    }
}

#[test]
fn on_demand_sync_policy() {
    use picloud_log::SyncPolicy;
    for b in backends() {
        let d = TempDir::new("ondemand");
        let cfg = LogConfig {
            sync: SyncPolicy::OnDemand,
            ..cfg(b, 2048)
        };
        {
            let (log, _) = Log::open(d.path(), cfg.clone()).unwrap();
            for i in 0..30 {
                // The callback means "written" here; entries are readable either way.
                log.append_wait(entries(1 + i * 10, 10, 0)).unwrap();
            }
            assert!(segment_files(d.path()).len() > 10);
            log.sync().unwrap();
            assert_range(&log, 1, 300, 0);
            log.close().unwrap();
            assert!(matches!(log.sync(), Err(LogError::Closed)));
        }
        // A crash can only cost a tail of the last segment (sealed segments are
        // synced before the next is created): simulate losing part of it.
        // (The file may end in zero-filled space: cut into the last record.)
        let segs = segment_files(d.path());
        let last = segs.last().unwrap();
        let len = picloud_log::scan_segment(&std::fs::read(last).unwrap()).valid_len as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(last)
            .unwrap()
            .set_len(len - 40)
            .unwrap();
        let (log, rep) = Log::open(d.path(), cfg.clone()).unwrap();
        assert!(rep.dropped_records >= 1, "{rep:?}");
        let kept = log.last_index().unwrap();
        assert_eq!(rep.first_dropped_index, Some(kept + 1));
        assert_eq!(log.read(..).unwrap(), entries(1, kept, 0));
    }
}
