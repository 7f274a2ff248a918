//! Error types of the log engine.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a byte slice is not a valid record frame (see [`crate::decode_record`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the frame header or the payload the header announces.
    #[error("short record: need {need} bytes, have {have}")]
    Short {
        /// Bytes the frame needs.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// The length field exceeds the format's hard maximum.
    #[error("record length {len} exceeds the maximum {max}")]
    TooLarge {
        /// Announced payload length.
        len: u64,
        /// Hard maximum payload length.
        max: u64,
    },
    /// The CRC32C over index and payload does not match.
    #[error("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC computed over the bytes read.
        computed: u32,
    },
}

/// Why a segment (or a slice of segment bytes) cannot be scanned further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// The segment header is shorter than its fixed size.
    #[error("short segment header: {len} bytes")]
    ShortHeader {
        /// Bytes present.
        len: u64,
    },
    /// The header bytes are all zero (the header write never reached the disk).
    #[error("segment header is all zero")]
    ZeroHeader,
    /// Wrong magic number.
    #[error("bad segment magic")]
    BadMagic,
    /// Unknown format version.
    #[error("unsupported segment format version {version}")]
    BadVersion {
        /// Version found.
        version: u32,
    },
    /// Header checksum mismatch.
    #[error("segment header checksum mismatch")]
    HeaderChecksum,
    /// A record at `offset` failed to decode.
    #[error("bad record at offset {offset}: {source}")]
    Record {
        /// Byte offset of the frame in the segment.
        offset: u64,
        /// What is wrong with it.
        source: RecordError,
    },
    /// A valid record carries an index other than the next expected one.
    #[error("record at offset {offset} has index {found}, expected {expected}")]
    IndexMismatch {
        /// Byte offset of the frame.
        offset: u64,
        /// Index the sequence requires.
        expected: u64,
        /// Index stored in the record.
        found: u64,
    },
    /// After the last record comes an all-zero record header (the start of
    /// the zero-filled free space), but non-zero bytes follow later: a write
    /// whose first sector was lost while later ones landed, or damage.
    #[error("non-zero bytes in the zero-filled space after offset {offset}, up to offset {end}")]
    GarbageAfterEnd {
        /// Offset of the all-zero record header (end of the last good record).
        offset: u64,
        /// Offset just past the last non-zero byte.
        end: u64,
    },
}

impl SegmentError {
    /// True if this error is what a write cut short by a crash looks like
    /// (short/zero data, bad length or checksum), as opposed to a record that
    /// is intact but inconsistent (`IndexMismatch`, bad magic, bad version).
    pub fn is_torn(&self) -> bool {
        match self {
            SegmentError::ShortHeader { .. } | SegmentError::ZeroHeader => true,
            SegmentError::Record { .. } | SegmentError::GarbageAfterEnd { .. } => true,
            SegmentError::BadMagic
            | SegmentError::BadVersion { .. }
            | SegmentError::HeaderChecksum
            | SegmentError::IndexMismatch { .. } => false,
        }
    }
}

/// Errors of the log engine. Cloneable so that one failed group commit can be
/// reported to every waiter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// An I/O system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"write"`, `"fdatasync"`, `"rename"`, ...).
        op: &'static str,
        /// File or directory involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The first index of an append is past the next expected index.
    #[error("index gap: expected {expected}, got {got}")]
    IndexGap {
        /// Next index the log expects.
        expected: u64,
        /// Index offered.
        got: u64,
    },
    /// The first index of an append is before the next expected index.
    #[error("index overlap: expected {expected}, got {got}")]
    IndexOverlap {
        /// Next index the log expects.
        expected: u64,
        /// Index offered.
        got: u64,
    },
    /// Entries within one append are not consecutive.
    #[error("entries of one append are not contiguous: {previous} then {got}")]
    NotContiguous {
        /// Index of the previous entry.
        previous: u64,
        /// Index that followed it.
        got: u64,
    },
    /// A payload exceeds the configured maximum record size.
    #[error("record {index} is {len} bytes, the maximum is {max}")]
    RecordTooLarge {
        /// Index of the entry.
        index: u64,
        /// Its payload length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A sealed segment (or a non-tail part of the log) is corrupt. Never
    /// repaired automatically.
    #[error("corrupt segment {path} at offset {offset}: {source}")]
    Corrupt {
        /// Segment file.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        #[source]
        source: SegmentError,
    },
    /// Segments do not form one contiguous run of indices.
    #[error("missing entries: {path} starts at index {found}, expected {expected}")]
    Discontiguous {
        /// Segment that starts at the wrong index.
        path: PathBuf,
        /// Index expected.
        expected: u64,
        /// Index found.
        found: u64,
    },
    /// A segment file name and its header disagree.
    #[error("segment {path} is named for index {named} but its header says {header}")]
    NameMismatch {
        /// Segment file.
        path: PathBuf,
        /// Index from the file name.
        named: u64,
        /// Index from the header.
        header: u64,
    },
    /// The metadata file has no valid slot although it is not fresh.
    #[error("corrupt metadata file {path}: {reason}")]
    MetaCorrupt {
        /// Metadata file.
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },
    /// Vote, committed and purge marker together do not fit in a metadata slot.
    #[error("metadata of {len} bytes does not fit in a slot of {max}")]
    MetaTooLarge {
        /// Encoded length.
        len: u64,
        /// Slot capacity.
        max: u64,
    },
    /// The snapshot file is corrupt.
    #[error("corrupt snapshot {path}: {reason}")]
    SnapshotCorrupt {
        /// Snapshot file.
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },
    /// `truncate` below the first entry that is still kept.
    #[error("cannot truncate from index {index}: the log starts at {first}")]
    TruncateBeforeStart {
        /// Index asked for.
        index: u64,
        /// First index kept by the log.
        first: u64,
    },
    /// The configuration is invalid.
    #[error("invalid log configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// `Backend::IoUring` was asked for but `io_uring_setup` failed.
    #[error("io_uring is unavailable: {source}")]
    IoUringUnavailable {
        /// The setup error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An earlier write or sync failed; the log refuses all further writes
    /// (a failed fsync is never retried: the page cache state is unknown).
    #[error("log is fenced after an earlier failure: {reason}")]
    Fenced {
        /// The original failure.
        reason: String,
    },
    /// The log was closed, or its I/O thread is gone.
    #[error("log is closed")]
    Closed,
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
