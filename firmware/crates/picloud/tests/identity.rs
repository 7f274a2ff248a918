//! `picloud identity invite|reenrol|list` against a real `picloud dev` (the binary, a
//! temporary home through `XDG_*`, a free port): the dev administrator's credential works;
//! no token or a bad token is refused (exit 1, a clear message); bad names and roles are
//! usage errors (exit 2); a code the CLI issued starts an enrolment at the portal, which a
//! software authenticator finishes; the invited reader's token lists but cannot issue codes.
//! `picloud logout` after a device login (approved through the portal's API) revokes the
//! login: the cluster refuses its access token (401) and its refresh token.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers outside #[test] fns
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

mod common;
use common::*;

/// The CLI with a home of its own (no profile, no credential) and extra environment.
fn picloud_in(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
    picloud_env(home, args, &env)
}

fn failed(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// `POST /portal/api/reenrol/start {"code"}` with curl: (status, body).
fn reenrol_start(ca: &Path, url: &str, code: &str) -> (String, String) {
    post(
        ca,
        url,
        "portal/api/reenrol/start",
        &serde_json::json!({ "code": code }),
    )
}

/// `POST path` with a JSON body, with curl: (status, body).
fn post(ca: &Path, url: &str, path: &str, body: &serde_json::Value) -> (String, String) {
    let body = body.to_string();
    let (b, c) = curl_with(
        ca,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
        ],
        &format!("{url}{path}"),
    );
    (c, b)
}

/// Finishes the enrolment `started` (a `…/start` answer) with a software passkey at the
/// portal of the dev cluster on `port`: the person's portal session token.
fn finish_enrolment(ca: &Path, url: &str, port: u16, started: &serde_json::Value) -> String {
    let ccr: webauthn_rs::prelude::CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let origin =
        webauthn_rs::prelude::Url::parse(&format!("https://picloud.local:{port}")).unwrap();
    let credential = webauthn_authenticator_rs::WebauthnAuthenticator::do_registration(
        &mut webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true),
        origin,
        ccr,
    )
    .unwrap();
    let (status, body) = post(
        ca,
        url,
        "portal/api/enrol/finish",
        &serde_json::json!({ "ceremony": started["ceremony"], "credential": credential }),
    );
    assert_eq!(status, "200", "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["session"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn identity_commands_invite_reenrol_list_and_refusals() {
    let home = TempDir::new("identity-cli");
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://{listen}/");
    let _dev = Dev::start(&home.0, &listen);
    let ca = home.0.join("data/picloud/dev/ca.pem");

    // Invite with the dev administrator's credential (written by `picloud dev`).
    let out = picloud(
        &home.0,
        &[
            "identity",
            "invite",
            "bob",
            "--display-name",
            "Bob",
            "--role",
            "reader",
            "--role",
            "photo-app:viewer",
        ],
    );
    let printed = ok(&out, "identity invite");
    assert!(
        printed.contains("invited bob (Bob) with roles reader, photo-app:viewer"),
        "{printed}"
    );
    assert!(
        printed.contains("(single use, valid 24 hours, until 20"),
        "{printed}"
    );
    // Reached by IP: the portal is named by the cluster's domain, with the port.
    assert!(
        printed.contains(&format!("https://picloud.local:{port}/portal/reenrol")),
        "{printed}"
    );
    let invite_code = printed
        .lines()
        .find_map(|l| l.strip_prefix("enrolment code  "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (status, body) = reenrol_start(&ca, &url, &invite_code);
    assert_eq!(status, "200", "{body}");

    // Re-enrolment code, as JSON; the portal's reenrol start accepts it.
    let out = picloud(&home.0, &["identity", "reenrol", "bob", "--output", "json"]);
    let j: serde_json::Value = serde_json::from_str(&ok(&out, "identity reenrol")).unwrap();
    assert_eq!(j["identity"], "bob");
    assert_eq!(j["expiresIn"], 86_400);
    assert!(j["expiresAt"].as_str().unwrap().ends_with('Z'), "{j}");
    assert_eq!(
        j["portal"],
        format!("https://picloud.local:{port}/portal/reenrol")
    );
    let code = j["code"].as_str().unwrap().to_owned();
    let (status, body) = reenrol_start(&ca, &url, &code);
    assert_eq!(status, "200", "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(started["ceremony"].is_string(), "{body}");
    assert_eq!(
        started["options"]["publicKey"]["user"]["name"], "bob",
        "{body}"
    );
    // A made-up code is refused by the same call.
    let (status, body) = reenrol_start(&ca, &url, "NOPE-NOPE");
    assert_eq!(status, "403", "{body}");

    // Bob finishes that enrolment with a (software) passkey: his portal session is a token
    // with his roles (reader, photo-app:viewer) and no more.
    let reader_token = finish_enrolment(&ca, &url, port, &started);
    // The code was single use.
    let (status, body) = reenrol_start(&ca, &url, &code);
    assert_eq!(status, "403", "{body}");

    // Unknown person: refused by the cluster, exit 1, the reason shown.
    let err = failed(
        &picloud(&home.0, &["identity", "reenrol", "nobody"]),
        1,
        "reenrol unknown",
    );
    assert!(err.contains("nobody"), "{err}");
    // A workload identity cannot re-enrol a passkey.
    let err = failed(
        &picloud(&home.0, &["identity", "reenrol", "dev-admin"]),
        1,
        "reenrol workload",
    );
    assert!(err.contains("dev-admin"), "{err}");

    // Usage errors: exit 2 before any call.
    failed(
        &picloud(&home.0, &["identity", "invite", "Not A Name"]),
        2,
        "bad name",
    );
    let err = failed(
        &picloud(&home.0, &["identity", "invite", "carol", "--role", "root"]),
        2,
        "bad role",
    );
    assert!(err.contains("platform roles are admin and reader"), "{err}");
    failed(&picloud(&home.0, &["identity", "invite"]), 2, "no name");

    // List: people and workloads with their roles.
    let listed = ok(&picloud(&home.0, &["identity", "list"]), "identity list");
    let bob = listed.lines().find(|l| l.starts_with("bob ")).unwrap();
    assert!(
        bob.contains("human") && bob.contains("Bob") && bob.contains("reader"),
        "{listed}"
    );
    assert!(bob.contains("photo-app:viewer"), "{listed}");
    let admin = listed
        .lines()
        .find(|l| l.starts_with("dev-admin "))
        .unwrap();
    assert!(
        admin.contains("workload") && admin.contains("admin"),
        "{listed}"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(
        &picloud(&home.0, &["identity", "list", "-o", "json"]),
        "list json",
    ))
    .unwrap();
    assert!(
        j.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "bob" && p["kind"] == "human"),
        "{j}"
    );

    // No token: a home without the dev credential, pointed at the cluster. Refused (401),
    // exit 1, and told how to log in.
    let stranger = TempDir::new("identity-cli-stranger");
    let ca_s = ca.to_str().unwrap();
    for args in [
        vec!["identity", "invite", "mallory"],
        vec!["identity", "reenrol", "bob"],
        vec!["identity", "list"],
    ] {
        let mut full = vec!["--cluster", url.as_str(), "--ca", ca_s];
        full.extend(args.iter().copied());
        let err = failed(&picloud_in(&stranger.0, &full, &[]), 1, "no token");
        assert!(err.contains("401"), "{err}");
        assert!(err.contains("picloud login"), "{err}");
    }
    // A tampered token: refused too.
    let token = ok(&picloud(&home.0, &["auth", "token"]), "auth token")
        .trim()
        .to_owned();
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let err = failed(
        &picloud_in(
            &stranger.0,
            &[
                "--cluster",
                &url,
                "--ca",
                ca_s,
                "identity",
                "reenrol",
                "bob",
            ],
            &[("PICLOUD_TOKEN", &tampered)],
        ),
        1,
        "tampered token",
    );
    assert!(err.contains("401"), "{err}");
    // The same call with the real token works: the refusals were about the token.
    ok(
        &picloud_in(
            &stranger.0,
            &[
                "--cluster",
                &url,
                "--ca",
                ca_s,
                "identity",
                "reenrol",
                "bob",
            ],
            &[("PICLOUD_TOKEN", &token)],
        ),
        "reenrol with PICLOUD_TOKEN",
    );
    // A reader's token: identities are listed, codes are refused (403, exit 1).
    let stranger_args = |args: &[&'static str]| {
        let mut full = vec!["--cluster".to_owned(), url.clone(), "--ca".to_owned()];
        full.push(ca_s.to_owned());
        full.extend(args.iter().map(|a| (*a).to_owned()));
        full
    };
    for args in [
        &["identity", "invite", "mallory", "--role", "admin"][..],
        &["identity", "reenrol", "bob"][..],
    ] {
        let full = stranger_args(args);
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let err = failed(
            &picloud_in(&stranger.0, &full, &[("PICLOUD_TOKEN", &reader_token)]),
            1,
            "reader token",
        );
        assert!(err.contains("403"), "{err}");
    }
    let full = stranger_args(&["identity", "list"]);
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let listed = ok(
        &picloud_in(&stranger.0, &full, &[("PICLOUD_TOKEN", &reader_token)]),
        "list as a reader",
    );
    assert!(listed.contains("bob "), "{listed}");
    assert!(!listed.contains("mallory"), "{listed}");

    // Nothing listening: unreachable, exit 1.
    let dead = format!("https://127.0.0.1:{}/", free_port("127.0.0.1"));
    let err = failed(
        &picloud_in(
            &stranger.0,
            &["--cluster", &dead, "--ca", ca_s, "identity", "list"],
            &[("PICLOUD_TOKEN", &token)],
        ),
        1,
        "unreachable",
    );
    assert!(err.contains("cannot reach the cluster"), "{err}");
}

/// `GET /oauth2/userinfo` with a bearer token: (status, body).
fn userinfo(ca: &Path, url: &str, token: &str) -> (String, String) {
    let (body, status) = curl_with(
        ca,
        &["-H", &format!("Authorization: Bearer {token}")],
        &format!("{url}oauth2/userinfo"),
    );
    (status, body)
}

#[test]
fn logout_revokes_the_login_so_the_cluster_refuses_its_access_token() {
    let home = TempDir::new("identity-logout");
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://{listen}/");
    let _dev = Dev::start(&home.0, &listen);
    let ca = home.0.join("data/picloud/dev/ca.pem");
    let ca_s = ca.to_str().unwrap();

    // Bob: invited, enrolled with a software passkey; his portal session approves logins.
    let printed = ok(
        &picloud(&home.0, &["identity", "invite", "bob", "--role", "reader"]),
        "identity invite",
    );
    let code = printed
        .lines()
        .find_map(|l| l.strip_prefix("enrolment code  "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (status, body) = reenrol_start(&ca, &url, &code);
    assert_eq!(status, "200", "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    let session = finish_enrolment(&ca, &url, port, &started);

    // `picloud login` from another home (no dev credential): the device flow, approved by
    // bob in the portal's API.
    let cli = TempDir::new("identity-logout-cli");
    let mut command = picloud_command(&cli.0);
    command
        .args(["--cluster", &url, "--ca", ca_s, "login"])
        .env_remove("PICLOUD_TOKEN")
        .env_remove("PICLOUD_CREDENTIAL");
    let mut login = Proc::spawn(command);
    let line = login.wait_line("/portal/device?user_code=", Duration::from_secs(30));
    let user_code = line
        .split("user_code=")
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (body, status) = curl_with(
        &ca,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("Authorization: Bearer {session}"),
            "--data",
            &serde_json::json!({ "userCode": user_code }).to_string(),
        ],
        &format!("{url}portal/api/device/approve"),
    );
    assert_eq!(status, "200", "{body}");
    login.wait_line("Logged in", Duration::from_secs(30));
    assert!(login.child.wait().unwrap().success(), "{}", login.log());

    // The stored login's tokens work.
    let tokens: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cli.0.join("config/picloud/tokens.json")).unwrap(),
    )
    .unwrap();
    let stored = tokens.as_object().unwrap().values().next().unwrap().clone();
    let access = stored["accessToken"].as_str().unwrap().to_owned();
    let refresh = stored["refreshToken"].as_str().unwrap().to_owned();
    let (status, body) = userinfo(&ca, &url, &access);
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("\"bob\""), "{body}");

    // Logout: the cluster refuses the access token from now on (401), the refresh token
    // no longer refreshes, and the CLI has forgotten the login.
    let args = ["--cluster", url.as_str(), "--ca", ca_s];
    let out = ok(
        &picloud_in(&cli.0, &[&args[..], &["logout"]].concat(), &[]),
        "logout",
    );
    assert!(out.contains("the login is revoked"), "{out}");
    let (status, body) = userinfo(&ca, &url, &access);
    assert_eq!(
        status, "401",
        "the revoked access token was accepted: {body}"
    );
    let (body, status) = curl_with(
        &ca,
        &[
            "--data",
            "grant_type=refresh_token",
            "--data",
            "client_id=picloud-cli",
            "--data-urlencode",
            &format!("refresh_token={refresh}"),
        ],
        &format!("{url}oauth2/token"),
    );
    assert_eq!(status, "400", "{body}");
    assert!(body.contains("invalid_grant"), "{body}");
    let err = failed(
        &picloud_in(&cli.0, &[&args[..], &["whoami"]].concat(), &[]),
        1,
        "whoami after logout",
    );
    assert!(err.contains("not logged in"), "{err}");
    // Other tokens are untouched: bob's portal session still works.
    let (status, body) = userinfo(&ca, &url, &session);
    assert_eq!(status, "200", "{body}");
}
