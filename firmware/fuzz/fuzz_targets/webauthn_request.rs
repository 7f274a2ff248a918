//! Fuzzes PiCloud's handling of the untrusted WebAuthn requests behind the portal: the same
//! `picloud_http::passkeys` functions the handlers of `/portal/api/*` call. The first byte
//! picks the request, the rest is its JSON body:
//!
//! 0 `setup/start`  — `parse_request::<SetupStart>`, `normalise_code`, `person_name`
//! 1 `reenrol/start` — `parse_request::<ReEnrolStart>`, `normalise_code`
//! 2 `login/start`  — `parse_request::<LoginStart>`, `person_name`
//! 3 `enrol/finish` — `parse_request::<EnrolFinish>`, then `verify_registration` (client
//!   data, CBOR attestation object, COSE key) against a real pending registration
//! 4 `login/finish` — `parse_request::<LoginFinish>`, then `verify_assertion` against a real
//!   pending login of a passkey registered with a software authenticator
//!
//! Nothing may panic; a fuzzed response can never match the live ceremony's fresh random
//! challenge, so any registration or assertion that verifies is a bug.
//! Seeds: `corpus/webauthn_request/` — real bodies a software authenticator produced
//! (regenerate with `PICLOUD_FUZZ_SEEDS=DIR`, see README.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use picloud_http::passkeys::{
    normalise_code, parse_request, person_name, relying_party, verify_assertion,
    verify_registration, EnrolFinish, LoginFinish, LoginStart, ReEnrolStart, SetupStart,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration, Url, Uuid, Webauthn};

struct Ceremonies {
    webauthn: Webauthn,
    reg: PasskeyRegistration,
    auth: PasskeyAuthentication,
}

fn ceremonies() -> &'static Ceremonies {
    static C: OnceLock<Ceremonies> = OnceLock::new();
    C.get_or_init(|| {
        let webauthn = relying_party("picloud.local").expect("relying party");
        let origin = Url::parse("https://picloud.local:8443").expect("url");
        let user = Uuid::from_bytes([7; 16]);
        // A real registration and login, as a browser would do them.
        let mut key = SoftPasskey::new(true);
        let (ccr, reg) = webauthn
            .start_passkey_registration(user, "alice", "Alice", None)
            .expect("start registration");
        let reg_response = key.do_registration(origin.clone(), ccr).expect("register");
        let stored = verify_registration(&webauthn, &reg_response, &reg, "first passkey")
            .expect("a real registration verifies");
        let passkey = picloud_http::passkeys::stored_passkey(&stored.public_key)
            .expect("the stored passkey decodes");
        let (rcr, auth) = webauthn
            .start_passkey_authentication(&[passkey.clone()])
            .expect("start login");
        let assertion = key.do_authentication(origin, rcr).expect("assert");
        verify_assertion(&webauthn, &assertion, &auth).expect("a real assertion verifies");
        if let Some(dir) = std::env::var_os("PICLOUD_FUZZ_SEEDS") {
            let dir = std::path::Path::new(&dir);
            std::fs::create_dir_all(dir).expect("seed dir");
            let seeds = [
                (0u8, "setup-start", serde_json::json!({"code": "abcd-efgh ", "name": "alice", "displayName": "Alice", "label": "laptop"})),
                (1, "reenrol-start", serde_json::json!({"code": "WXYZ-2345"})),
                (2, "login-start", serde_json::json!({"name": "alice", "authorize": {"client_id": "picloud-portal", "redirect_uri": "https://picloud.local/cb", "state": "s", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256", "scope": "openid", "nonce": "n"}})),
                (3, "enrol-finish", serde_json::json!({"ceremony": "c1", "credential": reg_response})),
                (4, "login-finish", serde_json::json!({"ceremony": "c2", "credential": assertion})),
            ];
            for (sel, name, body) in seeds {
                let mut bytes = vec![sel];
                bytes.extend_from_slice(body.to_string().as_bytes());
                std::fs::write(dir.join(name), bytes).expect("seed");
            }
        }
        // Fresh ceremonies (new challenges) for the fuzzer: the responses above, or any
        // mutation of them, must no longer verify.
        let (_, reg) = webauthn
            .start_passkey_registration(user, "alice", "Alice", Some(vec![passkey.cred_id().clone()]))
            .expect("start registration");
        let (_, auth) = webauthn
            .start_passkey_authentication(&[passkey])
            .expect("start login");
        Ceremonies {
            webauthn,
            reg,
            auth,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let c = ceremonies();
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 5 {
        0 => {
            if let Ok(r) = parse_request::<SetupStart>(body) {
                let code = normalise_code(&r.code);
                assert_eq!(code, code.trim());
                if let Ok(n) = person_name(&r.name) {
                    assert!(!n.as_str().is_empty());
                }
            }
        }
        1 => {
            if let Ok(r) = parse_request::<ReEnrolStart>(body) {
                let _ = normalise_code(&r.code);
            }
        }
        2 => {
            if let Ok(r) = parse_request::<LoginStart>(body) {
                let _ = person_name(&r.name);
            }
        }
        3 => {
            if let Ok(r) = parse_request::<EnrolFinish>(body) {
                let v = verify_registration(&c.webauthn, &r.credential, &c.reg, "fuzz");
                assert!(v.is_err(), "a fuzzed registration response was accepted");
            }
        }
        _ => {
            if let Ok(r) = parse_request::<LoginFinish>(body) {
                let v = verify_assertion(&c.webauthn, &r.credential, &c.auth);
                assert!(v.is_err(), "a fuzzed assertion was accepted");
            }
        }
    }
});
