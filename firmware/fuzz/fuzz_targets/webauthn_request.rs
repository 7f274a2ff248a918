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
//! 5 `enrol/finish` past the challenge — as 3, but the target replaces the response's
//!   `clientDataJSON` with a correct one for a live ceremony (its challenge, the portal's
//!   origin), so webauthn-rs goes on to the origin, flags, authenticator data, COSE key
//!   and attestation-statement checks
//! 6 `login/finish` past the challenge — as 4 with a correct `clientDataJSON`: the
//!   assertion's signature (over that client data) can only come from the software
//!   authenticator's private key, so nothing may verify
//!
//! Nothing may panic; in 3 and 4 a fuzzed response can never match the live ceremony's fresh
//! random challenge, so any registration or assertion that verifies is a bug.
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
    /// A live registration and the correct client data for it.
    reg_live: (PasskeyRegistration, Vec<u8>),
    /// A live login and the correct client data for it.
    auth_live: (PasskeyAuthentication, Vec<u8>),
}

/// The `clientDataJSON` a browser at the portal would send for `options` (a creation or
/// request challenge response, as JSON).
fn client_data(kind: &str, options: serde_json::Value) -> Vec<u8> {
    let challenge = options["publicKey"]["challenge"]
        .as_str()
        .expect("the options carry a challenge")
        .to_owned();
    serde_json::json!({
        "type": kind,
        "challenge": challenge,
        "origin": "https://picloud.local:8443",
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
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
                (5, "enrol-finish-live", serde_json::json!({"ceremony": "c1", "credential": reg_response})),
                (6, "login-finish-live", serde_json::json!({"ceremony": "c2", "credential": assertion})),
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
            .start_passkey_authentication(&[passkey.clone()])
            .expect("start login");
        let (ccr, reg2) = webauthn
            .start_passkey_registration(
                user,
                "alice",
                "Alice",
                Some(vec![passkey.cred_id().clone()]),
            )
            .expect("start registration");
        let reg_data = client_data("webauthn.create", serde_json::to_value(&ccr).expect("json"));
        let (rcr, auth2) = webauthn
            .start_passkey_authentication(&[passkey])
            .expect("start login");
        let auth_data = client_data("webauthn.get", serde_json::to_value(&rcr).expect("json"));
        Ceremonies {
            webauthn,
            reg,
            auth,
            reg_live: (reg2, reg_data),
            auth_live: (auth2, auth_data),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let c = ceremonies();
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel % 7 {
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
        4 => {
            if let Ok(r) = parse_request::<LoginFinish>(body) {
                let v = verify_assertion(&c.webauthn, &r.credential, &c.auth);
                assert!(v.is_err(), "a fuzzed assertion was accepted");
            }
        }
        5 => {
            if let Ok(mut r) = parse_request::<EnrolFinish>(body) {
                r.credential.response.client_data_json = c.reg_live.1.clone();
                // With `none` attestation a well-formed response for the live challenge is a
                // legitimate registration; whatever verifies must be a sane passkey.
                if let Ok(p) =
                    verify_registration(&c.webauthn, &r.credential, &c.reg_live.0, "fuzz")
                {
                    assert!(!p.credential_id.is_empty());
                    assert!(picloud_http::passkeys::stored_passkey(&p.public_key).is_some());
                }
            }
        }
        _ => {
            if let Ok(mut r) = parse_request::<LoginFinish>(body) {
                r.credential.response.client_data_json = c.auth_live.1.clone();
                let v = verify_assertion(&c.webauthn, &r.credential, &c.auth_live.0);
                assert!(v.is_err(), "a forged assertion verified");
            }
        }
    }
});
