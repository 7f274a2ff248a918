//! The node's client protocol must not lose a frame that arrives in pieces while other
//! requests of the same connection finish.
//!
//! The node once read frames inside a `tokio::select!` raced against its finished request
//! tasks; `read_frame` is not cancel-safe, so a request finishing while the next frame was
//! half read dropped those bytes, the node read a bogus length from the middle of a frame
//! and then waited for a body made of later requests: their clients stalled until their
//! call deadline (the 256-client collapse in docs/perf.md). Here one connection sends
//! `Hello` requests a few bytes at a time, so that nearly every frame is read in pieces
//! while the previous request's task finishes; every request must be answered, in any
//! order, with its own id. No timing is asserted (the deadline only bounds a hang).
//! `PICLOUD_BIN` runs another build of the binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test harness: panics are failures

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TempDir;
use picloud::api::{self, ApiRequest, ApiResponse, Frame};
use tokio::io::AsyncWriteExt;

fn bin() -> PathBuf {
    std::env::var_os("PICLOUD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_picloud")))
}

/// Kills the node when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const REQUESTS: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_split_across_reads_are_all_answered() {
    let dir = TempDir::new("client-frames");
    let port = common::free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(bin())
        .args(["node", "--data"])
        .arg(dir.0.join("n1"))
        .args(["--listen", &listen, "--insecure-loopback"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Child(child);
    let line = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(line.contains(" ready: "), "{line}");

    let tcp = tokio::net::TcpStream::connect(&listen).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut r, mut w) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let mut ids = BTreeSet::new();
        while (ids.len() as u64) < REQUESTS {
            match api::read_frame(&mut r).await {
                Ok(Some(Frame::Response {
                    id,
                    body: ApiResponse::Hello(_),
                })) => assert!(ids.insert(id), "id {id} answered twice"),
                other => panic!("after {} answers: {other:?}", ids.len()),
            }
        }
        ids
    });

    w.write_all(&api::MAGIC).await.unwrap();
    let mut bytes = Vec::new();
    for id in 1..=REQUESTS {
        bytes.extend(
            api::encode(&Frame::Request {
                id,
                body: ApiRequest::Hello,
            })
            .unwrap(),
        );
    }
    // A few bytes per write, with a pause: frames arrive split, and the node's task for
    // the previous frame finishes while the next one is half read.
    for chunk in bytes.chunks(3) {
        w.write_all(chunk).await.unwrap();
        w.flush().await.unwrap();
        tokio::time::sleep(Duration::from_micros(300)).await;
    }

    let ids = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap_or_else(|_| panic!("not every request was answered within 60 s: a lost frame"))
        .unwrap();
    assert_eq!(ids, (1..=REQUESTS).collect::<BTreeSet<_>>());
    drop(child);
}
