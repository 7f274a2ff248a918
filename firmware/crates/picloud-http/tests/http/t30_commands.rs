//! Commands, statuses and the event stream through curl.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::support::{example, Server};

/// (id, data) of each SSE event in `text`.
fn sse(text: &str) -> Vec<(u64, serde_json::Value)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<u64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            id.map(|id| (id, serde_json::from_str(&data).unwrap()))
        })
        .collect()
}

/// Waits until the streaming curl `child` has read the server's "subscribed" comment.
fn subscribed(mut child: Child) -> (Child, BufReader<ChildStdout>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with(": subscribed"), "{line:?}");
    (child, reader)
}

/// The rest of the stream, once curl ends.
fn finish((mut child, mut reader): (Child, BufReader<ChildStdout>)) -> String {
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    rest
}

#[test]
fn apply_is_idempotent_and_statuses_are_honest() {
    let s = Server::start();
    // `cluster init` committed the identity events first.
    let base = s.backend.events().unwrap().len() as u64;
    let photo = example("photo-app");
    let first = s.apply_photo_app();
    let n = first["events"].as_u64().unwrap();
    assert_eq!(n, photo.len() as u64);
    assert_eq!(first["firstOffset"], base);
    assert_eq!(first["lastOffset"], base + n - 1);
    assert_eq!(first["projected"], true);
    assert!(first["correlationId"].as_str().unwrap().len() >= 32);

    // Re-applying the same set commits nothing.
    let again = s.apply(&photo, None);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["events"], 0);
    assert!(again.json().get("firstOffset").is_none());
    assert_eq!(s.backend.events().unwrap().len() as u64, base + n);

    // An idempotency key makes a retry of a changed set safe too.
    let mut changed = photo.clone();
    changed.retain(|r| r.name.as_str() != "photos-web");
    let k1 = s.apply(&changed, Some("retry-1"));
    assert_eq!(k1.json()["events"], 1, "{}", k1.body);
    let k2 = s.apply(&photo, Some("retry-1"));
    assert_eq!(k2.json()["events"], 0, "{}", k2.body);

    // Statuses come from the graph: Declared, waiting, never Ready.
    let st = s.curl("/api/status/photo-app", &[]);
    assert_eq!(st.status, 200, "{}", st.body);
    let st: picloud_api::ProductStatus = serde_json::from_str(&st.body).unwrap();
    assert_eq!(st.resources.len(), changed.len());
    assert_eq!(st.resources[0].kind, "product");
    for r in &st.resources {
        assert_eq!(r.status, "Declared", "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().starts_with("waiting for the "),
            "{r:?}"
        );
    }
    let c = st.resources.iter().find(|r| r.kind == "container").unwrap();
    assert_eq!(
        c.reason.as_deref(),
        Some("waiting for the workload controller")
    );
    assert_eq!(s.curl("/api/status/nope", &[]).status, 404);

    let cluster = s.curl("/api/cluster", &[]);
    let cluster: picloud_api::ClusterStatus = serde_json::from_str(&cluster.body).unwrap();
    assert_eq!(cluster.products, vec!["photo-app".to_owned()]);
    assert_eq!(cluster.leader.as_deref(), Some("dev"));
    assert_eq!(cluster.committed_offset, cluster.projected_offset);
    assert_eq!(
        cluster.ca_fingerprint.as_deref(),
        Some(&*s.ca.fingerprint())
    );
}

#[test]
fn rejections_and_deletes() {
    let s = Server::start();
    s.apply_photo_app();

    let bad = s.post("/api/apply", "application/json", "{\"resources\": 3}");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_request");
    let empty = s.post("/api/apply", "application/json", "{\"resources\": []}");
    assert_eq!(empty.status, 422);
    assert_eq!(empty.json()["error"], "rejected");
    assert!(empty.json()["message"].as_str().unwrap().contains("empty"));

    // A referenced volume cannot go.
    let referenced = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"photo-app","kind":"volume","name":"media-store"}"#,
    );
    assert_eq!(referenced.status, 409, "{}", referenced.body);
    let missing = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"photo-app","kind":"volume","name":"nope"}"#,
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
    let ingress = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"photo-app","kind":"ingress","name":"photos-web"}"#,
    );
    assert_eq!(ingress.status, 200, "{}", ingress.body);
    assert_eq!(ingress.json()["events"], 1);
    assert_eq!(
        s.get("/products/photo-app/ingresses/photos-web", "text/turtle")
            .status,
        404
    );

    // Deleting the product cascades.
    let product = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"photo-app"}"#,
    );
    assert_eq!(product.status, 200, "{}", product.body);
    assert!(product.json()["events"].as_u64().unwrap() > 1);
    assert_eq!(s.get("/products/photo-app", "text/turtle").status, 404);
    assert_eq!(
        s.get("/products/photo-app/containers/api-server", "text/turtle")
            .status,
        404
    );
}

#[test]
fn the_event_stream_filters_resumes_and_follows() {
    let s = Server::start();
    // `cluster init` committed the identity events first.
    let base = s.backend.events().unwrap().len() as u64;
    let first = s.apply_photo_app();
    let corr = first["correlationId"].as_str().unwrap().to_owned();
    let n = first["events"].as_u64().unwrap();
    let other = s.apply(&example("home-hub"), None);
    let hub_events = other.json()["events"].as_u64().unwrap();
    assert!(hub_events > 0);

    // The backlog of one command, by correlation id.
    let by_corr = s.curl(
        &format!("/api/events?correlationId={corr}&limit={n}"),
        &["-N", "--max-time", "20"],
    );
    assert_eq!(by_corr.status, 200);
    assert!(by_corr
        .header("content-type")
        .starts_with("text/event-stream"));
    let events = sse(&by_corr.body);
    assert_eq!(events.len() as u64, n);
    // Secrets are committed, but the stream never shows their values.
    let secret_value = "postgres://photo:change-me@db.photo-app.internal:5432/photos";
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../examples");
    assert!(
        std::fs::read_to_string(examples.join("photo-app/workloads.picloud"))
            .unwrap()
            .contains(secret_value),
        "the example's secret changed; update this test"
    );
    assert!(
        !by_corr.body.contains("change-me"),
        "a secret value leaked into the event stream"
    );
    assert!(
        by_corr.body.contains("<redacted>"),
        "the secret's event is in the stream, redacted"
    );
    for (i, (id, e)) in events.iter().enumerate() {
        assert_eq!(*id, base + i as u64);
        assert_eq!(e["correlationId"], corr.as_str());
        assert_eq!(e["product"], "photo-app");
        // Each data line is a JSON envelope the event crate decodes.
        picloud_events::decode_json(&e.to_string()).unwrap();
    }

    // Resumed after offset 2 with Last-Event-ID.
    let resumed = s.curl(
        "/api/events?limit=3",
        &[
            "-N",
            "--max-time",
            "20",
            "-H",
            &format!("Last-Event-ID: {}", base + 2),
        ],
    );
    let ids: Vec<u64> = sse(&resumed.body).iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![base + 3, base + 4, base + 5]);
    let from = s.curl(
        &format!("/api/events?from={}&limit=1", base + 4),
        &["-N", "--max-time", "20"],
    );
    assert_eq!(sse(&from.body)[0].0, base + 4);

    // Filtered by product: only home-hub's events.
    let by_product = s.curl(
        &format!("/api/events?product=home-hub&limit={hub_events}"),
        &["-N", "--max-time", "20"],
    );
    let events = sse(&by_product.body);
    assert_eq!(events.len() as u64, hub_events);
    assert!(events
        .iter()
        .all(|(id, e)| e["product"] == "home-hub" && *id >= base + n));

    // Live: a client waiting at the end of the log sees a later command's events.
    let end = base + n + hub_events;
    let child = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "20", "-H"])
        .arg(format!("Authorization: Bearer {}", s.admin_token))
        .arg("--cacert")
        .arg(s.ca_path())
        .arg(s.url(&format!("/api/events?from={end}&limit=1")))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let child = subscribed(child);
    let del = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"photo-app","kind":"ingress","name":"photos-web"}"#,
    );
    assert_eq!(del.status, 200);
    let out = finish(child);
    let live = sse(&out);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0, end);
    assert_eq!(live[0].1["type"], "ResourceDeleted");

    // `from=end` skips the backlog.
    let tail = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "20", "-H"])
        .arg(format!("Authorization: Bearer {}", s.admin_token))
        .arg("--cacert")
        .arg(s.ca_path())
        .arg(s.url("/api/events?from=end&limit=1"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let tail = subscribed(tail);
    let del = s.post(
        "/api/delete",
        "application/json",
        r#"{"product":"home-hub","kind":"ingress","name":"dashboard"}"#,
    );
    assert_eq!(del.status, 200, "{}", del.body);
    let out = finish(tail);
    let tail = sse(&out);
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].0, end + 1);
    assert_eq!(tail[0].1["product"], "home-hub");

    assert_eq!(s.curl("/api/events?correlationId=xyz", &[]).status, 400);
    assert_eq!(s.curl("/api/events?from=soon", &[]).status, 400);
}
