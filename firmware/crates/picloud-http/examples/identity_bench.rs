//! Identity benchmarks (docs/perf.md): `cargo run --release -p picloud-http --example
//! identity_bench`. Measures, in one run on this machine:
//! - the raw cost of one ES256 signature and one P-256 verification (ring);
//! - `client_credentials` grants per second over HTTPS, on one keep-alive connection and with
//!   a new TLS handshake per request (a real server on 127.0.0.1, `MemoryBackend`);
//! - passkey assertions verified per second (webauthn-rs `finish_passkey_authentication`
//!   over assertions a software authenticator made beforehand);
//!
//! Each is printed with its ratio to the raw ES256 signature and P-256 verification rates.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::print_stdout,
    reason = "a benchmark binary: it reads the clock and fails loudly"
)]

use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use picloud_domain::{IriBuilder, Name};
use picloud_events::payload::GrantType;
use picloud_events::ClientId;
use picloud_http::identity::digest;
use picloud_http::{
    router, serve_tls_until, AppState, Backend, ClusterCa, Identity, MemoryBackend,
};
use picloud_iam::decide::NewClient;
use picloud_iam::jwt::{Claims, SigningKey, TYP_ACCESS};
use picloud_iam::Role;
use ring::rand::SystemRandom;
use rustls::pki_types::ServerName;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{Url, Uuid, WebauthnBuilder};

fn rate(n: usize, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

fn raw(n: usize) -> (f64, f64) {
    let rng = SystemRandom::new();
    let (_, key) = SigningKey::generate("bench", &rng).unwrap();
    let claims = Claims {
        iss: "https://picloud.local/".into(),
        sub: "https://picloud.local/platform/identities/x".into(),
        aud: "https://picloud.local/".into(),
        exp: 2_000_000_000,
        iat: 1_000_000_000,
        nbf: 1_000_000_000,
        jti: "j".into(),
        client_id: "c".into(),
        scope: String::new(),
        roles: vec![],
        preferred_username: None,
        nonce: None,
    };
    let msg = b"the signing input of a typical access token, about this long: eyJhbGciOi.eyJpc3Mi";
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap()
        .as_ref(),
        &rng,
    )
    .unwrap();
    let t = Instant::now();
    let mut sig = None;
    for _ in 0..n {
        sig = Some(pair.sign(&rng, msg).unwrap());
    }
    let sign = rate(n, t);
    let sig = sig.unwrap();
    use ring::signature::KeyPair;
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref().to_vec(),
    );
    let t = Instant::now();
    for _ in 0..n {
        public.verify(msg, sig.as_ref()).unwrap();
    }
    let verify = rate(n, t);
    let _ = key.sign(TYP_ACCESS, &claims, &rng).unwrap();
    (sign, verify)
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn grant(sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>) {
    let req = hyper::Request::post("/oauth2/token")
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"grant_type=client_credentials&client_id=bench&client_secret=bench-secret",
        )))
        .unwrap();
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
}

fn main() {
    let n = 2000;
    let (sign, verify) = raw(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ca = ClusterCa::generate().unwrap();
    let clock = picloud_http::system_clock();
    let backend = Arc::new(MemoryBackend::new(IriBuilder::default(), clock.clone()).unwrap());
    let identity = Arc::new(Identity::new([9u8; 32], clock));
    let client = NewClient {
        client_id: ClientId::new("bench").unwrap(),
        product: None,
        secret_hash: Some(digest("bench-secret")),
        redirect_uris: vec![],
        grant_types: vec![GrantType::ClientCredentials],
        identity: Some(Name::parse("bench").unwrap()),
        roles: vec![Role {
            product: None,
            role: Name::parse("reader").unwrap(),
        }],
    };
    let (cmd, _) = identity
        .initialise(ca.cert_der(), ca.key_pem(), vec![client])
        .unwrap();
    let tls = ca.server_tls(&[]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let (keep_alive, handshake) = rt.block_on(async {
        backend
            .submit_iam(cmd, picloud_http::random_correlation_id())
            .await
            .unwrap()
            .unwrap();
        let state = AppState::new(backend.clone() as Arc<dyn Backend>, Arc::clone(&identity));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_tls_until(
            listener,
            router(state),
            tls,
            std::future::pending(),
        ));
        let mut s = tls_connect(addr, &connector).await;
        for _ in 0..50 {
            grant(&mut s).await;
        }
        let t = Instant::now();
        for _ in 0..n {
            grant(&mut s).await;
        }
        let keep_alive = rate(n, t);
        let m = n / 4;
        let t = Instant::now();
        for _ in 0..m {
            let mut s = tls_connect(addr, &connector).await;
            grant(&mut s).await;
        }
        (keep_alive, rate(m, t))
    });

    // Passkey assertions: made beforehand by a software authenticator, verified here.
    let origin = Url::parse("https://picloud.local").unwrap();
    let w = WebauthnBuilder::new("picloud.local", &origin)
        .unwrap()
        .build()
        .unwrap();
    let mut key = SoftPasskey::new(true);
    let (ccr, reg) = w
        .start_passkey_registration(Uuid::from_bytes([1; 16]), "alice", "Alice", None)
        .unwrap();
    let cred = key.do_registration(origin.clone(), ccr).unwrap();
    let passkey = w.finish_passkey_registration(&cred, &reg).unwrap();
    let m = 500;
    let pending: Vec<_> = (0..m)
        .map(|_| {
            let (rcr, auth) = w
                .start_passkey_authentication(std::slice::from_ref(&passkey))
                .unwrap();
            (key.do_authentication(origin.clone(), rcr).unwrap(), auth)
        })
        .collect();
    let t = Instant::now();
    for (assertion, auth) in &pending {
        w.finish_passkey_authentication(assertion, auth).unwrap();
    }
    let assertions = rate(m, t);

    println!("raw ES256 signatures/s              {sign:>10.0}");
    println!("raw P-256 verifications/s           {verify:>10.0}");
    for (what, r) in [
        ("client_credentials grants/s, keep-alive", keep_alive),
        ("client_credentials grants/s, new TLS   ", handshake),
        ("passkey assertions verified/s         ", assertions),
    ] {
        println!(
            "{what} {r:>10.0}   = {:.3} × sign rate, {:.3} × verify rate",
            r / sign,
            r / verify
        );
    }
}
