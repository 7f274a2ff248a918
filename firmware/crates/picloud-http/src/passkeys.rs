//! Passkey ceremonies (webauthn-rs 0.6) behind the portal: enrolling the first
//! administrator with the bootstrap code, adding a passkey, re-enrolling with a code,
//! logging in (a portal session, or an OAuth authorization code).
//!
//! Ceremony state (webauthn-rs's registration or authentication state, with the
//! challenge) is kept by no node: `…/start` seals it with the cluster KEK
//! (ChaCha20-Poly1305, associated data `webauthn-register` or `webauthn-login`) together
//! with who it is for and its expiry (five minutes), and hands it to the browser as the
//! opaque `ceremony` token; `…/finish` opens it on whichever node the browser reaches, so
//! a load balancer or a restarted node does not break a ceremony. A changed token does
//! not open, a login token is refused by the enrolment call and the other way round, an
//! expired one is refused. Single use is enforced by the log: the finishing command is
//! wrapped in [`Command::FinishCeremony`], which commits the challenge's digest with the
//! enrolment or login and is refused on every node once that digest is recorded. The
//! WebAuthn relying party is the cluster domain (`picloud.local`): open the portal at
//! `https://<domain>[:port]` (a name, not an IP address: WebAuthn refuses IP origins).

#![allow(
    clippy::result_large_err,
    reason = "the error path returns a finished HTTP response; it is not hot"
)]

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use picloud_domain::Name;
use picloud_events::{ClientId, Sha256Digest, Timestamp};
use picloud_iam::decide::NewPasskey;
use picloud_iam::jwt::Claims;
use picloud_iam::{Command, Grant};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::identity::{digest, PORTAL_CLIENT};
use crate::portal::subject_name;
use crate::{ApiError, AppState};

/// How long a ceremony may take (ms).
const CEREMONY_TTL_MS: i64 = picloud_iam::decide::CEREMONY_TTL_SECS * 1000;
/// The associated data of a sealed registration ceremony (enrolments).
pub const REGISTER_PURPOSE: &str = "webauthn-register";
/// The associated data of a sealed login ceremony.
pub const LOGIN_PURPOSE: &str = "webauthn-login";
/// The longest ceremony token accepted (base64 characters): far above a real one.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// What an OAuth authorization request asked for (validated by `/oauth2/authorize`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `state`.
    #[serde(default)]
    pub state: Option<String>,
    /// `code_challenge`.
    #[serde(default)]
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    /// `scope`.
    #[serde(default)]
    pub scope: Option<String>,
    /// `nonce`.
    #[serde(default)]
    pub nonce: Option<String>,
}

#[derive(Serialize, Deserialize)]
enum Ceremony {
    Enrol {
        kind: Enrolment,
        identity: Name,
        reg: PasskeyRegistration,
        label: String,
    },
    Login {
        identity: Name,
        auth: PasskeyAuthentication,
        authorize: Option<AuthorizeRequest>,
    },
}

#[derive(Serialize, Deserialize)]
enum Enrolment {
    FirstAdmin { code: String, display_name: String },
    Another,
    ReEnrol { code: String },
}

impl Ceremony {
    fn purpose(&self) -> &'static str {
        match self {
            Self::Enrol { .. } => REGISTER_PURPOSE,
            Self::Login { .. } => LOGIN_PURPOSE,
        }
    }
}

/// What a ceremony token seals.
#[derive(Serialize, Deserialize)]
struct SealedCeremony {
    /// The challenge the browser's response must sign.
    challenge: Vec<u8>,
    /// Expiry (ms since the epoch).
    expires: i64,
    ceremony: Ceremony,
}

/// An opened ceremony token.
struct Opened {
    challenge_hash: Sha256Digest,
    expires: Timestamp,
    ceremony: Ceremony,
}

/// The node's passkey machinery. It holds no ceremony: those travel sealed with the
/// browser (see the module docs).
#[derive(Default)]
pub struct Passkeys {
    webauthn: OnceLock<Result<Webauthn, String>>,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

fn bad(message: impl Into<String>) -> Response {
    ApiError::bad_request(message).into_response()
}

fn refused(message: impl std::fmt::Display) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "refused", message.to_string()).into_response()
}

fn internal(message: impl std::fmt::Display) -> Response {
    ApiError::internal(message.to_string()).into_response()
}

fn ok_json(v: &serde_json::Value) -> Response {
    let mut r = (StatusCode::OK, serde_json::to_vec(v).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    parse_request(body).map_err(bad)
}

// The pure half of the portal's request handling: what the handlers below do with the
// untrusted bytes a browser sends, before and apart from the node's state. Public so the
// fuzz target `webauthn_request` (firmware/fuzz) drives exactly this code.

/// The WebAuthn relying party of the cluster `domain`, as the portal builds it: any port,
/// any subdomain of the domain.
pub fn relying_party(domain: &str) -> Result<Webauthn, String> {
    let origin = Url::parse(&format!("https://{domain}")).map_err(|e| e.to_string())?;
    WebauthnBuilder::new(domain, &origin)
        .map(|b| {
            b.rp_name("PiCloud")
                .allow_any_port(true)
                .allow_subdomains(true)
        })
        .and_then(WebauthnBuilder::build)
        .map_err(|e| e.to_string())
}

/// Parses an untrusted JSON request body of a portal call (one of the `…Start` /
/// `…Finish` types); the error says what is wrong, for a 400 answer.
pub fn parse_request<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("the request body is not valid: {e}"))
}

/// A bootstrap or re-enrolment code as typed by a person: trimmed, upper case.
pub fn normalise_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// A person's name as typed: trimmed, then a DNS label.
pub fn person_name(text: &str) -> Result<Name, String> {
    Name::parse(text.trim())
        .map_err(|_| "the name must be a DNS label: lower-case letters, digits and '-'".into())
}

/// Verifies an untrusted registration response against the pending ceremony `reg`;
/// answers the passkey as the log records it (label cut to 64 characters).
pub fn verify_registration(
    webauthn: &Webauthn,
    credential: &RegisterPublicKeyCredential,
    reg: &PasskeyRegistration,
    label: &str,
) -> Result<NewPasskey, String> {
    let passkey = webauthn
        .finish_passkey_registration(credential, reg)
        .map_err(|e| format!("the passkey registration failed: {e}"))?;
    Ok(NewPasskey {
        credential_id: AsRef::<[u8]>::as_ref(passkey.cred_id()).to_vec(),
        public_key: serde_json::to_vec(&passkey).map_err(|e| e.to_string())?,
        sign_count: 0,
        label: label.chars().take(64).collect(),
    })
}

/// A verified assertion: which credential, and its signature counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The authenticator's signature counter (the log refuses a regression).
    pub sign_count: u32,
}

/// Verifies an untrusted assertion against the pending login ceremony `auth`.
pub fn verify_assertion(
    webauthn: &Webauthn,
    credential: &PublicKeyCredential,
    auth: &PasskeyAuthentication,
) -> Result<VerifiedAssertion, String> {
    let result = webauthn
        .finish_passkey_authentication(credential, auth)
        .map_err(|e| format!("the passkey assertion failed: {e}"))?;
    Ok(VerifiedAssertion {
        credential_id: AsRef::<[u8]>::as_ref(result.cred_id()).to_vec(),
        sign_count: result.counter(),
    })
}

/// Decodes a passkey as the log stores it (`NewPasskey::public_key`).
pub fn stored_passkey(bytes: &[u8]) -> Option<Passkey> {
    serde_json::from_slice::<Passkey>(bytes).ok()
}

impl Passkeys {
    fn webauthn(&self, state: &AppState) -> Result<&Webauthn, Response> {
        self.webauthn
            .get_or_init(|| relying_party(state.backend().iri().domain().as_str()))
            .as_ref()
            .map_err(|e| internal(format!("webauthn: {e}")))
    }
}

/// SHA-256 of a ceremony's challenge, as `WebAuthnCeremonyFinished` records it.
fn challenge_digest(challenge: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(challenge).into())
}

/// Seals `ceremony` for the browser: valid [`CEREMONY_TTL_MS`] from now.
fn seal_ceremony(
    state: &AppState,
    ceremony: Ceremony,
    challenge: &[u8],
) -> Result<String, Response> {
    let now = state.identity().now().map_err(internal)?;
    seal_token(state.identity(), ceremony, challenge, now).map_err(internal)
}

/// The ceremony token: `ceremony`, its challenge and its expiry (`now` + 5 minutes),
/// sealed with the KEK for the ceremony's purpose, in base64url.
fn seal_token(
    identity: &crate::Identity,
    ceremony: Ceremony,
    challenge: &[u8],
    now: Timestamp,
) -> Result<String, String> {
    let purpose = ceremony.purpose();
    let plain = serde_json::to_vec(&SealedCeremony {
        challenge: challenge.to_vec(),
        expires: now.unix_millis().saturating_add(CEREMONY_TTL_MS),
        ceremony,
    })
    .map_err(|e| e.to_string())?;
    let sealed = identity.seal(purpose, &plain).map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// Opens a ceremony token for `purpose` at `now`: refused when it was changed, sealed by
/// another cluster, made for the other purpose, or expired. Whether it finished already
/// is the log's to say ([`Command::FinishCeremony`]).
fn open_ceremony(
    identity: &crate::Identity,
    purpose: &str,
    token: &str,
    now: Timestamp,
) -> Result<Opened, String> {
    let unreadable = "the ceremony token is not valid (changed, cut, or from another \
                      cluster): start again";
    if token.len() > MAX_TOKEN_LEN {
        return Err(unreadable.into());
    }
    let sealed = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| unreadable.to_owned())?;
    let plain = match identity.open(purpose, &sealed) {
        Ok(p) => p,
        Err(_) => {
            let other = if purpose == LOGIN_PURPOSE {
                REGISTER_PURPOSE
            } else {
                LOGIN_PURPOSE
            };
            return Err(if identity.open(other, &sealed).is_ok() {
                match purpose {
                    LOGIN_PURPOSE => "that ceremony is an enrolment, not a login".into(),
                    _ => "that ceremony is a login, not an enrolment".into(),
                }
            } else {
                unreadable.into()
            });
        }
    };
    let s: SealedCeremony = serde_json::from_slice(&plain).map_err(|_| unreadable.to_owned())?;
    if s.ceremony.purpose() != purpose {
        return Err(unreadable.into());
    }
    if s.expires <= now.unix_millis() {
        return Err("the ceremony expired (5 minutes): start again".into());
    }
    Ok(Opened {
        challenge_hash: challenge_digest(&s.challenge),
        expires: Timestamp::from_unix_millis(s.expires).map_err(|_| unreadable.to_owned())?,
        ceremony: s.ceremony,
    })
}

/// Opens the token of a `finish` call on this node, now.
fn take(state: &AppState, purpose: &str, token: &str) -> Result<Opened, Response> {
    let now = state.identity().now().map_err(internal)?;
    open_ceremony(state.identity(), purpose, token, now).map_err(refused)
}

/// Wraps the command that finishes a ceremony so the log records it as finished.
fn finishing(opened: &Opened, then: Command) -> Command {
    Command::FinishCeremony {
        challenge_hash: opened.challenge_hash,
        expires: opened.expires,
        then: Box::new(then),
    }
}

fn user_id(identity: &Name) -> Uuid {
    let d = digest(identity.as_str()).0;
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
    Uuid::from_bytes(b)
}

fn stored_passkeys(state: &AppState, identity: &Name) -> Vec<Passkey> {
    state
        .backend()
        .iam()
        .identities
        .get(identity)
        .map(|i| {
            i.passkeys
                .values()
                .filter_map(|p| stored_passkey(p.public_key.as_slice()))
                .collect()
        })
        .unwrap_or_default()
}

async fn submit(state: &AppState, command: Command) -> Result<picloud_iam::Decision, Response> {
    match state
        .backend()
        .submit_iam(command, state.correlation_id())
        .await
    {
        Ok(Ok(d)) => match d.refusal {
            Some(r) => Err(refused(r)),
            None => Ok(d),
        },
        Ok(Err(r)) => Err(refused(r)),
        Err(e) => Err(internal(e)),
    }
}

/// A portal session: an access token of the portal client for `identity`.
fn session(state: &AppState, identity: &Name) -> Result<String, Response> {
    let grant = Grant {
        identity: identity.clone(),
        client_id: ClientId::new(PORTAL_CLIENT).map_err(internal)?,
        scope: "openid".into(),
        nonce: None,
        refresh: false,
    };
    state
        .identity()
        .mint(state.backend().as_ref(), &grant, None, false)
        .map(|t| t.access_token)
        .map_err(internal)
}

/// The body of `POST /portal/api/setup/start`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStart {
    /// The bootstrap code.
    pub code: String,
    /// The first administrator's name.
    pub name: String,
    /// Their display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The passkey's label.
    #[serde(default)]
    pub label: Option<String>,
}

/// What a handler ends with: its answer, or the error answer that stopped it early.
type Answer = Result<Response, Response>;

fn respond(answer: Answer) -> Response {
    answer.unwrap_or_else(|r| r)
}

/// The shared second half of every `…/start`: seals `ceremony` (with the challenge of
/// `options`) and answers `{ceremony, options}`.
fn begin(
    state: &AppState,
    ceremony: Ceremony,
    challenge: &[u8],
    options: &impl Serialize,
) -> Answer {
    let token = seal_ceremony(state, ceremony, challenge)?;
    Ok(ok_json(&json!({ "ceremony": token, "options": options })))
}

/// The body of a `…/finish` call: [`EnrolFinish`] or [`LoginFinish`].
#[derive(Debug, Deserialize)]
pub struct Finish<C> {
    /// The sealed ceremony token `…/start` answered.
    pub ceremony: String,
    /// The browser's response: its registration or its assertion.
    pub credential: C,
}

/// The body of `POST /portal/api/enrol/finish`.
pub type EnrolFinish = Finish<RegisterPublicKeyCredential>;

/// The body of `POST /portal/api/login/finish`.
pub type LoginFinish = Finish<PublicKeyCredential>;

/// The shared first half of every `…/finish`: the browser's credential from the request
/// body, its ceremony token opened for `purpose` on this node, and the relying party to
/// verify the credential with.
fn resume<'s, C: serde::de::DeserializeOwned>(
    state: &'s AppState,
    body: &[u8],
    purpose: &str,
) -> Result<(C, Opened, &'s Webauthn), Response> {
    let req: Finish<C> = parse(body)?;
    let opened = take(state, purpose, &req.ceremony)?;
    let webauthn = state.passkeys().webauthn(state)?;
    Ok((req.credential, opened, webauthn))
}

/// The answer of a finish that signs `identity` in to the portal: `{identity, session}`.
fn signed_in(state: &AppState, identity: &Name) -> Answer {
    let token = session(state, identity)?;
    Ok(ok_json(
        &json!({ "identity": identity.as_str(), "session": token }),
    ))
}

/// `POST /portal/api/setup/start`: the bootstrap code and the first administrator's name.
pub(crate) async fn setup_start(State(state): State<AppState>, body: Bytes) -> Response {
    respond(setup(&state, &body))
}

fn setup(state: &AppState, body: &[u8]) -> Answer {
    let req: SetupStart = parse(body)?;
    let code = normalise_code(&req.code);
    let identity = person_name(&req.name).map_err(bad)?;
    let iam = state.backend().iam();
    if iam.has_admin() {
        return Err(refused("the cluster already has an administrator"));
    }
    let now = state.identity().now().map_err(|_| internal("clock"))?;
    match iam.bootstrap.get(&digest(&code)) {
        Some(c) if !c.used && c.expires > now => {}
        _ => return Err(refused("the bootstrap code is unknown, used or expired")),
    }
    let display_name = req.display_name.unwrap_or_else(|| identity.to_string());
    start_enrolment(
        state,
        identity,
        &display_name,
        Enrolment::FirstAdmin {
            code,
            display_name: display_name.clone(),
        },
        req.label.unwrap_or_else(|| "first passkey".into()),
    )
}

fn start_enrolment(
    state: &AppState,
    identity: Name,
    display_name: &str,
    kind: Enrolment,
    label: String,
) -> Answer {
    let webauthn = state.passkeys().webauthn(state)?;
    let exclude: Vec<_> = stored_passkeys(state, &identity)
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let (ccr, reg) = webauthn
        .start_passkey_registration(
            user_id(&identity),
            identity.as_str(),
            display_name,
            Some(exclude),
        )
        .map_err(|e| internal(format!("webauthn: {e}")))?;
    let challenge = ccr.public_key.challenge.clone();
    let ceremony = Ceremony::Enrol {
        kind,
        identity,
        reg,
        label,
    };
    begin(state, ceremony, &challenge, &ccr)
}

/// `POST /portal/api/enrol/finish`: finishes any enrolment (first admin, another passkey,
/// re-enrolment). Answers a portal session token.
pub(crate) async fn enrol_finish(State(state): State<AppState>, body: Bytes) -> Response {
    respond(finish_enrolment(&state, &body).await)
}

async fn finish_enrolment(state: &AppState, body: &[u8]) -> Answer {
    let (credential, opened, webauthn) = resume(state, body, REGISTER_PURPOSE)?;
    let Ceremony::Enrol {
        kind,
        identity,
        reg,
        label,
    } = &opened.ceremony
    else {
        return Err(bad("that ceremony is a login, not an enrolment"));
    };
    let new = verify_registration(webauthn, &credential, reg, label).map_err(refused)?;
    let command = match kind {
        Enrolment::FirstAdmin { code, display_name } => Command::EnrolFirstAdmin {
            code_hash: digest(code),
            identity: identity.clone(),
            display_name: display_name.clone(),
            passkey: new,
        },
        Enrolment::Another => Command::AddPasskey {
            identity: identity.clone(),
            passkey: new,
        },
        Enrolment::ReEnrol { code } => Command::ReEnrol {
            code_hash: digest(code),
            passkey: new,
        },
    };
    submit(state, finishing(&opened, command)).await?;
    signed_in(state, identity)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddStart {
    #[serde(default)]
    label: Option<String>,
}

/// `POST /portal/api/passkey/start` (bearer: a session): another passkey for the caller
/// (recovery tier 2).
pub(crate) async fn passkey_start(
    State(state): State<AppState>,
    Extension(claims): Extension<Claims>,
    body: Bytes,
) -> Response {
    let req: AddStart = parse(&body).unwrap_or(AddStart { label: None });
    let Some(identity) = subject_name(&state, &claims) else {
        return bad("the token's subject is not an identity of this cluster");
    };
    let display = display_name(&state, &identity);
    respond(start_enrolment(
        &state,
        identity,
        &display,
        Enrolment::Another,
        req.label.unwrap_or_else(|| "second passkey".into()),
    ))
}

fn display_name(state: &AppState, identity: &Name) -> String {
    state
        .backend()
        .iam()
        .identities
        .get(identity)
        .map(|i| i.display_name.clone())
        .unwrap_or_else(|| identity.to_string())
}

/// The body of `POST /portal/api/reenrol/start`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReEnrolStart {
    /// The re-enrolment code.
    pub code: String,
}

/// `POST /portal/api/reenrol/start`: a re-enrolment code (recovery tier 1 or 3).
pub(crate) async fn reenrol_start(State(state): State<AppState>, body: Bytes) -> Response {
    respond(reenrol(&state, &body))
}

fn reenrol(state: &AppState, body: &[u8]) -> Answer {
    let req: ReEnrolStart = parse(body)?;
    let code = normalise_code(&req.code);
    let now = state.identity().now().map_err(|_| internal("clock"))?;
    let Some(identity) = (match state.backend().iam().reenrolment.get(&digest(&code)) {
        Some(c) if !c.used && c.expires > now => c.identity.clone(),
        _ => None,
    }) else {
        return Err(refused("the re-enrolment code is unknown, used or expired"));
    };
    let display = display_name(state, &identity);
    start_enrolment(
        state,
        identity,
        &display,
        Enrolment::ReEnrol { code },
        "re-enrolled passkey".into(),
    )
}

/// The body of `POST /portal/api/login/start`.
#[derive(Debug, Deserialize)]
pub struct LoginStart {
    /// Who logs in.
    pub name: String,
    /// The OAuth request being answered, if any.
    #[serde(default)]
    pub authorize: Option<AuthorizeRequest>,
}

/// `POST /portal/api/login/start`: `{name, authorize?}` → the assertion options.
pub(crate) async fn login_start(State(state): State<AppState>, body: Bytes) -> Response {
    respond(start_login(&state, &body))
}

fn start_login(state: &AppState, body: &[u8]) -> Answer {
    let req: LoginStart = parse(body)?;
    let identity = person_name(&req.name).map_err(|_| refused("no such person or no passkey"))?;
    let keys = stored_passkeys(state, &identity);
    if keys.is_empty() {
        return Err(refused("no such person or no passkey"));
    }
    if let Some(a) = &req.authorize {
        check_authorize(state, a).map_err(bad)?;
    }
    let webauthn = state.passkeys().webauthn(state)?;
    let (rcr, auth) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| internal(format!("webauthn: {e}")))?;
    let challenge = rcr.public_key.challenge.clone();
    let ceremony = Ceremony::Login {
        identity,
        auth,
        authorize: req.authorize,
    };
    begin(state, ceremony, &challenge, &rcr)
}

/// `POST /portal/api/login/finish`: verifies the assertion, records the signature
/// counter (refusing a regression), then answers a portal session, or for an OAuth
/// request the redirect carrying a fresh authorization code.
pub(crate) async fn login_finish(State(state): State<AppState>, body: Bytes) -> Response {
    respond(finish_login(&state, &body).await)
}

async fn finish_login(state: &AppState, body: &[u8]) -> Answer {
    let (credential, opened, webauthn) = resume(state, body, LOGIN_PURPOSE)?;
    let Ceremony::Login {
        identity,
        auth,
        authorize,
    } = &opened.ceremony
    else {
        return Err(bad("that ceremony is an enrolment, not a login"));
    };
    let result = verify_assertion(webauthn, &credential, auth).map_err(refused)?;
    let used = Command::UsePasskey {
        identity: identity.clone(),
        credential_id: result.credential_id,
        sign_count: result.sign_count,
    };
    submit(state, finishing(&opened, used)).await?;
    let Some(a) = authorize else {
        return signed_in(state, identity);
    };
    let code = state.identity().secret().map_err(internal)?;
    let client_id = ClientId::new(a.client_id.clone()).map_err(|_| bad("bad client_id"))?;
    let command = Command::IssueAuthorizationCode {
        code_hash: digest(&code),
        client_id,
        identity: identity.clone(),
        redirect_uri: a.redirect_uri.clone(),
        code_challenge: a.code_challenge.clone(),
        code_challenge_method: a.code_challenge_method.clone(),
        scope: a.scope.clone().unwrap_or_else(|| "openid".into()),
        nonce: a.nonce.clone(),
    };
    submit(state, command).await?;
    let mut query = vec![("code", code)];
    if let Some(s) = &a.state {
        query.push(("state", s.clone()));
    }
    let sep = if a.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let redirect = format!(
        "{}{sep}{}",
        a.redirect_uri,
        serde_urlencoded::to_string(query).unwrap_or_default()
    );
    let session = session(state, identity).ok();
    Ok(ok_json(
        &json!({ "identity": identity.as_str(), "redirect": redirect, "session": session }),
    ))
}

/// Checks an authorization request before anyone logs in: a registered client allowed
/// the code grant, an exactly registered redirect URI, `response_type=code`, PKCE S256.
pub fn check_authorize(state: &AppState, a: &AuthorizeRequest) -> Result<(), String> {
    let iam = state.backend().iam();
    let client = ClientId::new(a.client_id.clone())
        .ok()
        .and_then(|c| iam.clients.get(&c).cloned())
        .ok_or("unknown client_id")?;
    if !client
        .grant_types
        .contains(&picloud_events::payload::GrantType::AuthorizationCode)
    {
        return Err("this client may not use the authorization code grant".into());
    }
    if !client.redirect_uris.contains(&a.redirect_uri) {
        return Err("the redirect_uri is not registered for this client (exact match)".into());
    }
    match (&a.code_challenge, a.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if picloud_iam::pkce::challenge_is_valid(c) => Ok(()),
        (None, _) => Err("PKCE is required: code_challenge is missing".into()),
        _ => Err("PKCE: only code_challenge_method=S256 with a 43-character challenge".into()),
    }
}

/// `GET /oauth2/authorize`: validates the request, then shows the passkey login page
/// that finishes it. Errors about the client or the redirect URI are shown, never
/// redirected (RFC 6749 §4.1.2.1); other errors go back to the client.
pub(crate) async fn authorize(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| params.get(k).cloned();
    let a = AuthorizeRequest {
        client_id: get("client_id").unwrap_or_default(),
        redirect_uri: get("redirect_uri").unwrap_or_default(),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        scope: get("scope"),
        nonce: get("nonce"),
    };
    // Client and redirect first: never redirect to an unregistered URI.
    let iam = state.backend().iam();
    let registered = ClientId::new(a.client_id.clone())
        .ok()
        .and_then(|c| iam.clients.get(&c).cloned())
        .is_some_and(|c| c.redirect_uris.contains(&a.redirect_uri));
    if !registered {
        return crate::portal::page_response(
            StatusCode::BAD_REQUEST,
            &crate::portal::error_page(
                "This sign-in link is not valid: unknown client or redirect URI.",
            ),
        );
    }
    let error = if get("response_type").as_deref() != Some("code") {
        Some((
            "unsupported_response_type",
            "only response_type=code".to_owned(),
        ))
    } else {
        check_authorize(&state, &a)
            .err()
            .map(|e| ("invalid_request", e))
    };
    if let Some((code, description)) = error {
        let mut query = vec![
            ("error", code.to_owned()),
            ("error_description", description),
        ];
        if let Some(s) = &a.state {
            query.push(("state", s.clone()));
        }
        let sep = if a.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!(
            "{}{sep}{}",
            a.redirect_uri,
            serde_urlencoded::to_string(query).unwrap_or_default()
        );
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    crate::portal::login_page(Some(&a))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn identity(kek: u8) -> crate::Identity {
        crate::Identity::new([kek; 32], Arc::new(|| None))
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    const T0: i64 = 1_795_794_861_000;

    fn enrolment() -> (Ceremony, Vec<u8>) {
        let webauthn = relying_party("picloud.local").unwrap();
        let (ccr, reg) = webauthn
            .start_passkey_registration(Uuid::from_bytes([1; 16]), "alice", "Alice", None)
            .unwrap();
        let ceremony = Ceremony::Enrol {
            kind: Enrolment::ReEnrol {
                code: "ABCD-EFGH".into(),
            },
            identity: Name::parse("alice").unwrap(),
            reg,
            label: "key".into(),
        };
        (ceremony, ccr.public_key.challenge)
    }

    #[test]
    fn a_token_opens_on_any_node_with_the_key_until_it_expires() {
        let (ceremony, challenge) = enrolment();
        let token = seal_token(&identity(7), ceremony, &challenge, at(T0)).unwrap();
        // The browser learns nothing: neither the code nor the challenge is in clear.
        let raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert!(!raw.windows(9).any(|w| w == b"ABCD-EFGH"));
        // Another node (another adapter, same KEK) opens it.
        let opened = open_ceremony(&identity(7), REGISTER_PURPOSE, &token, at(T0 + 1000)).unwrap();
        assert_eq!(opened.challenge_hash, challenge_digest(&challenge));
        assert_eq!(opened.expires, at(T0 + CEREMONY_TTL_MS));
        assert!(matches!(
            opened.ceremony,
            Ceremony::Enrol {
                kind: Enrolment::ReEnrol { .. },
                ..
            }
        ));
        // Expired: refused at the expiry.
        let e = open_ceremony(
            &identity(7),
            REGISTER_PURPOSE,
            &token,
            at(T0 + CEREMONY_TTL_MS),
        )
        .err()
        .unwrap();
        assert!(e.starts_with("the ceremony expired"), "{e}");
    }

    #[test]
    fn a_changed_foreign_or_other_purpose_token_is_refused() {
        let (ceremony, challenge) = enrolment();
        let token = seal_token(&identity(7), ceremony, &challenge, at(T0)).unwrap();
        let now = at(T0 + 1000);
        let refused = |kek: u8, purpose: &str, token: &str| {
            open_ceremony(&identity(kek), purpose, token, now)
                .err()
                .expect("refused")
        };
        assert_eq!(
            refused(7, LOGIN_PURPOSE, &token),
            "that ceremony is an enrolment, not a login"
        );
        assert!(refused(8, REGISTER_PURPOSE, &token).starts_with("the ceremony token is not valid"));
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in [0, 12, raw.len() / 2, raw.len() - 1] {
            raw[i] ^= 1;
            let changed = URL_SAFE_NO_PAD.encode(&raw);
            assert!(refused(7, REGISTER_PURPOSE, &changed)
                .starts_with("the ceremony token is not valid"));
            raw[i] ^= 1;
        }
        for junk in [
            "",
            "c1",
            "!!!",
            &token[..20],
            &"A".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                refused(7, REGISTER_PURPOSE, junk).starts_with("the ceremony token is not valid")
            );
        }
    }
}
