//! The portal: HTML pages served by the binary (no external assets), and the JSON calls
//! their scripts make.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use picloud_domain::Name;
use picloud_iam::jwt::Claims;
use picloud_iam::Command;
use serde::Deserialize;

use crate::identity::digest;
use crate::{ApiError, AppState};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page `end_session` shows: clears the portal session, then follows `target`.
pub fn signed_out_page(target: Option<&str>) -> String {
    let follow = target.map_or(String::new(), |t| {
        format!(
            "<p><a id=\"continue\" href=\"{0}\">Continue</a></p>\
             <meta http-equiv=\"refresh\" content=\"0; url={0}\">",
            escape(t)
        )
    });
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed out · PiCloud</title>\
         </head><body><h1>You are signed out</h1>{follow}\
         <script>try{{sessionStorage.clear()}}catch(e){{}}</script></body></html>"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Approve {
    user_code: String,
}

/// The identity name of a token's `sub` (`https://<domain>/identities/<name>`).
pub fn subject_name(state: &AppState, claims: &Claims) -> Option<Name> {
    let prefix = state.backend().iri().cluster().as_str().to_owned() + "platform/identities/";
    Name::parse(claims.sub.strip_prefix(&prefix)?).ok()
}

/// `POST /portal/api/device/approve` `{"userCode": "ABCD-EFGH"}`: the caller (a logged-in
/// person, by bearer token) approves a device login, which gets the caller's identity.
pub(crate) async fn approve_device(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    body: Bytes,
) -> Response {
    let req: Approve = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_request(format!("the request body is not valid: {e}"))
                .into_response()
        }
    };
    let Some(identity) = subject_name(&state, &claims) else {
        return ApiError::bad_request("the token's subject is not an identity of this cluster")
            .into_response();
    };
    let code = req.user_code.trim().to_ascii_uppercase();
    let command = Command::ApproveDevice {
        user_code_hash: digest(&code),
        identity,
    };
    match state
        .backend()
        .submit_iam(command, state.correlation_id())
        .await
    {
        Ok(Ok(_)) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"approved": true})),
        )
            .into_response(),
        Ok(Err(r)) => {
            ApiError::new(StatusCode::BAD_REQUEST, "rejected", r.to_string()).into_response()
        }
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
