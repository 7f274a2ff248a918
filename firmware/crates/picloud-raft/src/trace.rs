//! Write-path timing, off by default: set `PICLOUD_TRACE_WRITES=1` in a node's
//! environment and it records how long each stage of a write took and prints
//! a table (count, p50, p99, mean per stage, in µs) to stderr when the node
//! shuts down, and every [`REPORT_EVERY`] samples of the `total` stage.
//!
//! Stages on the leader, per Raft entry (a batch of client requests), keyed by
//! log index:
//!
//! | stage | from → to |
//! | --- | --- |
//! | `leader.queue` | request handed to the batcher → `client_write` called |
//! | `leader.core_to_append` | `client_write` called → `LogStore::append` called |
//! | `leader.append_to_flushed` | `LogStore::append` → the engine's fdatasync callback |
//! | `leader.append_to_apply` | `LogStore::append` → `apply` starts (commit) |
//! | `leader.apply` | `apply` (state machine + event store append, no wait) |
//! | `leader.apply_to_reply` | `apply` ends → `client_write` returns |
//! | `leader.client_write` | `client_write` called → returns |
//! | `leader.total` | request handed to the batcher → answer ready |
//! | `repl.append_to_send` | `LogStore::append` → `append_entries` RPC with that entry sent |
//! | `repl.rpc` | `append_entries` RPC with entries sent → answered (follower's fsync inside) |
//! | `follower.append_entries` | on a follower: the handler's time (its log append and fsync) |
//! | `events.written` | event store append → its write/sync callback |
//! | `node.handle_append` | (binary) client frame decoded → answer encoded |
//! | `net.request_queued_to_flushed` | a node-to-node request queued → its frame flushed to the socket (writer task hop + write) |
//! | `net.request_read_to_handler` | a request frame decoded → its handler task starts (spawn hop) |
//! | `net.response_queued_to_flushed` | a response queued → flushed to the socket |
//! | `net.response_read_to_caller` | a response frame decoded → the caller resumes (oneshot hop) |
//! | `api.request_read_to_handler` | (binary) client frame decoded → its handler task starts |
//! | `api.response_queued_to_flushed` | (binary) client answer queued → flushed to the socket |
//!
//! The `net.*` stages count every node-to-node message, heartbeats and votes
//! included (about ten a second per peer besides the writes).
//!
//! Only meaningful at low concurrency (1 client): with several batches in
//! flight the stages overlap. The disabled path is one relaxed atomic load.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

pub use tokio::time::Instant;

/// Environment variable that enables tracing (`1`).
pub const TRACE_ENV: &str = "PICLOUD_TRACE_WRITES";
/// A report is printed every this many `leader.total` samples.
pub const REPORT_EVERY: usize = 5_000;

static STATE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 off, 2 on

/// AppendEntries RPCs (with or without entries) that openraft abandoned
/// before the peer answered: openraft 0.9 gives each one
/// `heartbeat_interval` and then drops it, resetting that follower's
/// replication (always counted, tracing on or off; see [`RpcGuard`]).
pub static APPEND_ENTRIES_ABANDONED: AtomicU64 = AtomicU64::new(0);

/// Counts an AppendEntries call in [`APPEND_ENTRIES_ABANDONED`] if it is
/// dropped before [`RpcGuard::done`].
#[derive(Debug)]
pub(crate) struct RpcGuard {
    done: bool,
}

impl RpcGuard {
    pub(crate) fn new() -> Self {
        RpcGuard { done: false }
    }
    pub(crate) fn done(mut self) {
        self.done = true;
    }
}

impl Drop for RpcGuard {
    fn drop(&mut self) {
        if !self.done {
            APPEND_ENTRIES_ABANDONED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether tracing is on (reads the environment once).
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var(TRACE_ENV).is_ok_and(|v| v == "1");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// The current instant when tracing is on.
pub fn now() -> Option<Instant> {
    enabled().then(Instant::now)
}

#[derive(Default)]
struct Trace {
    samples: BTreeMap<&'static str, Vec<u32>>,
    /// Log index → (append called, flushed, apply start, apply end).
    marks: HashMap<u64, Marks>,
    /// When the latest `client_write` was called (its log index is known only
    /// when it returns).
    last_client_write: Option<Instant>,
}

#[derive(Default, Clone, Copy)]
struct Marks {
    append: Option<Instant>,
    flushed: Option<Instant>,
    apply_start: Option<Instant>,
    apply_end: Option<Instant>,
}

fn trace() -> std::sync::MutexGuard<'static, Trace> {
    static T: std::sync::OnceLock<Mutex<Trace>> = std::sync::OnceLock::new();
    T.get_or_init(|| Mutex::new(Trace::default()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn micros(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u32::MAX)
}

/// Records one sample of `stage` (from `since` to now).
pub fn record(stage: &'static str, since: Option<Instant>) {
    let Some(since) = since else { return };
    let us = micros(since, Instant::now());
    let report = {
        let mut t = trace();
        let v = t.samples.entry(stage).or_default();
        v.push(us);
        stage == "leader.total" && v.len().is_multiple_of(REPORT_EVERY)
    };
    if report {
        eprintln!("{}", report_table());
    }
}

/// `client_write` is about to be called.
pub(crate) fn client_write_start() -> Option<Instant> {
    let t = now()?;
    trace().last_client_write = Some(t);
    Some(t)
}

/// `LogStore::append` was called for entries starting at `index`.
pub(crate) fn appended(first: u64, last: u64) -> Option<Instant> {
    let t = now()?;
    let mut tr = trace();
    let start = tr.last_client_write.take();
    for i in first..=last {
        tr.marks.entry(i).or_default().append = Some(t);
    }
    if let Some(s) = start {
        tr.samples
            .entry("leader.core_to_append")
            .or_default()
            .push(micros(s, t));
    }
    // Followers append without a client_write: keep the map bounded.
    if tr.marks.len() > 100_000 {
        tr.marks.clear();
    }
    Some(t)
}

/// An `append_entries` RPC carrying entries up to `last` is being sent: records
/// `repl.append_to_send` (leader's `LogStore::append` → this send) if known.
pub(crate) fn rpc_send(last: u64) -> Option<Instant> {
    let t = now()?;
    let mut tr = trace();
    if let Some(a) = tr.marks.get(&last).and_then(|m| m.append) {
        tr.samples
            .entry("repl.append_to_send")
            .or_default()
            .push(micros(a, t));
    }
    Some(t)
}

/// The engine's callback for entries `first..=last` ran.
pub(crate) fn flushed(first: u64, last: u64, since: Option<Instant>) {
    let Some(since) = since else { return };
    let t = Instant::now();
    let mut tr = trace();
    for i in first..=last {
        tr.marks.entry(i).or_default().flushed = Some(t);
    }
    tr.samples
        .entry("leader.append_to_flushed")
        .or_default()
        .push(micros(since, t));
}

/// `apply` started / ended for entries `first..=last`.
pub(crate) fn applied(first: u64, last: u64, start: Instant) {
    let end = Instant::now();
    let mut tr = trace();
    for i in first..=last {
        let m = tr.marks.entry(i).or_default();
        m.apply_start = Some(start);
        m.apply_end = Some(end);
    }
}

/// `client_write` returned for the entry at `index`, called at `start`.
pub(crate) fn client_write_done(index: u64, start: Option<Instant>) {
    let Some(start) = start else { return };
    let end = Instant::now();
    let mut tr = trace();
    let m = tr.marks.remove(&index).unwrap_or_default();
    let mut push = |k: &'static str, v: Option<u32>| {
        if let Some(v) = v {
            tr.samples.entry(k).or_default().push(v);
        }
    };
    push("leader.client_write", Some(micros(start, end)));
    push(
        "leader.append_to_apply",
        m.append.zip(m.apply_start).map(|(a, b)| micros(a, b)),
    );
    push(
        "leader.apply",
        m.apply_start.zip(m.apply_end).map(|(a, b)| micros(a, b)),
    );
    push("leader.apply_to_reply", m.apply_end.map(|a| micros(a, end)));
    let _ = m.flushed;
}

/// The collected figures as a table.
pub fn report_table() -> String {
    let t = trace();
    let mut out = format!("write-path trace ({TRACE_ENV}=1), µs:\n");
    out.push_str(&format!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}\n",
        "stage", "count", "p50", "p99", "mean"
    ));
    for (k, v) in &t.samples {
        let mut s = v.clone();
        s.sort_unstable();
        let pct = |p: f64| {
            let i = ((s.len().saturating_sub(1)) as f64 * p).round() as usize;
            s.get(i).copied().unwrap_or(0)
        };
        let mean = s.iter().map(|x| u64::from(*x)).sum::<u64>() / (s.len().max(1) as u64);
        out.push_str(&format!(
            "{k:<28} {:>8} {:>8} {:>8} {:>8}\n",
            s.len(),
            pct(0.5),
            pct(0.99),
            mean
        ));
    }
    out
}

/// Prints the table to stderr if tracing is on and anything was recorded.
pub fn report() {
    if enabled() && !trace().samples.is_empty() {
        eprintln!("{}", report_table());
    }
}
