//! Byte layout of segments and records, and the decoder/scanner used by
//! recovery, reads and the fuzz targets. See the crate docs for the layout.

use std::io::{self, Read};
use std::ops::Range;

use crate::error::{RecordError, SegmentError};

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PCLOGSEG";
/// Current segment format version.
pub const SEGMENT_VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Size of a record frame header (`len`, `crc`, `index`) in bytes.
pub const RECORD_HEADER_LEN: usize = 16;
/// Hard upper bound of a payload length the decoder accepts (64 MiB); a larger
/// length field is treated as corruption without allocating.
pub const MAX_PAYLOAD_HARD: u64 = 64 << 20;

/// The fixed header at the start of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Index of the first record the segment holds (it may hold none yet).
    pub first_index: u64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

impl SegmentHeader {
    /// Encodes the header into its 32 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        h[0..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        // 12..16: flags, zero.
        h[16..24].copy_from_slice(&self.first_index.to_le_bytes());
        let crc = crc32c::crc32c(&h[0..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        // 28..32: reserved, zero.
        h
    }

    /// Decodes and checks a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, SegmentError> {
        let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
            return Err(SegmentError::ShortHeader {
                len: bytes.len() as u64,
            });
        };
        if h.iter().all(|b| *b == 0) {
            return Err(SegmentError::ZeroHeader);
        }
        if h.get(0..8) != Some(&SEGMENT_MAGIC[..]) {
            return Err(SegmentError::BadMagic);
        }
        let version = le_u32(h, 8);
        if version != SEGMENT_VERSION {
            return Err(SegmentError::BadVersion { version });
        }
        if le_u32(h, 12) != 0 || le_u32(h, 28) != 0 {
            // Flags and reserved bytes must be zero in version 1.
            return Err(SegmentError::HeaderChecksum);
        }
        let stored = le_u32(h, 24);
        let computed = h.get(0..24).map(crc32c::crc32c).unwrap_or(0);
        if stored != computed {
            return Err(SegmentError::HeaderChecksum);
        }
        Ok(SegmentHeader {
            first_index: le_u64(h, 16),
        })
    }
}

/// CRC32C over the little-endian index followed by the payload.
pub fn record_crc(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

/// Length of the frame holding a payload of `payload_len` bytes.
pub fn frame_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// Appends the frame of one record to `out`.
pub fn encode_record(out: &mut Vec<u8>, index: u64, payload: &[u8]) {
    out.reserve(frame_len(payload.len()));
    // Callers bound payloads by the configured maximum (< 4 GiB).
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&record_crc(index, payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
}

/// A record decoded from a byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's log index.
    pub index: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// Parsed frame header: payload length, stored crc, index.
fn parse_frame_header(h: &[u8]) -> Result<(u64, u32, u64), RecordError> {
    if h.len() < RECORD_HEADER_LEN {
        return Err(RecordError::Short {
            need: RECORD_HEADER_LEN as u64,
            have: h.len() as u64,
        });
    }
    let len = u64::from(le_u32(h, 0));
    if len > MAX_PAYLOAD_HARD {
        return Err(RecordError::TooLarge {
            len,
            max: MAX_PAYLOAD_HARD,
        });
    }
    Ok((len, le_u32(h, 4), le_u64(h, 8)))
}

/// Decodes the record frame at the start of `bytes`. Returns the record and the
/// number of bytes its frame occupies. Never panics, never allocates.
pub fn decode_record(bytes: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    let (len, stored, index) = parse_frame_header(bytes)?;
    let total = RECORD_HEADER_LEN as u64 + len;
    let Some(payload) = usize::try_from(total)
        .ok()
        .and_then(|t| bytes.get(RECORD_HEADER_LEN..t))
    else {
        return Err(RecordError::Short {
            need: total,
            have: bytes.len() as u64,
        });
    };
    let computed = record_crc(index, payload);
    if computed != stored {
        return Err(RecordError::Checksum { stored, computed });
    }
    Ok((Record { index, payload }, payload.len() + RECORD_HEADER_LEN))
}

/// Result of scanning a whole segment held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The header, if it decoded.
    pub header: Option<SegmentHeader>,
    /// Every valid record before the first problem: index and byte range of
    /// its payload within the scanned slice.
    pub records: Vec<(u64, Range<usize>)>,
    /// Length of the valid prefix (header plus good records).
    pub valid_len: usize,
    /// The first problem, if the scan did not reach a clean end.
    pub error: Option<SegmentError>,
}

/// Offset just past the last non-zero byte of `bytes`, or 0 if all are zero.
pub(crate) fn nonzero_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}

/// Scans a segment image: header, then records until the end, an all-zero
/// record header (the start of the zero-filled free space, which must then be
/// all zero to the end of the slice, else [`SegmentError::GarbageAfterEnd`]),
/// or the first short, corrupt or out-of-sequence record. Records after a
/// problem are never returned. This is the same logic recovery applies to files.
pub fn scan_segment(bytes: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan {
        header: None,
        records: Vec::new(),
        valid_len: 0,
        error: None,
    };
    let mut scanner = match SegmentScanner::new(bytes, MAX_PAYLOAD_HARD) {
        Ok(s) => s,
        Err(ScanFail::Bad(e)) => {
            scan.error = Some(e);
            return scan;
        }
        Err(ScanFail::Io(_)) => return scan,
    };
    scan.header = Some(scanner.header());
    scan.valid_len = SEGMENT_HEADER_LEN;
    loop {
        let start = scanner.offset();
        match scanner.next_record() {
            Ok(Some(rec)) => {
                let index = rec.index;
                let from = usize::try_from(start).unwrap_or(usize::MAX) + RECORD_HEADER_LEN;
                let to = usize::try_from(scanner.offset()).unwrap_or(usize::MAX);
                scan.records.push((index, from..to));
                scan.valid_len = to;
            }
            Ok(None) => {
                let rest = bytes.get(scan.valid_len..).unwrap_or(&[]);
                let end = nonzero_end(rest);
                if end > 0 {
                    scan.error = Some(SegmentError::GarbageAfterEnd {
                        offset: scan.valid_len as u64,
                        end: (scan.valid_len + end) as u64,
                    });
                }
                break;
            }
            Err(ScanFail::Bad(e)) => {
                scan.error = Some(e);
                break;
            }
            Err(ScanFail::Io(_)) => break,
        }
    }
    scan
}

/// A failure while scanning a segment from a reader.
#[derive(Debug)]
pub(crate) enum ScanFail {
    /// The reader failed.
    Io(io::Error),
    /// The bytes are not a valid continuation of the segment.
    Bad(SegmentError),
}

/// Reads as many bytes as available into `buf`, up to its length.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A record yielded by [`SegmentScanner`].
#[derive(Debug)]
pub(crate) struct ScannedRecord<'a> {
    pub index: u64,
    pub payload: &'a [u8],
}

/// Streaming scanner over a segment read from any reader; memory use is one
/// payload buffer.
#[derive(Debug)]
pub(crate) struct SegmentScanner<R> {
    reader: R,
    header: SegmentHeader,
    /// Offset just past the last good record.
    offset: u64,
    next_index: u64,
    max_payload: u64,
    buf: Vec<u8>,
}

impl<R: Read> SegmentScanner<R> {
    /// Reads and checks the header.
    pub(crate) fn new(mut reader: R, max_payload: u64) -> Result<Self, ScanFail> {
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        let n = read_full(&mut reader, &mut h).map_err(ScanFail::Io)?;
        let header = SegmentHeader::decode(h.get(..n).unwrap_or(&[])).map_err(ScanFail::Bad)?;
        Ok(SegmentScanner {
            reader,
            header,
            offset: SEGMENT_HEADER_LEN as u64,
            next_index: header.first_index,
            max_payload: max_payload.min(MAX_PAYLOAD_HARD),
            buf: Vec::new(),
        })
    }

    /// Starts scanning at `offset`, where record `index` begins (from a sparse index).
    pub(crate) fn resume(
        reader: R,
        header: SegmentHeader,
        offset: u64,
        index: u64,
        max_payload: u64,
    ) -> Self {
        SegmentScanner {
            reader,
            header,
            offset,
            next_index: index,
            max_payload: max_payload.min(MAX_PAYLOAD_HARD),
            buf: Vec::new(),
        }
    }

    pub(crate) fn header(&self) -> SegmentHeader {
        self.header
    }

    /// Offset just past the last good record.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Index the next record must have.
    pub(crate) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Next record, `Ok(None)` at a clean end of data: the end of the input,
    /// or a record header whose bytes (all of it, or what is left of the input
    /// if shorter) are all zero — the zero-filled free space after the last
    /// record. A valid record never starts with 16 zero bytes (its CRC over
    /// index 0 and an empty payload is not 0). The caller decides whether the
    /// rest of the input must be zero too (recovery does).
    pub(crate) fn next_record(&mut self) -> Result<Option<ScannedRecord<'_>>, ScanFail> {
        let offset = self.offset;
        let bad = |source| ScanFail::Bad(SegmentError::Record { offset, source });
        let mut h = [0u8; RECORD_HEADER_LEN];
        let n = read_full(&mut self.reader, &mut h).map_err(ScanFail::Io)?;
        if h.get(..n).unwrap_or(&[]).iter().all(|b| *b == 0) {
            return Ok(None);
        }
        let (len, stored, index) = parse_frame_header(h.get(..n).unwrap_or(&[])).map_err(bad)?;
        if len > self.max_payload {
            return Err(bad(RecordError::TooLarge {
                len,
                max: self.max_payload,
            }));
        }
        let len_us = usize::try_from(len).unwrap_or(usize::MAX);
        // Grow the buffer only as bytes arrive: a corrupt length field must not
        // cost a large allocation.
        self.buf.clear();
        let got = Read::take(&mut self.reader, len)
            .read_to_end(&mut self.buf)
            .map_err(ScanFail::Io)?;
        if got < len_us {
            return Err(bad(RecordError::Short {
                need: RECORD_HEADER_LEN as u64 + len,
                have: (RECORD_HEADER_LEN + got) as u64,
            }));
        }
        let computed = record_crc(index, &self.buf);
        if computed != stored {
            return Err(bad(RecordError::Checksum { stored, computed }));
        }
        if index != self.next_index {
            return Err(ScanFail::Bad(SegmentError::IndexMismatch {
                offset,
                expected: self.next_index,
                found: index,
            }));
        }
        self.offset = offset + RECORD_HEADER_LEN as u64 + len;
        self.next_index = index.wrapping_add(1);
        Ok(Some(ScannedRecord {
            index,
            payload: &self.buf,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut seg = SegmentHeader { first_index: 7 }.encode().to_vec();
        encode_record(&mut seg, 7, b"hello");
        encode_record(&mut seg, 8, b"");
        let scan = scan_segment(&seg);
        assert_eq!(scan.error, None);
        assert_eq!(scan.valid_len, seg.len());
        assert_eq!(scan.records.len(), 2);
        assert_eq!(&seg[scan.records[0].1.clone()], b"hello");
        let (rec, used) = decode_record(&seg[SEGMENT_HEADER_LEN..]).unwrap();
        assert_eq!((rec.index, rec.payload, used), (7, &b"hello"[..], 21));
    }

    #[test]
    fn zero_header_is_the_end_and_garbage_after_it_is_reported() {
        assert_ne!(
            record_crc(0, &[]),
            0,
            "an all-zero header must never be a valid record"
        );
        let mut seg = SegmentHeader { first_index: 0 }.encode().to_vec();
        encode_record(&mut seg, 0, b"");
        let end = seg.len();
        seg.resize(end + 100, 0);
        let scan = scan_segment(&seg);
        assert_eq!(
            (scan.error, scan.valid_len, scan.records.len()),
            (None, end, 1)
        );
        // a short all-zero remainder is free space too
        let scan = scan_segment(&seg[..end + 5]);
        assert_eq!((scan.error, scan.valid_len), (None, end));
        seg[end + 60] = 7;
        let scan = scan_segment(&seg);
        assert_eq!(scan.valid_len, end);
        assert_eq!(
            scan.error,
            Some(SegmentError::GarbageAfterEnd {
                offset: end as u64,
                end: end as u64 + 61
            })
        );
    }

    #[test]
    fn out_of_sequence_is_not_torn() {
        let mut seg = SegmentHeader { first_index: 1 }.encode().to_vec();
        encode_record(&mut seg, 1, b"a");
        encode_record(&mut seg, 3, b"b");
        let scan = scan_segment(&seg);
        assert_eq!(scan.records.len(), 1);
        assert!(matches!(
            scan.error,
            Some(SegmentError::IndexMismatch {
                expected: 2,
                found: 3,
                ..
            })
        ));
    }
}
