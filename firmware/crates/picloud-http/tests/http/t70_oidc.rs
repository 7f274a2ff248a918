//! The OpenID Provider over HTTPS with curl: discovery, JWKS, client_credentials, the
//! device grant, refresh rotation and reuse detection, revocation, introspection,
//! userinfo, the CA certificate, end-session.

use crate::support::{form, secret, Server};

#[test]
fn discovery_jwks_and_the_ca_are_public_and_consistent() {
    let s = Server::start();
    let d = s
        .curl_as(None, "/.well-known/openid-configuration", &[])
        .json();
    assert_eq!(d["issuer"], "https://picloud.local/");
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let jwks = s.curl_as(None, "/oauth2/jwks", &[]).json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("d").is_none(), "no private part");
    let pem = s.curl_as(None, "/ca.pem", &[]);
    assert_eq!(pem.status, 200);
    assert_eq!(pem.body.trim(), s.ca.cert_pem().trim());
}

#[test]
fn client_credentials_basic_and_post_then_userinfo_and_introspection() {
    let s = Server::start();
    let r = form(
        &s,
        "/oauth2/token",
        Some(("photo-app", &secret("photo-app"))),
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let access = t["access_token"].as_str().unwrap().to_owned();
    let r = form(
        &s,
        "/oauth2/token",
        None,
        &format!(
            "grant_type=client_credentials&client_id=photo-app&client_secret={}",
            secret("photo-app")
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A wrong secret.
    let r = form(
        &s,
        "/oauth2/token",
        Some(("photo-app", "nope")),
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_client");
    // The public CLI client has no client_credentials.
    let r = form(
        &s,
        "/oauth2/token",
        None,
        "grant_type=client_credentials&client_id=picloud-cli",
    );
    assert_eq!(r.status, 401, "{}", r.body);

    let me = s.curl_as(Some(&access), "/oauth2/userinfo", &[]).json();
    assert_eq!(
        me["sub"],
        "https://picloud.local/platform/identities/photo-app"
    );
    assert_eq!(me["roles"], serde_json::json!(["photo-app:app"]));

    let body = format!("token={access}");
    let i = form(
        &s,
        "/oauth2/introspect",
        Some(("test-admin", &secret("test-admin"))),
        &body,
    )
    .json();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "photo-app");
    let i = form(
        &s,
        "/oauth2/introspect",
        Some(("test-admin", &secret("test-admin"))),
        "token=nope",
    )
    .json();
    assert_eq!(i["active"], false);
    // Public clients may not introspect.
    let r = form(
        &s,
        "/oauth2/introspect",
        None,
        &format!("client_id=picloud-cli&{body}"),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn device_grant_refresh_rotation_reuse_and_revocation() {
    let s = Server::start();
    let r = form(
        &s,
        "/oauth2/device_authorization",
        None,
        "client_id=picloud-cli&scope=openid%20offline_access",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    assert!(d["verification_uri"]
        .as_str()
        .unwrap()
        .ends_with("/portal/device"));
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=picloud-cli&device_code={device_code}"
    );
    let r = form(&s, "/oauth2/token", None, &poll);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "authorization_pending");
    // A person approves in the portal (here: with the admin's token).
    let approve = format!(r#"{{"userCode":"{}"}}"#, user_code.to_lowercase());
    let r = s.post("/portal/api/device/approve", "application/json", &approve);
    assert_eq!(r.status, 200, "{}", r.body);
    let t = form(&s, "/oauth2/token", None, &poll);
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    assert!(t["id_token"].is_string());
    let r1 = t["access_token"].as_str().unwrap();
    assert_eq!(s.curl_as(Some(r1), "/api/cluster", &[]).status, 200);
    // The device code is single-use.
    assert_eq!(
        form(&s, "/oauth2/token", None, &poll).json()["error"],
        "invalid_grant"
    );

    let refresh = |tok: &str| {
        form(
            &s,
            "/oauth2/token",
            None,
            &format!("grant_type=refresh_token&client_id=picloud-cli&refresh_token={tok}"),
        )
    };
    let first = t["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&first).json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = refresh(&second);
    assert_eq!(third.status, 200);
    let third = third.json()["refresh_token"].as_str().unwrap().to_owned();
    // Reuse of a rotated token: refused, and the family dies.
    let r = refresh(&first);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(
        refresh(&third).status,
        400,
        "the live token died with its family"
    );

    // Revocation of a fresh login.
    let r = form(
        &s,
        "/oauth2/device_authorization",
        None,
        "client_id=picloud-cli",
    )
    .json();
    s.post(
        "/portal/api/device/approve",
        "application/json",
        &format!(r#"{{"userCode":"{}"}}"#, r["user_code"].as_str().unwrap()),
    );
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=picloud-cli&device_code={}",
        r["device_code"].as_str().unwrap()
    );
    let t = form(&s, "/oauth2/token", None, &poll).json();
    let tok = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        form(
            &s,
            "/oauth2/revoke",
            None,
            &format!("client_id=picloud-cli&token={tok}")
        )
        .status,
        200
    );
    assert_eq!(refresh(tok).status, 400);
    // Unknown tokens: 200 too (RFC 7009).
    assert_eq!(
        form(
            &s,
            "/oauth2/revoke",
            None,
            "client_id=picloud-cli&token=zzz"
        )
        .status,
        200
    );
}

#[test]
fn unsupported_grants_and_end_session() {
    let s = Server::start();
    let r = form(
        &s,
        "/oauth2/token",
        Some(("photo-app", &secret("photo-app"))),
        "grant_type=password&username=a&password=b",
    );
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    let r = form(&s, "/oauth2/token", Some(("photo-app", &secret("photo-app"))), "grant_type=authorization_code&code=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(r.json()["error"], "invalid_grant");
    // No id_token_hint: no redirect to an arbitrary URI.
    let r = s.curl_as(
        None,
        "/oauth2/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("evil.example"), "{}", r.body);
}
