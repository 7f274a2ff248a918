//! `picloud dev` and the HTTPS CLI, run as a user runs them: the real binary, a temporary
//! data and config directory (through `XDG_*`), free ports, curl for the IRIs. Plus three
//! `picloud node --api` processes on 127.0.0.1/.2/.3.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
#![allow(clippy::disallowed_methods)] // tests wait on real processes with deadlines

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// The binary in the background with its config and data under `home`.
fn spawn(home: &Path, args: &[&str]) -> Proc {
    let mut command = picloud_command(home);
    command.args(args);
    Proc::spawn(command)
}

fn curl(ca: &Path, token: &str, accept: &str, url: &str) -> (String, String) {
    curl_with(
        ca,
        &[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            &format!("Accept: {accept}"),
        ],
        url,
    )
}

fn curl_anonymous(ca: &Path, url: &str) -> (String, String) {
    curl_with(ca, &[], url)
}

/// The CLI with `PICLOUD_CREDENTIAL` set.
fn picloud_with_credential(home: &Path, credential: &Path, args: &[&str]) -> std::process::Output {
    picloud_env(
        home,
        args,
        &[("PICLOUD_CREDENTIAL", credential.as_os_str())],
    )
}

#[test]
fn dev_cluster_end_to_end_and_restart() {
    let home = TempDir::new("dev");
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let url = format!("https://{listen}/");
    let data = home.0.join("data/picloud/dev");
    let ca = data.join("ca.pem");

    // Start: URL and fingerprint printed, profile written (0600).
    let mut dev = spawn(&home.0, &["dev", "--listen", &listen]);
    let banner = dev.wait_for("Stop with Ctrl-C", Duration::from_secs(30));
    assert!(
        banner.contains(&format!("URL             {url}")),
        "{banner}"
    );
    assert!(banner.contains("CA fingerprint  "), "{banner}");
    // A new dev cluster records itself and its node, like `cluster init` + a join.
    assert!(
        banner.contains(" in the log (ClusterInitialized / NodeJoined recorded now)"),
        "{banner}"
    );
    let profile = home.0.join("config/picloud/profile.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&profile).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("ca-key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    // A second `picloud dev` on the same data directory is refused, naming the holder.
    let second = picloud(&home.0, &["dev", "--listen", "127.0.0.1:0"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    let err = text(&second.stderr);
    assert!(err.contains("is in use"), "{err}");
    assert!(
        err.contains(&format!("process {}", dev.child.id())),
        "{err}"
    );

    // `picloud dev` made the local user its administrator: the CLI has a token at once.
    let token = ok(&picloud(&home.0, &["auth", "token"]), "auth token")
        .trim()
        .to_owned();
    let (body, code) = curl_anonymous(&ca, &format!("{url}products/photo-app"));
    assert_eq!(code, "401", "{body}");
    let me = ok(&picloud(&home.0, &["whoami"]), "whoami");
    assert!(
        me.contains("identity  dev-admin") && me.contains("roles     admin"),
        "{me}"
    );
    let creds = home.0.join("config/picloud/credentials.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&creds).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Apply: committed, progress per resource, honest statuses.
    let out = ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "apply",
    );
    assert!(
        out.contains("declared container photo-app/api-server"),
        "{out}"
    );
    assert!(out.contains("committed 9 events"), "{out}");
    assert!(
        out.contains("Declared   — waiting for the workload controller"),
        "{out}"
    );
    assert!(!out.contains("Ready"), "{out}");
    let correlation = out
        .lines()
        .find_map(|l| l.strip_prefix("correlation id "))
        .unwrap()
        .to_owned();

    // The cluster root lists the node (and the product), like a multi-node cluster's.
    let (body, code) = curl(&ca, &token, "text/turtle", &url);
    assert_eq!(code, "200", "{body}");
    assert!(
        body.contains("pc:hasNode <https://picloud.local/nodes/node-1>"),
        "{body}"
    );
    assert!(
        body.contains("<https://picloud.local/nodes/node-1> a pc:Node"),
        "{body}"
    );
    assert!(body.contains("pc:role pc:Voter"), "{body}");
    assert!(body.contains("pc:clusterId"), "{body}");
    assert!(
        body.contains("pc:hasProduct <https://picloud.local/products/photo-app>"),
        "{body}"
    );

    // `resource plan` with the dev profile plans against the live cluster: nothing to do.
    let out = ok(
        &picloud(&home.0, &["resource", "plan", "examples/photo-app"]),
        "live plan",
    );
    assert!(
        // 2 cluster events, 8 of identity init and the dev administrator, photo-app's 9.
        out.contains(&format!("Plan (against {url} at offset {})", 2 + 8 + 9 - 1)),
        "{out}"
    );
    assert!(
        out.contains("0 to create, 0 to change, 0 to delete; 9 unchanged"),
        "{out}"
    );
    let out = ok(
        &picloud(
            &home.0,
            &["resource", "plan", "-o", "json", "examples/home-hub"],
        ),
        "live plan json",
    );
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["offline"], false, "{plan}");
    assert_eq!(plan["cluster"], url.as_str(), "{plan}");
    assert!(!plan["create"].as_array().unwrap().is_empty(), "{plan}");

    // curl the product IRI as Turtle.
    let (body, code) = curl(
        &ca,
        &token,
        "text/turtle",
        &format!("{url}products/photo-app"),
    );
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("a pc:Product"), "{body}");
    assert!(body.contains("pc:version \"1.0.0\""), "{body}");

    // SPARQL through the CLI finds the container.
    let out = ok(
        &picloud(
            &home.0,
            &[
                "graph",
                "query",
                "--product",
                "photo-app",
                "PREFIX pc: <https://picloud.local/ontology#> SELECT ?c ?image WHERE { ?c a pc:Container ; pc:image ?image }",
            ],
        ),
        "graph query",
    );
    assert!(
        out.contains("<https://picloud.local/products/photo-app/containers/api-server>"),
        "{out}"
    );
    assert!(
        out.contains("photo-api:1.0.0") && out.contains("(1 row)"),
        "{out}"
    );
    let out = ok(
        &picloud(
            &home.0,
            &[
                "graph",
                "query",
                "-o",
                "json",
                "SELECT ?p WHERE { ?p a <https://picloud.local/ontology#Product> }",
            ],
        ),
        "graph query json",
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["results"]["bindings"].as_array().unwrap().len(), 1);

    // The event stream, filtered by correlation id.
    let out = ok(
        &picloud(
            &home.0,
            &[
                "events",
                "stream",
                "--correlation-id",
                &correlation,
                "--limit",
                "9",
            ],
        ),
        "events stream",
    );
    assert_eq!(out.lines().count(), 9, "{out}");
    assert!(out.lines().all(|l| l.contains(&correlation)), "{out}");
    assert!(out.contains("ResourceDeclared"), "{out}");

    // The node's console: a new bootstrap code and a recovery (tier 3), through the local
    // socket only (mode 0600).
    let sock = data.join("admin.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let data_s = data.display().to_string();
    let out = ok(
        &picloud(&home.0, &["cluster", "bootstrap-code", "--data", &data_s]),
        "bootstrap-code",
    );
    assert!(out.contains("bootstrap code  "), "{out}");
    // ... also written for PID 1's console status screen (0600, with its expiry).
    let code = out.split_whitespace().nth(2).unwrap().to_owned();
    let code_file = data.join("bootstrap-code");
    let written = std::fs::read_to_string(&code_file).unwrap();
    assert!(written.contains(&format!("code={code}\n")), "{written}");
    assert!(written.contains("expires_unix_ms="), "{written}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&code_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let out = ok(
        &picloud(
            &home.0,
            &[
                "cluster",
                "recover",
                "--data",
                &data_s,
                "--identity",
                "alice",
                "--note",
                "lost both keys",
            ],
        ),
        "recover",
    );
    assert!(out.contains("re-enrolment code for alice"), "{out}");
    // alice is now an administrator: the node replaces the code for the status screen.
    let mut marked = String::new();
    for _ in 0..50 {
        marked = std::fs::read_to_string(&code_file).unwrap();
        if marked.contains("state=administrator") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(marked.contains("state=administrator"), "{marked}");
    assert!(!marked.contains(&code), "{marked}");
    let bad = picloud(
        &home.0,
        &[
            "cluster",
            "recover",
            "--data",
            "/nonexistent",
            "--identity",
            "a",
            "--note",
            "x",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("local administration socket"),
        "{}",
        text(&bad.stderr)
    );

    // Re-applying unchanged files commits nothing.
    let out = ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "re-apply",
    );
    assert!(out.contains("no changes"), "{out}");
    let status = ok(
        &picloud(&home.0, &["cluster", "status", "-o", "json"]),
        "cluster status",
    );
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    // ClusterInitialized and NodeJoined (2), identity's init (CA, signing key, bootstrap
    // code, CLI and portal clients) and the dev administrator (identity, role, client): 8,
    // photo-app's 9, the console's bootstrap code (1) and recovery (audit, identity, role,
    // code: 4); the last offset is one less.
    assert_eq!(status["committedOffset"], 2 + 8 + 9 + 5 - 1, "{status}");
    assert_eq!(status["products"][0], "photo-app");

    // resource status.
    let out = ok(
        &picloud(&home.0, &["resource", "status", "photo-app"]),
        "status",
    );
    assert!(
        out.contains("api-server") && out.contains("Declared"),
        "{out}"
    );
    let missing = picloud(&home.0, &["resource", "status", "nope"]);
    assert_eq!(missing.status.code(), Some(1));

    // Stop (SIGTERM) and start again: everything is still there.
    assert_eq!(dev.terminate(), Some(0));
    drop(dev);
    // A new port (another test may have taken the old one meanwhile); the profile follows.
    let listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let url = format!("https://{listen}/");
    let mut dev = spawn(&home.0, &["dev", "--listen", &listen]);
    let banner = dev.wait_for("Stop with Ctrl-C", Duration::from_secs(30));
    assert!(banner.contains(" in the log"), "{banner}");
    assert!(!banner.contains("recorded now"), "{banner}");
    let token = ok(&picloud(&home.0, &["auth", "token"]), "auth token")
        .trim()
        .to_owned();
    let out = ok(
        &picloud(&home.0, &["resource", "status", "photo-app"]),
        "status after restart",
    );
    assert!(out.contains("api-server"), "{out}");
    let (body, code) = curl(
        &ca,
        &token,
        "text/turtle",
        &format!("{url}products/photo-app/containers/api-server"),
    );
    assert_eq!(code, "200", "{body}");

    // Delete cascades; then the product is gone.
    let out = ok(
        &picloud(&home.0, &["resource", "delete", "examples/photo-app"]),
        "delete",
    );
    assert!(out.contains("deleted photo-app: 9 events"), "{out}");
    let (_, code) = curl(
        &ca,
        &token,
        "text/turtle",
        &format!("{url}products/photo-app"),
    );
    assert_eq!(code, "404");
    assert_eq!(dev.terminate(), Some(0));
}

#[test]
fn three_nodes_serve_the_same_graph() {
    let home = TempDir::new("nodes");
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let raft: Vec<String> = ips
        .iter()
        .map(|ip| format!("{ip}:{}", free_port(ip)))
        .collect();
    let api: Vec<String> = ips
        .iter()
        .map(|ip| format!("{ip}:{}", free_port(ip)))
        .collect();
    let ca_dir = home.0.join("ca");
    let admin = home.0.join("admin.json");
    let mut nodes = Vec::new();
    for (i, (r, a)) in raft.iter().zip(&api).enumerate() {
        let data = home.0.join(format!("n{i}"));
        let first = (i == 0).then_some(admin.as_path());
        let mut args = node_args(&data, r, a, &ca_dir, first);
        for p in &raft {
            args.push("--peer".into());
            args.push(p.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = spawn(&home.0, &args);
        // One at a time: the first creates the shared CA, the others load it.
        p.wait_for("ready", Duration::from_secs(30));
        nodes.push(p);
    }
    ok(
        &picloud(&home.0, &["cluster", "init", "--cluster", &raft[0]]),
        "cluster init",
    );
    let ca = ca_dir.join("ca.pem");
    let ca_s = ca.display().to_string();
    // Identity initialises once there is a leader; node 1 then writes the local
    // administrator credential.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !admin.exists() {
        assert!(
            Instant::now() < deadline,
            "no administrator credential at {}",
            admin.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let picloud = |home: &Path, args: &[&str]| picloud_with_credential(home, &admin, args);
    let token = ok(
        &picloud(
            &home.0,
            &[
                "auth",
                "token",
                "--cluster",
                &format!("https://{}/", api[0]),
                "--ca",
                &ca_s,
            ],
        ),
        "auth token",
    )
    .trim()
    .to_owned();
    // Apply through a node that is not the one initialised (likely a follower).
    let out = ok(
        &picloud(
            &home.0,
            &[
                "resource",
                "apply",
                "examples/photo-app",
                "--cluster",
                &format!("https://{}/", api[1]),
                "--ca",
                &ca_s,
            ],
        ),
        "apply via node 2",
    );
    assert!(out.contains("committed 9 events"), "{out}");
    // Every node answers the IRI and SPARQL after the projection lag.
    for a in &api {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (body, code) = curl(
                &ca,
                &token,
                "text/turtle",
                &format!("https://{a}/products/photo-app/containers/api-server"),
            );
            if code == "200" {
                assert!(body.contains("pc:Container"), "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "{a}: {code} {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = ok(
            &picloud(
                &home.0,
                &[
                    "graph",
                    "query",
                    "--cluster",
                    &format!("https://{a}/"),
                    "--ca",
                    &ca_s,
                    "SELECT ?p WHERE { ?p a <https://picloud.local/ontology#Product> }",
                ],
            ),
            "query",
        );
        assert!(
            out.contains("<https://picloud.local/products/photo-app>"),
            "{a}: {out}"
        );
    }
    // Concurrent commands through different nodes both commit (conditional appends).
    let c0 = format!("https://{}/", api[0]);
    let c2 = format!("https://{}/", api[2]);
    let home_path = home.0.clone();
    let ca2 = ca_s.clone();
    let admin2 = admin.clone();
    let t = std::thread::spawn(move || {
        picloud_with_credential(
            &home_path,
            &admin2,
            &[
                "resource",
                "apply",
                "examples/home-hub",
                "--cluster",
                &c2,
                "--ca",
                &ca2,
            ],
        )
    });
    ok(
        &picloud(
            &home.0,
            &[
                "resource",
                "delete",
                "--product",
                "photo-app",
                "--cluster",
                &c0,
                "--ca",
                &ca_s,
            ],
        ),
        "delete via node 1",
    );
    ok(&t.join().unwrap(), "apply home-hub via node 3");
    let out = ok(
        &picloud(
            &home.0,
            &[
                "cluster",
                "status",
                "-o",
                "json",
                "--cluster",
                &c0,
                "--ca",
                &ca_s,
            ],
        ),
        "cluster status",
    );
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["nodes"].as_array().unwrap().len(), 3, "{s}");
    assert!(s["leader"].is_string(), "{s}");
    for mut n in nodes {
        assert_eq!(n.terminate(), Some(0));
    }
}
