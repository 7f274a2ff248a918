//! Authorisation on every route: the test walks the router's own route table, so a route
//! added without a guard fails here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use picloud_http::{route_table, Access, Backend};
use picloud_iam::jwt::{self, Claims, SigningKey};
use ring::rand::SystemRandom;

use crate::support::{example, Server, T0};

/// A concrete path for a route pattern (photo-app is the product the tests own).
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{product}", "photo-app")
        .replace("{node}", "dev")
        .replace("{kind}", "containers")
        .replace("{name}", "api-server")
        .replace("{*rest}", "mounts/0")
}

fn method_args(method: &axum::http::Method) -> Vec<&'static str> {
    if *method == axum::http::Method::POST {
        vec![
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            "{}",
        ]
    } else {
        vec![]
    }
}

/// Signs arbitrary claims with the cluster's real signing key (the test knows the KEK).
fn sign_with_cluster_key(s: &Server, claims: &Claims, typ: &str) -> String {
    let iam = s.backend.iam();
    let (kid, rec) = iam.active_key().unwrap();
    let pkcs8 = picloud_iam::seal::open(&[7u8; 32], kid.as_str(), &rec.sealed).unwrap();
    let rng = SystemRandom::new();
    let key = SigningKey::from_pkcs8(kid.as_str(), &pkcs8, &rng).unwrap();
    key.sign(typ, claims, &rng).unwrap()
}

fn claims_of(token: &str) -> Claims {
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims_of(token);
    c.roles.push("admin".into());
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
        parts[2]
    )
}

fn alg_none(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let kid = jwt::peek_header(token).unwrap().kid;
    let header = format!(r#"{{"alg":"none","kid":"{kid}","typ":"at+jwt"}}"#);
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header), parts[1])
}

#[test]
fn every_route_is_guarded_401_then_403() {
    let s = Server::start();
    s.apply_photo_app();
    let admin = s.admin_token.clone();
    let reader = s.token("test-reader");
    let other = s.token("other-app");
    let photo = s.token("photo-app");
    // A product's own client (folded from its declaration): its token's audience is the
    // product `home-hub`, so every guarded route below (photo-app's or the platform's)
    // answers 403.
    let r = s.apply(&example("home-hub"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let hub = s.token("home-hub");
    let mut wrong_aud = claims_of(&admin);
    wrong_aud.aud = "https://elsewhere.example/".into();
    let wrong_aud = sign_with_cluster_key(&s, &wrong_aud, jwt::TYP_ACCESS);
    let id_token = sign_with_cluster_key(&s, &claims_of(&admin), jwt::TYP_ID);
    // Tokens minted now, checked 601 s later: expired.
    let expired = s.token("test-admin");

    let table = route_table();
    assert!(table.len() >= 20, "{table:?}");
    let mut checked = 0;
    for route in &table {
        for method in route.methods {
            let mut path = concrete(route.path);
            if route.path == "/api/events" {
                path.push_str("?limit=0");
            }
            let args = method_args(method);
            let call = |token: Option<&str>| s.curl_as(token, &path, &args);
            let what = format!("{method} {path} ({:?})", route.access);
            match route.access {
                Access::Public => {
                    let r = call(None);
                    assert!(
                        ![401, 403].contains(&r.status),
                        "{what}: {} {}",
                        r.status,
                        r.body
                    );
                }
                Access::Client => {
                    let r = s.curl_as(
                        None,
                        &path,
                        &["-X", "POST", "--data", "grant_type=client_credentials"],
                    );
                    assert_eq!(r.status, 401, "{what}: {}", r.body);
                    assert_eq!(r.json()["error"], "invalid_client", "{what}");
                    // A bearer token is not client authentication.
                    let r = s.curl_as(
                        Some(&admin),
                        &path,
                        &["-X", "POST", "--data", "grant_type=client_credentials"],
                    );
                    assert_eq!(r.status, 401, "{what}: {}", r.body);
                }
                _ => {
                    let r = call(None);
                    assert_eq!(r.status, 401, "{what} without a token: {}", r.body);
                    assert!(r.header("www-authenticate").starts_with("Bearer"), "{what}");
                    for (label, bad) in [
                        ("tampered", tamper(&admin)),
                        ("alg none", alg_none(&admin)),
                        ("an ID token", id_token.clone()),
                        ("garbage", "not.a.token".to_owned()),
                    ] {
                        let r = call(Some(&bad));
                        assert_eq!(r.status, 401, "{what} with {label}: {}", r.body);
                    }
                    let r = call(Some(&wrong_aud));
                    assert_eq!(r.status, 403, "{what} with another audience: {}", r.body);
                    let r = call(Some(&hub));
                    assert_eq!(
                        r.status, 403,
                        "{what} as another product's client: {}",
                        r.body
                    );
                    let r = call(Some(&admin));
                    assert!(
                        ![401, 403].contains(&r.status),
                        "{what} as admin: {} {}",
                        r.status,
                        r.body
                    );
                    match route.access {
                        Access::ProductRead
                        | Access::ProductRole
                        | Access::PlatformRead
                        | Access::PlatformAdmin => {
                            let r = call(Some(&other));
                            assert_eq!(r.status, 403, "{what} as another product: {}", r.body);
                        }
                        _ => {}
                    }
                    if route.access == Access::PlatformAdmin {
                        let r = call(Some(&reader));
                        assert_eq!(r.status, 403, "{what} as a reader: {}", r.body);
                    }
                    if route.access == Access::ProductRole {
                        let r = call(Some(&reader));
                        assert_eq!(
                            r.status, 403,
                            "{what} as a reader (no product role): {}",
                            r.body
                        );
                        let r = call(Some(&photo));
                        assert!(
                            ![401, 403].contains(&r.status),
                            "{what} as photo-app: {}",
                            r.body
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 18, "{checked}");

    // Unknown paths: 401 without a token, 404 with one.
    assert_eq!(s.curl_as(None, "/no/such/route", &[]).status, 401);
    assert_eq!(s.curl_as(Some(&admin), "/no/such/route", &[]).status, 404);

    // Expired: the clock moves past the access-token lifetime.
    s.clock_ms
        .store(T0 + 601_000, std::sync::atomic::Ordering::SeqCst);
    for route in table
        .iter()
        .filter(|r| !matches!(r.access, Access::Public | Access::Client))
    {
        let path = concrete(route.path);
        let r = s.curl_as(Some(&expired), &path, &method_args(&route.methods[0]));
        assert_eq!(r.status, 401, "{path} with an expired token: {}", r.body);
        assert!(r.body.contains("expired"), "{}", r.body);
    }
}

#[test]
fn the_photo_app_client_reads_its_own_product_only() {
    let s = Server::start();
    s.apply_photo_app();
    let photo = s.token("photo-app");
    let q = "query=ASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D";
    let r = s.curl_as(
        Some(&photo),
        &format!("/products/photo-app/sparql?{q}"),
        &["-H", "Accept: application/sparql-results+json"],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.curl_as(
        Some(&photo),
        &format!("/products/other-app/sparql?{q}"),
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.curl_as(Some(&photo), &format!("/sparql?{q}"), &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post("/api/apply", "application/json", "{}");
    assert_ne!(r.status, 403);
}
