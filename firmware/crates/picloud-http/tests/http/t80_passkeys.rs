//! Passkeys end to end over HTTPS, with a software authenticator (webauthn-authenticator-rs
//! `SoftPasskey`) standing in for the browser: bootstrap enrolment, single-use bootstrap
//! code, replayed responses, login, a second passkey, the authorization-code flow with
//! PKCE, device approval, re-enrolment; ceremonies started on one node and finished on
//! another or after a restart (the sealed ceremony token), and their refusals.

use picloud_http::Backend;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::support::{post_json, secret, Server, KEK};

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
    post_json(s, token, path, &body.to_string())
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

/// Enrols alice, the first administrator, with the bootstrap code and `key`: her portal
/// session token.
fn enrol_alice(s: &Server, key: &mut SoftPasskey) -> String {
    let done = enrol(
        s,
        key,
        "/portal/api/setup/start",
        serde_json::json!({"code": s.bootstrap_code, "name": "alice"}),
        None,
    );
    done["session"].as_str().unwrap().to_owned()
}

#[test]
fn device_approval_and_re_enrolment_with_a_code() {
    let s = Server::start();
    s.apply_photo_app();
    let mut key = SoftPasskey::new(true);
    let session = enrol_alice(&s, &mut key);
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

/// `login/start` on `at`: the start answer and the software authenticator's assertion.
fn login_response(
    at: &Server,
    key: &mut SoftPasskey,
    name: &str,
) -> (serde_json::Value, serde_json::Value) {
    let r = post(
        at,
        "/portal/api/login/start",
        &serde_json::json!({ "name": name }),
        None,
    );
    assert_eq!(r.status, 200, "login start: {}", r.body);
    let j = r.json();
    let rcr: RequestChallengeResponse = serde_json::from_value(j["options"].clone()).unwrap();
    let credential = key.do_authentication(origin(at), rcr).unwrap();
    (j, serde_json::to_value(credential).unwrap())
}

fn refused_with(r: &crate::support::Reply, text: &str) {
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains(text), "wanted {text:?} in {}", r.body);
}

#[test]
fn a_ceremony_finishes_on_another_node_or_after_a_restart_and_only_once() {
    let s = Server::start();
    let mut key = SoftPasskey::new(true);
    let session = enrol_alice(&s, &mut key);
    assert_eq!(s.backend.iam().finished_ceremonies.len(), 1);

    // Started on node A, finished on node B (same log, same cluster key): a load balancer.
    let b = s.peer(KEK);
    let (start, credential) = login_response(&s, &mut key, "alice");
    assert!(start["ceremony"].as_str().unwrap().len() > 40);
    let finish = serde_json::json!({ "ceremony": start["ceremony"], "credential": credential });
    let r = post(&b, "/portal/api/login/finish", &finish, None);
    assert_eq!(r.status, 200, "finish on another node: {}", r.body);
    assert!(r.json()["session"].is_string());
    // The same response replayed, to either node: the log knows the ceremony finished.
    for node in [&s, &b] {
        let replay = post(node, "/portal/api/login/finish", &finish, None);
        refused_with(&replay, "finished already");
    }

    // Started on B, B restarts (a new process: nothing in memory), finished on the new B.
    let (start, credential) = login_response(&b, &mut key, "alice");
    drop(b);
    let restarted = s.peer(KEK);
    let finish = serde_json::json!({ "ceremony": start["ceremony"], "credential": credential });
    let r = post(&restarted, "/portal/api/login/finish", &finish, None);
    assert_eq!(r.status, 200, "finish after a restart: {}", r.body);
    refused_with(
        &post(&restarted, "/portal/api/login/finish", &finish, None),
        "finished already",
    );

    // An enrolment started on one node finishes on another as well (a second passkey).
    let mut key2 = SoftPasskey::new(true);
    let r = post(
        &s,
        "/portal/api/passkey/start",
        &serde_json::json!({}),
        Some(&session),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let enrol_start = r.json();
    let ccr: CreationChallengeResponse =
        serde_json::from_value(enrol_start["options"].clone()).unwrap();
    let registration = key2.do_registration(origin(&s), ccr).unwrap();

    // Each token is refused by the other kind of call, with a clear error.
    let (login_start, assertion) = login_response(&s, &mut key, "alice");
    refused_with(
        &post(
            &restarted,
            "/portal/api/enrol/finish",
            &serde_json::json!({ "ceremony": login_start["ceremony"], "credential": registration }),
            None,
        ),
        "that ceremony is a login, not an enrolment",
    );
    refused_with(
        &post(
            &restarted,
            "/portal/api/login/finish",
            &serde_json::json!({ "ceremony": enrol_start["ceremony"], "credential": assertion }),
            None,
        ),
        "that ceremony is an enrolment, not a login",
    );
    // A changed token does not open.
    let token = login_start["ceremony"].as_str().unwrap();
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    refused_with(
        &post(
            &restarted,
            "/portal/api/login/finish",
            &serde_json::json!({ "ceremony": tampered, "credential": assertion }),
            None,
        ),
        "the ceremony token is not valid",
    );
    refused_with(
        &post(
            &restarted,
            "/portal/api/login/finish",
            &serde_json::json!({ "ceremony": "c1", "credential": assertion }),
            None,
        ),
        "the ceremony token is not valid",
    );
    // A node with another cluster key (another cluster) cannot open it.
    let stranger = s.peer([8u8; 32]);
    refused_with(
        &post(
            &stranger,
            "/portal/api/login/finish",
            &serde_json::json!({ "ceremony": login_start["ceremony"], "credential": assertion }),
            None,
        ),
        "the ceremony token is not valid",
    );
    // None of the refusals spent the ceremonies: both still finish, on another node.
    let r = post(
        &restarted,
        "/portal/api/enrol/finish",
        &serde_json::json!({ "ceremony": enrol_start["ceremony"], "credential": registration }),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &restarted,
        "/portal/api/login/finish",
        &serde_json::json!({ "ceremony": login_start["ceremony"], "credential": assertion }),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // A ceremony expires after five minutes, whichever node sees it.
    let (start, credential) = login_response(&s, &mut key2, "alice");
    s.clock_ms
        .fetch_add(5 * 60 * 1000 + 1, std::sync::atomic::Ordering::SeqCst);
    let finish = serde_json::json!({ "ceremony": start["ceremony"], "credential": credential });
    for node in [&s, &restarted] {
        refused_with(
            &post(node, "/portal/api/login/finish", &finish, None),
            "the ceremony expired",
        );
    }
    // Login, re-enrolment/enrolment and setup: every finished ceremony is in the log,
    // and the records of expired ones are pruned at the next.
    let finished = s.backend.iam().finished_ceremonies.len();
    assert_eq!(finished, 5, "setup, 3 logins, 1 enrolment");
    login(&s, &mut key2, "alice", None);
    assert_eq!(s.backend.iam().finished_ceremonies.len(), 1);
}
