//! Fuzzes the WebAuthn request handling behind the portal: the JSON bodies of
//! `/portal/api/enrol/finish` and `/portal/api/login/finish` as the server parses them,
//! then the registration ceremony's verification (client data, CBOR attestation object)
//! against a real pending ceremony. Nothing may panic; forged responses must be refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use webauthn_rs::prelude::{
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

fn ceremony() -> &'static (Webauthn, PasskeyRegistration) {
    static C: OnceLock<(Webauthn, PasskeyRegistration)> = OnceLock::new();
    C.get_or_init(|| {
        let origin = Url::parse("https://picloud.local").expect("url");
        let w = WebauthnBuilder::new("picloud.local", &origin)
            .expect("builder")
            .allow_any_port(true)
            .build()
            .expect("webauthn");
        let (_, reg) = w
            .start_passkey_registration(Uuid::from_bytes([7; 16]), "alice", "Alice", None)
            .expect("start");
        (w, reg)
    })
}

#[derive(serde::Deserialize)]
struct EnrolFinish {
    #[allow(dead_code)]
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(serde::Deserialize)]
struct LoginFinish {
    #[allow(dead_code)]
    ceremony: String,
    #[allow(dead_code)]
    credential: PublicKeyCredential,
}

fuzz_target!(|data: &[u8]| {
    let (w, reg) = ceremony();
    if let Ok(req) = serde_json::from_slice::<EnrolFinish>(data) {
        let r = w.finish_passkey_registration(&req.credential, reg);
        assert!(r.is_err(), "a fuzzed registration response was accepted");
    }
    if let Ok(cred) = serde_json::from_slice::<RegisterPublicKeyCredential>(data) {
        assert!(w.finish_passkey_registration(&cred, reg).is_err());
    }
    let _ = serde_json::from_slice::<LoginFinish>(data);
});
