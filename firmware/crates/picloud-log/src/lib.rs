//! PiCloud log storage engine (docs to come).

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
pub use log::{AppendCallback, AppendTicket, Log, LogConfig, RecoveryReport, LOG_DIR, META_FILE};
pub use snapshot::Snapshot;
