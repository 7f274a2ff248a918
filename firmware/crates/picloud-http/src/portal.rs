//! The portal: HTML pages served by the binary (no external assets), and the JSON calls
//! their scripts make.

#![allow(
    clippy::result_large_err,
    reason = "the error path returns a finished HTTP response; it is not hot"
)]

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
use crate::passkeys::AuthorizeRequest;
use crate::{ApiError, AppState};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;color:#1d2330}h1{font-size:1.5rem}label{display:block;margin:.8rem 0 .2rem}\
input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}button{font-size:1rem;\
margin-top:1rem;padding:.5rem 1rem}#status{margin-top:1rem;white-space:pre-wrap}\
.ok{color:#1a7f37}.err{color:#b42318}code{font-size:1.1rem}.hidden{display:none}";

/// An HTML page with the portal's CSP.
pub fn page_response(status: StatusCode, html: &str) -> Response {
    let mut r = (status, html.to_owned()).into_response();
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(CSP),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        axum::http::HeaderName::from_static("x-frame-options"),
        axum::http::HeaderValue::from_static("DENY"),
    );
    r
}

fn page(id: &str, title: &str, body: &str, data: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · PiCloud</title><style>{STYLE}</style></head>\
         <body data-page=\"{id}\"><h1>{title}</h1>{body}\
         <script type=\"application/json\" id=\"data\">{data}</script>\
         <div id=\"status\" role=\"status\"></div>\
         <script src=\"/portal/portal.js\"></script></body></html>"
    )
}

/// JSON for a `<script type="application/json">` block: `<` escaped so no tag closes.
fn embed(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// An error page.
pub fn error_page(message: &str) -> String {
    page(
        "error",
        "Sign-in problem",
        &format!("<p class=\"err\">{}</p>", escape(message)),
        "{}",
    )
}

/// `GET /portal/setup`.
pub(crate) async fn setup_page() -> Response {
    let body = "<p>Enrol the first administrator of this cluster with a passkey. You need the \
        bootstrap code shown on the node's console (valid 15 minutes, single use).</p>\
        <form id=\"setup\"><label for=\"code\">Bootstrap code</label>\
        <input id=\"code\" name=\"code\" autocomplete=\"off\" required>\
        <label for=\"name\">Your user name (lower case, e.g. alice)</label>\
        <input id=\"name\" name=\"name\" autocomplete=\"username\" required>\
        <label for=\"display\">Display name</label>\
        <input id=\"display\" name=\"display\">\
        <button id=\"enrol\" type=\"submit\">Create my passkey</button></form>\
        <div id=\"second\" class=\"hidden\"><p>Add a second passkey now (another device or \
        security key): it is how you get back in if you lose the first.</p>\
        <button id=\"add\" type=\"button\">Add a second passkey</button></div>";
    page_response(StatusCode::OK, &page("setup", "Set up PiCloud", body, "{}"))
}

/// The login page (`/portal/login`, and `/oauth2/authorize` with its request).
pub fn login_page(authorize: Option<&AuthorizeRequest>) -> Response {
    let data = serde_json::json!({ "authorize": authorize });
    let intro = match authorize {
        Some(a) => format!(
            "<p>Sign in to continue to <b>{}</b>.</p>",
            escape(&a.client_id)
        ),
        None => "<p>Sign in with your passkey.</p>".to_owned(),
    };
    let body = format!(
        "{intro}<form id=\"login\"><label for=\"name\">User name</label>\
         <input id=\"name\" name=\"name\" autocomplete=\"username webauthn\" required>\
         <button id=\"signin\" type=\"submit\">Sign in with a passkey</button></form>\
         <p><a href=\"/portal/reenrol\">Lost your passkeys? Use a re-enrolment code</a></p>"
    );
    page_response(
        StatusCode::OK,
        &page("login", "Sign in", &body, &embed(&data)),
    )
}

/// `GET /portal/login`.
pub(crate) async fn login_get() -> Response {
    login_page(None)
}

/// `GET /portal/device`: approve a CLI login (`picloud login`).
pub(crate) async fn device_page(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Response {
    let params: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let code = params.get("user_code").cloned().unwrap_or_default();
    let data = serde_json::json!({ "userCode": code });
    let body = "<p>A command-line login is waiting for your approval. Check that the code \
        matches the one your terminal shows.</p>\
        <form id=\"device\"><label for=\"user_code\">Code</label>\
        <input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" required>\
        <div id=\"who\"><label for=\"name\">User name</label>\
        <input id=\"name\" name=\"name\" autocomplete=\"username webauthn\"></div>\
        <button id=\"approve\" type=\"submit\">Approve with my passkey</button></form>";
    page_response(
        StatusCode::OK,
        &page("device", "Approve a login", body, &embed(&data)),
    )
}

/// `GET /portal/reenrol`: a re-enrolment code (from an administrator, or a console
/// recovery) replaces all of a person's passkeys with a new one.
pub(crate) async fn reenrol_page() -> Response {
    let body = "<p>Enter the re-enrolment code you were given. Your old passkeys stop working \
        and every session is signed out.</p><form id=\"reenrol\">\
        <label for=\"code\">Re-enrolment code</label>\
        <input id=\"code\" name=\"code\" autocomplete=\"off\" required>\
        <button id=\"go\" type=\"submit\">Create a new passkey</button></form>";
    page_response(StatusCode::OK, &page("reenrol", "Re-enrol", body, "{}"))
}

/// `GET /portal/portal.js`: the portal's only script (no external assets).
pub(crate) async fn script() -> Response {
    let mut r = (StatusCode::OK, PORTAL_JS).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r
}

const PORTAL_JS: &str = include_str!("portal.js");

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

/// A JSON request body, or the 400 answer saying what is wrong with it.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not valid: {e}")).into_response()
    })
}

/// The JSON body of an admin call about one person, and that person's `name` (trimmed,
/// a DNS label); or the 400 answer.
fn named_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    name: impl Fn(&T) -> &str,
) -> Result<(T, Name), Response> {
    let req: T = json_body(body)?;
    let identity = Name::parse(name(&req).trim())
        .map_err(|_| ApiError::bad_request("the name must be a DNS label").into_response())?;
    Ok((req, identity))
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
    let req: Approve = match json_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invite {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    /// `admin`, `reader`, or `<product>:<role>`.
    #[serde(default)]
    roles: Vec<String>,
}

fn parse_role(text: &str) -> Result<picloud_iam::Role, String> {
    let (product, role) = match text.split_once(':') {
        Some((p, r)) => (
            Some(Name::parse(p).map_err(|e| format!("role {text:?}: {e}"))?),
            r,
        ),
        None => (None, text),
    };
    if product.is_none() && !matches!(role, "admin" | "reader") {
        return Err(format!("role {text:?}: platform roles are admin and reader; product roles are <product>:<role>"));
    }
    Ok(picloud_iam::Role {
        product,
        role: Name::parse(role).map_err(|e| format!("role {text:?}: {e}"))?,
    })
}

async fn issue_code(
    state: &AppState,
    command: impl FnOnce(picloud_events::Sha256Digest) -> Command,
    headers: &axum::http::HeaderMap,
) -> Response {
    let code = match state.identity().user_code() {
        Ok(c) => c,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    match state
        .backend()
        .submit_iam(command(digest(&code)), state.correlation_id())
        .await
    {
        Ok(Ok(_)) => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("picloud.local");
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({
                    "code": code,
                    "expiresIn": picloud_iam::decide::REENROLMENT_TTL_SECS,
                    "portal": format!("https://{host}/portal/reenrol"),
                })),
            )
                .into_response()
        }
        Ok(Err(r)) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", r.to_string())
            .into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// `POST /api/identity/people` (admin): invites a person with roles; answers the
/// enrolment code they use at `/portal/reenrol` (valid 24 hours, single use).
pub(crate) async fn invite(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let (req, identity) = match named_body(&body, |r: &Invite| &r.name) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let roles = match req
        .roles
        .iter()
        .map(|r| parse_role(r))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(r) => r,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let display_name = req.display_name.unwrap_or_else(|| identity.to_string());
    issue_code(
        &state,
        |code_hash| Command::CreatePerson {
            identity,
            display_name,
            roles,
            code_hash,
        },
        &headers,
    )
    .await
}

#[derive(Deserialize)]
struct ReEnrolFor {
    name: String,
}

/// `POST /api/identity/reenrolment` (admin, recovery tier 1): a re-enrolment code for a
/// person who lost their passkeys; using it revokes their old passkeys and logins.
pub(crate) async fn reenrolment(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let (_, identity) = match named_body(&body, |r: &ReEnrolFor| &r.name) {
        Ok(x) => x,
        Err(r) => return r,
    };
    issue_code(
        &state,
        |code_hash| Command::IssueReEnrolmentCode {
            identity,
            code_hash,
        },
        &headers,
    )
    .await
}
