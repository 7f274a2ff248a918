//! Passkeys end to end over HTTPS, with a software authenticator (webauthn-authenticator-rs
//! `SoftPasskey`) standing in for the browser: bootstrap enrolment, single-use bootstrap
//! code, replayed responses, login, a second passkey, the authorization-code flow with
//! PKCE, device approval, re-enrolment.

use picloud_http::Backend;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::support::{secret, Server};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn origin(s: &Server) -> Url {
    Url::parse(&format!("https://picloud.local:{}", s.addr.port())).unwrap()
}

fn post(
    s: &Server,
    path: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> crate::support::Reply {
    let b = body.to_string();
    s.curl_as(
        token,
        path,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            &b,
        ],
    )
}

fn enrol(
    s: &Server,
    key: &mut SoftPasskey,
    start: &str,
    body: serde_json::Value,
    token: Option<&str>,
) -> serde_json::Value {
    let r = post(s, start, &body, token);
    assert_eq!(r.status, 200, "{start}: {}", r.body);
    let j = r.json();
    let ccr: CreationChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let credential = key.do_registration(origin(s), ccr).unwrap();
    let finish = serde_json::json!({ "ceremony": j["ceremony"], "credential": credential });
    let r = post(s, "/portal/api/enrol/finish", &finish, None);
    assert_eq!(r.status, 200, "enrol finish: {}", r.body);
    // The same response again: the ceremony is gone.
    let again = post(s, "/portal/api/enrol/finish", &finish, None);
    assert_eq!(again.status, 403, "{}", again.body);
    r.json()
}

fn login(
    s: &Server,
    key: &mut SoftPasskey,
    name: &str,
    authorize: Option<serde_json::Value>,
) -> (serde_json::Value, serde_json::Value) {
    let r = post(
        s,
        "/portal/api/login/start",
        &serde_json::json!({ "name": name, "authorize": authorize }),
        None,
    );
    assert_eq!(r.status, 200, "login start: {}", r.body);
    let j = r.json();
    let rcr: RequestChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let credential = key.do_authentication(origin(s), rcr).unwrap();
    let finish = serde_json::json!({ "ceremony": j["ceremony"], "credential": credential });
    let r = post(s, "/portal/api/login/finish", &finish, None);
    assert_eq!(r.status, 200, "login finish: {}", r.body);
    (r.json(), finish)
}

#[test]
fn bootstrap_enrol_login_second_passkey_and_replays() {
    let s = Server::start();
    let mut key = SoftPasskey::new(true);
    let code = s.bootstrap_code.clone();
    let r = post(
        &s,
        "/portal/api/setup/start",
        &serde_json::json!({"code": "WRONG-CODE", "name": "alice"}),
        None,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let done = enrol(
        &s,
        &mut key,
        "/portal/api/setup/start",
        serde_json::json!({"code": code, "name": "alice", "displayName": "Alice"}),
        None,
    );
    assert_eq!(done["identity"], "alice");
    let session = done["session"].as_str().unwrap().to_owned();
    let me = s.curl_as(Some(&session), "/oauth2/userinfo", &[]).json();
    assert_eq!(me["roles"], serde_json::json!(["admin"]));
    // The bootstrap code is single use.
    let r = post(
        &s,
        "/portal/api/setup/start",
        &serde_json::json!({"code": code, "name": "mallory"}),
        None,
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Log in; then replay the same assertion: the ceremony is spent.
    let (ok, finish) = login(&s, &mut key, "alice", None);
    assert!(ok["session"].is_string());
    let replay = post(&s, "/portal/api/login/finish", &finish, None);
    assert_eq!(replay.status, 403, "{}", replay.body);
    // The old assertion against a fresh ceremony: the challenge differs.
    let r = post(
        &s,
        "/portal/api/login/start",
        &serde_json::json!({"name": "alice"}),
        None,
    )
    .json();
    let stale =
        serde_json::json!({ "ceremony": r["ceremony"], "credential": finish["credential"] });
    let r = post(&s, "/portal/api/login/finish", &stale, None);
    assert_eq!(r.status, 403, "{}", r.body);

    // A second passkey (recovery tier 2) with the session; both log in.
    let mut key2 = SoftPasskey::new(true);
    enrol(
        &s,
        &mut key2,
        "/portal/api/passkey/start",
        serde_json::json!({}),
        Some(&session),
    );
    login(&s, &mut key2, "alice", None);
    login(&s, &mut key, "alice", None);
    assert_eq!(
        s.backend.iam().identities[&picloud_domain::Name::parse("alice").unwrap()]
            .passkeys
            .len(),
        2
    );
    // Unknown people get nothing.
    let r = post(
        &s,
        "/portal/api/login/start",
        &serde_json::json!({"name": "nobody"}),
        None,
    );
    assert_eq!(r.status, 403);
}

#[test]
fn authorization_code_with_pkce_after_a_passkey_login() {
    let s = Server::start();
    let mut key = SoftPasskey::new(true);
    enrol(
        &s,
        &mut key,
        "/portal/api/setup/start",
        serde_json::json!({"code": s.bootstrap_code, "name": "alice"}),
        None,
    );
    let q = format!(
        "/oauth2/authorize?response_type=code&client_id=photo-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20offline_access&state=xyz&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let page = s.curl_as(None, &q, &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign in"), "{}", page.body);
    // A bad redirect URI is shown, never followed; a missing PKCE goes back as an error.
    let bad = s.curl_as(None, "/oauth2/authorize?response_type=code&client_id=photo-app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", &[]);
    assert_eq!(bad.status, 400);
    assert!(bad.header("location").is_empty());
    let no_pkce = s.curl_as(None, "/oauth2/authorize?response_type=code&client_id=photo-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s", &[]);
    assert_eq!(no_pkce.status, 303);
    assert!(
        no_pkce.header("location").contains("error=invalid_request"),
        "{:?}",
        no_pkce.headers
    );

    let authorize = serde_json::json!({
        "client_id": "photo-app", "redirect_uri": "https://app.example/cb", "state": "xyz",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        "scope": "openid offline_access", "nonce": "n1",
    });
    let (done, _) = login(&s, &mut key, "alice", Some(authorize));
    let redirect = done["redirect"].as_str().unwrap();
    assert!(
        redirect.starts_with("https://app.example/cb?code="),
        "{redirect}"
    );
    assert!(redirect.ends_with("&state=xyz"), "{redirect}");
    let code = redirect
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let exchange = |verifier: &str| {
        let body = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={verifier}");
        let user = format!("photo-app:{}", secret("photo-app"));
        s.curl_as(
            None,
            "/oauth2/token",
            &["-X", "POST", "-u", &user, "--data", &body],
        )
    };
    let wrong = exchange("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx");
    assert_eq!(wrong.json()["error"], "invalid_grant", "{}", wrong.body);
    let t = exchange(VERIFIER);
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    assert!(t["id_token"].is_string() && t["refresh_token"].is_string());
    let access = t["access_token"].as_str().unwrap();
    let me = s.curl_as(Some(access), "/oauth2/userinfo", &[]).json();
    assert_eq!(me["preferred_username"], "alice");
    // Reusing the code is refused and kills the login it started.
    assert_eq!(exchange(VERIFIER).json()["error"], "invalid_grant");
    let refresh = t["refresh_token"].as_str().unwrap();
    let user = format!("photo-app:{}", secret("photo-app"));
    let r = s.curl_as(
        None,
        "/oauth2/token",
        &[
            "-X",
            "POST",
            "-u",
            &user,
            "--data",
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn device_approval_and_re_enrolment_with_a_code() {
    let s = Server::start();
    s.apply_photo_app();
    let mut key = SoftPasskey::new(true);
    let done = enrol(
        &s,
        &mut key,
        "/portal/api/setup/start",
        serde_json::json!({"code": s.bootstrap_code, "name": "alice"}),
        None,
    );
    let session = done["session"].as_str().unwrap().to_owned();
    let d = s
        .curl_as(
            None,
            "/oauth2/device_authorization",
            &["-X", "POST", "--data", "client_id=picloud-cli"],
        )
        .json();
    let r = post(
        &s,
        "/portal/api/device/approve",
        &serde_json::json!({"userCode": d["user_code"]}),
        Some(&session),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let poll = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=picloud-cli&device_code={}", d["device_code"].as_str().unwrap());
    let t = s
        .curl_as(None, "/oauth2/token", &["-X", "POST", "--data", &poll])
        .json();
    let me = s
        .curl_as(
            Some(t["access_token"].as_str().unwrap()),
            "/oauth2/userinfo",
            &[],
        )
        .json();
    assert_eq!(me["preferred_username"], "alice");

    // Recovery tier 1: an administrator issues a re-enrolment code; the new passkey
    // replaces the old one.
    let code = "ABCD-EFGH";
    let command = picloud_iam::Command::IssueReEnrolmentCode {
        identity: picloud_domain::Name::parse("alice").unwrap(),
        code_hash: picloud_http::identity::digest(code),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    rt.block_on(
        s.backend
            .submit_iam(command, picloud_http::random_correlation_id()),
    )
    .unwrap()
    .unwrap();
    let mut fresh = SoftPasskey::new(true);
    enrol(
        &s,
        &mut fresh,
        "/portal/api/reenrol/start",
        serde_json::json!({"code": "abcd-efgh"}),
        None,
    );
    login(&s, &mut fresh, "alice", None);
    let r = post(
        &s,
        "/portal/api/login/start",
        &serde_json::json!({"name": "alice"}),
        None,
    )
    .json();
    let rcr: RequestChallengeResponse = serde_json::from_value(r["options"].clone()).unwrap();
    // The old authenticator's credential is no longer allowed.
    assert!(key.do_authentication(origin(&s), rcr).is_err());
    // An invited person enrols with the code and gets the roles the admin gave.
    let r = post(
        &s,
        "/api/identity/people",
        &serde_json::json!({"name": "bob", "roles": ["photo-app:viewer"]}),
        Some(&s.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut bobs = SoftPasskey::new(true);
    let done = enrol(
        &s,
        &mut bobs,
        "/portal/api/reenrol/start",
        serde_json::json!({"code": r.json()["code"]}),
        None,
    );
    let bob = done["session"].as_str().unwrap().to_owned();
    let q = "query=ASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D";
    assert_eq!(
        s.curl_as(Some(&bob), &format!("/products/photo-app/sparql?{q}"), &[])
            .status,
        200
    );
    assert_eq!(
        s.curl_as(Some(&bob), &format!("/products/other-app/sparql?{q}"), &[])
            .status,
        403
    );
    assert_eq!(
        s.curl_as(Some(&bob), "/api/apply", &["-X", "POST", "--data", "{}"])
            .status,
        403
    );
    let r = post(
        &s,
        "/api/identity/people",
        &serde_json::json!({"name": "eve", "roles": ["root"]}),
        Some(&s.admin_token),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // The old login (refresh token) died with the re-enrolment.
    let r = s.curl_as(
        None,
        "/oauth2/token",
        &[
            "-X",
            "POST",
            "--data",
            &format!(
                "grant_type=refresh_token&client_id=picloud-cli&refresh_token={}",
                t["refresh_token"].as_str().unwrap()
            ),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
}
