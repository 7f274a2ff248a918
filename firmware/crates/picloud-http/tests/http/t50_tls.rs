//! The cluster CA: fingerprint, PEM round trip, and that curl refuses an untrusted server.

use picloud_http::ClusterCa;

use crate::support::Server;

#[test]
fn a_saved_ca_issues_certificates_clients_trust() {
    let ca = ClusterCa::generate().unwrap();
    let fp = ca.fingerprint();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert!(fp.split(':').all(|b| b.len() == 2));
    let restored = ClusterCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
    assert_eq!(restored.fingerprint(), fp);

    // A server whose certificate the restored CA issued is trusted with the saved CA file.
    let s = Server::start_with(restored);
    std::fs::write(s.ca_path(), ca.cert_pem()).unwrap();
    assert_eq!(s.curl("/health", &[]).status, 200);

    // Without the CA, curl refuses the connection.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null"])
        .arg(s.url("/health"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}
