//! The node's local administration socket, `<data>/admin.sock` (mode 0600): reachable
//! only by a process on the node itself with access to the data directory (its console
//! operator), never over the network. It serves:
//!
//! - `POST /bootstrap-code`: a new bootstrap code while no person is an administrator;
//! - `POST /recover` `{"identity", "note"}`: recovery tier 3, committing a
//!   `RecoveryPerformed` audit event and answering a re-enrolment code (the identity is
//!   created as an administrator if it does not exist).
//!
//! `picloud cluster bootstrap-code --data DIR` and `picloud cluster recover --data DIR`
//! are its clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Full};
use picloud_domain::Name;
use picloud_http::identity::digest;
use picloud_http::{random_correlation_id, Backend, Identity};
use picloud_iam::Command;
use serde::{Deserialize, Serialize};

pub mod bootstrap_file;

/// The socket's file name in the data directory.
pub const SOCKET: &str = "admin.sock";

#[derive(Clone)]
struct Local {
    backend: Arc<dyn Backend>,
    identity: Arc<Identity>,
    node: Name,
}

/// A recovery request.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoverRequest {
    /// Who regains access.
    pub identity: String,
    /// Why (recorded in the audit event).
    pub note: String,
}

/// A code answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeReply {
    /// The code.
    pub code: String,
}

fn error(status: StatusCode, m: impl std::fmt::Display) -> Response {
    (status, m.to_string()).into_response()
}

async fn run(local: &Local, command: Command, code: String) -> Response {
    match local
        .backend
        .submit_iam(command, random_correlation_id())
        .await
    {
        Ok(Ok(_)) => axum::Json(CodeReply { code }).into_response(),
        Ok(Err(r)) => error(StatusCode::UNPROCESSABLE_ENTITY, r),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn bootstrap(State(local): State<Local>) -> Response {
    let Ok(code) = local.identity.user_code() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
    };
    let command = Command::IssueBootstrapCode {
        code_hash: digest(&code),
    };
    let reply = run(&local, command, code.clone()).await;
    if reply.status().is_success() {
        bootstrap_file::issued(local.backend.as_ref(), &local.identity, &code);
    }
    reply
}

async fn recover(State(local): State<Local>, body: Bytes) -> Response {
    let req: RecoverRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Ok(identity) = Name::parse(req.identity.trim()) else {
        return error(StatusCode::BAD_REQUEST, "the identity must be a DNS label");
    };
    let Ok(code) = local.identity.user_code() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
    };
    let command = Command::Recover {
        node: local.node.clone(),
        identity,
        audit_note: req.note,
        code_hash: digest(&code),
    };
    run(&local, command, code).await
}

/// Serves the socket in `data` until the runtime ends (a stale socket file is replaced).
pub fn spawn(
    data: &Path,
    backend: Arc<dyn Backend>,
    identity: Arc<Identity>,
    node: Name,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = data.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    bootstrap_file::enable(data, Arc::clone(&backend));
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", path.display()))?;
    let app = Router::new()
        .route("/bootstrap-code", post(bootstrap))
        .route("/recover", post(recover))
        .with_state(Local {
            backend,
            identity,
            node,
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("warning: the local administration socket stopped: {e}");
        }
    });
    Ok(())
}

/// Calls the socket of the node whose data directory is `data`.
pub fn call(data: &Path, path: &str, body: serde_json::Value) -> Result<CodeReply> {
    let socket: PathBuf = data.join(SOCKET);
    crate::http_client::runtime()?.block_on(async move {
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .with_context(|| {
                format!(
                    "cannot reach the node's local administration socket {} (is the node running, \
                 and are you its operator on this machine?)",
                    socket.display()
                )
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(hyper::body::Bytes::from(body.to_string())))
            .context("build the request")?;
        let resp = sender
            .send_request(req)
            .await
            .context("the request failed")?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .context("read the answer")?
            .to_bytes();
        if !status.is_success() {
            bail!("refused: {}", String::from_utf8_lossy(&bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("unexpected answer: {e}"))
    })
}
