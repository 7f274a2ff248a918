//! Fuzzes the log record decoder and segment scanner of `picloud-log`: any
//! bytes must decode to an error or to records that re-encode identically,
//! and the scanner never yields a record past the first bad one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picloud_log::{decode_record, encode_record, scan_segment, SegmentHeader, RECORD_HEADER_LEN};

fn check(data: &[u8]) {
    if let Ok((rec, used)) = decode_record(data) {
        let mut again = Vec::new();
        encode_record(&mut again, rec.index, rec.payload);
        assert_eq!(Some(again.as_slice()), data.get(..used));
    }
    let scan = scan_segment(data);
    assert!(scan.valid_len <= data.len());
    if let Some(h) = scan.header {
        let mut end = picloud_log::SEGMENT_HEADER_LEN;
        for (k, (index, range)) in scan.records.iter().enumerate() {
            assert_eq!(*index, h.first_index.wrapping_add(k as u64));
            assert_eq!(range.start, end + RECORD_HEADER_LEN);
            end = range.end;
        }
        assert_eq!(end, scan.valid_len);
    } else {
        assert!(scan.records.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    // As given (random header), and behind a valid header so the record
    // decoder is reached on most inputs.
    check(data);
    let first = data
        .get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let mut seg = SegmentHeader { first_index: first }.encode().to_vec();
    seg.extend_from_slice(data.get(8..).unwrap_or(&[]));
    check(&seg);
});
