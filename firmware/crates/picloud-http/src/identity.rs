//! The identity adapter: the key-encryption key, randomness, token minting and checking,
//! and the guard every route passes through ([`Access`]).

#![allow(
    clippy::result_large_err,
    reason = "the error path returns a finished HTTP response; it is not hot"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use picloud_domain::Name;
use picloud_events::{ClientId, KeyId, Sha256Digest, Timestamp};
use picloud_iam::decide::{NewCa, NewClient, NewKey};
use picloud_iam::jwt::{self, Claims, Expect, SigningKey, TokenRefusal};
use picloud_iam::tokens::{self, Need};
use picloud_iam::{Grant, IamState};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::backend::{Backend, Clock};
use crate::error::ApiError;
use crate::AppState;

/// The client id of the CLI (public, device grant).
pub const CLI_CLIENT: &str = "picloud-cli";
/// The client id the portal's own session tokens are issued to.
pub const PORTAL_CLIENT: &str = "picloud-portal";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (discovery, JWKS, the CA certificate, the portal's pages).
    Public,
    /// OAuth endpoints that authenticate the *client* themselves (token, device
    /// authorization, revocation, introspection).
    Client,
    /// Any valid access token.
    Authenticated,
    /// `admin` or `reader`.
    PlatformRead,
    /// `admin`.
    PlatformAdmin,
    /// `admin`, `reader` or a role in the product named by the path.
    ProductRead,
    /// `admin` or a role in the product named by the path (its SPARQL endpoint).
    ProductRole,
}

/// The identity adapter's secrets and randomness.
pub struct Identity {
    kek: [u8; 32],
    rng: SystemRandom,
    clock: Clock,
    keys: Mutex<HashMap<String, Arc<SigningKey>>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// Why an identity operation failed in the adapter.
#[derive(Debug, Clone, thiserror::Error)]
#[error("identity: {0}")]
pub struct IdentityError(pub String);

fn err(e: impl std::fmt::Display) -> IdentityError {
    IdentityError(e.to_string())
}

/// SHA-256 of a code, secret or token, as the log stores it.
pub fn digest(text: &str) -> Sha256Digest {
    Sha256Digest(Sha256::digest(text.as_bytes()).into())
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// What a successful token request returns (RFC 6749 §5.1).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The scope granted.
    pub scope: String,
    /// The refresh token, when one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, when `openid` was in the scope of a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl Identity {
    /// An adapter sealing and opening keys with `kek`, reading time from `clock`.
    pub fn new(kek: [u8; 32], clock: Clock) -> Self {
        Self {
            kek,
            rng: SystemRandom::new(),
            clock,
            keys: Mutex::default(),
        }
    }

    /// A fresh 32-byte key-encryption key (for the adapter that stores it).
    pub fn generate_kek() -> Result<[u8; 32], IdentityError> {
        let mut k = [0u8; 32];
        SystemRandom::new().fill(&mut k).map_err(err)?;
        Ok(k)
    }

    /// Now.
    pub fn now(&self) -> Result<Timestamp, IdentityError> {
        (self.clock)().ok_or_else(|| IdentityError("the clock is unreadable".into()))
    }

    fn now_secs(&self) -> Result<i64, IdentityError> {
        Ok(self.now()?.unix_millis().div_euclid(1000))
    }

    /// `n` random bytes.
    pub fn random(&self, n: usize) -> Result<Vec<u8>, IdentityError> {
        let mut b = vec![0u8; n];
        self.rng.fill(&mut b).map_err(err)?;
        Ok(b)
    }

    /// A random secret (32 bytes, base64url).
    pub fn secret(&self) -> Result<String, IdentityError> {
        Ok(URL_SAFE_NO_PAD.encode(self.random(32)?))
    }

    /// A user code people can type: 8 letters from an alphabet without vowels or look-
    /// alikes, shown as `ABCD-EFGH`.
    pub fn user_code(&self) -> Result<String, IdentityError> {
        const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
        let bytes = self.random(8)?;
        let mut s = String::with_capacity(9);
        for (i, b) in bytes.iter().enumerate() {
            if i == 4 {
                s.push('-');
            }
            let c = ALPHABET
                .get(usize::from(*b) % ALPHABET.len())
                .copied()
                .unwrap_or(b'B');
            s.push(char::from(c));
        }
        Ok(s)
    }

    /// A fresh 16-byte id (token families, correlation ids).
    pub fn id16(&self) -> Result<[u8; 16], IdentityError> {
        let mut b = [0u8; 16];
        self.rng.fill(&mut b).map_err(err)?;
        Ok(b)
    }

    /// Seals `plaintext` for `purpose` under the KEK.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, IdentityError> {
        let mut nonce = [0u8; 12];
        self.rng.fill(&mut nonce).map_err(err)?;
        picloud_iam::seal::seal(&self.kek, nonce, purpose, plaintext).map_err(err)
    }

    /// Opens what [`Identity::seal`] made.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, IdentityError> {
        picloud_iam::seal::open(&self.kek, purpose, sealed).map_err(err)
    }

    /// A new signing key, sealed for the log. The kid is the creation date and a random
    /// suffix.
    pub fn new_key(&self) -> Result<NewKey, IdentityError> {
        let day = self.now()?.to_string().chars().take(10).collect::<String>();
        let kid = format!("{day}-{}", URL_SAFE_NO_PAD.encode(self.random(6)?));
        let (pkcs8, key) = SigningKey::generate(&kid, &self.rng).map_err(err)?;
        let public = key.public();
        let x = public.point.get(1..33).unwrap_or_default().to_vec();
        let y = public.point.get(33..65).unwrap_or_default().to_vec();
        Ok(NewKey {
            kid: KeyId::new(kid.clone()).map_err(err)?,
            x,
            y,
            sealed: self.seal(&kid, &pkcs8)?,
        })
    }

    /// The `cluster init` command: imports the CA (`cert_der`, `key_pem` sealed), creates
    /// the first signing key and a bootstrap code, registers the CLI and the portal, plus
    /// `clients`. Returns the command and the bootstrap code to show on the console.
    pub fn initialise(
        &self,
        cert_der: &[u8],
        key_pem: &str,
        clients: Vec<NewClient>,
    ) -> Result<(picloud_iam::Command, String), IdentityError> {
        let code = self.user_code()?;
        let mut all = vec![
            NewClient {
                client_id: ClientId::new(CLI_CLIENT).map_err(err)?,
                product: None,
                secret_hash: None,
                redirect_uris: vec![],
                grant_types: vec![
                    picloud_events::payload::GrantType::DeviceCode,
                    picloud_events::payload::GrantType::RefreshToken,
                ],
                identity: None,
                roles: vec![],
            },
            NewClient {
                client_id: ClientId::new(PORTAL_CLIENT).map_err(err)?,
                product: None,
                secret_hash: None,
                redirect_uris: vec![],
                grant_types: vec![],
                identity: None,
                roles: vec![],
            },
        ];
        all.extend(clients);
        let command = picloud_iam::Command::Initialise {
            ca: NewCa {
                certificate_der: cert_der.to_vec(),
                sealed_key: self.seal("ca", key_pem.as_bytes())?,
                fingerprint: Sha256Digest(Sha256::digest(cert_der).into()),
            },
            key: self.new_key()?,
            bootstrap_code_hash: digest(&code),
            clients: all,
        };
        Ok((command, code))
    }

    fn signing_key(&self, state: &IamState) -> Result<Arc<SigningKey>, IdentityError> {
        let (kid, rec) = state
            .active_key()
            .ok_or_else(|| IdentityError("no signing key: identity is not initialised".into()))?;
        let mut cache = self
            .keys
            .lock()
            .map_err(|_| IdentityError("key cache poisoned".into()))?;
        if let Some(k) = cache.get(kid.as_str()) {
            return Ok(Arc::clone(k));
        }
        let pkcs8 = self.open(kid.as_str(), &rec.sealed)?;
        let key = Arc::new(SigningKey::from_pkcs8(kid.as_str(), &pkcs8, &self.rng).map_err(err)?);
        cache.insert(kid.as_str().to_owned(), Arc::clone(&key));
        Ok(key)
    }

    /// Signs the tokens of `grant`: an access token, an ID token when `openid` is in the
    /// scope and this is a login (not `client_credentials`), and the `refresh` token given.
    pub fn mint(
        &self,
        backend: &dyn Backend,
        grant: &Grant,
        refresh: Option<String>,
        id_token: bool,
    ) -> Result<TokenResponse, IdentityError> {
        let state = backend.iam();
        let iri = backend.iri();
        let now = self.now_secs()?;
        let key = self.signing_key(&state)?;
        let jti = URL_SAFE_NO_PAD.encode(self.random(12)?);
        let access = tokens::access_claims(&state, &iri, grant, now, jti.clone());
        let access_token = key.sign(jwt::TYP_ACCESS, &access, &self.rng).map_err(err)?;
        let id_token = if id_token && grant.scope.split(' ').any(|s| s == "openid") {
            let claims = tokens::id_claims(&state, &iri, grant, now, format!("{jti}.id"));
            Some(key.sign(jwt::TYP_ID, &claims, &self.rng).map_err(err)?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: access.exp - now,
            scope: grant.scope.clone(),
            refresh_token: refresh,
            id_token,
        })
    }

    /// Checks an access token for this API's platform routes: audience the cluster IRI.
    pub fn verify_access(
        &self,
        backend: &dyn Backend,
        token: &str,
    ) -> Result<Claims, TokenRefusal> {
        let cluster = backend.iri().cluster();
        self.verify_access_for(backend, token, &|aud| aud == cluster.as_str())
    }

    /// Checks an access token whose audience `accept` allows (the cluster IRI; a product's
    /// IRI on that product's routes), then whether the log still honours it: not revoked,
    /// its client enabled ([`tokens::check_live`]).
    pub fn verify_access_for(
        &self,
        backend: &dyn Backend,
        token: &str,
        accept: &dyn Fn(&str) -> bool,
    ) -> Result<Claims, TokenRefusal> {
        let state = backend.iam();
        let issuer = backend.iri().cluster();
        // The audience is read unverified only to choose what to expect; `verify` checks
        // the signature and then compares it.
        let aud = jwt::peek_claims_aud(token)
            .filter(|a| accept(a))
            .unwrap_or_else(|| issuer.as_str().to_owned());
        let claims = self.verify_typed(&state, issuer.as_str(), token, &aud, jwt::TYP_ACCESS)?;
        tokens::check_live(&state, &claims)?;
        Ok(claims)
    }

    /// Checks an ID token (for `id_token_hint`): any audience.
    pub fn verify_id(&self, backend: &dyn Backend, token: &str) -> Result<Claims, TokenRefusal> {
        let issuer = backend.iri().cluster();
        let aud = jwt::peek_claims_aud(token).unwrap_or_default();
        self.verify_typed(&backend.iam(), issuer.as_str(), token, &aud, jwt::TYP_ID)
    }

    /// Verifies `token` now: signed by a key `state` publishes, from `issuer`, for
    /// `audience`, of type `typ`, within its validity.
    fn verify_typed(
        &self,
        state: &picloud_iam::IamState,
        issuer: &str,
        token: &str,
        audience: &str,
        typ: &'static str,
    ) -> Result<Claims, TokenRefusal> {
        let now = self
            .now()
            .map_err(|e| TokenRefusal::Malformed(e.to_string()))?;
        jwt::verify(
            token,
            |kid| state.published_key(kid, now),
            Expect {
                issuer,
                audience,
                typ,
                now: now.unix_millis().div_euclid(1000),
            },
        )
    }
}

/// A 401 with `WWW-Authenticate: Bearer`.
pub fn unauthorized(message: impl Into<String>) -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"picloud\", error=\"invalid_token\""),
    );
    r
}

/// A 403.
pub fn forbidden(message: impl Into<String>) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

/// The product a path names (`/products/<p>/…`, `/api/status/<p>`).
fn path_product(path: &str) -> Option<Name> {
    let rest = path
        .strip_prefix("/products/")
        .or_else(|| path.strip_prefix("/api/status/"))?;
    Name::parse(rest.split('/').next()?).ok()
}

/// Checks the request's bearer token against `access`; on success the verified
/// [`Claims`] ride in the request's extensions.
pub fn check(
    state: &AppState,
    access: Access,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Claims>, Response> {
    let (need, product) = match access {
        Access::Public | Access::Client => return Ok(None),
        Access::Authenticated => (Need::Authenticated, None),
        Access::PlatformRead => (Need::PlatformRead, None),
        Access::PlatformAdmin => (Need::PlatformAdmin, None),
        Access::ProductRead | Access::ProductRole => {
            let Some(p) = path_product(path) else {
                // An invalid product name: no role can be in it; only platform roles pass.
                return check(state, Access::PlatformRead, headers, path);
            };
            if access == Access::ProductRead {
                (Need::ProductRead(p.clone()), Some(p))
            } else {
                (Need::ProductRole(p.clone()), Some(p))
            }
        }
    };
    let Some(token) = bearer(headers) else {
        return Err(unauthorized(
            "this route needs an access token (Authorization: Bearer …); log in with \
             `picloud login`",
        ));
    };
    // A product's own client holds tokens for that product's audience: accepted on that
    // product's routes only.
    let backend = state.backend().as_ref();
    let iri = backend.iri();
    let cluster = iri.cluster();
    let product_aud = product.map(|p| iri.product(&p));
    let accept = |aud: &str| {
        aud == cluster.as_str() || product_aud.as_ref().is_some_and(|p| p.as_str() == aud)
    };
    let claims = match state.identity().verify_access_for(backend, token, &accept) {
        Ok(c) => c,
        Err(e) if e.is_forbidden() => return Err(forbidden(e.to_string())),
        Err(e) => return Err(unauthorized(e.to_string())),
    };
    tokens::authorize(&claims, &need).map_err(|e| forbidden(e.to_string()))?;
    Ok(Some(claims))
}

/// The guard layered on every route: see [`check`].
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    match check(&state, access, req.headers(), &path) {
        Ok(Some(claims)) => {
            req.extensions_mut().insert(claims);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(r) => r,
    }
}
