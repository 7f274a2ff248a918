//! mTLS on the node-to-node transport: a peer with a certificate from the
//! cluster CA gets through; a peer without a certificate, with one from another
//! CA, or with an expired one is refused by the accepting node (the refusal
//! reason is asserted); a server whose certificate does not name the dialled
//! address is refused by the dialling node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use picloud_raft::network::{bind, serve, Handler, PeerPool};
use picloud_raft::tls::NodeTls;
use picloud_raft::wire::{Request, Response};
use picloud_raft::{Connector, TransportError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CertificateError, Error as TlsErr};
use tokio::net::{TcpListener, TcpStream};

struct Ca {
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        issuer: Issuer::new(p, key),
    }
}

/// A node certificate for `sans`, valid from `from` to `to` days relative to now.
fn node_cert(
    ca: &Ca,
    sans: &[&str],
    from_days: i64,
    to_days: i64,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "node");
    for s in sans {
        p.subject_alt_names.push(match s.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*s).try_into().unwrap()),
        });
    }
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let day = std::time::Duration::from_secs(86_400);
    #[allow(clippy::disallowed_methods)] // test: certificate validity around the real clock
    let t = std::time::SystemTime::now();
    let at = |d: i64| {
        if d >= 0 {
            t + day * u32::try_from(d).unwrap()
        } else {
            t - day * u32::try_from(-d).unwrap()
        }
    };
    p.not_before = at(from_days).into();
    p.not_after = at(to_days).into();
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

fn tls(trust: &Ca, cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> Connector {
    Connector::Tls(NodeTls::from_der(vec![trust.der.clone()], vec![cert.0], cert.1).unwrap())
}

struct Answer;
impl Handler for Answer {
    fn handle(self: Arc<Self>, _req: Request) -> Pin<Box<dyn Future<Output = Response> + Send>> {
        Box::pin(async { Response::ReadIndex(Ok(Some(42))) })
    }
}

/// Accepts one connection on `listener` with `server` and returns what the
/// accepting side concluded, while `client` dials it.
async fn handshake(
    server: &Connector,
    client: &Connector,
) -> (Result<(), TransportError>, Result<(), TransportError>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let s = server.clone();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        match s.accept(tcp).await {
            // TLS 1.3: the client finishes first; read once so that the server
            // verifies the client's certificate before we report success.
            Ok(mut st) => {
                use tokio::io::AsyncReadExt;
                let mut b = [0u8; 1];
                let _ = tokio::time::timeout(Duration::from_millis(300), st.read(&mut b)).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    });
    let dialled = client
        .connect(&addr, Duration::from_secs(5))
        .await
        .map(|_| ());
    (accepted.await.unwrap(), dialled)
}

fn rustls_err(r: &Result<(), TransportError>) -> Option<TlsErr> {
    match r {
        Err(TransportError::Tls { rustls, .. }) => rustls.clone(),
        _ => None,
    }
}

#[tokio::test]
async fn mtls_accepts_cluster_peers_and_refuses_others() {
    let cluster = ca("cluster");
    let other = ca("other");
    let server = tls(&cluster, node_cert(&cluster, &["n1", "127.0.0.1"], -1, 365));

    // A peer of the cluster: an RPC goes through a real server.
    let good = tls(&cluster, node_cert(&cluster, &["n2", "127.0.0.1"], -1, 365));
    let listener = bind("127.0.0.1:0", &server).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _srv = serve(listener, server.clone(), Arc::new(Answer));
    let pool = PeerPool::new(good.clone());
    match pool
        .get(&addr)
        .call(Request::ReadIndex, Duration::from_secs(5))
        .await
        .unwrap()
    {
        Response::ReadIndex(Ok(Some(42))) => {}
        other => panic!("{other:?}"),
    }
    let (a, d) = handshake(&server, &good).await;
    assert!(a.is_ok() && d.is_ok(), "{a:?} {d:?}");

    // No client certificate at all.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cluster.der.clone()).unwrap();
    let anon = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a2 = l.local_addr().unwrap();
    let s = server.clone();
    let acc = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        s.accept(tcp).await.map(|_| ())
    });
    let tcp = TcpStream::connect(a2).await.unwrap();
    let c = tokio_rustls::TlsConnector::from(Arc::new(anon))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await;
    if let Ok(mut st) = c {
        use tokio::io::AsyncReadExt;
        let mut b = [0u8; 1];
        let r = st.read(&mut b).await;
        assert!(
            !matches!(r, Ok(n) if n > 0),
            "the server answered a peer without a certificate"
        );
    }
    let refused = acc.await.unwrap();
    assert_eq!(
        rustls_err(&refused),
        Some(TlsErr::NoCertificatesPresented),
        "{refused:?}"
    );

    // A certificate from another CA.
    let foreign = tls(&cluster, node_cert(&other, &["n3", "127.0.0.1"], -1, 365));
    let (a, _) = handshake(&server, &foreign).await;
    assert_eq!(
        rustls_err(&a),
        Some(TlsErr::InvalidCertificate(CertificateError::UnknownIssuer)),
        "{a:?}"
    );

    // An expired certificate from the cluster CA.
    let expired = tls(&cluster, node_cert(&cluster, &["n4", "127.0.0.1"], -30, -1));
    let (a, _) = handshake(&server, &expired).await;
    assert!(
        matches!(
            rustls_err(&a),
            Some(TlsErr::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            ))
        ),
        "{a:?}"
    );

    // The dialling side checks the server's name: a server certificate that
    // does not name 127.0.0.1 is refused by the client.
    let misnamed = tls(&cluster, node_cert(&cluster, &["n5", "10.9.9.9"], -1, 365));
    let (_, d) = handshake(&misnamed, &good).await;
    assert!(
        matches!(
            rustls_err(&d),
            Some(TlsErr::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{d:?}"
    );
}

#[tokio::test]
async fn tls_material_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("picloud-raft-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = NodeTls::from_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("ca.pem"), "{e}");
    std::fs::write(dir.join("ca.pem"), "not pem").unwrap();
    std::fs::write(dir.join("node.pem"), "not pem").unwrap();
    std::fs::write(dir.join("node.key"), "not pem").unwrap();
    let e = NodeTls::from_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("ca.pem") && e.contains("no certificate"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
