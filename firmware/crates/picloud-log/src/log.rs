//! The log: public handle, shared state, recovery and the I/O thread.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use crate::error::{LogError, SegmentError};
use crate::failpoint;
use crate::format::{
    encode_record, frame_len, nonzero_end, ScanFail, SegmentHeader, SegmentScanner,
    MAX_PAYLOAD_HARD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::io::{open_backend, sync_dir, Backend, WriteBackend};
use crate::meta::MetaFile;
use crate::snapshot::{self, Snapshot, SNAPSHOT_TEMP};

/// Sub-directory holding the segments.
pub const LOG_DIR: &str = "log";
/// Name of the metadata file.
pub const META_FILE: &str = "meta";
/// One sparse-index entry per this many records.
pub const SPARSE_STRIDE: u64 = 16;
/// Sealed segments whose sparse index is cached for reads.
pub const SPARSE_CACHE_SEGMENTS: usize = 8;
/// A group commit stops taking more queued appends past this many bytes.
pub const MAX_GROUP_BYTES: usize = 16 << 20;
/// Largest allowed `max_segment_size` (offsets in the sparse index are u32).
pub const MAX_SEGMENT_SIZE_LIMIT: u64 = 1 << 30;
/// Default [`LogConfig::zero_fill_chunk`] (4 MiB).
pub const DEFAULT_ZERO_FILL_CHUNK: u64 = 4 << 20;
/// Environment variable that, when set, overrides [`LogConfig::zero_fill_chunk`]
/// (a byte count; 0 turns zero fill off) for every log the process opens: for
/// A/B benchmarks of the same binary. An unparsable value fails [`Log::open`].
pub const ZERO_FILL_CHUNK_ENV: &str = "PICLOUD_LOG_ZERO_FILL_CHUNK";
/// The idle zero fill writes and fdatasyncs at most this many bytes at a time
/// and checks the queue in between, so an append arriving while the I/O
/// thread zero-fills waits for at most one such step.
pub const ZERO_FILL_STEP: u64 = 256 << 10;

/// Callback of [`Log::append`]; called exactly once, on the I/O thread.
pub type AppendCallback = Box<dyn FnOnce(Result<(), LogError>) + Send>;

/// Configuration of [`Log::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A new segment is started when a record would take the current one past
    /// this size (default 64 MiB, at most 1 GiB).
    pub max_segment_size: u64,
    /// Largest payload accepted by `append` (default 8 MiB). Must leave room
    /// for the segment header and one frame header within `max_segment_size`.
    pub max_record_size: u64,
    /// Write backend.
    pub backend: Backend,
    /// When appends are made durable (default [`SyncPolicy::EveryGroup`]).
    pub sync: SyncPolicy,
    /// Zero-fill ahead (default [`DEFAULT_ZERO_FILL_CHUNK`], 4 MiB; 0 turns it
    /// off): the I/O thread keeps the active segment's file written with real
    /// zero bytes (written and fdatasynced, not a hole, not `fallocate`) up to
    /// this many bytes past the end of the last record, never past
    /// `max_segment_size`, so that a group commit overwrites allocated blocks
    /// inside the file's size and its fdatasync flushes data only (no ext4
    /// journal commit for a size or extent change). The zeroed space is
    /// extended when the queue is idle and less than half a chunk is left; a
    /// write that would run past it zeroes one [`ZERO_FILL_STEP`] (256 KiB, or
    /// the chunk if smaller) behind itself inline. Applies with
    /// [`SyncPolicy::EveryGroup`] only: an [`SyncPolicy::OnDemand`] log does
    /// not fdatasync per commit, so it gains nothing and is never zero
    /// filled. The environment variable [`ZERO_FILL_CHUNK_ENV`] overrides it.
    pub zero_fill_chunk: u64,
}

/// When [`Log::append`]ed entries are fdatasynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every group commit ends with one fdatasync; an append's callback means
    /// "durable". The Raft log uses this.
    #[default]
    EveryGroup,
    /// Appends are written (page cache) but not synced; the callback means
    /// "written". [`Log::sync`] (and [`Log::close`]) make everything written
    /// so far durable. A segment is always synced before the next one is
    /// created, so only the **last** segment can hold unsynced bytes and a
    /// crash can only cost a tail, which recovery cuts (rule 3). For stores
    /// whose content can be re-derived after a crash (the Raft state
    /// machine's event store is re-applied from the Raft log beyond its last
    /// snapshot, which syncs first).
    OnDemand,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_segment_size: 64 << 20,
            max_record_size: 8 << 20,
            backend: Backend::Auto,
            sync: SyncPolicy::EveryGroup,
            zero_fill_chunk: DEFAULT_ZERO_FILL_CHUNK,
        }
    }
}

impl LogConfig {
    fn validate(&self) -> Result<(), LogError> {
        let bad = |reason: String| Err(LogError::Config { reason });
        if self.max_segment_size > MAX_SEGMENT_SIZE_LIMIT {
            return bad(format!(
                "max_segment_size {} exceeds {MAX_SEGMENT_SIZE_LIMIT}",
                self.max_segment_size
            ));
        }
        if self.max_record_size > MAX_PAYLOAD_HARD {
            return bad(format!(
                "max_record_size {} exceeds {MAX_PAYLOAD_HARD}",
                self.max_record_size
            ));
        }
        let need = (SEGMENT_HEADER_LEN + RECORD_HEADER_LEN) as u64 + self.max_record_size;
        if need > self.max_segment_size {
            return bad(format!(
                "max_segment_size {} cannot hold a record of max_record_size {} ({need} bytes with headers)",
                self.max_segment_size, self.max_record_size
            ));
        }
        Ok(())
    }
}

/// What recovery found and did when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// The write backend in use.
    pub backend: Backend,
    /// Segment files kept.
    pub segments: usize,
    /// First index in the log after recovery.
    pub first_index: Option<u64>,
    /// Last index in the log after recovery.
    pub last_index: Option<u64>,
    /// Purged index recorded in the metadata file.
    pub purged_index: Option<u64>,
    /// Bytes of the torn tail cut from the last segment: from the end of the
    /// last good record to the last non-zero byte after it. Zero-filled free
    /// space is not counted (and not reported at all when it is all zero).
    pub truncated_bytes: u64,
    /// Record frames in the cut tail (at least 1 if any bytes were cut; frames
    /// after the first bad one are counted by their length fields up to the
    /// first all-zero frame header, best effort).
    pub dropped_records: u64,
    /// Index the first dropped record had (the one after the last kept).
    pub first_dropped_index: Option<u64>,
    /// The segment whose tail was cut.
    pub torn_segment: Option<PathBuf>,
    /// Segment files removed: a last segment whose header never reached the
    /// disk, and segments entirely below the purge marker (an interrupted purge).
    pub removed_segments: Vec<PathBuf>,
    /// Whether a leftover `snapshot.tmp` was removed.
    pub removed_snapshot_temp: bool,
}

/// Waits for one append to become durable (see [`Log::append_async`]).
#[derive(Debug)]
pub struct AppendTicket {
    rx: Receiver<Result<(), LogError>>,
}

impl AppendTicket {
    /// Blocks until the entries are durable or the append failed.
    pub fn wait(self) -> Result<(), LogError> {
        self.rx.recv().unwrap_or(Err(LogError::Closed))
    }

    /// The result if it is already known.
    pub fn try_wait(&self) -> Option<Result<(), LogError>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(LogError::Closed)),
        }
    }
}

pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment as readers see it (published by the I/O thread).
#[derive(Debug, Clone)]
struct SegView {
    first: u64,
    /// Index after the last record published in this segment.
    next: u64,
    /// Bytes published (header plus whole records).
    len: u64,
    path: PathBuf,
}

#[derive(Debug)]
struct State {
    /// First index kept (None: empty log without a start constraint).
    start: Option<u64>,
    /// Index the next append must have.
    next: Option<u64>,
    purged: Option<u64>,
    /// Appended but not yet published to a segment: index -> (append seq, payload).
    pending: BTreeMap<u64, (u64, Arc<Vec<u8>>)>,
    seq: u64,
    segs: Vec<SegView>,
    /// Sparse index of the last segment: offset of record `first + k*STRIDE`.
    active_sparse: Vec<u32>,
    /// Bumped whenever segments are truncated or deleted (invalidates the cache).
    generation: u64,
    fenced: Option<String>,
    closed: bool,
}

#[derive(Debug, Default)]
struct SparseCache {
    entries: Vec<(u64, u64, Arc<Vec<u32>>)>,
}

struct Shared {
    dir: PathBuf,
    log_dir: PathBuf,
    state: RwLock<State>,
    meta: Mutex<MetaFile>,
    cache: Mutex<SparseCache>,
    snapshot_lock: Mutex<()>,
    max_record_size: u64,
}

impl Shared {
    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
    fn meta(&self) -> MutexGuard<'_, MetaFile> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn cache(&self) -> MutexGuard<'_, SparseCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct AppendCmd {
    seq: u64,
    entries: Vec<(u64, Arc<Vec<u8>>)>,
    done: AppendCallback,
}

enum Cmd {
    Append(AppendCmd),
    Truncate {
        from: u64,
        reply: Sender<Result<(), LogError>>,
    },
    Purge {
        upto: u64,
        marker: Vec<u8>,
        reply: Sender<Result<(), LogError>>,
    },
    Sync {
        reply: Sender<Result<(), LogError>>,
    },
    Shutdown {
        reply: Sender<()>,
    },
}

/// The log store. `Send + Sync`: share it with `Arc`.
pub struct Log {
    shared: Arc<Shared>,
    tx: Sender<Cmd>,
    thread: Mutex<Option<JoinHandle<()>>>,
    backend: Backend,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The segment being appended to, owned by the I/O thread.
#[derive(Debug)]
struct Active {
    file: File,
    path: PathBuf,
    first: u64,
    next: u64,
    /// Logical end: header plus whole records written.
    len: u64,
    /// Logical length known durable (for failpoints modelling power loss).
    synced_len: u64,
    /// Size of the file as written: `len` plus the zero-filled space after it.
    file_len: u64,
    /// File size known durable (for failpoints modelling power loss).
    durable_file_len: u64,
    /// Where the idle zero fill in progress stops (0: none in progress).
    fill_goal: u64,
    sparse: Vec<u32>,
}

impl Active {
    fn records(&self) -> u64 {
        self.next - self.first
    }
}

/// Scans a whole segment file. Returns the scanner's end state and sparse index.
struct FileScan {
    header: Option<SegmentHeader>,
    next: u64,
    valid_len: u64,
    sparse: Vec<u32>,
    error: Option<SegmentError>,
    file_len: u64,
    /// Offset just past the last non-zero byte at or after `valid_len`
    /// (`valid_len` if the rest of the file is zero, or if not checked).
    tail_end: u64,
}

/// Offset just past the last non-zero byte of `file` in `from..to`, or `from`
/// if that range is all zero. Reads through a buffer of at most 1 MiB.
fn tail_nonzero_end(file: &File, path: &Path, from: u64, to: u64) -> Result<u64, LogError> {
    let cap = usize::try_from(to.saturating_sub(from).min(1 << 20)).unwrap_or(1 << 20);
    let mut buf = vec![0u8; cap];
    let (mut pos, mut end) = (from, from);
    while pos < to {
        let n = usize::try_from(to - pos).unwrap_or(cap).min(cap);
        let Some(chunk) = buf.get_mut(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        file.read_exact_at(chunk, pos)
            .map_err(|e| LogError::io("read", path, e))?;
        let e = nonzero_end(chunk);
        if e > 0 {
            end = pos + e as u64;
        }
        pos += n as u64;
    }
    Ok(end)
}

/// Scans a segment file. With `check_tail`, also reads everything after the
/// last good record: non-zero bytes after a clean end (an all-zero frame
/// header) become [`SegmentError::GarbageAfterEnd`], and `tail_end` tells how
/// far non-zero damage reaches.
fn scan_file(path: &Path, max_payload: u64, check_tail: bool) -> Result<FileScan, LogError> {
    let file = File::open(path).map_err(|e| LogError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    let tail_file = file
        .try_clone()
        .map_err(|e| LogError::io("open", path, e))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    let mut out = FileScan {
        header: None,
        next: 0,
        valid_len: 0,
        sparse: Vec::new(),
        error: None,
        file_len,
        tail_end: 0,
    };
    let mut sc = match SegmentScanner::new(reader, max_payload) {
        Ok(sc) => sc,
        Err(ScanFail::Bad(e)) => {
            out.error = Some(e);
            return Ok(out);
        }
        Err(ScanFail::Io(e)) => return Err(LogError::io("read", path, e)),
    };
    let first = sc.header().first_index;
    out.header = Some(sc.header());
    loop {
        let off = sc.offset();
        let idx = sc.next_index();
        match sc.next_record() {
            Ok(Some(_)) => {
                if (idx - first) % SPARSE_STRIDE == 0 {
                    out.sparse.push(u32::try_from(off).unwrap_or(u32::MAX));
                }
            }
            Ok(None) => break,
            Err(ScanFail::Bad(e)) => {
                out.error = Some(e);
                break;
            }
            Err(ScanFail::Io(e)) => return Err(LogError::io("read", path, e)),
        }
    }
    out.next = sc.next_index();
    out.valid_len = sc.offset();
    out.tail_end = out.valid_len;
    if check_tail {
        out.tail_end = tail_nonzero_end(&tail_file, path, out.valid_len, file_len)?;
        if out.error.is_none() && out.tail_end > out.valid_len {
            out.error = Some(SegmentError::GarbageAfterEnd {
                offset: out.valid_len,
                end: out.tail_end,
            });
        }
    }
    Ok(out)
}

/// Counts frames in a cut tail by walking length fields up to the first
/// all-zero frame header (best effort; at least 1).
fn count_tail_frames(path: &Path, from: u64, end: u64) -> u64 {
    let Ok(f) = File::open(path) else { return 1 };
    let mut pos = from;
    let mut n = 0;
    while pos < end {
        let mut h = [0u8; RECORD_HEADER_LEN];
        let avail = usize::try_from(end - pos).unwrap_or(RECORD_HEADER_LEN);
        let Some(hh) = h.get_mut(..avail.min(RECORD_HEADER_LEN)) else {
            break;
        };
        if f.read_exact_at(hh, pos).is_err() || hh.iter().all(|b| *b == 0) {
            break;
        }
        n += 1;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        pos = pos
            .saturating_add(RECORD_HEADER_LEN as u64)
            .saturating_add(u64::from(len));
    }
    n.max(1)
}

/// Cuts the torn tail of the last segment at `valid_len` and fsyncs it (the
/// I/O thread zero-fills the space again). A crash at any point leaves either
/// the old tail (cut again by the next recovery) or the cut file.
fn cut_torn_tail(path: &Path, valid_len: u64) -> Result<(), LogError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open", path, e))?;
    if failpoint::hit("recovery.cut.before") {
        failpoint::crash();
    }
    f.set_len(valid_len)
        .map_err(|e| LogError::io("truncate", path, e))?;
    if failpoint::hit("recovery.fsync.before") {
        failpoint::crash();
    }
    f.sync_all().map_err(|e| LogError::io("fsync", path, e))?;
    if failpoint::hit("recovery.fsync.after") {
        failpoint::crash();
    }
    Ok(())
}

/// Models power loss before an fdatasync, for the failpoints: of the
/// unsynced logical bytes `synced_len..end`, the second half is lost — it
/// reads back as what was durable there before (zeros inside the durable file
/// size) — and any file growth past the durable size is lost.
fn model_power_loss(a: &Active, end: u64) {
    let mid = a.synced_len + end.saturating_sub(a.synced_len) / 2;
    let zero_to = end.min(a.durable_file_len);
    if mid < zero_to {
        let zeros = vec![0u8; usize::try_from(zero_to - mid).unwrap_or(0)];
        let _ = a.file.write_all_at(&zeros, mid);
    }
    let _ = a.file.set_len(mid.max(a.durable_file_len));
}

/// Writes zeros over `from..to` of the active segment, in pieces of `zeros`.
fn write_zeros(
    backend: &mut dyn WriteBackend,
    a: &Active,
    zeros: &[u8],
    from: u64,
    to: u64,
) -> Result<(), LogError> {
    let mut pos = from;
    while pos < to {
        let n = usize::try_from(to - pos)
            .unwrap_or(usize::MAX)
            .min(zeros.len());
        let Some(piece) = zeros.get(..n).filter(|p| !p.is_empty()) else {
            return Err(LogError::Config {
                reason: "zero-fill buffer is empty".into(),
            });
        };
        backend.write_all_at(&a.file, &a.path, pos, piece)?;
        pos += n as u64;
    }
    Ok(())
}

fn remove_file(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io("remove", path, e)),
    }
}

fn open_active(path: &Path, max_payload: u64) -> Result<Active, LogError> {
    let scan = scan_file(path, max_payload, true)?;
    let (Some(h), None) = (scan.header, &scan.error) else {
        let offset = scan.valid_len;
        return Err(LogError::Corrupt {
            path: path.to_owned(),
            offset,
            source: scan.error.unwrap_or(SegmentError::ZeroHeader),
        });
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| LogError::io("open", path, e))?;
    Ok(Active {
        file,
        path: path.to_owned(),
        first: h.first_index,
        next: scan.next,
        len: scan.valid_len,
        synced_len: scan.valid_len,
        file_len: scan.file_len,
        durable_file_len: scan.file_len,
        fill_goal: 0,
        sparse: scan.sparse,
    })
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovers it and starts the
    /// I/O thread. See the crate docs for the recovery rules.
    pub fn open(
        dir: impl AsRef<Path>,
        config: LogConfig,
    ) -> Result<(Log, RecoveryReport), LogError> {
        let mut config = config;
        if let Ok(v) = std::env::var(ZERO_FILL_CHUNK_ENV) {
            config.zero_fill_chunk = v.trim().parse().map_err(|_| LogError::Config {
                reason: format!("{ZERO_FILL_CHUNK_ENV}={v:?} is not a byte count"),
            })?;
        }
        config.validate()?;
        let dir = dir.as_ref().to_owned();
        let log_dir = dir.join(LOG_DIR);
        let (backend_impl, backend) = open_backend(config.backend)?;
        let mut report = RecoveryReport {
            backend,
            ..RecoveryReport::default()
        };

        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| LogError::io("create directory", &dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        if !log_dir.exists() {
            fs::create_dir(&log_dir).map_err(|e| LogError::io("create directory", &log_dir, e))?;
            sync_dir(&dir)?;
        }
        let (meta, created) = MetaFile::open(&dir.join(META_FILE))?;
        if created {
            sync_dir(&dir)?;
        }
        let purged = meta.state().purged.as_ref().map(|(i, _)| *i);
        report.purged_index = purged;

        let tmp = dir.join(SNAPSHOT_TEMP);
        if tmp.exists() {
            remove_file(&tmp)?;
            sync_dir(&dir)?;
            report.removed_snapshot_temp = true;
        }

        // Segments, sorted by first index.
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in
            fs::read_dir(&log_dir).map_err(|e| LogError::io("read directory", &log_dir, e))?
        {
            let entry = entry.map_err(|e| LogError::io("read directory", &log_dir, e))?;
            if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
                names.push((first, entry.path()));
            }
        }
        names.sort();

        let mut segs: Vec<SegView> = Vec::new();
        let mut last_sparse: Vec<u32> = Vec::new();
        let mut dir_dirty = false;
        let count = names.len();
        for (k, (named, path)) in names.into_iter().enumerate() {
            let is_last = k + 1 == count;
            let scan = scan_file(&path, MAX_PAYLOAD_HARD, true)?;
            let Some(header) = scan.header else {
                let err = scan.error.unwrap_or(SegmentError::ZeroHeader);
                if is_last && err.is_torn() {
                    // The header of the newest segment never reached the disk, so
                    // nothing in it was ever acknowledged.
                    remove_file(&path)?;
                    dir_dirty = true;
                    report.removed_segments.push(path);
                    continue;
                }
                return Err(LogError::Corrupt {
                    path,
                    offset: 0,
                    source: err,
                });
            };
            if header.first_index != named {
                return Err(LogError::NameMismatch {
                    path,
                    named,
                    header: header.first_index,
                });
            }
            if let Some(prev) = segs.last() {
                if prev.next != header.first_index {
                    return Err(LogError::Discontiguous {
                        path,
                        expected: prev.next,
                        found: header.first_index,
                    });
                }
            }
            let len = scan.valid_len;
            if let Some(err) = scan.error {
                if !(is_last && err.is_torn()) {
                    return Err(LogError::Corrupt {
                        path,
                        offset: scan.valid_len,
                        source: err,
                    });
                }
                // Torn tail of the newest segment (non-zero bytes after the
                // last good record): cut it. An all-zero rest is free space
                // and never gets here.
                report.truncated_bytes = scan.tail_end - scan.valid_len;
                report.dropped_records = count_tail_frames(&path, scan.valid_len, scan.tail_end);
                report.first_dropped_index = Some(scan.next);
                cut_torn_tail(&path, scan.valid_len)?;
                report.torn_segment = Some(path.clone());
            }
            last_sparse = scan.sparse;
            segs.push(SegView {
                first: header.first_index,
                next: scan.next,
                len,
                path,
            });
        }

        // Finish an interrupted purge: drop segments entirely at or below the marker.
        if let Some(p) = purged {
            while segs.first().is_some_and(|s| s.next <= p.saturating_add(1)) {
                let s = segs.remove(0);
                remove_file(&s.path)?;
                dir_dirty = true;
                report.removed_segments.push(s.path);
            }
            if segs.is_empty() {
                last_sparse.clear();
            }
        }
        if dir_dirty {
            sync_dir(&log_dir)?;
        }

        let active = match segs.last() {
            Some(s) => Some(open_active(&s.path, MAX_PAYLOAD_HARD)?),
            None => None,
        };
        let seg_start = segs.first().map(|s| s.first);
        let start = match (purged, seg_start) {
            (Some(p), Some(s)) => Some(s.max(p.saturating_add(1))),
            (Some(p), None) => Some(p.saturating_add(1)),
            (None, s) => s,
        };
        let next = segs.last().map(|s| s.next).or(start);
        report.segments = segs.len();
        if let (Some(s), Some(n)) = (start, next) {
            if n > s {
                report.first_index = Some(s);
                report.last_index = Some(n - 1);
            }
        }

        let shared = Arc::new(Shared {
            dir: dir.clone(),
            log_dir: log_dir.clone(),
            state: RwLock::new(State {
                start,
                next,
                purged,
                pending: BTreeMap::new(),
                seq: 0,
                segs,
                active_sparse: last_sparse,
                generation: 0,
                fenced: None,
                closed: false,
            }),
            meta: Mutex::new(meta),
            cache: Mutex::new(SparseCache::default()),
            snapshot_lock: Mutex::new(()),
            max_record_size: config.max_record_size,
        });
        let (tx, rx) = mpsc::channel();
        // Zero fill only pays where every group commit fdatasyncs.
        let zero_chunk = match config.sync {
            SyncPolicy::EveryGroup => config.zero_fill_chunk.min(config.max_segment_size),
            SyncPolicy::OnDemand => 0,
        };
        let mut io = IoThread {
            shared: Arc::clone(&shared),
            backend: backend_impl,
            active,
            max_segment_size: config.max_segment_size,
            sync: config.sync,
            buf: Vec::new(),
            fenced: None,
            zero_chunk,
            zeros: if zero_chunk > 0 {
                vec![0u8; ZERO_FILL_STEP as usize]
            } else {
                Vec::new()
            },
        };
        if report.torn_segment.is_some() {
            // The cut torn tail is zero-filled again before open returns.
            while let Some(goal) = io.fill_goal() {
                io.fill_step(goal)?;
            }
        }
        let thread = std::thread::Builder::new()
            .name("picloud-log-io".into())
            .spawn(move || io.run(rx))
            .map_err(|e| LogError::io("spawn I/O thread", &dir, e))?;
        Ok((
            Log {
                shared,
                tx,
                thread: Mutex::new(Some(thread)),
                backend,
            },
            report,
        ))
    }

    /// The write backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Queues `entries` for the next group commit and returns at once.
    ///
    /// The entries must continue the log: the first index must be
    /// `last_index() + 1` (or, on an empty log, `purged + 1`, or anything if
    /// nothing was ever purged), and indices must be consecutive. On `Ok`, the
    /// entries are readable at once (from memory until written) and `done` will
    /// be called exactly once, on the I/O thread, after they were written and
    /// fdatasynced (`Ok`; with [`SyncPolicy::OnDemand`]: written, see
    /// [`Log::sync`]) or the write failed (`Err`; the log is then fenced).
    /// On `Err` nothing was queued and `done` is dropped without being called.
    ///
    /// `done` runs on the I/O thread: it must not block, and must not call
    /// [`Log::truncate`], [`Log::purge`] or [`Log::close`] (they wait for that thread).
    pub fn append(
        &self,
        entries: Vec<(u64, Vec<u8>)>,
        done: AppendCallback,
    ) -> Result<(), LogError> {
        let max = self.shared.max_record_size;
        let mut prev: Option<u64> = None;
        for (index, payload) in &entries {
            if payload.len() as u64 > max {
                return Err(LogError::RecordTooLarge {
                    index: *index,
                    len: payload.len() as u64,
                    max,
                });
            }
            if let Some(p) = prev {
                if p.checked_add(1) != Some(*index) {
                    return Err(LogError::NotContiguous {
                        previous: p,
                        got: *index,
                    });
                }
            }
            if *index == u64::MAX {
                return Err(LogError::IndexGap {
                    expected: u64::MAX - 1,
                    got: *index,
                });
            }
            prev = Some(*index);
        }
        let mut st = self.shared.state_mut();
        if st.closed {
            return Err(LogError::Closed);
        }
        if let Some(reason) = &st.fenced {
            return Err(LogError::Fenced {
                reason: reason.clone(),
            });
        }
        if let (Some((first, _)), Some(last)) = (entries.first(), prev) {
            match st.next {
                Some(e) if *first < e => {
                    return Err(LogError::IndexOverlap {
                        expected: e,
                        got: *first,
                    })
                }
                Some(e) if *first > e => {
                    return Err(LogError::IndexGap {
                        expected: e,
                        got: *first,
                    })
                }
                _ => {}
            }
            if st.start.is_none() {
                st.start = Some(*first);
            }
            st.next = Some(last + 1);
        }
        st.seq += 1;
        let seq = st.seq;
        let entries: Vec<(u64, Arc<Vec<u8>>)> =
            entries.into_iter().map(|(i, p)| (i, Arc::new(p))).collect();
        for (i, p) in &entries {
            st.pending.insert(*i, (seq, Arc::clone(p)));
        }
        self.tx
            .send(Cmd::Append(AppendCmd { seq, entries, done }))
            .map_err(|_| LogError::Closed)
    }

    /// [`Log::append`] returning a ticket to wait on.
    pub fn append_async(&self, entries: Vec<(u64, Vec<u8>)>) -> Result<AppendTicket, LogError> {
        let (tx, rx) = mpsc::channel();
        self.append(
            entries,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        Ok(AppendTicket { rx })
    }

    /// Makes every entry appended before this call durable (one fdatasync
    /// if anything is unsynced). Needed only with [`SyncPolicy::OnDemand`];
    /// with [`SyncPolicy::EveryGroup`] it waits for earlier appends.
    pub fn sync(&self) -> Result<(), LogError> {
        if self.shared.state().closed {
            return Err(LogError::Closed);
        }
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Cmd::Sync { reply: tx })
            .map_err(|_| LogError::Closed)?;
        rx.recv().unwrap_or(Err(LogError::Closed))
    }

    /// [`Log::append`] and wait until the entries are written (and, with
    /// [`SyncPolicy::EveryGroup`], durable).
    pub fn append_wait(&self, entries: Vec<(u64, Vec<u8>)>) -> Result<(), LogError> {
        self.append_async(entries)?.wait()
    }

    /// First index in the log, if it holds any entry.
    pub fn first_index(&self) -> Option<u64> {
        let st = self.shared.state();
        match (st.start, st.next) {
            (Some(s), Some(n)) if n > s => Some(s),
            _ => None,
        }
    }

    /// Last index in the log (appended, durable or not), if it holds any entry.
    pub fn last_index(&self) -> Option<u64> {
        let st = self.shared.state();
        match (st.start, st.next) {
            (Some(s), Some(n)) if n > s => Some(n - 1),
            _ => None,
        }
    }

    /// The purge marker: last purged index and its opaque marker bytes.
    pub fn purged(&self) -> Option<(u64, Vec<u8>)> {
        self.shared.meta().state().purged.clone()
    }

    /// Entries with indices in `range` that the log holds, in order (the range
    /// is clipped to `first_index..=last_index`). Includes entries appended
    /// but not yet durable.
    pub fn read(&self, range: impl RangeBounds<u64>) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
        let lo = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        struct Plan {
            path: PathBuf,
            first: u64,
            from: u64,
            to: u64,
            len: u64,
            start: Option<(u64, u64)>,
            cache_key: Option<u64>,
        }
        let mut plans = Vec::new();
        let mut pend = Vec::new();
        {
            let st = self.shared.state();
            let (Some(start), Some(next)) = (st.start, st.next) else {
                return Ok(Vec::new());
            };
            let lo = lo.max(start);
            let hi = hi.min(next);
            if lo >= hi {
                return Ok(Vec::new());
            }
            for (i, (_, p)) in st.pending.range(lo..hi) {
                pend.push((*i, Arc::clone(p)));
            }
            let file_hi = pend.first().map_or(hi, |(i, _)| *i);
            let nsegs = st.segs.len();
            for (k, s) in st.segs.iter().enumerate() {
                let from = lo.max(s.first);
                let to = file_hi.min(s.next);
                if from >= to {
                    continue;
                }
                let is_active = k + 1 == nsegs;
                let start = if is_active {
                    let slot = (from - s.first) / SPARSE_STRIDE;
                    usize::try_from(slot)
                        .ok()
                        .and_then(|x| st.active_sparse.get(x))
                        .map(|off| (u64::from(*off), s.first + slot * SPARSE_STRIDE))
                } else {
                    None
                };
                plans.push(Plan {
                    path: s.path.clone(),
                    first: s.first,
                    from,
                    to,
                    len: s.len,
                    start,
                    cache_key: (!is_active).then_some(st.generation),
                });
            }
        }
        let mut out = Vec::new();
        for plan in plans {
            let start = match (plan.start, plan.cache_key) {
                (Some(s), _) => s,
                (None, Some(generation)) => {
                    let sparse = self.sealed_sparse(&plan.path, plan.first, generation)?;
                    let slot = (plan.from - plan.first) / SPARSE_STRIDE;
                    usize::try_from(slot)
                        .ok()
                        .and_then(|x| sparse.get(x))
                        .map(|off| (u64::from(*off), plan.first + slot * SPARSE_STRIDE))
                        .unwrap_or((SEGMENT_HEADER_LEN as u64, plan.first))
                }
                (None, None) => (SEGMENT_HEADER_LEN as u64, plan.first),
            };
            self.read_segment(
                &plan.path, plan.first, start, plan.from, plan.to, plan.len, &mut out,
            )?;
        }
        out.extend(pend.into_iter().map(|(i, p)| (i, p.as_ref().clone())));
        Ok(out)
    }

    fn sealed_sparse(
        &self,
        path: &Path,
        first: u64,
        generation: u64,
    ) -> Result<Arc<Vec<u32>>, LogError> {
        {
            let cache = self.shared.cache();
            if let Some((_, _, s)) = cache
                .entries
                .iter()
                .find(|(f, g, _)| *f == first && *g == generation)
            {
                return Ok(Arc::clone(s));
            }
        }
        let scan = scan_file(path, MAX_PAYLOAD_HARD, false)?;
        if let Some(err) = scan.error {
            return Err(LogError::Corrupt {
                path: path.to_owned(),
                offset: scan.valid_len,
                source: err,
            });
        }
        let sparse = Arc::new(scan.sparse);
        let mut cache = self.shared.cache();
        cache.entries.retain(|(_, g, _)| *g == generation);
        if cache.entries.len() >= SPARSE_CACHE_SEGMENTS {
            cache.entries.remove(0);
        }
        cache.entries.push((first, generation, Arc::clone(&sparse)));
        Ok(sparse)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_segment(
        &self,
        path: &Path,
        first: u64,
        (offset, index): (u64, u64),
        from: u64,
        to: u64,
        len: u64,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<(), LogError> {
        let mut file = File::open(path).map_err(|e| LogError::io("open", path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| LogError::io("seek", path, e))?;
        let reader = BufReader::with_capacity(64 << 10, file.take(len.saturating_sub(offset)));
        let mut sc = SegmentScanner::resume(
            reader,
            SegmentHeader { first_index: first },
            offset,
            index,
            MAX_PAYLOAD_HARD,
        );
        while sc.next_index() < to {
            let at = sc.offset();
            match sc.next_record() {
                Ok(Some(rec)) => {
                    if rec.index >= from {
                        out.push((rec.index, rec.payload.to_vec()));
                    }
                }
                Ok(None) => {
                    return Err(LogError::Corrupt {
                        path: path.to_owned(),
                        offset: at,
                        source: SegmentError::Record {
                            offset: at,
                            source: crate::error::RecordError::Short { need: 1, have: 0 },
                        },
                    })
                }
                Err(ScanFail::Bad(e)) => {
                    return Err(LogError::Corrupt {
                        path: path.to_owned(),
                        offset: at,
                        source: e,
                    })
                }
                Err(ScanFail::Io(e)) => return Err(LogError::io("read", path, e)),
            }
        }
        Ok(())
    }

    /// Deletes every entry with index `>= from` (Raft conflict resolution),
    /// durably, before returning. Appends queued before the call are written
    /// first (and then cut); appends after it continue at `from`.
    pub fn truncate(&self, from: u64) -> Result<(), LogError> {
        let (tx, rx) = mpsc::channel();
        {
            let mut st = self.shared.state_mut();
            if st.closed {
                return Err(LogError::Closed);
            }
            if let Some(reason) = &st.fenced {
                return Err(LogError::Fenced {
                    reason: reason.clone(),
                });
            }
            let (Some(start), Some(next)) = (st.start, st.next) else {
                return Ok(());
            };
            if from >= next {
                return Ok(());
            }
            if from < start || st.purged.is_some_and(|p| from <= p) {
                return Err(LogError::TruncateBeforeStart {
                    index: from,
                    first: start,
                });
            }
            st.next = Some(from);
            let _ = st.pending.split_off(&from);
            // Sent while holding the lock so the command is ordered with appends.
            self.tx
                .send(Cmd::Truncate { from, reply: tx })
                .map_err(|_| LogError::Closed)?;
        }
        rx.recv().unwrap_or(Err(LogError::Closed))
    }

    /// Deletes every entry with index `<= upto` (after a snapshot covering
    /// them), durably, before returning. The purge marker `(upto, marker)` is
    /// written to the metadata file first; whole segments at or below it are
    /// then removed (a segment still holding an entry above `upto` stays, its
    /// lower entries hidden). `marker` is opaque (for Raft: the purged log id).
    /// If `upto` is past the last entry the log becomes empty and continues at
    /// `upto + 1`. Purging at or below the current marker does nothing.
    pub fn purge(&self, upto: u64, marker: Vec<u8>) -> Result<(), LogError> {
        let (tx, rx) = mpsc::channel();
        {
            let mut st = self.shared.state_mut();
            if st.closed {
                return Err(LogError::Closed);
            }
            if let Some(reason) = &st.fenced {
                return Err(LogError::Fenced {
                    reason: reason.clone(),
                });
            }
            if st.purged.is_some_and(|p| p >= upto) {
                return Ok(());
            }
            let after = upto.saturating_add(1);
            st.purged = Some(upto);
            st.start = Some(st.start.map_or(after, |s| s.max(after)));
            st.next = Some(st.next.map_or(after, |n| n.max(after)));
            self.tx
                .send(Cmd::Purge {
                    upto,
                    marker,
                    reply: tx,
                })
                .map_err(|_| LogError::Closed)?;
        }
        rx.recv().unwrap_or(Err(LogError::Closed))
    }

    /// Durably stores the vote (opaque bytes) before returning.
    pub fn save_vote(&self, vote: &[u8]) -> Result<(), LogError> {
        self.shared.meta().update(|m| m.vote = Some(vote.to_vec()))
    }

    /// The last vote saved.
    pub fn read_vote(&self) -> Option<Vec<u8>> {
        self.shared.meta().state().vote.clone()
    }

    /// Durably stores the committed marker (opaque bytes) before returning.
    pub fn save_committed(&self, committed: Option<&[u8]>) -> Result<(), LogError> {
        self.shared
            .meta()
            .update(|m| m.committed = committed.map(<[u8]>::to_vec))
    }

    /// The last committed marker saved.
    pub fn read_committed(&self) -> Option<Vec<u8>> {
        self.shared.meta().state().committed.clone()
    }

    /// Atomically replaces the snapshot (temp file, fsync, rename, directory
    /// fsync); the previous one stays readable until the new one is durable.
    pub fn save_snapshot(&self, meta: &[u8], data: &[u8]) -> Result<(), LogError> {
        let _g = self
            .shared
            .snapshot_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        snapshot::save(&self.shared.dir, meta, data)
    }

    /// The current snapshot, verified, if any.
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, LogError> {
        let _g = self
            .shared
            .snapshot_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        snapshot::load(&self.shared.dir)
    }

    /// Writes everything queued, stops the I/O thread and refuses further
    /// operations. Also done on drop.
    pub fn close(&self) -> Result<(), LogError> {
        {
            let mut st = self.shared.state_mut();
            if st.closed {
                return Ok(());
            }
            st.closed = true;
        }
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Cmd::Shutdown { reply: tx }).is_ok() {
            let _ = rx.recv();
        }
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

struct IoThread {
    shared: Arc<Shared>,
    backend: Box<dyn WriteBackend>,
    active: Option<Active>,
    max_segment_size: u64,
    sync: SyncPolicy,
    buf: Vec<u8>,
    fenced: Option<LogError>,
    /// Zero-fill chunk (0: off), at most `max_segment_size`.
    zero_chunk: u64,
    /// [`ZERO_FILL_STEP`] zero bytes (empty when zero fill is off).
    zeros: Vec<u8>,
}

impl IoThread {
    fn run(&mut self, rx: Receiver<Cmd>) {
        let mut deferred: Option<Cmd> = None;
        loop {
            let cmd = match deferred.take() {
                Some(c) => c,
                None => match rx.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Disconnected) => return,
                    // Idle: extend the zeroed space first if it runs short.
                    Err(TryRecvError::Empty) => match self.idle_fill(&rx) {
                        Some(c) => c,
                        None => match rx.recv() {
                            Ok(c) => c,
                            Err(_) => return,
                        },
                    },
                },
            };
            match cmd {
                Cmd::Append(a) => {
                    let mut bytes: usize = a.entries.iter().map(|(_, p)| frame_len(p.len())).sum();
                    let mut group = vec![a];
                    while bytes < MAX_GROUP_BYTES {
                        match rx.try_recv() {
                            Ok(Cmd::Append(a)) => {
                                bytes += a
                                    .entries
                                    .iter()
                                    .map(|(_, p)| frame_len(p.len()))
                                    .sum::<usize>();
                                group.push(a);
                            }
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_group(group);
                }
                Cmd::Truncate { from, reply } => {
                    let r = self.guarded(|t| t.truncate(from));
                    let _ = reply.send(r);
                }
                Cmd::Purge {
                    upto,
                    marker,
                    reply,
                } => {
                    let r = self.guarded(|t| t.purge(upto, marker));
                    let _ = reply.send(r);
                }
                Cmd::Sync { reply } => {
                    let r = self.guarded(|t| t.flush_active(true));
                    let _ = reply.send(r);
                }
                Cmd::Shutdown { reply } => {
                    if self.sync == SyncPolicy::OnDemand {
                        let _ = self.guarded(|t| t.flush_active(true));
                    }
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    /// Runs a state-changing operation unless fenced; fences on failure.
    fn guarded(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        if let Some(e) = &self.fenced {
            return Err(LogError::Fenced {
                reason: e.to_string(),
            });
        }
        let r = f(self);
        if let Err(e) = &r {
            self.fence(e.clone());
        }
        r
    }

    fn fence(&mut self, e: LogError) {
        self.shared.state_mut().fenced = Some(e.to_string());
        self.fenced = Some(e);
    }

    fn commit_group(&mut self, group: Vec<AppendCmd>) {
        let result = match &self.fenced {
            Some(e) => Err(LogError::Fenced {
                reason: e.to_string(),
            }),
            None => {
                let r = self.write_group(&group);
                if let Err(e) = &r {
                    self.fence(e.clone());
                }
                r
            }
        };
        for a in group {
            (a.done)(result.clone());
        }
    }

    fn log_dir(&self) -> PathBuf {
        self.shared.log_dir.clone()
    }

    /// Where the idle zero fill should extend the active segment to, if it
    /// should: a fill in progress continues to its goal; otherwise one starts
    /// when less than half a chunk of zeroed space is left ahead of the last
    /// record, aiming at one chunk ahead (never past `max_segment_size`).
    fn fill_goal(&mut self) -> Option<u64> {
        if self.zero_chunk == 0 || self.fenced.is_some() {
            return None;
        }
        let a = self.active.as_mut()?;
        if a.fill_goal <= a.file_len {
            a.fill_goal = 0;
            if a.file_len.saturating_sub(a.len).saturating_mul(2) >= self.zero_chunk {
                return None;
            }
            let goal = a
                .len
                .saturating_add(self.zero_chunk)
                .min(self.max_segment_size);
            if goal <= a.file_len {
                return None;
            }
            a.fill_goal = goal;
        }
        Some(a.fill_goal)
    }

    /// Zero-fills ahead while the queue stays empty, one [`ZERO_FILL_STEP`]
    /// (write + fdatasync) at a time. Returns a command that arrived
    /// meanwhile, or `None` when there is nothing (more) to fill.
    fn idle_fill(&mut self, rx: &Receiver<Cmd>) -> Option<Cmd> {
        while let Some(goal) = self.fill_goal() {
            if self.guarded(|t| t.fill_step(goal)).is_err() {
                return None;
            }
            match rx.try_recv() {
                Ok(c) => return Some(c),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return None,
            }
        }
        None
    }

    /// Writes zeros from the end of the active segment's file towards `goal`
    /// (at most [`ZERO_FILL_STEP`] bytes) and fdatasyncs.
    fn fill_step(&mut self, goal: u64) -> Result<(), LogError> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        let from = a.file_len;
        let to = goal.min(from.saturating_add(ZERO_FILL_STEP));
        let n = usize::try_from(to.saturating_sub(from)).unwrap_or(0);
        let Some(zeros) = self.zeros.get(..n).filter(|z| !z.is_empty()) else {
            // Unreachable (`fill_goal` only returns goals past the file's end,
            // and the buffer holds a whole step): fail rather than spin.
            return Err(LogError::Config {
                reason: format!("zero fill: no progress from {from} towards {goal}"),
            });
        };
        if failpoint::hit("zerofill.write.torn") {
            let _ = a.file.write_all_at(zeros.get(..n / 2).unwrap_or(&[]), from);
            failpoint::crash();
        }
        if failpoint::active() {
            self.backend.write_all_at(&a.file, &a.path, from, zeros)?;
            if failpoint::hit("zerofill.fdatasync.before") {
                model_power_loss(a, a.len);
                failpoint::crash();
            }
            self.backend.datasync(&a.file, &a.path)?;
        } else {
            self.backend.write_and_sync(&a.file, &a.path, from, zeros)?;
        }
        a.file_len = to;
        a.durable_file_len = to;
        a.synced_len = a.len;
        if failpoint::hit("zerofill.fdatasync.after") {
            failpoint::crash();
        }
        Ok(())
    }

    /// Writes `buf` to the active segment at its logical end and, with
    /// `sync`, makes everything written to it durable. A write that would run
    /// past the zero-filled space also zeroes up to one [`ZERO_FILL_STEP`]
    /// (or chunk, if smaller) after it, inline; the idle fill does the rest.
    fn flush_active(&mut self, sync: bool) -> Result<(), LogError> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        if self.buf.is_empty() {
            if sync && a.synced_len < a.len {
                if failpoint::hit("segment.fdatasync.before") {
                    model_power_loss(a, a.len);
                    failpoint::crash();
                }
                self.backend.datasync(&a.file, &a.path)?;
                if failpoint::hit("segment.fdatasync.after") {
                    failpoint::crash();
                }
                a.synced_len = a.len;
                a.durable_file_len = a.file_len;
            }
            return Ok(());
        }
        let buf = &self.buf;
        let end = a.len + buf.len() as u64;
        let pad_to = if self.zero_chunk > 0 && end > a.file_len {
            end.saturating_add(self.zero_chunk.min(ZERO_FILL_STEP))
                .min(self.max_segment_size)
                .max(end)
        } else {
            end
        };
        if failpoint::hit("segment.write.before") {
            failpoint::crash();
        }
        if failpoint::hit("segment.write.torn") {
            let half = buf.get(..buf.len() / 2).unwrap_or(&[]);
            let _ = a.file.write_all_at(half, a.len);
            failpoint::crash();
        }
        if sync && pad_to == end && !failpoint::active() {
            // The common case: one write (inside the zeroed space) + fdatasync,
            // linked in one io_uring submission.
            self.backend.write_and_sync(&a.file, &a.path, a.len, buf)?;
        } else {
            self.backend.write_all_at(&a.file, &a.path, a.len, buf)?;
            if pad_to > end {
                if failpoint::hit("segment.pad.torn") {
                    let half = (pad_to - end) / 2;
                    let _ = a.file.set_len(end + half);
                    failpoint::crash();
                }
                write_zeros(self.backend.as_mut(), a, &self.zeros, end, pad_to)?;
            }
            if sync {
                if failpoint::hit("segment.fdatasync.before") {
                    // Power loss: only part of the unsynced bytes reached the disk.
                    model_power_loss(a, end);
                    failpoint::crash();
                }
                self.backend.datasync(&a.file, &a.path)?;
                if failpoint::hit("segment.fdatasync.after") {
                    failpoint::crash();
                }
            }
        }
        a.len = end;
        a.file_len = a.file_len.max(pad_to);
        if sync {
            a.synced_len = a.len;
            a.durable_file_len = a.file_len;
        }
        self.buf.clear();
        Ok(())
    }

    /// Creates a new segment starting at `first`; its header goes into `buf`.
    fn create_segment(&mut self, first: u64) -> Result<(), LogError> {
        let path = self.log_dir().join(segment_name(first));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| LogError::io("create", &path, e))?;
        if failpoint::hit("segment.create.after") {
            failpoint::crash();
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(&SegmentHeader { first_index: first }.encode());
        self.active = Some(Active {
            file,
            path,
            first,
            next: first,
            len: 0,
            synced_len: 0,
            file_len: 0,
            durable_file_len: 0,
            fill_goal: 0,
            sparse: Vec::new(),
        });
        Ok(())
    }

    fn write_group(&mut self, group: &[AppendCmd]) -> Result<(), LogError> {
        self.buf.clear();
        let mut sealed: Vec<SegView> = Vec::new();
        let mut created: Vec<PathBuf> = Vec::new();
        for cmd in group {
            for (index, payload) in &cmd.entries {
                let frame = frame_len(payload.len()) as u64;
                let need_new = match &self.active {
                    None => true,
                    Some(a) => {
                        a.records() > 0
                            && a.len + self.buf.len() as u64 + frame > self.max_segment_size
                    }
                };
                if need_new {
                    // A segment is sealed durable, whatever the sync policy.
                    self.flush_active(true)?;
                    if let Some(a) = self.active.take() {
                        sealed.push(SegView {
                            first: a.first,
                            next: a.next,
                            len: a.len,
                            path: a.path,
                        });
                    }
                    self.create_segment(*index)?;
                    if let Some(a) = &self.active {
                        created.push(a.path.clone());
                    }
                }
                let Some(a) = self.active.as_mut() else {
                    return Err(LogError::Closed);
                };
                if *index != a.next {
                    return Err(LogError::IndexGap {
                        expected: a.next,
                        got: *index,
                    });
                }
                let off = a.len + self.buf.len() as u64;
                if (a.next - a.first) % SPARSE_STRIDE == 0 {
                    a.sparse.push(u32::try_from(off).unwrap_or(u32::MAX));
                }
                encode_record(&mut self.buf, *index, payload);
                a.next += 1;
            }
        }
        self.flush_active(self.sync == SyncPolicy::EveryGroup)?;
        if !created.is_empty() {
            if failpoint::hit("segment.dirsync.before") {
                // Power loss before the directory fsync: the new entries may vanish.
                for p in &created {
                    let _ = fs::remove_file(p);
                }
                failpoint::crash();
            }
            sync_dir(&self.shared.log_dir)?;
            if failpoint::hit("segment.dirsync.after") {
                failpoint::crash();
            }
        }
        // Publish: durable now.
        let mut st = self.shared.state_mut();
        for s in sealed {
            match st.segs.iter_mut().find(|v| v.first == s.first) {
                Some(v) => *v = s,
                None => st.segs.push(s),
            }
        }
        if let Some(a) = &self.active {
            let view = SegView {
                first: a.first,
                next: a.next,
                len: a.len,
                path: a.path.clone(),
            };
            let same = st.segs.last().is_some_and(|v| v.first == a.first);
            if same {
                let have = st.active_sparse.len();
                if let Some(extra) = a.sparse.get(have..) {
                    st.active_sparse.extend_from_slice(extra);
                }
                if let Some(v) = st.segs.last_mut() {
                    *v = view;
                }
            } else {
                st.segs.push(view);
                st.active_sparse = a.sparse.clone();
            }
        }
        for cmd in group {
            for (index, _) in &cmd.entries {
                if st
                    .pending
                    .get(index)
                    .is_some_and(|(seq, _)| *seq == cmd.seq)
                {
                    st.pending.remove(index);
                }
            }
        }
        Ok(())
    }

    /// Byte offset of record `index` in the active segment.
    fn offset_of(a: &Active, index: u64) -> Result<u64, LogError> {
        let slot = (index - a.first) / SPARSE_STRIDE;
        let (offset, at) = usize::try_from(slot)
            .ok()
            .and_then(|x| a.sparse.get(x))
            .map(|off| (u64::from(*off), a.first + slot * SPARSE_STRIDE))
            .unwrap_or((SEGMENT_HEADER_LEN as u64, a.first));
        let mut file = File::open(&a.path).map_err(|e| LogError::io("open", &a.path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| LogError::io("seek", &a.path, e))?;
        let reader = BufReader::new(file.take(a.len.saturating_sub(offset)));
        let mut sc = SegmentScanner::resume(
            reader,
            SegmentHeader {
                first_index: a.first,
            },
            offset,
            at,
            MAX_PAYLOAD_HARD,
        );
        while sc.next_index() < index {
            let at = sc.offset();
            match sc.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(LogError::Corrupt {
                        path: a.path.clone(),
                        offset: at,
                        source: SegmentError::IndexMismatch {
                            offset: at,
                            expected: index,
                            found: sc.next_index(),
                        },
                    })
                }
                Err(ScanFail::Bad(e)) => {
                    return Err(LogError::Corrupt {
                        path: a.path.clone(),
                        offset: at,
                        source: e,
                    })
                }
                Err(ScanFail::Io(e)) => return Err(LogError::io("read", &a.path, e)),
            }
        }
        Ok(sc.offset())
    }

    fn truncate(&mut self, from: u64) -> Result<(), LogError> {
        let segs = self.shared.state().segs.clone();
        // 1. Whole segments at or after `from`, newest first, so that a crash
        //    leaves a prefix.
        let doomed: Vec<&SegView> = segs.iter().filter(|s| s.first >= from).collect();
        if !doomed.is_empty() {
            if self.active.as_ref().is_some_and(|a| a.first >= from) {
                self.active = None;
            }
            {
                let mut st = self.shared.state_mut();
                st.segs.retain(|s| s.first < from);
                st.generation += 1;
                st.active_sparse.clear();
            }
            for (k, s) in doomed.iter().rev().enumerate() {
                remove_file(&s.path)?;
                if k == 0 && failpoint::hit("truncate.delete") {
                    failpoint::crash();
                }
            }
            if failpoint::hit("truncate.dirsync.before") {
                failpoint::crash();
            }
            sync_dir(&self.shared.log_dir)?;
        }
        // 2. The segment holding `from` (or, at a boundary, the new last one)
        //    becomes the active segment.
        let Some(last) = segs.iter().rfind(|s| s.first < from) else {
            self.active = None;
            return Ok(());
        };
        let mut a = match self.active.take() {
            Some(a) if a.first == last.first => a,
            _ => open_active(&last.path, MAX_PAYLOAD_HARD)?,
        };
        if a.next > from {
            let offset = Self::offset_of(&a, from)?;
            if failpoint::hit("truncate.ftruncate.before") {
                failpoint::crash();
            }
            a.file
                .set_len(offset)
                .map_err(|e| LogError::io("truncate", &a.path, e))?;
            a.file
                .sync_all()
                .map_err(|e| LogError::io("fsync", &a.path, e))?;
            if failpoint::hit("truncate.sync.after") {
                failpoint::crash();
            }
            a.len = offset;
            a.synced_len = offset;
            a.file_len = offset;
            a.durable_file_len = offset;
            a.fill_goal = 0;
            a.next = from;
            let keep = (from - a.first).div_ceil(SPARSE_STRIDE);
            a.sparse
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        }
        {
            let mut st = self.shared.state_mut();
            st.generation += 1;
            let view = SegView {
                first: a.first,
                next: a.next,
                len: a.len,
                path: a.path.clone(),
            };
            if let Some(v) = st.segs.last_mut() {
                *v = view;
            }
            st.active_sparse = a.sparse.clone();
        }
        self.active = Some(a);
        Ok(())
    }

    fn purge(&mut self, upto: u64, marker: Vec<u8>) -> Result<(), LogError> {
        self.shared.meta().update(|m| {
            if m.purged.as_ref().is_none_or(|(p, _)| *p < upto) {
                m.purged = Some((upto, marker));
            }
        })?;
        if failpoint::hit("purge.meta.after") {
            failpoint::crash();
        }
        let after = upto.saturating_add(1);
        let doomed: Vec<SegView> = {
            let mut st = self.shared.state_mut();
            let n = st.segs.iter().take_while(|s| s.next <= after).count();
            let doomed: Vec<SegView> = st.segs.drain(..n).collect();
            if !doomed.is_empty() {
                st.generation += 1;
                if st.segs.is_empty() {
                    st.active_sparse.clear();
                }
            }
            doomed
        };
        if self
            .active
            .as_ref()
            .is_some_and(|a| doomed.iter().any(|d| d.first == a.first))
        {
            self.active = None;
        }
        for (k, s) in doomed.iter().enumerate() {
            remove_file(&s.path)?;
            if k == 0 && failpoint::hit("purge.delete") {
                failpoint::crash();
            }
        }
        if !doomed.is_empty() {
            if failpoint::hit("purge.dirsync.before") {
                failpoint::crash();
            }
            sync_dir(&self.shared.log_dir)?;
        }
        Ok(())
    }
}
