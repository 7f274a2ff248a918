//! Cluster administration over HTTPS: `POST /api/cluster/init`, `/api/cluster/add`,
//! `/api/cluster/remove` (status is `GET /api/cluster`).
//!
//! **`init` is public, and only while the node is uninitialised** (as a Talos node in
//! maintenance mode): a fresh node has no identity yet, so nobody could hold a token for
//! it. Once the node is a member of a cluster every `init` answers 409. The answer never
//! carries the bootstrap code — that is printed on the node's console (and issued again by
//! `picloud cluster bootstrap-code` on the node's local socket) — so someone who races to
//! initialise a stranger's fresh node gains nothing: the owner still holds the only way to
//! enrol the first administrator. `add` and `remove` need the platform `admin` role
//! (their [`crate::Access`] in the route table).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use picloud_api::{AddNodeRequest, RemoveNodeRequest};

use crate::backend::{AdminError, ClusterAdmin};
use crate::error::ApiError;
use crate::AppState;

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
}

async fn run(state: &AppState, change: ClusterAdmin) -> Response {
    match state.backend().cluster_admin(change).await {
        Ok(r) => match serde_json::to_vec(&r) {
            Ok(body) => (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(format!("json: {e}")).into_response(),
        },
        Err(AdminError::Conflict(m)) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", m).into_response()
        }
        Err(AdminError::Refused(m)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", m).into_response()
        }
        Err(AdminError::Unavailable(m)) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m).into_response()
        }
    }
}

/// `POST /api/cluster/init` (public while the node is uninitialised, then 409). The body
/// is ignored (clients send `{}`).
pub(crate) async fn init(State(state): State<AppState>) -> Response {
    run(&state, ClusterAdmin::Init).await
}

/// `POST /api/cluster/add` `{"address": "HOST:PORT"}` (admin).
pub(crate) async fn add(State(state): State<AppState>, body: Bytes) -> Response {
    let request: AddNodeRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let address = request.address.trim().to_owned();
    if address.is_empty() || address.contains("://") || !address.contains(':') {
        return ApiError::bad_request(format!(
            "address {:?}: expected the new node's HOST:PORT (its --listen address)",
            request.address
        ))
        .into_response();
    }
    run(&state, ClusterAdmin::Add(address)).await
}

/// `POST /api/cluster/remove` `{"node": "<id>"}` (admin).
pub(crate) async fn remove(State(state): State<AppState>, body: Bytes) -> Response {
    let request: RemoveNodeRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let raw = request.node.trim();
    let Ok(id) = raw.strip_prefix("node-").unwrap_or(raw).parse::<u64>() else {
        return ApiError::bad_request(format!(
            "node {:?}: expected a node id such as 4290176911995851 (or node-<id>)",
            request.node
        ))
        .into_response();
    };
    run(&state, ClusterAdmin::Remove(id)).await
}
