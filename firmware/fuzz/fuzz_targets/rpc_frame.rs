//! Fuzzes the Raft transport's frame decoder (`picloud_raft::wire::decode_frame`): any bytes
//! from the network must decode to an error or to a message that re-encodes to a frame which
//! decodes to the same message. It must never panic or allocate what the length field claims
//! before the bytes are there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picloud_raft::wire::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_frame(data) {
        if let Ok(again) = encode_frame(&msg) {
            let back = decode_frame(&again);
            assert!(back.is_ok(), "a re-encoded frame must decode");
        }
    }
});
