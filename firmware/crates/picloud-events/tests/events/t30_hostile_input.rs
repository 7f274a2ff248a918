//! Decoders return typed errors, never panic, on hostile input.

use picloud_events::{decode_json, decode_log, encode_json, encode_log, DecodeError};
use proptest::prelude::*;

use crate::samples;

#[test]
fn typed_errors() {
    assert!(matches!(decode_log(&[]), Err(DecodeError::Empty)));
    assert!(matches!(
        decode_log(&[9, 0]),
        Err(DecodeError::UnsupportedFormat { version: 9 })
    ));
    assert!(matches!(decode_log(&[1]), Err(DecodeError::Postcard(_))));

    let mut bytes = encode_log(&samples::envelopes()[0]).unwrap();
    bytes.push(0);
    assert!(matches!(
        decode_log(&bytes),
        Err(DecodeError::TrailingBytes { count: 1 })
    ));

    let json = encode_json(&samples::envelopes()[0]).unwrap();
    let wrong_type = json.replace("\"type\":\"ClusterInitialized\"", "\"type\":\"NodeBooted\"");
    let err = decode_json(&wrong_type).unwrap_err();
    assert!(matches!(err, DecodeError::Envelope(_)), "{err}");
    let wrong_version = json.replace("ClusterInitialized/v1", "ClusterInitialized/v7");
    let err = decode_json(&wrong_version).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown event type ClusterInitialized version 7"
    );
    assert!(matches!(decode_json("{"), Err(DecodeError::Json(_))));
}

#[test]
fn a_log_record_with_an_inconsistent_schema_is_refused() {
    let mut e = samples::envelopes().swap_remove(1);
    e.event_type = "NodeRemoved".into();
    assert!(matches!(
        decode_log(&encode_log(&e).unwrap()),
        Err(DecodeError::Envelope(_))
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_log(&bytes);
    }

    #[test]
    fn mutated_records_never_panic(
        index in 0..samples::payloads().len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_log(&samples::envelopes()[index]).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = decode_log(&bytes);
        let _ = decode_log(&bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn random_json_never_panics(text in "\\PC{0,200}") {
        let _ = decode_json(&text);
    }
}
