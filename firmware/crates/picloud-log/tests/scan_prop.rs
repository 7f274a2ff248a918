//! Property tests of the record decoder and segment scanner: random bytes and
//! corrupted valid segments never panic and never yield records past corruption.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use picloud_log::{decode_record, encode_record, scan_segment, SegmentHeader, SEGMENT_HEADER_LEN};
use proptest::prelude::*;

fn segment(first: u64, payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut seg = SegmentHeader { first_index: first }.encode().to_vec();
    let mut ends = Vec::new();
    for (k, p) in payloads.iter().enumerate() {
        encode_record(&mut seg, first + k as u64, p);
        ends.push(seg.len());
    }
    (seg, ends)
}

fn check_consistent(bytes: &[u8]) {
    let scan = scan_segment(bytes);
    assert!(scan.valid_len <= bytes.len());
    if let Some(h) = scan.header {
        for (k, (idx, range)) in scan.records.iter().enumerate() {
            assert_eq!(*idx, h.first_index + k as u64);
            assert!(range.end <= scan.valid_len);
            let start = range.start - 16;
            let (rec, used) = decode_record(&bytes[start..]).unwrap();
            assert_eq!(rec.index, *idx);
            assert_eq!(start + used, range.end);
        }
    } else {
        assert!(scan.records.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_record(&bytes);
        check_consistent(&bytes);
    }

    #[test]
    fn random_records_after_valid_header(first in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = SegmentHeader { first_index: first }.encode().to_vec();
        bytes.extend_from_slice(&tail);
        check_consistent(&bytes);
    }

    #[test]
    fn flipped_byte_stops_the_scan(
        first in 0u64..1_000_000,
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..12),
        pos in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let (mut seg, ends) = segment(first, &payloads);
        let at = pos.index(seg.len());
        seg[at] ^= xor;
        let scan = scan_segment(&seg);
        check_consistent(&seg);
        if at < SEGMENT_HEADER_LEN {
            prop_assert!(scan.header.is_none());
        }
        // Every record returned is an original one and ends before the damage.
        for (k, (idx, range)) in scan.records.iter().enumerate() {
            prop_assert_eq!(*idx, first + k as u64);
            prop_assert!(range.end <= at, "record {} ends at {} past corruption at {}", idx, range.end, at);
            prop_assert_eq!(&seg[range.clone()], payloads[k].as_slice());
        }
        // And every record wholly before the damage is returned.
        let intact = ends.iter().filter(|e| **e <= at).count();
        if at >= SEGMENT_HEADER_LEN {
            prop_assert_eq!(scan.records.len(), intact);
            prop_assert!(scan.error.is_some());
        }
    }

    #[test]
    fn cut_segment_yields_the_whole_records_before_the_cut(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..12),
        pos in any::<prop::sample::Index>(),
    ) {
        let (seg, ends) = segment(1, &payloads);
        let cut = pos.index(seg.len() + 1);
        let scan = scan_segment(&seg[..cut]);
        let intact = ends.iter().filter(|e| **e <= cut).count();
        if cut >= SEGMENT_HEADER_LEN {
            prop_assert_eq!(scan.records.len(), intact);
            prop_assert_eq!(scan.error.is_some(), !ends.contains(&cut) && cut != SEGMENT_HEADER_LEN);
        } else {
            prop_assert!(scan.records.is_empty());
        }
    }
}
