//! Fuzzes the identity core's token parser and verifier (`picloud_iam::jwt`), the code every
//! API route runs on the bearer token it is given. Two modes, chosen by the first byte:
//!
//! - even: the rest is a whole token (text, decoded lossily) checked against a real ES256
//!   key; random bytes cannot carry a valid signature, so everything must be refused with
//!   a typed error — never a panic — whatever the header, claims or signature.
//! - odd: the rest is `HEADER_JSON 0xFF CLAIMS_JSON`; the target base64url-encodes both and
//!   signs them with the key, so the fuzzer reaches everything after the signature check
//!   (header and claims parsing, `typ`, issuer, expiry, not-before, audience). Whatever
//!   verifies must meet every expectation (checked here independently).
//!
//! Also the helpers that read a token before verifying it (`peek_header`,
//! `peek_claims_aud`). Seeds: `corpus/iam_token/` (tokens and parts as the issuer writes
//! them; regenerate with `PICLOUD_FUZZ_SEEDS=DIR` set, see README.md).
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use picloud_iam::jwt::{
    peek_claims_aud, peek_header, verify, Claims, Expect, PublicKey, SigningKey, ALG, LEEWAY_SECS,
    MAX_TOKEN_LEN, TYP_ACCESS, TYP_ID,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

const ISS: &str = "https://picloud.local/";
const NOW: i64 = 1_795_794_861;

struct Keys {
    rng: SystemRandom,
    pair: EcdsaKeyPair,
    public: PublicKey,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let rng = SystemRandom::new();
        let (pkcs8, key) = SigningKey::generate("k1", &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .expect("pkcs8");
        if let Some(dir) = std::env::var_os("PICLOUD_FUZZ_SEEDS") {
            write_seeds(std::path::Path::new(&dir), &key, &rng);
        }
        Keys {
            rng,
            pair,
            public: key.public(),
        }
    })
}

/// Tokens as the issuer writes them (access and ID, valid, expired, other audience) and
/// their header/claims parts, as seeds.
fn write_seeds(dir: &std::path::Path, key: &SigningKey, rng: &SystemRandom) {
    let claims = |exp: i64, aud: &str| Claims {
        iss: ISS.into(),
        sub: "https://picloud.local/platform/identities/alice".into(),
        aud: aud.into(),
        exp,
        iat: NOW - 10,
        nbf: NOW - 10,
        jti: "0123456789abcdef".into(),
        client_id: "picloud-cli".into(),
        scope: "openid".into(),
        roles: vec!["admin".into(), "photos:viewer".into()],
        preferred_username: Some("alice".into()),
        nonce: None,
    };
    std::fs::create_dir_all(dir).expect("seed dir");
    let cases = [
        ("access", TYP_ACCESS, claims(NOW + 600, ISS)),
        ("id", TYP_ID, claims(NOW + 600, "picloud-portal")),
        ("expired", TYP_ACCESS, claims(NOW - 1, ISS)),
    ];
    for (name, typ, c) in cases {
        let token = key.sign(typ, &c, rng).expect("sign");
        let mut whole = vec![0u8];
        whole.extend_from_slice(token.as_bytes());
        std::fs::write(dir.join(format!("token-{name}")), whole).expect("seed");
        let header = serde_json::json!({ "alg": ALG, "kid": "k1", "typ": typ });
        let mut parts = vec![1u8];
        parts.extend_from_slice(header.to_string().as_bytes());
        parts.push(0xFF);
        parts.extend_from_slice(&serde_json::to_vec(&c).expect("json"));
        std::fs::write(dir.join(format!("parts-{name}")), parts).expect("seed");
    }
}

fn expect(typ: &'static str) -> Expect<'static> {
    Expect {
        issuer: ISS,
        audience: ISS,
        typ,
        now: NOW,
    }
}

fn check(token: &str, k: &Keys) {
    let _ = peek_header(token);
    let _ = peek_claims_aud(token);
    for typ in [TYP_ACCESS, TYP_ID] {
        if let Ok(c) = verify(token, |kid| (kid == "k1").then_some(&k.public), expect(typ)) {
            assert!(token.len() <= MAX_TOKEN_LEN, "an over-long token verified");
            let h = peek_header(token).expect("a verified token has a header");
            assert_eq!(h.alg, ALG);
            assert_eq!(h.kid, "k1");
            assert_eq!(h.typ, typ, "a token of another type verified");
            assert_eq!(c.iss, ISS, "another issuer verified");
            assert_eq!(c.aud, ISS, "another audience verified");
            assert!(c.exp > NOW, "an expired token verified");
            assert!(
                c.nbf.max(c.iat) <= NOW + LEEWAY_SECS,
                "a token not yet valid verified"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let token = String::from_utf8_lossy(rest);
        check(&token, k);
        // Bytes from outside cannot carry a signature of a key generated in this process.
        assert!(verify(
            &token,
            |kid| (kid == "k1").then_some(&k.public),
            expect(TYP_ACCESS)
        )
        .is_err());
        return;
    }
    let mut parts = rest.splitn(2, |&b| b == 0xFF);
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let Ok(sig) = k.pair.sign(&k.rng, input.as_bytes()) else {
        return;
    };
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    check(&token, k);
});
