//! Fuzzes the identity core's token parser (`picloud_iam::jwt`): any text presented as a
//! bearer token must be refused with a typed error (or verify, which random bytes cannot),
//! never panic, whatever its header, claims or signature. Also the helpers that read a
//! token before verifying it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picloud_iam::jwt::{peek_claims_aud, peek_header, verify, Expect, PublicKey, TYP_ACCESS};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    // A fixed P-256 point (the generator) stands in for the cluster key.
    let key = PublicKey::from_xy(
        "k1",
        &[
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
            0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
            0xd8, 0x98, 0xc2, 0x96,
        ],
        &[
            0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f,
            0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68,
            0x37, 0xbf, 0x51, 0xf5,
        ],
    );
    let _ = peek_header(&token);
    let _ = peek_claims_aud(&token);
    let expect = Expect {
        issuer: "https://picloud.local/",
        audience: "https://picloud.local/",
        typ: TYP_ACCESS,
        now: 1_795_794_861,
    };
    let r = verify(&token, |kid| (kid == "k1").then_some(&key), expect);
    assert!(r.is_err(), "random bytes verified as a token signed by the generator point");
});
