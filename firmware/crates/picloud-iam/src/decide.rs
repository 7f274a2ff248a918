//! [`decide`]: identity commands → events, against the folded [`IamState`].
//!
//! Codes, tokens and secrets arrive as SHA-256 digests computed by the adapter (which also
//! draws them); the core compares digests and never sees a secret except a PKCE verifier.

use picloud_domain::{Iri, IriBuilder, Name};
use picloud_events::payload::*;
use picloud_events::{
    Bytes, ClientId, CorrelationId, Envelope, EventId, EventPayload, KeyId, Sha256Digest,
    Timestamp, TokenFamilyId,
};

use crate::pkce;
use crate::state::{IamState, Role};

/// Lifetime of access and ID tokens (seconds).
pub const ACCESS_TTL_SECS: i64 = 600;
/// Lifetime of a refresh token (seconds; each rotation starts a new one).
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
/// Lifetime of an authorization code (seconds).
pub const CODE_TTL_SECS: i64 = 60;
/// Lifetime of a device authorization (seconds).
pub const DEVICE_TTL_SECS: i64 = 600;
/// Lifetime of a bootstrap code (15 minutes).
pub const BOOTSTRAP_TTL_SECS: i64 = 15 * 60;
/// Lifetime of a re-enrolment code (24 hours).
pub const REENROLMENT_TTL_SECS: i64 = 24 * 3600;
/// Lifetime of a WebAuthn ceremony, from `…/start` to `…/finish` (5 minutes).
pub const CEREMONY_TTL_SECS: i64 = 5 * 60;
/// Age after which the signing key is rotated (30 days).
pub const KEY_ROTATION_SECS: i64 = 30 * 24 * 3600;
/// How long a retired key stays in the JWKS: the longest token lifetime plus the leeway.
pub const KEY_OVERLAP_SECS: i64 = ACCESS_TTL_SECS + crate::jwt::LEEWAY_SECS;

/// Why a command was refused. [`Rejection::oauth_error`] gives the OAuth error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// `cluster init` ran already.
    #[error("identity is already initialised on this cluster")]
    AlreadyInitialised,
    /// Nothing is initialised yet.
    #[error("identity is not initialised: run `picloud cluster init`")]
    NotInitialised,
    /// Unknown, expired or used one-time code.
    #[error("the {what} code is {why}")]
    Code {
        /// Which code (bootstrap, re-enrolment, authorization, device, user).
        what: &'static str,
        /// unknown, expired or already used.
        why: &'static str,
    },
    /// A WebAuthn ceremony that finished already (a replayed response) or expired.
    #[error("the passkey ceremony {0}: start again")]
    Ceremony(&'static str),
    /// An administrator exists; the bootstrap path is closed.
    #[error("the cluster already has an administrator; ask one for a re-enrolment code")]
    BootstrapClosed,
    /// Unknown client, or wrong secret.
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not use this grant.
    #[error("the client {client} may not use the {grant} grant")]
    UnauthorizedClient {
        /// The client.
        client: String,
        /// The grant.
        grant: &'static str,
    },
    /// The redirect URI is not registered exactly, or differs from the authorization
    /// request's.
    #[error("the redirect_uri does not match exactly")]
    RedirectUri,
    /// PKCE missing, not S256, or the verifier does not match.
    #[error("PKCE: {0}")]
    Pkce(&'static str),
    /// The code was issued to another client.
    #[error("the code was issued to another client")]
    ClientMismatch,
    /// A spent refresh token was presented: the whole family is revoked.
    #[error("the refresh token was already used: every token of its login is revoked")]
    RefreshReuse,
    /// Unknown, revoked or expired refresh token.
    #[error("the refresh token is {0}")]
    Refresh(&'static str),
    /// The device code is not approved yet (RFC 8628 `authorization_pending`).
    #[error("the device code is not approved yet")]
    AuthorizationPending,
    /// No such identity.
    #[error("no identity is called {0}")]
    UnknownIdentity(String),
    /// The identity exists already.
    #[error("an identity called {0} exists already")]
    IdentityExists(String),
    /// No such passkey (or it was revoked).
    #[error("the passkey is not registered for this identity")]
    UnknownPasskey,
    /// The passkey already exists.
    #[error("this passkey is registered already")]
    PasskeyExists,
    /// The authenticator's signature counter did not increase: a cloned authenticator or a
    /// replayed assertion.
    #[error("the passkey's signature counter went from {stored} to {presented}: possible clone or replay")]
    CounterRegression {
        /// The stored counter.
        stored: u32,
        /// The counter presented.
        presented: u32,
    },
    /// The identity has no live passkey to sign in with.
    #[error("{0} is not a person with passkeys")]
    NotAHuman(String),
    /// No product has a client with this id (unknown, deleted, or not a product's own
    /// client).
    #[error("no product has a client called {0} (the product is unknown or deleted)")]
    UnknownProductClient(String),
    /// A bad argument (a scope, a role, a key).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A bug (an event the catalogue refused).
    #[error("internal: {0}")]
    Invariant(&'static str),
}

impl Rejection {
    /// The OAuth 2.0 / RFC 8628 error code for the token endpoint.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient { .. } => "unauthorized_client",
            Self::AuthorizationPending => "authorization_pending",
            Self::Code {
                what: "device",
                why: "expired",
            } => "expired_token",
            Self::Invalid(_) | Self::Pkce("missing") => "invalid_request",
            Self::NotInitialised | Self::Invariant(_) => "server_error",
            _ => "invalid_grant",
        }
    }
}

/// Where and when a command is decided.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The IRI builder of the cluster.
    pub iri: &'a IriBuilder,
    /// Now.
    pub now: Timestamp,
    /// The command's correlation id (event ids derive from it).
    pub correlation_id: CorrelationId,
    /// The emitter.
    pub source: Iri,
}

/// A new signing key: the public coordinates and the sealed private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Its kid.
    pub kid: KeyId,
    /// JWK x (32 bytes).
    pub x: Vec<u8>,
    /// JWK y (32 bytes).
    pub y: Vec<u8>,
    /// Sealed PKCS#8.
    pub sealed: Vec<u8>,
}

/// A passkey from a successful registration ceremony.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// Credential id.
    pub credential_id: Vec<u8>,
    /// The credential (as the adapter's WebAuthn library stores it).
    pub public_key: Vec<u8>,
    /// Counter at registration.
    pub sign_count: u32,
    /// Label.
    pub label: String,
}

/// A client to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// The client id.
    pub client_id: ClientId,
    /// Its product.
    pub product: Option<Name>,
    /// SHA-256 of its secret.
    pub secret_hash: Option<Sha256Digest>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Grants.
    pub grant_types: Vec<GrantType>,
    /// Its workload identity, created with `roles` if missing.
    pub identity: Option<Name>,
    /// Roles of a newly created workload identity.
    pub roles: Vec<Role>,
}

/// A new refresh token (drawn by the adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRefresh {
    /// Its family (new for a new login).
    pub family: TokenFamilyId,
    /// SHA-256 of the token.
    pub token_hash: Sha256Digest,
}

/// The CA created at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCa {
    /// Certificate DER.
    pub certificate_der: Vec<u8>,
    /// Sealed private key.
    pub sealed_key: Vec<u8>,
    /// SHA-256 of the certificate.
    pub fingerprint: Sha256Digest,
}

/// An identity command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `cluster init`: the CA, the first signing key, a bootstrap code, the platform
    /// clients (the CLI).
    Initialise {
        /// The CA.
        ca: NewCa,
        /// The first signing key.
        key: NewKey,
        /// SHA-256 of the bootstrap code.
        bootstrap_code_hash: Sha256Digest,
        /// Clients to register.
        clients: Vec<NewClient>,
    },
    /// A new bootstrap code, issued on a node's console while no administrator exists.
    IssueBootstrapCode {
        /// SHA-256 of the code.
        code_hash: Sha256Digest,
    },
    /// The setup portal: the bootstrap code and the first administrator's passkey.
    EnrolFirstAdmin {
        /// SHA-256 of the bootstrap code.
        code_hash: Sha256Digest,
        /// The administrator's name.
        identity: Name,
        /// Display name.
        display_name: String,
        /// The passkey.
        passkey: NewPasskey,
    },
    /// A logged-in person adds another passkey (recovery tier 2).
    AddPasskey {
        /// Whose.
        identity: Name,
        /// The passkey.
        passkey: NewPasskey,
    },
    /// A successful assertion: records the counter, refusing a regression.
    UsePasskey {
        /// Whose.
        identity: Name,
        /// Which.
        credential_id: Vec<u8>,
        /// The counter the authenticator reported.
        sign_count: u32,
    },
    /// An administrator creates a person (who enrols with a re-enrolment code).
    CreatePerson {
        /// The name.
        identity: Name,
        /// Display name.
        display_name: String,
        /// Roles.
        roles: Vec<Role>,
        /// SHA-256 of the enrolment code.
        code_hash: Sha256Digest,
    },
    /// Registers a client (and its workload identity).
    RegisterClient(NewClient),
    /// Replaces the signing key; the old one stays published for [`KEY_OVERLAP_SECS`].
    RotateSigningKey {
        /// The new key.
        key: NewKey,
        /// Only when [`rotation_due`] (the schedule: nodes racing to rotate rotate once).
        only_if_due: bool,
    },
    /// The authorization endpoint, after a passkey login.
    IssueAuthorizationCode {
        /// SHA-256 of the code.
        code_hash: Sha256Digest,
        /// The client.
        client_id: ClientId,
        /// Who logged in.
        identity: Name,
        /// The request's redirect URI.
        redirect_uri: String,
        /// The PKCE challenge (`None`: missing).
        code_challenge: Option<String>,
        /// The PKCE method (`None`: missing, which means `plain`).
        code_challenge_method: Option<String>,
        /// Scope.
        scope: String,
        /// Nonce.
        nonce: Option<String>,
    },
    /// The token endpoint, `authorization_code`.
    RedeemAuthorizationCode {
        /// SHA-256 of the code.
        code_hash: Sha256Digest,
        /// The authenticated client.
        client_id: ClientId,
        /// The token request's redirect URI.
        redirect_uri: Option<String>,
        /// The PKCE verifier.
        code_verifier: Option<String>,
        /// The refresh token to issue (if the scope asks for `offline_access`).
        refresh: NewRefresh,
    },
    /// The device authorization endpoint.
    StartDevice {
        /// SHA-256 of the device code.
        device_code_hash: Sha256Digest,
        /// SHA-256 of the user code.
        user_code_hash: Sha256Digest,
        /// The client.
        client_id: ClientId,
        /// Scope.
        scope: String,
    },
    /// The portal: a logged-in person approves a user code.
    ApproveDevice {
        /// SHA-256 of the user code.
        user_code_hash: Sha256Digest,
        /// Who approves.
        identity: Name,
    },
    /// The token endpoint, device grant.
    RedeemDevice {
        /// SHA-256 of the device code.
        device_code_hash: Sha256Digest,
        /// The client.
        client_id: ClientId,
        /// The refresh token to issue.
        refresh: NewRefresh,
    },
    /// The token endpoint, `refresh_token`: rotation with reuse detection.
    Refresh {
        /// SHA-256 of the presented token.
        token_hash: Sha256Digest,
        /// The client.
        client_id: ClientId,
        /// SHA-256 of the next token.
        next_hash: Sha256Digest,
    },
    /// Revocation (RFC 7009) or logout: revokes the family of a refresh token.
    RevokeRefresh {
        /// SHA-256 of the token.
        token_hash: Sha256Digest,
        /// Why.
        reason: RevocationReason,
    },
    /// Recovery tier 1: an administrator issues a re-enrolment code for a person.
    IssueReEnrolmentCode {
        /// For whom.
        identity: Name,
        /// SHA-256 of the code.
        code_hash: Sha256Digest,
    },
    /// A person uses a re-enrolment code: every old passkey is revoked, the new one
    /// registered.
    ReEnrol {
        /// SHA-256 of the code.
        code_hash: Sha256Digest,
        /// The new passkey.
        passkey: NewPasskey,
    },
    /// An administrator sets or rotates the secret of a product's client (the adapter
    /// draws the secret and shows it once).
    RotateClientSecret {
        /// The product's client id (the product name).
        client_id: ClientId,
        /// SHA-256 of the new secret.
        secret_hash: Sha256Digest,
    },
    /// Revocation (RFC 7009) of an access token the adapter verified: every node refuses
    /// its `jti` until `expires`.
    RevokeAccessToken {
        /// The token's `jti`.
        jti: String,
        /// The client it was issued to.
        client_id: ClientId,
        /// The token's `exp`.
        expires: Timestamp,
    },
    /// Finishes a WebAuthn ceremony: `then` (one of [`Command::EnrolFirstAdmin`],
    /// [`Command::AddPasskey`], [`Command::ReEnrol`], [`Command::UsePasskey`]) is decided,
    /// and a `WebAuthnCeremonyFinished` recording the challenge's digest is committed with
    /// its events, so the same ceremony cannot finish again on any node. Refused when the
    /// challenge finished already or the ceremony expired.
    FinishCeremony {
        /// SHA-256 of the ceremony's challenge.
        challenge_hash: Sha256Digest,
        /// When the ceremony expires (at most [`CEREMONY_TTL_SECS`] from now, plus leeway).
        expires: Timestamp,
        /// What the ceremony does.
        then: Box<Command>,
    },
    /// Recovery tier 3, on a node's console: an audit event and a re-enrolment code (or a
    /// new administrator when the identity does not exist).
    Recover {
        /// The node.
        node: Name,
        /// The identity that regains access.
        identity: Name,
        /// Why.
        audit_note: String,
        /// SHA-256 of the re-enrolment code.
        code_hash: Sha256Digest,
    },
}

/// Who a successful grant is for: the adapter mints tokens from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The identity; for a product's own client (`client_credentials`), the product's name
    /// ([`crate::tokens::access_claims`] then makes the token about the product).
    pub identity: Name,
    /// The client.
    pub client_id: ClientId,
    /// The scope.
    pub scope: String,
    /// The OIDC nonce.
    pub nonce: Option<String>,
    /// Whether a refresh token was issued (its hash is in the events).
    pub refresh: bool,
}

/// What [`decide`] concluded: events to commit, then a grant or a refusal. A refusal *with*
/// events (refresh-token or code reuse) commits the revocation first, then refuses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Events to append.
    pub events: Vec<Envelope>,
    /// The grant, for token requests.
    pub grant: Option<Grant>,
    /// A refusal to return after committing `events`.
    pub refusal: Option<Rejection>,
}

fn secs(t: Timestamp, s: i64) -> Timestamp {
    t.saturating_add_millis(s.saturating_mul(1000))
}

struct Out<'a> {
    ctx: &'a Context<'a>,
    payloads: Vec<EventPayload>,
}

impl Out<'_> {
    fn push(&mut self, p: impl Into<EventPayload>) {
        self.payloads.push(p.into());
    }

    fn finish(
        self,
        grant: Option<Grant>,
        refusal: Option<Rejection>,
    ) -> Result<Decision, Rejection> {
        let ctx = self.ctx;
        let events = self
            .payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let index =
                    u32::try_from(i).map_err(|_| Rejection::Invariant("too many events"))?;
                Envelope::new(
                    ctx.iri,
                    EventId::derive(ctx.correlation_id, index),
                    ctx.now,
                    ctx.source.clone(),
                    ctx.correlation_id,
                    payload,
                )
                .map_err(|_| Rejection::Invariant("catalogue type name refused by the iri builder"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decision {
            events,
            grant,
            refusal,
        })
    }
}

fn role_name(s: &str) -> Result<Name, Rejection> {
    Name::parse(s).map_err(|e| Rejection::Invalid(format!("role {s:?}: {e}")))
}

fn key_events(out: &mut Out<'_>, key: &NewKey) -> Result<(), Rejection> {
    if key.x.len() != 32 || key.y.len() != 32 {
        return Err(Rejection::Invalid(
            "a P-256 key has 32-byte coordinates".into(),
        ));
    }
    out.push(SigningKeyCreatedV1 {
        kid: key.kid.clone(),
        alg: SigningAlgorithm::Es256,
        x: Bytes(key.x.clone()),
        y: Bytes(key.y.clone()),
        encrypted_private_key: Bytes(key.sealed.clone()),
    });
    Ok(())
}

fn passkey_event(identity: &Name, p: &NewPasskey) -> PasskeyRegisteredV1 {
    PasskeyRegisteredV1 {
        identity: identity.clone(),
        credential_id: Bytes(p.credential_id.clone()),
        public_key: Bytes(p.public_key.clone()),
        sign_count: p.sign_count,
        label: p.label.clone(),
    }
}

fn passkey_taken(state: &IamState, id: &[u8]) -> bool {
    state
        .identities
        .values()
        .any(|i| i.passkeys.contains_key(id))
}

fn client_events(state: &IamState, out: &mut Out<'_>, c: &NewClient) -> Result<(), Rejection> {
    for uri in &c.redirect_uris {
        if !(uri.starts_with("https://")
            || uri.starts_with("http://127.0.0.1")
            || uri.starts_with("http://localhost"))
            || uri.contains('#')
        {
            return Err(Rejection::Invalid(format!(
                "redirect URI {uri:?} must be https (or http on loopback) without a fragment"
            )));
        }
    }
    if let Some(id) = &c.identity {
        if !state.identities.contains_key(id) {
            out.push(IdentityCreatedV1 {
                identity: id.clone(),
                kind: IdentityKind::Workload,
                display_name: format!("client {}", c.client_id),
            });
            for r in &c.roles {
                out.push(RoleAssignedV1 {
                    identity: id.clone(),
                    role: r.role.clone(),
                    product: r.product.clone(),
                });
            }
        }
    }
    out.push(ClientRegisteredV2 {
        client_id: c.client_id.clone(),
        product: c.product.clone(),
        secret_hash: c.secret_hash,
        redirect_uris: c.redirect_uris.clone(),
        grant_types: c.grant_types.clone(),
        identity: c.identity.clone(),
    });
    Ok(())
}

fn client<'s>(
    state: &'s IamState,
    id: &ClientId,
    grant: GrantType,
    name: &'static str,
) -> Result<&'s crate::state::Client, Rejection> {
    let c = state.live_client(id).ok_or(Rejection::InvalidClient)?;
    if !c.grant_types.contains(&grant) {
        return Err(Rejection::UnauthorizedClient {
            client: id.to_string(),
            grant: name,
        });
    }
    Ok(c)
}

fn live_code(
    code: Option<&crate::state::OneTimeCode>,
    what: &'static str,
    now: Timestamp,
) -> Result<(), Rejection> {
    match code {
        None => Err(Rejection::Code {
            what,
            why: "unknown",
        }),
        Some(c) if c.used => Err(Rejection::Code {
            what,
            why: "already used",
        }),
        Some(c) if c.expires <= now => Err(Rejection::Code {
            what,
            why: "expired",
        }),
        Some(_) => Ok(()),
    }
}

fn issue_refresh(
    out: &mut Out<'_>,
    r: NewRefresh,
    identity: &Name,
    client: &ClientId,
    now: Timestamp,
) {
    out.push(RefreshTokenIssuedV1 {
        family_id: r.family,
        identity: identity.clone(),
        client_id: client.clone(),
        token_hash: r.token_hash,
        expires: secs(now, REFRESH_TTL_SECS),
    });
}

fn wants_refresh(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "offline_access")
}

/// Decides `command` against `state` at `ctx.now`. Never mutates; deterministic.
pub fn decide(
    state: &IamState,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<Decision, Rejection> {
    let now = ctx.now;
    let mut out = Out {
        ctx,
        payloads: Vec::new(),
    };
    if !state.initialised() && !matches!(command, Command::Initialise { .. }) {
        return Err(Rejection::NotInitialised);
    }
    if let Command::FinishCeremony {
        challenge_hash,
        expires,
        then,
    } = command
    {
        return finish_ceremony(state, challenge_hash, *expires, then, ctx);
    }
    match command {
        Command::Initialise {
            ca,
            key,
            bootstrap_code_hash,
            clients,
        } => {
            if state.initialised() {
                return Err(Rejection::AlreadyInitialised);
            }
            out.push(CaCreatedV1 {
                certificate_der: Bytes(ca.certificate_der.clone()),
                encrypted_key: Bytes(ca.sealed_key.clone()),
                fingerprint: ca.fingerprint,
            });
            key_events(&mut out, key)?;
            out.push(BootstrapCodeIssuedV1 {
                code_hash: *bootstrap_code_hash,
                expires: secs(now, BOOTSTRAP_TTL_SECS),
            });
            for c in clients {
                client_events(state, &mut out, c)?;
            }
        }
        Command::IssueBootstrapCode { code_hash } => {
            if state.has_admin() {
                return Err(Rejection::BootstrapClosed);
            }
            out.push(BootstrapCodeIssuedV1 {
                code_hash: *code_hash,
                expires: secs(now, BOOTSTRAP_TTL_SECS),
            });
        }
        Command::EnrolFirstAdmin {
            code_hash,
            identity,
            display_name,
            passkey,
        } => {
            live_code(state.bootstrap.get(code_hash), "bootstrap", now)?;
            if state.has_admin() {
                return Err(Rejection::BootstrapClosed);
            }
            if state.identities.contains_key(identity) {
                return Err(Rejection::IdentityExists(identity.to_string()));
            }
            if passkey_taken(state, &passkey.credential_id) {
                return Err(Rejection::PasskeyExists);
            }
            out.push(BootstrapCodeRedeemedV1 {
                code_hash: *code_hash,
                identity: identity.clone(),
            });
            out.push(IdentityCreatedV1 {
                identity: identity.clone(),
                kind: IdentityKind::Human,
                display_name: display_name.clone(),
            });
            out.push(RoleAssignedV1 {
                identity: identity.clone(),
                role: role_name("admin")?,
                product: None,
            });
            out.push(passkey_event(identity, passkey));
        }
        Command::AddPasskey { identity, passkey } => {
            let i = state
                .identities
                .get(identity)
                .ok_or_else(|| Rejection::UnknownIdentity(identity.to_string()))?;
            if i.kind != IdentityKind::Human {
                return Err(Rejection::NotAHuman(identity.to_string()));
            }
            if passkey_taken(state, &passkey.credential_id) {
                return Err(Rejection::PasskeyExists);
            }
            out.push(passkey_event(identity, passkey));
        }
        Command::UsePasskey {
            identity,
            credential_id,
            sign_count,
        } => {
            let key = state
                .identities
                .get(identity)
                .and_then(|i| i.passkeys.get(credential_id))
                .ok_or(Rejection::UnknownPasskey)?;
            // Authenticators that keep no counter report 0 forever (passkeys synced
            // between devices do); any authenticator that counts must count up.
            if (key.sign_count != 0 || *sign_count != 0) && *sign_count <= key.sign_count {
                return Err(Rejection::CounterRegression {
                    stored: key.sign_count,
                    presented: *sign_count,
                });
            }
            out.push(PasskeyUsedV1 {
                identity: identity.clone(),
                credential_id: Bytes(credential_id.clone()),
                sign_count: *sign_count,
            });
        }
        Command::CreatePerson {
            identity,
            display_name,
            roles,
            code_hash,
        } => {
            if state.identities.contains_key(identity) {
                return Err(Rejection::IdentityExists(identity.to_string()));
            }
            out.push(IdentityCreatedV1 {
                identity: identity.clone(),
                kind: IdentityKind::Human,
                display_name: display_name.clone(),
            });
            for r in roles {
                out.push(RoleAssignedV1 {
                    identity: identity.clone(),
                    role: r.role.clone(),
                    product: r.product.clone(),
                });
            }
            out.push(ReEnrolmentCodeIssuedV1 {
                identity: identity.clone(),
                code_hash: *code_hash,
                expires: secs(now, REENROLMENT_TTL_SECS),
            });
        }
        Command::RegisterClient(c) => client_events(state, &mut out, c)?,
        Command::RotateSigningKey { key, only_if_due } => {
            if *only_if_due && !rotation_due(state, now) {
                return out.finish(None, None);
            }
            if state.keys.contains_key(&key.kid) {
                return Err(Rejection::Invalid(format!("the kid {} is taken", key.kid)));
            }
            if let Some((kid, _)) = state.active_key() {
                out.push(SigningKeyRetiredV1 {
                    kid: kid.clone(),
                    retire_after: secs(now, KEY_OVERLAP_SECS),
                });
            }
            key_events(&mut out, key)?;
        }
        Command::IssueAuthorizationCode {
            code_hash,
            client_id,
            identity,
            redirect_uri,
            code_challenge,
            code_challenge_method,
            scope,
            nonce,
        } => {
            let c = client(
                state,
                client_id,
                GrantType::AuthorizationCode,
                "authorization_code",
            )?;
            if !c.redirect_uris.iter().any(|u| u == redirect_uri) {
                return Err(Rejection::RedirectUri);
            }
            let challenge = code_challenge
                .as_deref()
                .ok_or(Rejection::Pkce("missing"))?;
            if code_challenge_method.as_deref() != Some("S256") {
                return Err(Rejection::Pkce(
                    "only code_challenge_method=S256 is accepted",
                ));
            }
            if !pkce::challenge_is_valid(challenge) {
                return Err(Rejection::Pkce(
                    "the challenge is not 43 base64url characters",
                ));
            }
            if !state.identities.contains_key(identity) {
                return Err(Rejection::UnknownIdentity(identity.to_string()));
            }
            out.push(AuthorizationCodeIssuedV1 {
                code_hash: *code_hash,
                client_id: client_id.clone(),
                identity: identity.clone(),
                redirect_uri: redirect_uri.clone(),
                code_challenge: challenge.to_owned(),
                scope: scope.clone(),
                nonce: nonce.clone(),
                expires: secs(now, CODE_TTL_SECS),
            });
        }
        Command::RedeemAuthorizationCode {
            code_hash,
            client_id,
            redirect_uri,
            code_verifier,
            refresh,
        } => {
            client(
                state,
                client_id,
                GrantType::AuthorizationCode,
                "authorization_code",
            )?;
            let code = state.codes.get(code_hash).ok_or(Rejection::Code {
                what: "authorization",
                why: "unknown",
            })?;
            if code.redeemed {
                // RFC 6749 §4.1.2: revoke what the first redemption issued.
                if let Some(f) = code.family {
                    if state.families.get(&f).is_some_and(|f| f.revoked.is_none()) {
                        out.push(RefreshTokenFamilyRevokedV1 {
                            family_id: f,
                            reason: RevocationReason::ReuseDetected,
                        });
                    }
                }
                let refusal = Rejection::Code {
                    what: "authorization",
                    why: "already used",
                };
                return out.finish(None, Some(refusal));
            }
            if code.expires <= now {
                return Err(Rejection::Code {
                    what: "authorization",
                    why: "expired",
                });
            }
            if &code.client_id != client_id {
                return Err(Rejection::ClientMismatch);
            }
            if redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
                return Err(Rejection::RedirectUri);
            }
            let verifier = code_verifier.as_deref().ok_or(Rejection::Pkce("missing"))?;
            if !pkce::verify_s256(verifier, &code.code_challenge) {
                return Err(Rejection::Pkce(
                    "the code_verifier does not match the challenge",
                ));
            }
            out.push(AuthorizationCodeRedeemedV1 {
                code_hash: *code_hash,
            });
            let with_refresh = wants_refresh(&code.scope);
            if with_refresh {
                issue_refresh(&mut out, *refresh, &code.identity, client_id, now);
            }
            let grant = Grant {
                identity: code.identity.clone(),
                client_id: client_id.clone(),
                scope: code.scope.clone(),
                nonce: code.nonce.clone(),
                refresh: with_refresh,
            };
            return out.finish(Some(grant), None);
        }
        Command::StartDevice {
            device_code_hash,
            user_code_hash,
            client_id,
            scope,
        } => {
            client(state, client_id, GrantType::DeviceCode, "device_code")?;
            out.push(DeviceCodeIssuedV1 {
                device_code_hash: *device_code_hash,
                user_code_hash: *user_code_hash,
                client_id: client_id.clone(),
                scope: scope.clone(),
                expires: secs(now, DEVICE_TTL_SECS),
            });
        }
        Command::ApproveDevice {
            user_code_hash,
            identity,
        } => {
            let d = state
                .devices
                .values()
                .find(|d| &d.user_code_hash == user_code_hash)
                .ok_or(Rejection::Code {
                    what: "user",
                    why: "unknown",
                })?;
            if d.expires <= now {
                return Err(Rejection::Code {
                    what: "user",
                    why: "expired",
                });
            }
            if d.approved_by.is_some() || d.redeemed {
                return Err(Rejection::Code {
                    what: "user",
                    why: "already used",
                });
            }
            if !state.identities.contains_key(identity) {
                return Err(Rejection::UnknownIdentity(identity.to_string()));
            }
            out.push(DeviceCodeApprovedV1 {
                user_code_hash: *user_code_hash,
                identity: identity.clone(),
            });
        }
        Command::RedeemDevice {
            device_code_hash,
            client_id,
            refresh,
        } => {
            client(state, client_id, GrantType::DeviceCode, "device_code")?;
            let d = state.devices.get(device_code_hash).ok_or(Rejection::Code {
                what: "device",
                why: "unknown",
            })?;
            if &d.client_id != client_id {
                return Err(Rejection::ClientMismatch);
            }
            if d.redeemed {
                return Err(Rejection::Code {
                    what: "device",
                    why: "already used",
                });
            }
            if d.expires <= now {
                return Err(Rejection::Code {
                    what: "device",
                    why: "expired",
                });
            }
            let Some(identity) = &d.approved_by else {
                return Err(Rejection::AuthorizationPending);
            };
            out.push(DeviceCodeRedeemedV1 {
                device_code_hash: *device_code_hash,
            });
            issue_refresh(&mut out, *refresh, identity, client_id, now);
            let grant = Grant {
                identity: identity.clone(),
                client_id: client_id.clone(),
                scope: d.scope.clone(),
                nonce: None,
                refresh: true,
            };
            return out.finish(Some(grant), None);
        }
        Command::Refresh {
            token_hash,
            client_id,
            next_hash,
        } => {
            client(state, client_id, GrantType::RefreshToken, "refresh_token")?;
            let fid = state
                .refresh_index
                .get(token_hash)
                .ok_or(Rejection::Refresh("unknown"))?;
            let f = state
                .families
                .get(fid)
                .ok_or(Rejection::Refresh("unknown"))?;
            if &f.client_id != client_id {
                return Err(Rejection::ClientMismatch);
            }
            if f.revoked.is_some() {
                return Err(Rejection::Refresh("revoked"));
            }
            if &f.current != token_hash {
                out.push(RefreshTokenFamilyRevokedV1 {
                    family_id: *fid,
                    reason: RevocationReason::ReuseDetected,
                });
                return out.finish(None, Some(Rejection::RefreshReuse));
            }
            if f.expires <= now {
                return Err(Rejection::Refresh("expired"));
            }
            if !state.identities.contains_key(&f.identity) {
                return Err(Rejection::UnknownIdentity(f.identity.to_string()));
            }
            out.push(RefreshTokenRotatedV1 {
                family_id: *fid,
                previous_token_hash: *token_hash,
                token_hash: *next_hash,
                expires: secs(now, REFRESH_TTL_SECS),
            });
            let grant = Grant {
                identity: f.identity.clone(),
                client_id: client_id.clone(),
                scope: String::from("openid offline_access"),
                nonce: None,
                refresh: true,
            };
            return out.finish(Some(grant), None);
        }
        Command::RevokeRefresh { token_hash, reason } => {
            // RFC 7009: an unknown or spent token is not an error; nothing happens.
            if let Some(fid) = state.refresh_index.get(token_hash) {
                if state.families.get(fid).is_some_and(|f| f.revoked.is_none()) {
                    out.push(RefreshTokenFamilyRevokedV1 {
                        family_id: *fid,
                        reason: *reason,
                    });
                }
            }
        }
        Command::IssueReEnrolmentCode {
            identity,
            code_hash,
        } => {
            let i = state
                .identities
                .get(identity)
                .ok_or_else(|| Rejection::UnknownIdentity(identity.to_string()))?;
            if i.kind != IdentityKind::Human {
                return Err(Rejection::NotAHuman(identity.to_string()));
            }
            out.push(ReEnrolmentCodeIssuedV1 {
                identity: identity.clone(),
                code_hash: *code_hash,
                expires: secs(now, REENROLMENT_TTL_SECS),
            });
        }
        Command::ReEnrol { code_hash, passkey } => {
            let code = state.reenrolment.get(code_hash);
            live_code(code, "re-enrolment", now)?;
            let identity = code
                .and_then(|c| c.identity.clone())
                .ok_or(Rejection::Invariant("re-enrolment code without identity"))?;
            if passkey_taken(state, &passkey.credential_id) {
                return Err(Rejection::PasskeyExists);
            }
            // The code is spent by the registration itself: mark it by re-issuing it
            // expired (no separate "redeemed" event type exists for re-enrolment codes).
            out.push(ReEnrolmentCodeIssuedV1 {
                identity: identity.clone(),
                code_hash: *code_hash,
                expires: now,
            });
            if let Some(i) = state.identities.get(&identity) {
                for id in i.passkeys.keys() {
                    out.push(PasskeyRevokedV1 {
                        identity: identity.clone(),
                        credential_id: Bytes(id.clone()),
                    });
                }
            }
            for (fid, f) in &state.families {
                if f.identity == identity && f.revoked.is_none() {
                    out.push(RefreshTokenFamilyRevokedV1 {
                        family_id: *fid,
                        reason: RevocationReason::IdentityReset,
                    });
                }
            }
            out.push(passkey_event(&identity, passkey));
        }
        Command::RotateClientSecret {
            client_id,
            secret_hash,
        } => {
            let c = state
                .live_client(client_id)
                .ok_or_else(|| Rejection::UnknownProductClient(client_id.to_string()))?;
            let Some(product) = c.is_product_client() else {
                return Err(Rejection::UnknownProductClient(client_id.to_string()));
            };
            out.push(ClientSecretRotatedV1 {
                client_id: client_id.clone(),
                product: Some(product.clone()),
                secret_hash: *secret_hash,
            });
        }
        Command::RevokeAccessToken {
            jti,
            client_id,
            expires,
        } => {
            // A token that expired, or is revoked already, needs nothing. The adapter
            // verified the token, so `expires` is at most one lifetime away; refusing
            // anything later keeps the deny-list bounded whatever an adapter sends.
            if *expires > secs(now, ACCESS_TTL_SECS + crate::jwt::LEEWAY_SECS) {
                return Err(Rejection::Invalid(
                    "the token's expiry is beyond an access-token lifetime".into(),
                ));
            }
            if jti.is_empty() || jti.len() > 128 {
                return Err(Rejection::Invalid(
                    "the token's jti is empty or too long".into(),
                ));
            }
            if *expires > now && !state.revoked_access.contains_key(jti) {
                out.push(AccessTokenRevokedV1 {
                    jti: jti.clone(),
                    client_id: client_id.clone(),
                    expires: *expires,
                });
            }
        }
        Command::FinishCeremony { .. } => {
            return Err(Rejection::Invariant(
                "a ceremony is finished before the match",
            ));
        }
        Command::Recover {
            node,
            identity,
            audit_note,
            code_hash,
        } => {
            if audit_note.trim().is_empty() {
                return Err(Rejection::Invalid("a recovery needs an audit note".into()));
            }
            out.push(RecoveryPerformedV1 {
                node: node.clone(),
                identity: identity.clone(),
                audit_note: audit_note.clone(),
            });
            if !state.identities.contains_key(identity) {
                out.push(IdentityCreatedV1 {
                    identity: identity.clone(),
                    kind: IdentityKind::Human,
                    display_name: identity.to_string(),
                });
                out.push(RoleAssignedV1 {
                    identity: identity.clone(),
                    role: role_name("admin")?,
                    product: None,
                });
            }
            out.push(ReEnrolmentCodeIssuedV1 {
                identity: identity.clone(),
                code_hash: *code_hash,
                expires: secs(now, REENROLMENT_TTL_SECS),
            });
        }
    }
    out.finish(None, None)
}

/// [`Command::FinishCeremony`]: the ceremony is live and unfinished, `then` is a command
/// that finishes one and is accepted; its events, then the ceremony's record.
fn finish_ceremony(
    state: &IamState,
    challenge_hash: &Sha256Digest,
    expires: Timestamp,
    then: &Command,
    ctx: &Context<'_>,
) -> Result<Decision, Rejection> {
    if !matches!(
        then,
        Command::EnrolFirstAdmin { .. }
            | Command::AddPasskey { .. }
            | Command::ReEnrol { .. }
            | Command::UsePasskey { .. }
    ) {
        return Err(Rejection::Invalid(
            "only a passkey enrolment or login finishes a ceremony".into(),
        ));
    }
    if state.finished_ceremonies.contains_key(challenge_hash) {
        return Err(Rejection::Ceremony(
            "was finished already (a replayed response?)",
        ));
    }
    if expires <= ctx.now {
        return Err(Rejection::Ceremony("expired"));
    }
    // The adapter sets the expiry at `start`, so it is at most one lifetime away (plus
    // leeway for another node's clock); refusing later ones keeps the record bounded.
    if expires > secs(ctx.now, CEREMONY_TTL_SECS + crate::jwt::LEEWAY_SECS) {
        return Err(Rejection::Invalid(
            "the ceremony's expiry is beyond a ceremony lifetime".into(),
        ));
    }
    let mut decision = decide(state, then, ctx)?;
    if decision.refusal.is_some() {
        return Ok(decision);
    }
    let index = u32::try_from(decision.events.len())
        .map_err(|_| Rejection::Invariant("too many events"))?;
    let record = Envelope::new(
        ctx.iri,
        EventId::derive(ctx.correlation_id, index),
        ctx.now,
        ctx.source.clone(),
        ctx.correlation_id,
        WebAuthnCeremonyFinishedV1 {
            challenge_hash: *challenge_hash,
            expires,
        }
        .into(),
    )
    .map_err(|_| Rejection::Invariant("catalogue type name refused by the iri builder"))?;
    decision.events.push(record);
    Ok(decision)
}

/// `client_credentials`: checks the client's secret digest and returns the grant of its
/// workload identity. Issues no events (access tokens are stateless).
pub fn client_credentials(
    state: &IamState,
    client_id: &ClientId,
    secret_hash: &Sha256Digest,
    scope: &str,
) -> Result<Grant, Rejection> {
    let c = authenticate_client(state, client_id, Some(secret_hash))?;
    if !c.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(Rejection::UnauthorizedClient {
            client: client_id.to_string(),
            grant: "client_credentials",
        });
    }
    let identity = match (&c.identity, c.is_product_client()) {
        (Some(i), _) => i.clone(),
        (None, Some(product)) => product.clone(),
        (None, None) => {
            return Err(Rejection::UnauthorizedClient {
                client: client_id.to_string(),
                grant: "client_credentials",
            })
        }
    };
    Ok(Grant {
        identity,
        client_id: client_id.clone(),
        scope: scope.to_owned(),
        nonce: None,
        refresh: false,
    })
}

/// Client authentication at the OAuth endpoints: the client exists and is enabled, and
/// presents the digest of its secret (`Some`) if it has one, nothing if it is public. A
/// product's own client is never public: until a secret is set it cannot authenticate.
pub fn authenticate_client<'s>(
    state: &'s IamState,
    client_id: &ClientId,
    secret_hash: Option<&Sha256Digest>,
) -> Result<&'s crate::state::Client, Rejection> {
    let c = state
        .live_client(client_id)
        .ok_or(Rejection::InvalidClient)?;
    match (&c.secret_hash, secret_hash) {
        // Constant-time comparison of the digests.
        (Some(expected), Some(given)) if ring_eq(&expected.0, &given.0) => Ok(c),
        (None, None) if c.is_product_client().is_none() => Ok(c),
        _ => Err(Rejection::InvalidClient),
    }
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the active signing key is due for rotation at `now`.
pub fn rotation_due(state: &IamState, now: Timestamp) -> bool {
    state
        .active_key()
        .is_some_and(|(_, k)| secs(k.created, KEY_ROTATION_SECS) <= now)
}
