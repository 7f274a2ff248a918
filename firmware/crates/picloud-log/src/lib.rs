//! PiCloud log storage engine: a segmented, checksummed, group-committed,
//! append-only log of opaque `(index: u64, bytes)` entries, written through
//! io_uring (or `pwrite`) on one dedicated I/O thread, plus the small durable
//! state Raft needs beside it (vote, committed marker, purge marker) and an
//! atomically replaced snapshot. It knows nothing of openraft; the openraft
//! 0.9 `storage-v2` adapters map onto it one to one:
//! `append(entries, callback)` → [`Log::append`], `truncate(log_id)` →
//! [`Log::truncate`], `purge(log_id)` → [`Log::purge`], `save_vote`/`read_vote`,
//! `save_committed`/`read_committed`, log reader → [`Log::read`].
//!
//! # On-disk layout
//!
//! ```text
//! <dir>/meta                      vote, committed, purge marker (two slots)
//! <dir>/snapshot                  current snapshot (replaced by rename)
//! <dir>/snapshot.tmp              snapshot being written (removed at open)
//! <dir>/log/<first-index:020>.seg segments, named by the index of their first record
//! ```
//!
//! All integers are little-endian. CRCs are CRC32C (Castagnoli), computed with
//! the `crc32c` crate (SSE4.2 / ARMv8 CRC instructions when present).
//!
//! **Segment** = 32-byte header, then records back to back, then (with zero
//! fill ahead) zero bytes up to the end of the file:
//!
//! ```text
//! header  0..8   magic "PCLOGSEG"
//!         8..12  format version u32 = 1
//!        12..16  flags u32 = 0
//!        16..24  first_index u64 (equals the number in the file name)
//!        24..28  crc32c of bytes 0..24
//!        28..32  reserved, zero
//! record  0..4   len u32          payload length in bytes
//!         4..8   crc u32          crc32c(index as 8 LE bytes ++ payload)
//!         8..16  index u64
//!        16..    payload          `len` bytes
//! ```
//!
//! Records in a segment have consecutive indices starting at `first_index`;
//! segment `k+1` starts at the index after the last record of segment `k`. A
//! payload is at most [`LogConfig::max_record_size`] (default 8 MiB; the
//! decoder rejects any length above 64 MiB without allocating). A new segment
//! is started when the next record would take the current one past
//! [`LogConfig::max_segment_size`] (default 64 MiB, at most 1 GiB) and the
//! current one holds at least one record; a segment never exceeds that size.
//!
//! **Zero fill ahead.** The file of the active segment is kept written with
//! real zero bytes — written and fdatasynced, not a sparse hole, not
//! `fallocate`d unwritten extents — up to [`LogConfig::zero_fill_chunk`]
//! (default 4 MiB, never past `max_segment_size`; 0 turns it off) past the end
//! of its last record. A group commit then overwrites blocks that are already
//! allocated, written and inside the file's size, so its fdatasync flushes
//! data only and needs no ext4 journal commit (which on a shared disk is one
//! journal shared by every writer). The I/O thread extends the zeroed space
//! when its queue is empty and less than half a chunk is left, one
//! [`ZERO_FILL_STEP`] (256 KiB write + fdatasync) at a time, checking the queue
//! between steps; a write that would run past the zeroed space instead zeroes
//! one step (or the chunk, if smaller) right behind its records before its one
//! fdatasync, and the idle fill does the rest (a new segment gets its first
//! zeros that way: header, records, zeros, fdatasync, directory fsync). Only
//! logs with [`SyncPolicy::EveryGroup`] are zero filled: an
//! [`SyncPolicy::OnDemand`] log does not fdatasync per commit. All writes are positioned (`pwrite` / io_uring `WRITE` at
//! an offset), never `O_APPEND`. The **logical end** of a segment is the end
//! of its last record; reads, sizes and indices use it, never the file length.
//! A record header is never all zero (its CRC over index 0 and an empty payload
//! is not 0), so an all-zero frame header marks the end of the records.
//! Segments written without zero fill (files from before it, or with chunk 0)
//! are the same format without the zero tail and open unchanged.
//!
//! **Metadata file** `meta`: two fixed 4096-byte slots at offsets 0 and 4096,
//! written alternately (slot = sequence number mod 2), each fdatasynced before
//! the call returns; no rename. A slot is
//!
//! ```text
//!  0..8   magic "PCLOGMET"      8..12  version u32 = 1
//! 12..16  body length u32      16..24  sequence number u64
//! 24..28  crc32c(bytes 8..24 ++ body)   28..32  reserved
//! 32..    body: vote, committed, purged — each a presence byte (0/1);
//!         vote and committed: u32 length + bytes; purged: u64 index + (1, u32
//!         length + marker bytes)
//! ```
//!
//! On open the valid slot with the highest sequence number wins. A torn slot
//! write therefore falls back to the other slot, which holds the previous
//! (acknowledged) state. All-zero slots are empty; one invalid slot beside an
//! empty one is a torn first write (fresh state); two invalid slots are a hard
//! error ([`LogError::MetaCorrupt`]).
//!
//! **Snapshot file**: `"PCLOGSNP"`, version u32 = 1, meta length u32, data
//! length u64, crc32c(bytes 8..24 ++ meta ++ data) u32, 4 reserved bytes, then
//! meta and data. Written as `snapshot.tmp`, fsynced, renamed over `snapshot`,
//! then the directory is fsynced; until the rename is durable the old snapshot
//! is the one found. A leftover `snapshot.tmp` is deleted at open.
//!
//! # Durability contract
//!
//! * [`Log::append`] queues entries and returns; they are readable at once.
//!   Its callback gets `Ok` only after the entries' bytes were written and the
//!   segment fdatasynced (and, if the batch created a segment, the `log/`
//!   directory fsynced). Appends queued by any number of threads are written
//!   by the I/O thread in one contiguous write per segment and made durable
//!   with **one** fdatasync per group commit: while one fdatasync runs, new
//!   appends queue up and form the next group (up to 16 MiB). One 256-byte
//!   append by one client costs one write and one fdatasync (on io_uring a
//!   linked `WRITE` → `FSYNC(DATASYNC)` pair in one submission) inside the
//!   zero-filled space, so the fdatasync is a pure data flush; no directory
//!   fsync unless a segment was created.
//! * With [`SyncPolicy::OnDemand`] (`LogConfig::sync`) a group commit writes
//!   but does not fdatasync; the callback then means "written", and
//!   [`Log::sync`] (or `close`) makes everything written so far durable. A
//!   segment is still fdatasynced before the next one is created, so unsynced
//!   bytes exist only in the last segment and a crash costs at most a tail that
//!   recovery cuts (rule 3 below). The event store of `picloud-raft` uses it:
//!   its content beyond its snapshot is re-applied from the Raft log.
//! * Callbacks run in append order. If a write or sync fails, every waiter of
//!   that group gets the error and the log is **fenced**: all later writes fail
//!   with [`LogError::Fenced`] (a failed fsync is never retried, since the page
//!   cache state is unknown); reopen to recover.
//! * [`Log::truncate`], [`Log::purge`], [`Log::save_vote`],
//!   [`Log::save_committed`] and [`Log::save_snapshot`] are durable when they
//!   return. Truncate and purge go through the I/O thread's queue, so they are
//!   ordered with the appends queued before them.
//! * Truncate removes whole segments newest first, fsyncs the directory, then
//!   cuts the segment holding the index with `ftruncate` + fsync. Purge first
//!   writes the purge marker `(index, opaque marker)` to `meta`, then removes
//!   whole segments whose records are all at or below it, oldest first, and
//!   fsyncs the directory. A crash in either leaves a valid log. After a
//!   truncate inside the active segment its zero tail is gone (ftruncate cuts
//!   it too); the I/O thread zero-fills again when idle (or the next write
//!   does, inline). Cutting and then re-zeroing never exposes old records: the
//!   cut is durable (fsync) before any zeros or new records are written.
//!
//! # Recovery rules (on open)
//!
//! 1. Read `meta` (rules above); delete `snapshot.tmp`.
//! 2. List `log/*.seg` with 20-digit names in index order and scan each fully
//!    (header, then every record's length, CRC and index) up to the end of the
//!    file or an all-zero frame header, then read the rest of the file: an
//!    all-zero rest after the last good record is zero-filled free space (a
//!    short all-zero remainder too), never damage and never reported.
//! 3. The **last** segment may have a torn tail: non-zero bytes after its last
//!    good record — a record that is short (cut off), fails its CRC / length
//!    check (possibly followed by zeros), or non-zero bytes after an all-zero
//!    frame header ([`SegmentError::GarbageAfterEnd`]: a torn write whose
//!    first sector was lost while later ones landed). The file is then cut
//!    (`ftruncate`) to the end of the last good record and fsynced, and zero
//!    filled again (written + fdatasynced) before `open` returns, so a later
//!    scan never sees the damage again; the report gives `truncated_bytes`
//!    (from the end of the last good record to the last non-zero byte after
//!    it), `dropped_records` (frames counted by their length fields, at least
//!    one) and `first_dropped_index`. If its header itself is short or all zero,
//!    the file is removed (nothing in it can have been acknowledged: header and
//!    first records are written and synced together).
//! 4. Anything else is a hard error and nothing is changed: a bad or torn
//!    record, or non-zero bytes in the zero tail, or a bad header in any
//!    **sealed** (non-last) segment ([`LogError::Corrupt`]; a zero tail after
//!    its last record is fine — a segment is sealed when the next record would
//!    not fit, so it usually has one), a record with a valid CRC but the wrong index,
//!    a non-zero header with bad magic/version/CRC, a file name that disagrees
//!    with its header ([`LogError::NameMismatch`]), or a gap between segments
//!    ([`LogError::Discontiguous`]).
//! 5. Segments whose records are all at or below the purge marker are deleted
//!    (an interrupted purge). The log then starts at `max(purged + 1, first
//!    segment's first index)`, or at `purged + 1` if no segment is left. (A
//!    first segment starting after `purged + 1` is accepted: a log may begin
//!    above an old purge marker, so a lost *first* segment is not detectable.)
//!
//! Only bytes that were never covered by a completed fdatasync can be cut in
//! step 3, so acknowledged records are never lost: an acknowledged record was
//! written and fdatasynced before any later byte of the file, so everything
//! after the last good record is unacknowledged (or zero fill). A sealed
//! segment was fully synced before the next one was created, so damage there
//! is reported, never repaired silently. A crash while zero filling leaves a
//! shorter zero tail (or a file size not yet durable), which is free space.
//!
//! # Memory bound
//!
//! The engine keeps no entries and no per-entry offsets beyond:
//! per segment ~100 bytes (first/next index, length, path); for the active
//! segment a sparse index of one `u32` offset per [`SPARSE_STRIDE`] (16)
//! records, at most `max_segment_size / (16 × 16 bytes) × 4` bytes (1 MiB
//! for 64 MiB segments of empty payloads, ~60 KiB for 256-byte payloads); the
//! same for at most [`SPARSE_CACHE_SEGMENTS`] (8) sealed segments read
//! recently; plus entries queued and not yet durable (bounded by what clients
//! have in flight; a group commit writes at most 16 MiB at a time), and one
//! [`ZERO_FILL_STEP`] (256 KiB) buffer of zeros for the zero fill. Segment
//! count grows with the log until purged, so a log kept purged behind its
//! snapshots stays bounded. Recovery streams each segment (and its zero
//! tail) through 1 MiB buffers.
//!
//! # Concurrency
//!
//! [`Log`] is `Send + Sync`. Reads take a read lock to plan, then `pread`
//! through the page cache outside the lock, checking each record's CRC and
//! index. Callbacks run on the I/O thread: they must not block and must not
//! call `truncate`, `purge` or `close` (those wait for the I/O thread).
//!
//! # Failpoints
//!
//! With the cargo feature `failpoints`, [`FAILPOINTS`] lists crash points at
//! every write, fsync, rename and delete edge, armed by the environment
//! variable [`FAILPOINT_ENV`] (`name@n` crashes at the n-th hit): including
//! the zero fill's write and fdatasync (`zerofill.*`), the inline zero padding
//! (`segment.pad.torn`) and the cut of a torn tail at open (`recovery.*`).
//! Without the feature they compile to nothing.
//!
//! # Benchmark override
//!
//! The environment variable [`ZERO_FILL_CHUNK_ENV`]
//! (`PICLOUD_LOG_ZERO_FILL_CHUNK`, bytes) overrides
//! [`LogConfig::zero_fill_chunk`] for every log a process opens, so one binary
//! can be measured with zero fill on and off.

mod error;
mod failpoint;
mod format;
mod io;
mod log;
mod meta;
mod snapshot;

pub use error::{LogError, RecordError, SegmentError};
pub use failpoint::{FAILPOINTS, FAILPOINT_ENV};
pub use format::{
    decode_record, encode_record, record_crc, scan_segment, Record, SegmentHeader, SegmentScan,
    MAX_PAYLOAD_HARD, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION,
};
pub use io::{io_uring_available, Backend};
pub use log::{
    AppendCallback, AppendTicket, Log, LogConfig, RecoveryReport, SyncPolicy,
    DEFAULT_ZERO_FILL_CHUNK, LOG_DIR, MAX_GROUP_BYTES, MAX_SEGMENT_SIZE_LIMIT, META_FILE,
    SPARSE_CACHE_SEGMENTS, SPARSE_STRIDE, ZERO_FILL_CHUNK_ENV, ZERO_FILL_STEP,
};
pub use snapshot::Snapshot;
