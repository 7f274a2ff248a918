//! Crash consistency: for every failpoint (and both backends), a child process
//! (this test binary re-executed) appends from several threads, truncates,
//! purges, saves votes and snapshots, prints what was acknowledged, and aborts
//! at the failpoint (modelling power loss where the failpoint says so). The
//! parent reopens the log and checks that it is a contiguous prefix holding
//! every acknowledged record with identical bytes.
//!
//! The workload runs with zero fill ahead in small chunks ([`ZERO_CHUNK`], so
//! that the idle zero fill and the inline one both run many times) on both
//! backends, and with zero fill off on the std backend. The recovery
//! failpoints (cutting a torn tail at open) are reached by a second child
//! that opens a log left with a torn tail by a first crash.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use picloud_log::{Backend, Log, FAILPOINTS, FAILPOINT_ENV};

const DIR_ENV: &str = "PICLOUD_LOG_CRASH_DIR";
const BACKEND_ENV: &str = "PICLOUD_LOG_CRASH_BACKEND";
const CHUNK_ENV: &str = "PICLOUD_LOG_CRASH_ZERO_CHUNK";
const SEG: u64 = 2048;
/// Zero-fill chunk of the crash workload: a quarter segment.
const ZERO_CHUNK: u64 = 512;

fn snap_data(r: u64) -> Vec<u8> {
    (0..(r * 37 % 3000 + 10)).map(|k| (k + r) as u8).collect()
}

/// The child's workload; returns only if the failpoint was never reached.
fn workload(dir: &str, backend: Backend, chunk: u64) {
    let (log, _) = Log::open(dir, cfg_zero(backend, SEG, chunk)).unwrap();
    let log = Arc::new(log);
    let next = Arc::new(Mutex::new(1u64));
    let gen = Arc::new(AtomicU64::new(0));
    let mut purged = 0u64;
    for round in 0..60u64 {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (log, next, gen) = (Arc::clone(&log), Arc::clone(&next), Arc::clone(&gen));
                std::thread::spawn(move || {
                    for k in 0..4u64 {
                        let n = 1 + (t + k + round) % 3;
                        let g = gen.load(Ordering::SeqCst);
                        let (from, ticket) = {
                            let mut guard = next.lock().unwrap();
                            let from = *guard;
                            *guard += n;
                            let e = (from..from + n).map(|i| (i, payload(i, g))).collect();
                            (from, log.append_async(e).unwrap())
                        };
                        ticket.wait().unwrap();
                        for i in from..from + n {
                            println!("ack {i} {g}");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let last = *next.lock().unwrap() - 1;
        log.save_vote(&round.to_le_bytes()).unwrap();
        println!("vote {round}");
        if round % 3 == 0 {
            println!("snap-start {round}");
            log.save_snapshot(&round.to_le_bytes(), &snap_data(round))
                .unwrap();
            println!("snap {round}");
        }
        if round % 4 == 1 && last > 60 && last - 60 > purged {
            let p = last - 60;
            println!("purge-start {p}");
            log.purge(p, p.to_le_bytes().to_vec()).unwrap();
            println!("purge {p}");
            purged = p;
        }
        if round % 5 == 2 {
            let back = if round % 2 == 0 { 2 } else { 25 };
            if last > back && last - back > purged + 1 {
                let t = last - back;
                println!("trunc-start {t}");
                log.truncate(t).unwrap();
                println!("trunc {t}");
                *next.lock().unwrap() = t;
                gen.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Entry point of the child role; a no-op test in the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let backend = match std::env::var(BACKEND_ENV).as_deref() {
        Ok("uring") => Backend::IoUring,
        _ => Backend::Std,
    };
    let chunk = std::env::var(CHUNK_ENV)
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(ZERO_CHUNK);
    workload(&dir, backend, chunk);
    println!("finished");
}

#[derive(Debug, Default)]
struct Model {
    acked: BTreeMap<u64, u64>,
    trunc_in_flight: Option<u64>,
    purged: u64,
    purge_in_flight: Option<u64>,
    vote: Option<u64>,
    snap: Option<u64>,
    snap_in_flight: Option<u64>,
    finished: bool,
}

fn model(stdout: &str) -> Model {
    let mut m = Model::default();
    for line in stdout.lines() {
        let mut w = line.split_whitespace();
        let (Some(tag), Some(a)) = (w.next(), w.next()) else {
            if line.trim() == "finished" {
                m.finished = true;
            }
            continue;
        };
        let Ok(a) = a.parse::<u64>() else { continue };
        match tag {
            "ack" => {
                let g: u64 = w.next().unwrap().parse().unwrap();
                m.acked.insert(a, g);
            }
            "trunc-start" => m.trunc_in_flight = Some(a),
            "trunc" => {
                m.acked.split_off(&a);
                m.trunc_in_flight = None;
            }
            "purge-start" => m.purge_in_flight = Some(a),
            "purge" => {
                m.purged = a;
                m.purge_in_flight = None;
            }
            "vote" => m.vote = Some(a),
            "snap-start" => m.snap_in_flight = Some(a),
            "snap" => {
                m.snap = Some(a);
                m.snap_in_flight = None;
            }
            _ => {}
        }
    }
    m
}

/// Runs the workload in a child process with `fp@hit` armed; returns what it
/// acknowledged. Asserts that it aborted at the failpoint.
fn crash_child_at(
    dir: &std::path::Path,
    fp: &str,
    hit: u32,
    backend: Backend,
    chunk: u64,
) -> Model {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(DIR_ENV, dir)
        .env(
            BACKEND_ENV,
            if backend == Backend::IoUring {
                "uring"
            } else {
                "std"
            },
        )
        .env(CHUNK_ENV, chunk.to_string())
        .env(FAILPOINT_ENV, format!("{fp}@{hit}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let m = model(&stdout);
    let ctx = format!("failpoint {fp}@{hit} backend {backend:?} zero chunk {chunk}");
    assert!(!m.finished, "{ctx}: failpoint never reached");
    assert_eq!(
        out.status.signal(),
        Some(libc_sigabrt()),
        "{ctx}: child did not abort: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    m
}

fn run_case(fp: &str, hit: u32, backend: Backend, chunk: u64) {
    let d = TempDir::new(&format!("crash-{}", fp.replace('.', "-")));
    let dir = d.path().join("data");
    let m = crash_child_at(&dir, fp, hit, backend, chunk);
    let ctx = format!("failpoint {fp}@{hit} backend {backend:?} zero chunk {chunk}");
    assert!(
        !m.acked.is_empty() || hit <= 2,
        "{ctx}: nothing acknowledged before the crash"
    );
    check_recovered(&dir, &m, chunk, &ctx);
}

/// Reopens the log twice and checks it against what the child acknowledged.
fn check_recovered(dir: &std::path::Path, m: &Model, chunk: u64, ctx: &str) {
    for pass in 0..2 {
        let (log, rep) = Log::open(dir, cfg_zero(Backend::Std, SEG, chunk))
            .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
        if pass == 1 {
            assert_eq!(rep.truncated_bytes, 0, "{ctx}: second recovery cut again");
            assert_eq!(rep.dropped_records, 0, "{ctx}: second recovery dropped");
        }
        let purged = log.purged().map_or(0, |(p, _)| p);
        assert!(
            purged >= m.purged,
            "{ctx}: acknowledged purge {} lost ({purged})",
            m.purged
        );
        assert!(
            purged <= m.purge_in_flight.unwrap_or(m.purged).max(m.purged),
            "{ctx}: purge marker {purged} beyond any purge asked for"
        );
        let entries = log.read(..).unwrap();
        // contiguous, well-formed
        if let (Some(f), Some(l)) = (log.first_index(), log.last_index()) {
            assert_eq!(f, purged.max(entries.first().map_or(f, |e| e.0)).max(f));
            assert_eq!(entries.len() as u64, l - f + 1, "{ctx}: not contiguous");
        }
        for w in entries.windows(2) {
            assert_eq!(w[0].0 + 1, w[1].0, "{ctx}: gap");
        }
        let got: BTreeMap<u64, u64> = entries
            .iter()
            .map(|(i, p)| {
                let (pi, g) =
                    check_payload(p).unwrap_or_else(|| panic!("{ctx}: entry {i} has garbage"));
                assert_eq!(pi, *i, "{ctx}: entry {i} holds the payload of {pi}");
                (*i, g)
            })
            .collect();
        // every acknowledged record survives with identical bytes
        for (i, g) in &m.acked {
            if *i <= purged {
                continue;
            }
            let may_be_cut = m.trunc_in_flight.is_some_and(|t| *i >= t);
            match got.get(i) {
                Some(gg) => assert_eq!(gg, g, "{ctx}: entry {i} has generation {gg}, acked {g}"),
                None => assert!(may_be_cut, "{ctx}: acknowledged entry {i} lost"),
            }
        }
        // vote and snapshot
        let vote = log
            .read_vote()
            .map(|v| u64::from_le_bytes(v.try_into().unwrap()));
        assert!(
            vote >= m.vote,
            "{ctx}: vote {vote:?} older than acknowledged {:?}",
            m.vote
        );
        let snap = log
            .load_snapshot()
            .unwrap_or_else(|e| panic!("{ctx}: snapshot: {e}"));
        match snap {
            Some(s) => {
                let r = u64::from_le_bytes(s.meta.clone().try_into().unwrap());
                assert!(
                    Some(r) == m.snap || Some(r) == m.snap_in_flight,
                    "{ctx}: snapshot {r}"
                );
                assert_eq!(s.data, snap_data(r), "{ctx}: snapshot data");
            }
            None => assert_eq!(m.snap, None, "{ctx}: acknowledged snapshot lost"),
        }
        // the log accepts the next entry
        let next = log.last_index().map_or(purged + 1, |l| l + 1);
        log.append_wait(vec![(next, payload(next, 99))]).unwrap();
        log.truncate(next).unwrap();
    }
}

fn libc_sigabrt() -> i32 {
    6
}

/// Failpoints on the recovery path, reached by [`run_recovery_case`].
fn is_recovery(fp: &str) -> bool {
    fp.starts_with("recovery.")
}

/// Failpoints that exist only with zero fill on.
fn needs_zero_fill(fp: &str) -> bool {
    fp.starts_with("zerofill.") || fp == "segment.pad.torn"
}

fn run_all(backend: Backend, chunk: u64) {
    for fp in FAILPOINTS {
        if is_recovery(fp) || (chunk == 0 && needs_zero_fill(fp)) {
            continue;
        }
        for hit in [2, 5] {
            run_case(fp, hit, backend, chunk);
        }
    }
}

/// A first child crashes right after an acknowledged commit; non-zero garbage
/// is then written after the last record (a torn write), and a second child
/// crashes at `fp` while recovery cuts it. The log must hold every record the
/// first child acknowledged.
fn run_recovery_case(fp: &str, backend: Backend, chunk: u64) {
    let d = TempDir::new(&format!("crash-{}", fp.replace('.', "-")));
    let dir = d.path().join("data");
    let ctx = format!("failpoint {fp} backend {backend:?} zero chunk {chunk}");
    let m = crash_child_at(&dir, "segment.fdatasync.after", 5, backend, chunk);
    assert!(!m.acked.is_empty(), "{ctx}: nothing acknowledged");
    let last = segment_files(&dir).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let valid = picloud_log::scan_segment(&bytes).valid_len;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
        f.write_all_at(&[0xa5; 40], valid as u64).unwrap();
    }
    let m2 = crash_child_at(&dir, fp, 1, backend, chunk);
    assert!(
        m2.acked.is_empty(),
        "{ctx}: the second child crashes in open"
    );
    check_recovered(&dir, &m, chunk, &ctx);
}

#[test]
fn crash_at_every_failpoint_std() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    run_all(Backend::Std, ZERO_CHUNK);
}

#[test]
fn crash_at_every_failpoint_std_without_zero_fill() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    run_all(Backend::Std, 0);
}

#[test]
fn crash_at_every_failpoint_io_uring() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    run_all(Backend::IoUring, ZERO_CHUNK);
}

#[test]
fn crash_during_recovery() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    for fp in FAILPOINTS.iter().filter(|f| is_recovery(f)) {
        for backend in [Backend::Std, Backend::IoUring] {
            for chunk in [ZERO_CHUNK, 0] {
                run_recovery_case(fp, backend, chunk);
            }
        }
    }
}
