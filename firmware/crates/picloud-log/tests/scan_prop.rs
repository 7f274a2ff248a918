//! Property tests of the record decoder and segment scanner: random bytes and
//! corrupted valid segments never panic and never yield records past corruption;
//! a zero tail (zero-filled free space) after the records is a clean end, and
//! any non-zero byte in it is reported.

// Test helpers may panic: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use picloud_log::{
    decode_record, encode_record, scan_segment, SegmentError, SegmentHeader, SEGMENT_HEADER_LEN,
};

fn nonzero_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}
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
            // The damage is reported, unless it left nothing but zeros after
            // the last intact record (which reads as free space).
            prop_assert!(scan.error.is_some() || nonzero_end(&seg[scan.valid_len..]) == 0);
        }
    }

    #[test]
    fn zero_tail_is_a_clean_end(
        first in 0u64..1_000_000,
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..12),
        zeros in 0usize..300,
    ) {
        let (mut seg, _) = segment(first, &payloads);
        let end = seg.len();
        seg.resize(end + zeros, 0);
        let scan = scan_segment(&seg);
        check_consistent(&seg);
        prop_assert_eq!(scan.error, None);
        prop_assert_eq!(scan.valid_len, end);
        prop_assert_eq!(scan.records.len(), payloads.len());
    }

    #[test]
    fn garbage_in_zero_tail_is_reported(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..12),
        zeros in 1usize..300,
        pos in any::<prop::sample::Index>(),
        byte in 1u8..=255,
    ) {
        let (mut seg, _) = segment(1, &payloads);
        let end = seg.len();
        seg.resize(end + zeros, 0);
        let at = end + pos.index(zeros);
        seg[at] = byte;
        let scan = scan_segment(&seg);
        check_consistent(&seg);
        // every record is kept; the garbage is an error (a bad record if it
        // is in the next frame header, else non-zero bytes after the end)
        prop_assert_eq!(scan.records.len(), payloads.len());
        prop_assert_eq!(scan.valid_len, end);
        prop_assert!(scan.error.is_some());
        if at >= end + 16 {
            prop_assert_eq!(
                scan.error,
                Some(SegmentError::GarbageAfterEnd { offset: end as u64, end: at as u64 + 1 })
            );
        }
    }

    #[test]
    fn torn_record_followed_by_zeros(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 2..12),
        pos in any::<prop::sample::Index>(),
        zeros in 0usize..300,
    ) {
        // The last record partly written, the rest of its bytes (and the
        // free space after it) zero.
        let (seg, ends) = segment(1, &payloads);
        let last_start = ends[ends.len() - 2];
        let cut = last_start + pos.index(seg.len() - last_start);
        let mut img = seg[..cut].to_vec();
        img.resize(seg.len() + zeros, 0);
        let scan = scan_segment(&img);
        if img[..seg.len()] == seg[..] {
            // the bytes cut off were zero anyway: the record is intact
            prop_assert_eq!(scan.records.len(), payloads.len());
            prop_assert_eq!(scan.error, None);
        } else {
            prop_assert_eq!(scan.records.len(), payloads.len() - 1);
            prop_assert_eq!(scan.valid_len, last_start);
            prop_assert_eq!(scan.error.is_some(), nonzero_end(&seg[last_start..cut]) > 0);
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
            // A cut inside a record is reported, unless the bytes of it that
            // remain are all zero (they read as free space).
            let whole = ends.iter().copied().filter(|e| *e <= cut).max().unwrap_or(SEGMENT_HEADER_LEN);
            prop_assert_eq!(scan.error.is_some(), nonzero_end(&seg[whole..cut]) > 0);
        } else {
            prop_assert!(scan.records.is_empty());
        }
    }
}
