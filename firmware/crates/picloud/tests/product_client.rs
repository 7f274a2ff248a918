//! Every product is an app registration, against a real `picloud dev` (Raft log, the
//! identity state folded from it): applying a product creates its client,
//! `picloud identity client-secret PRODUCT` rotates its secret, `client_credentials` with it
//! reads that product's SPARQL endpoint (200) and not another's (403); a revoked access
//! token is refused; deleting the product refuses its token and new grants.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::path::Path;

mod common;
use common::*;

/// curl against the dev node: (status, body).
fn curl(ca: &Path, url: &str, args: &[&str]) -> (u16, String) {
    let (b, c) = curl_with(ca, args, url);
    (c.trim().parse().unwrap_or(0), b)
}

fn grant(ca: &Path, base: &str, id: &str, secret: &str) -> (u16, String) {
    curl(
        ca,
        &format!("{base}oauth2/token"),
        &[
            "-u",
            &format!("{id}:{secret}"),
            "--data",
            "grant_type=client_credentials",
        ],
    )
}

fn bearer(ca: &Path, url: &str, token: &str) -> (u16, String) {
    curl(ca, url, &["-H", &format!("Authorization: Bearer {token}")])
}

const ASK: &str = "sparql?query=ASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D";

#[test]
fn a_product_is_an_app_registration_until_it_is_deleted() {
    let home = TempDir::new("product-client");
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let base = format!("https://{listen}/");
    let _dev = Dev::start(&home.0, &listen);
    let ca = home.0.join("data/picloud/dev/ca.pem");

    ok(
        &picloud(&home.0, &["resource", "apply", "examples/home-hub"]),
        "apply home-hub",
    );
    ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "apply photo-app",
    );
    let printed = ok(
        &picloud(&home.0, &["identity", "client-secret", "home-hub"]),
        "client-secret",
    );
    assert!(printed.contains("client id       home-hub"), "{printed}");
    let out = picloud(
        &home.0,
        &["identity", "client-secret", "home-hub", "-o", "json"],
    );
    let j: serde_json::Value = serde_json::from_str(&ok(&out, "client-secret -o json")).unwrap();
    let secret = j["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(j["clientId"], "home-hub");
    assert_eq!(j["audience"], "https://picloud.local/products/home-hub");
    // The first secret printed was rotated away.
    let first = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("client secret"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(grant(&ca, &base, "home-hub", &first).0, 401);

    let (status, body) = grant(&ca, &base, "home-hub", &secret);
    assert_eq!(status, 200, "{body}");
    let token = |body: &str| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let t1 = token(&body);
    let own = format!("{base}products/home-hub/{ASK}");
    let other = format!("{base}products/photo-app/{ASK}");
    let (s, b) = bearer(&ca, &own, &t1);
    assert_eq!(s, 200, "{b}");
    let (s, b) = bearer(&ca, &other, &t1);
    assert_eq!(s, 403, "{b}");

    // A revoked access token is refused; the other one is not.
    let t2 = token(&grant(&ca, &base, "home-hub", &secret).1);
    let (s, b) = curl(
        &ca,
        &format!("{base}oauth2/revoke"),
        &[
            "-u",
            &format!("home-hub:{secret}"),
            "--data",
            &format!("token={t2}"),
        ],
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = bearer(&ca, &own, &t2);
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("revoked"), "{b}");
    assert_eq!(bearer(&ca, &own, &t1).0, 200);

    // Deleting the product ends its client.
    ok(
        &picloud(&home.0, &["resource", "delete", "--product", "home-hub"]),
        "delete home-hub",
    );
    let (s, b) = bearer(&ca, &own, &t1);
    assert_eq!(s, 401, "{b}");
    assert_eq!(grant(&ca, &base, "home-hub", &secret).0, 401);
    let out = picloud(&home.0, &["identity", "client-secret", "home-hub"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no product has a client called home-hub"),
        "{}",
        text(&out.stderr)
    );
    let out = picloud(&home.0, &["identity", "client-secret", "Not A Name"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
