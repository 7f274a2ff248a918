//! An OpenID client we did not write: Python authlib completes the authorization code flow
//! with PKCE (S256) and client_credentials, and validates the ID token and the access
//! token through discovery and the JWKS, and client_credentials for a product's own client
//! (its token's audience is the product). The passkey login in the middle is done by a
//! software authenticator. Skips, saying why, when `python3 -c 'import authlib, requests'`
//! fails (CI installs it: `python3 -m pip install authlib requests`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::support::{example, post_json, secret, Server};

const SCRIPT: &str = r#"
import json, sys, warnings
warnings.simplefilter("ignore")
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.common.security import generate_token
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

base, ca, client_id, secret, redirect, product_id, product_secret = sys.argv[1:8]
http = requests.Session()
http.verify = ca
meta = http.get(base + "/.well-known/openid-configuration").json()
assert "S256" in meta["code_challenge_methods_supported"], meta
jwks = JsonWebKey.import_key_set(http.get(meta["jwks_uri"]).json())

client = OAuth2Session(client_id, secret, scope="openid offline_access", redirect_uri=redirect,
                       code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
client.verify = ca
verifier = generate_token(64)
nonce = generate_token(20)
url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
print(json.dumps({"authorize": url}), flush=True)
back = sys.stdin.readline().strip()
token = client.fetch_token(meta["token_endpoint"], authorization_response=back, code_verifier=verifier)
claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": meta["issuer"]},
                                    "aud": {"essential": True, "value": client_id}},
                    claims_params={"nonce": nonce, "client_id": client_id})
claims.validate()
assert claims["preferred_username"] == "alice", claims

cc = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_post")
cc.verify = ca
t2 = cc.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
access = jwt.decode(t2["access_token"], jwks)
access.validate()
assert access["iss"] == meta["issuer"], access
# A token whose signature was changed is refused by the library too.
bad = t2["access_token"][:-4] + ("AAAA" if not t2["access_token"].endswith("AAAA") else "BBBB")
try:
    jwt.decode(bad, jwks)
    raise SystemExit("a tampered token verified")
except SystemExit:
    raise
except Exception:
    pass
# A product's own client (every product is an app registration): client_secret_basic.
pc = OAuth2Session(product_id, product_secret, token_endpoint_auth_method="client_secret_basic")
pc.verify = ca
t3 = pc.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
product = jwt.decode(t3["access_token"], jwks)
product.validate()
print(json.dumps({"ok": True, "sub": claims["sub"], "client_sub": access["sub"],
                  "product_aud": product["aud"], "product_roles": product["roles"]}), flush=True)
"#;

fn origin(s: &Server) -> Url {
    Url::parse(&format!("https://picloud.local:{}", s.addr.port())).unwrap()
}

fn post(s: &Server, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let r = post_json(s, None, path, &body.to_string());
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

#[test]
fn authlib_code_pkce_and_client_credentials_with_id_token_validation() {
    match Command::new("python3")
        .args(["-c", "import authlib, requests"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED authlib_code_pkce_and_client_credentials_with_id_token_validation: \
                 python3 cannot import authlib and requests ({}); install them with \
                 `python3 -m pip install authlib requests`",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED authlib_code_pkce_and_client_credentials_with_id_token_validation: no python3 ({e})");
            return;
        }
    }
    let s = Server::start();
    // The person: alice, enrolled with the bootstrap code and a software passkey.
    let mut key = SoftPasskey::new(true);
    let j = post(
        &s,
        "/portal/api/setup/start",
        &serde_json::json!({"code": s.bootstrap_code, "name": "alice"}),
    );
    let ccr: CreationChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let credential = key.do_registration(origin(&s), ccr).unwrap();
    post(
        &s,
        "/portal/api/enrol/finish",
        &serde_json::json!({"ceremony": j["ceremony"], "credential": credential}),
    );

    // A product's own client: apply the product, rotate its secret.
    let r = s.apply(&example("home-hub"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(
        "/api/identity/clients/home-hub/secret",
        "application/json",
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let product_secret = r.json()["clientSecret"].as_str().unwrap().to_owned();

    // authlib checks `exp` and `iat` against the real clock: run the server on it from here.
    #[allow(
        clippy::disallowed_methods,
        reason = "the independent client uses the wall clock"
    )]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    s.clock_ms.store(now, std::sync::atomic::Ordering::SeqCst);
    let mut py = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(s.url(""))
        .arg(s.ca_path())
        .arg("photo-app")
        .arg(secret("photo-app"))
        .arg("https://app.example/cb")
        .arg("home-hub")
        .arg(&product_secret)
        .env("SSL_CERT_FILE", s.ca_path())
        .env("REQUESTS_CA_BUNDLE", s.ca_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let first: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(py.stderr.as_mut().unwrap(), &mut err);
        panic!("python said {line:?} ({e}): {err}")
    });
    // The browser part: open the authorization URL authlib built, log in with the passkey.
    let url = first["authorize"].as_str().unwrap();
    let path = url.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let page = s.curl_as(None, &format!("/{path}"), &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    let query: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap();
    assert_eq!(query["code_challenge_method"], "S256");
    let authorize = serde_json::json!({
        "client_id": query["client_id"], "redirect_uri": query["redirect_uri"],
        "state": query.get("state"), "code_challenge": query["code_challenge"],
        "code_challenge_method": query["code_challenge_method"],
        "scope": query.get("scope"), "nonce": query.get("nonce"),
    });
    let start = post(
        &s,
        "/portal/api/login/start",
        &serde_json::json!({"name": "alice", "authorize": authorize}),
    );
    let rcr: RequestChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let assertion = key.do_authentication(origin(&s), rcr).unwrap();
    let done = post(
        &s,
        "/portal/api/login/finish",
        &serde_json::json!({"ceremony": start["ceremony"], "credential": assertion}),
    );
    let redirect = done["redirect"].as_str().unwrap();
    writeln!(py.stdin.as_mut().unwrap(), "{redirect}").unwrap();
    let mut last = String::new();
    out.read_line(&mut last).unwrap();
    let status = py.wait().unwrap();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(py.stderr.as_mut().unwrap(), &mut err);
    assert!(status.success(), "authlib failed: {last}\n{err}");
    let result: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(result["ok"], true);
    assert_eq!(
        result["sub"],
        "https://picloud.local/platform/identities/alice"
    );
    assert_eq!(
        result["client_sub"],
        "https://picloud.local/platform/identities/photo-app"
    );
    assert_eq!(
        result["product_aud"],
        "https://picloud.local/products/home-hub"
    );
    assert_eq!(result["product_roles"], serde_json::json!(["home-hub:app"]));
}
