//! The OpenID Provider endpoints: discovery, JWKS, token, device authorization,
//! userinfo, revocation, introspection, end-session, and the CA certificate.

#![allow(
    clippy::result_large_err,
    reason = "the error path returns a finished HTTP response; it is not hot"
)]

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use picloud_events::payload::RevocationReason;
use picloud_events::{ClientId, Sha256Digest, TokenFamilyId};
use picloud_iam::decide::{client_credentials, NewRefresh, DEVICE_TTL_SECS};
use picloud_iam::jwt::Claims;
use picloud_iam::{Command, Decision, Rejection};
use serde_json::json;

use crate::identity::{digest, Identity};
use crate::AppState;

/// Seconds a device-flow client waits between polls.
pub const DEVICE_POLL_INTERVAL: u64 = 2;

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = (status, serde_json::to_vec(value).unwrap_or_default()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str, description: impl std::fmt::Display) -> Response {
    let mut r = json_response(
        status,
        &json!({ "error": code, "error_description": description.to_string() }),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"picloud\""),
        );
    }
    r
}

fn rejection(r: &Rejection) -> Response {
    let code = r.oauth_error();
    let status = match code {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    oauth_error(status, code, r)
}

fn server_error(e: impl std::fmt::Display) -> Response {
    oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e)
}

/// The public base URL of this API as the request reached it.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("picloud.local");
    format!("https://{host}")
}

fn form(body: &[u8]) -> Result<HashMap<String, String>, Response> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not a form: {e}"),
        )
    })
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let issuer = state.backend().iri().cluster();
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": issuer.as_str(),
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "token_endpoint": format!("{base}/oauth2/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/device_authorization"),
            "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
            "jwks_uri": format!("{base}/oauth2/jwks"),
            "revocation_endpoint": format!("{base}/oauth2/revoke"),
            "introspection_endpoint": format!("{base}/oauth2/introspect"),
            "end_session_endpoint": format!("{base}/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                DEVICE_GRANT
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "offline_access"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "preferred_username", "roles", "nonce"],
        }),
    )
}

/// `GET /oauth2/jwks`: every key not retired, and retired keys until their tokens expire.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    let Ok(now) = state.identity().now() else {
        return server_error("the clock is unreadable");
    };
    let iam = state.backend().iam();
    let keys: Vec<_> = iam.published_keys(now).map(|k| k.public.jwk()).collect();
    json_response(StatusCode::OK, &json!({ "keys": keys }))
}

/// `GET /ca.pem`: the cluster CA certificate, from the log.
pub(crate) async fn ca_pem(State(state): State<AppState>) -> Response {
    let iam = state.backend().iam();
    let Some(ca) = &iam.ca else {
        // Before identity init (an uninitialised node): the CA this node's HTTPS
        // certificate chains to, which identity init records as the cluster CA.
        if let Some(pem) = state.backend().node_ca_pem() {
            let mut r = pem.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            return r;
        }
        return crate::ApiError::not_found("no cluster CA is recorded yet").into_response();
    };
    let b64 = STANDARD.encode(&ca.certificate_der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let mut r = pem.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    r
}

/// The authenticated client of a token-endpoint request.
struct AuthedClient {
    id: ClientId,
    secret: Option<String>,
}

fn percent_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map_or_else(|| s.to_owned(), |(_, v)| v)
}

/// Client authentication: HTTP Basic (`client_secret_basic`), or `client_id` (+
/// `client_secret`) in the form. A confidential client must present its secret; a
/// public client must not have one.
fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<AuthedClient, Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .map(|b| {
            STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(i, p)| (percent_decode(i), percent_decode(p)))
                })
                .ok_or_else(|| {
                    oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "bad Basic credentials",
                    )
                })
        })
        .transpose()?;
    let (id, secret) = match basic {
        Some((i, p)) => (i, Some(p)),
        None => match form.get("client_id") {
            Some(i) => (i.clone(), form.get("client_secret").cloned()),
            None => {
                return Err(oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "no client authentication (HTTP Basic or client_id)",
                ))
            }
        },
    };
    let bad = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    let id = ClientId::new(id).map_err(|_| bad())?;
    // Enabled clients only (a deleted product's client is not), secret digests compared
    // in constant time, a product's client never public.
    picloud_iam::decide::authenticate_client(
        &state.backend().iam(),
        &id,
        secret.as_deref().map(digest).as_ref(),
    )
    .map_err(|_| bad())?;
    Ok(AuthedClient { id, secret })
}

/// A client-authenticated endpoint's request: the form body and the client that
/// authenticated (HTTP Basic or the form's `client_id`/`client_secret`).
fn client_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HashMap<String, String>, AuthedClient), Response> {
    let form = form(body)?;
    let client = authenticate_client(state, headers, &form)?;
    Ok((form, client))
}

/// A form field the request must carry (`invalid_request` naming it when missing).
fn required<'f>(form: &'f HashMap<String, String>, name: &str) -> Result<&'f str, Response> {
    form.get(name).map(String::as_str).ok_or_else(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{name} is missing"),
        )
    })
}

async fn run(state: &AppState, command: Command) -> Result<Decision, Response> {
    let correlation = state.correlation_id();
    match state.backend().submit_iam(command, correlation).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(r)) => Err(rejection(&r)),
        Err(e) => Err(server_error(e)),
    }
}

fn new_refresh(identity: &Identity) -> Result<(String, NewRefresh), Response> {
    let token = identity.secret().map_err(server_error)?;
    let family = TokenFamilyId::from_bytes(identity.id16().map_err(server_error)?);
    Ok((
        token.clone(),
        NewRefresh {
            family,
            token_hash: digest(&token),
        },
    ))
}

fn granted(state: &AppState, d: Decision, refresh: String, id_token: bool) -> Response {
    if let Some(r) = &d.refusal {
        return rejection(r);
    }
    let Some(grant) = d.grant else {
        return server_error("the grant is missing");
    };
    let refresh = grant.refresh.then_some(refresh);
    match state
        .identity()
        .mint(state.backend().as_ref(), &grant, refresh, id_token)
    {
        Ok(t) => json_response(StatusCode::OK, &serde_json::to_value(t).unwrap_or_default()),
        Err(e) => server_error(e),
    }
}

/// The device grant's `grant_type` (RFC 8628).
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A redeeming grant's command from the digest of what it redeems, the client, the next
/// refresh token and the form.
type Redeem = fn(Sha256Digest, ClientId, NewRefresh, &HashMap<String, String>) -> Command;

/// `POST /oauth2/token`. `client_credentials` checks the secret (no events); the other
/// grants redeem one form field through a command that also issues the next refresh token.
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match client_form(&state, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let field = |k: &str| form.get(k).cloned();
    // Each redeeming grant: the form field it redeems, whether it issues an ID token, and
    // its command (from the field's digest, the client and the next refresh token).
    let (name, id_token, redeem): (&str, bool, Redeem) =
        match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                let secret = digest(&client.secret.unwrap_or_default());
                let scope = field("scope").unwrap_or_default();
                let iam = state.backend().iam();
                return match client_credentials(&iam, &client.id, &secret, &scope) {
                    Ok(g) => {
                        let d = Decision {
                            grant: Some(g),
                            ..Decision::default()
                        };
                        granted(&state, d, String::new(), false)
                    }
                    Err(r) => rejection(&r),
                };
            }
            Some("authorization_code") => ("code", true, |code_hash, client_id, refresh, f| {
                Command::RedeemAuthorizationCode {
                    code_hash,
                    client_id,
                    redirect_uri: f.get("redirect_uri").cloned(),
                    code_verifier: f.get("code_verifier").cloned(),
                    refresh,
                }
            }),
            Some("refresh_token") => ("refresh_token", false, |token_hash, client_id, next, _| {
                Command::Refresh {
                    token_hash,
                    client_id,
                    next_hash: next.token_hash,
                }
            }),
            Some(DEVICE_GRANT) => (
                "device_code",
                true,
                |device_code_hash, client_id, refresh, _| Command::RedeemDevice {
                    device_code_hash,
                    client_id,
                    refresh,
                },
            ),
            Some(other) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    format!("the grant type {other:?} is not supported"),
                )
            }
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "grant_type is missing",
                )
            }
        };
    let presented = match required(&form, name) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (refresh, new) = match new_refresh(state.identity()) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let command = redeem(digest(presented), client.id, new, &form);
    match run(&state, command).await {
        Ok(d) => granted(&state, d, refresh, id_token),
        Err(r) => r,
    }
}

/// `POST /oauth2/device_authorization` (RFC 8628 §3.1).
pub(crate) async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match client_form(&state, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let identity = state.identity();
    let (Ok(device_code), Ok(user_code)) = (identity.secret(), identity.user_code()) else {
        return server_error("no randomness");
    };
    let scope = form
        .get("scope")
        .cloned()
        .unwrap_or_else(|| "openid offline_access".into());
    let command = Command::StartDevice {
        device_code_hash: digest(&device_code),
        user_code_hash: digest(&user_code),
        client_id: client.id,
        scope,
    };
    if let Err(r) = run(&state, command).await {
        return r;
    }
    let base = base_url(&headers);
    json_response(
        StatusCode::OK,
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("{base}/portal/device"),
            "verification_uri_complete": format!("{base}/portal/device?user_code={user_code}"),
            "expires_in": DEVICE_TTL_SECS,
            "interval": DEVICE_POLL_INTERVAL,
        }),
    )
}

/// `GET|POST /oauth2/userinfo`.
pub(crate) async fn userinfo(Extension(claims): Extension<Claims>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "sub": claims.sub,
            "preferred_username": claims.preferred_username,
            "roles": claims.roles,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "exp": claims.exp,
        }),
    )
}

/// Verifies an access token of this cluster for any of its audiences (the cluster, or a
/// product whose client exists): what revocation and introspection accept.
fn any_access(state: &AppState, token: &str) -> Option<Claims> {
    let backend = state.backend().as_ref();
    let (iam, iri) = (backend.iam(), backend.iri());
    let ours = |aud: &str| picloud_iam::tokens::audience_is_ours(&iam, &iri, aud);
    state
        .identity()
        .verify_access_for(backend, token, &ours)
        .ok()
}

/// `POST /oauth2/revoke` (RFC 7009). An access token (verified, issued to the requesting
/// client) is revoked through an `AccessTokenRevoked` event: every node refuses its `jti`
/// until it expires. A refresh token revokes its login (refresh-token family). Unknown
/// tokens answer 200 as the RFC requires.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match client_form(&state, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let token = match required(&form, "token") {
        Ok(t) => t,
        Err(r) => return r,
    };
    let command = match any_access(&state, token) {
        Some(claims) => {
            if claims.client_id != client.id.as_str() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "the token was issued to another client (RFC 7009 §2.1)",
                );
            }
            let Ok(expires) =
                picloud_events::Timestamp::from_unix_millis(claims.exp.saturating_mul(1000))
            else {
                return server_error("the token's expiry is out of range");
            };
            Command::RevokeAccessToken {
                jti: claims.jti,
                client_id: client.id,
                expires,
            }
        }
        None => Command::RevokeRefresh {
            token_hash: digest(token),
            reason: RevocationReason::Logout,
        },
    };
    match run(&state, command).await {
        Ok(_) => (StatusCode::OK, "").into_response(),
        Err(r) => r,
    }
}

/// `POST /oauth2/introspect` (RFC 7662): confidential clients only.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match client_form(&state, &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if client.secret.is_none() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection needs a confidential client",
        );
    }
    let token = match required(&form, "token") {
        Ok(t) => t,
        Err(r) => return r,
    };
    let backend = state.backend();
    if let Some(c) = any_access(&state, token) {
        return json_response(
            StatusCode::OK,
            &json!({
                "active": true, "token_type": "access_token", "sub": c.sub, "aud": c.aud,
                "iss": c.iss, "exp": c.exp, "iat": c.iat, "scope": c.scope,
                "client_id": c.client_id, "username": c.preferred_username, "roles": c.roles,
            }),
        );
    }
    let iam = backend.iam();
    let now = state.identity().now().ok();
    let live = iam
        .refresh_index
        .get(&digest(token))
        .and_then(|f| iam.families.get(f))
        .filter(|f| f.revoked.is_none() && f.current == digest(token))
        .filter(|f| now.is_some_and(|n| f.expires > n));
    match live {
        Some(f) => json_response(
            StatusCode::OK,
            &json!({
                "active": true, "token_type": "refresh_token",
                "sub": backend.iri().identity(&f.identity).as_str(),
                "client_id": f.client_id.as_str(),
                "exp": f.expires.unix_millis() / 1000,
            }),
        ),
        None => json_response(StatusCode::OK, &json!({ "active": false })),
    }
}

/// `GET /oauth2/logout` (RP-initiated logout): redirects to `post_logout_redirect_uri`
/// only if it is registered for the client named by a valid `id_token_hint`; the page
/// clears the portal's session.
pub(crate) async fn end_session(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let target = params.get("id_token_hint").and_then(|hint| {
        let claims = state
            .identity()
            .verify_id(state.backend().as_ref(), hint)
            .ok()?;
        let uri = params.get("post_logout_redirect_uri")?;
        let iam = state.backend().iam();
        let client = iam.clients.get(&ClientId::new(claims.aud).ok()?)?;
        client
            .redirect_uris
            .contains(uri)
            .then(|| match params.get("state") {
                Some(s) => format!(
                    "{uri}{}{}",
                    if uri.contains('?') { '&' } else { '?' },
                    serde_urlencoded::to_string([("state", s)]).unwrap_or_default()
                ),
                None => uri.clone(),
            })
    });
    let page = crate::portal::signed_out_page(target.as_deref());
    let mut r = (StatusCode::OK, page).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
