//! Every product is an app registration, and access tokens can be revoked: the identity
//! core folds the product's events into a client, an administrator rotates its secret,
//! its `client_credentials` tokens read that product only, and deleting the product ends
//! them. `/oauth2/revoke` with an access token denies it on every route and in
//! introspection until it expires.

use picloud_http::Backend;

use crate::support::{example, form, post_json, secret, Reply, Server, T0};

fn grant(s: &Server, id: &str, pw: &str) -> Reply {
    form(
        s,
        "/oauth2/token",
        Some((id, pw)),
        "grant_type=client_credentials",
    )
}

fn post_as(s: &Server, token: &str, path: &str) -> Reply {
    post_json(s, Some(token), path, "{}")
}

/// The `jti` claim of a token (unverified).
fn jti(token: &str) -> String {
    use base64::Engine;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&claims).unwrap();
    v["jti"].as_str().unwrap().to_owned()
}

const ASK: &str = "query=ASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D";

#[test]
fn a_product_client_reads_its_product_only_and_dies_with_it() {
    let s = Server::start();
    // Before the product exists there is no client to rotate.
    let r = post_as(&s, &s.admin_token, "/api/identity/clients/home-hub/secret");
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s.apply(&example("home-hub"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    s.apply_photo_app();
    // The client exists but has no secret yet: it authenticates nothing.
    let r = form(
        &s,
        "/oauth2/token",
        None,
        "grant_type=client_credentials&client_id=home-hub",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    // A reader may not rotate it; an administrator may, and sees the secret once.
    let reader = s.token("test-reader");
    assert_eq!(
        post_as(&s, &reader, "/api/identity/clients/home-hub/secret").status,
        403
    );
    let r = post_as(&s, &s.admin_token, "/api/identity/clients/home-hub/secret");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let j = r.json();
    assert_eq!(j["clientId"], "home-hub");
    assert_eq!(j["audience"], "https://picloud.local/products/home-hub");
    let first = j["clientSecret"].as_str().unwrap().to_owned();
    assert!(first.len() >= 43, "{first}");
    // Only the digest is in the log.
    let log = serde_json::to_string(&s.backend.events().unwrap()).unwrap();
    assert!(!log.contains(&first));
    // Rotation: the first secret stops working.
    let r = post_as(&s, &s.admin_token, "/api/identity/clients/home-hub/secret");
    let secret2 = r.json()["clientSecret"].as_str().unwrap().to_owned();
    assert_ne!(first, secret2);
    assert_eq!(grant(&s, "home-hub", &first).status, 401);
    let r = grant(&s, "home-hub", &secret2);
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    assert!(r.json().get("refresh_token").is_none());

    // Its own product: the description, its resources, its SPARQL endpoint, its status.
    for path in [
        "/products/home-hub".to_owned(),
        format!("/products/home-hub/sparql?{ASK}"),
        "/api/status/home-hub".to_owned(),
    ] {
        let r = s.curl_as(
            Some(&token),
            &path,
            &[
                "-H",
                "Accept: application/json, application/sparql-results+json",
            ],
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // Another product, the platform, and person routes: 403 (another audience).
    for path in [
        format!("/products/photo-app/sparql?{ASK}"),
        "/products/photo-app".to_owned(),
        format!("/sparql?{ASK}"),
        "/api/cluster".to_owned(),
        "/oauth2/userinfo".to_owned(),
    ] {
        let r = s.curl_as(Some(&token), &path, &[]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
    assert_eq!(post_as(&s, &token, "/api/apply").status, 403);
    // Introspection by another confidential client: active, about the product.
    let i = form(
        &s,
        "/oauth2/introspect",
        Some(("test-admin", &secret("test-admin"))),
        &format!("token={token}"),
    )
    .json();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["sub"], "https://picloud.local/products/home-hub");
    assert_eq!(i["roles"], serde_json::json!(["home-hub:app"]));

    // Deleting the product: its token is refused, new grants and rotations too.
    let r = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"home-hub"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.curl_as(
        Some(&token),
        &format!("/products/home-hub/sparql?{ASK}"),
        &[],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);
    assert_eq!(grant(&s, "home-hub", &secret2).status, 401);
    let i = form(
        &s,
        "/oauth2/introspect",
        Some(("test-admin", &secret("test-admin"))),
        &format!("token={token}"),
    )
    .json();
    assert_eq!(i["active"], false, "{i}");
    let r = post_as(&s, &s.admin_token, "/api/identity/clients/home-hub/secret");
    assert_eq!(r.status, 404, "{}", r.body);
    // Declared again: a new secret is needed; the old one stays dead.
    let r = s.apply(&example("home-hub"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(grant(&s, "home-hub", &secret2).status, 401);
}

#[test]
fn a_revoked_access_token_is_refused_everywhere_until_it_expires() {
    let s = Server::start();
    let reader = secret("test-reader");
    let token = |s: &Server| {
        let r = grant(s, "test-reader", &reader);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    };
    let t1 = token(&s);
    let t2 = token(&s);
    assert_eq!(s.curl_as(Some(&t1), "/api/cluster", &[]).status, 200);
    // Another client may not revoke it.
    let r = form(
        &s,
        "/oauth2/revoke",
        Some(("test-admin", &secret("test-admin"))),
        &format!("token={t1}"),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"], "unauthorized_client");
    assert_eq!(s.curl_as(Some(&t1), "/api/cluster", &[]).status, 200);
    // Its own client revokes it: one event, then 401 and inactive.
    let before = s.backend.events().unwrap().len();
    let r = form(
        &s,
        "/oauth2/revoke",
        Some(("test-reader", &reader)),
        &format!("token={t1}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let events = s.backend.events().unwrap();
    assert_eq!(events.len(), before + 1);
    assert_eq!(events[before].event_type, "AccessTokenRevoked");
    let r = s.curl_as(Some(&t1), "/api/cluster", &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("revoked"), "{}", r.body);
    let i = form(
        &s,
        "/oauth2/introspect",
        Some(("test-reader", &reader)),
        &format!("token={t1}"),
    )
    .json();
    assert_eq!(i["active"], false, "{i}");
    // Revoking it again commits nothing.
    let r = form(
        &s,
        "/oauth2/revoke",
        Some(("test-reader", &reader)),
        &format!("token={t1}"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.backend.events().unwrap().len(), before + 1);
    // Tokens issued before or after are unaffected.
    assert_eq!(s.curl_as(Some(&t2), "/api/cluster", &[]).status, 200);
    let t3 = token(&s);
    assert_eq!(s.curl_as(Some(&t3), "/api/cluster", &[]).status, 200);
    assert_eq!(s.backend.iam().revoked_access.len(), 1);
    // Past its expiry the deny-list entry is pruned (at the next revocation).
    s.clock_ms
        .store(T0 + 601_000, std::sync::atomic::Ordering::SeqCst);
    let t4 = token(&s);
    let r = form(
        &s,
        "/oauth2/revoke",
        Some(("test-reader", &reader)),
        &format!("token={t4}"),
    );
    assert_eq!(r.status, 200);
    let iam = s.backend.iam();
    assert_eq!(iam.revoked_access.len(), 1);
    assert!(!iam.revoked_access.contains_key(&jti(&t1)));
    assert!(iam.revoked_access.contains_key(&jti(&t4)));
    assert_eq!(s.curl_as(Some(&t4), "/api/cluster", &[]).status, 401);
}
