//! Minting claims from a [`Grant`], and what a verified token may do ([`authorize`]).

use picloud_domain::{IriBuilder, Name};

use crate::decide::{Grant, ACCESS_TTL_SECS};
use crate::jwt::{Claims, TokenRefusal};
use crate::state::IamState;

/// The role a product's own client holds in its product.
pub const PRODUCT_CLIENT_ROLE: &str = "app";

/// The access-token claims for `grant` at `now` (seconds): `aud` is the cluster IRI (the
/// API), roles are the identity's roles now. For a product's own client the token is
/// about the product: `sub` and `aud` are the product's IRI (so only that product's routes
/// accept it) and its one role is `<product>:app`.
pub fn access_claims(
    state: &IamState,
    iri: &IriBuilder,
    grant: &Grant,
    now: i64,
    jti: String,
) -> Claims {
    let cluster = iri.cluster().as_str().to_owned();
    let product = state
        .clients
        .get(&grant.client_id)
        .and_then(|c| c.is_product_client());
    let (sub, aud, roles, preferred_username) = match product {
        Some(product) => {
            let product_iri = iri.product(product).as_str().to_owned();
            let role = format!("{product}:{PRODUCT_CLIENT_ROLE}");
            (product_iri.clone(), product_iri, vec![role], None)
        }
        None => (
            iri.identity(&grant.identity).as_str().to_owned(),
            cluster.clone(),
            state.role_claims(&grant.identity),
            Some(grant.identity.to_string()),
        ),
    };
    Claims {
        iss: cluster,
        sub,
        aud,
        exp: now.saturating_add(ACCESS_TTL_SECS),
        iat: now,
        nbf: now,
        jti,
        client_id: grant.client_id.to_string(),
        scope: grant.scope.clone(),
        roles,
        preferred_username,
        nonce: None,
    }
}

/// The ID-token claims: like the access token's, for the audience of the client, with
/// the nonce.
pub fn id_claims(
    state: &IamState,
    iri: &IriBuilder,
    grant: &Grant,
    now: i64,
    jti: String,
) -> Claims {
    let mut c = access_claims(state, iri, grant, now, jti);
    c.aud = grant.client_id.to_string();
    c.nonce = grant.nonce.clone();
    c
}

/// After [`crate::jwt::verify`]: whether the log still honours the token. Refused when its
/// `jti` was revoked, or its client is disabled (its product was deleted) or gone.
pub fn check_live(state: &IamState, claims: &Claims) -> Result<(), TokenRefusal> {
    if state.revoked_access.contains_key(&claims.jti) {
        return Err(TokenRefusal::Revoked("by the revocation endpoint".into()));
    }
    let client = picloud_events::ClientId::new(claims.client_id.as_str())
        .ok()
        .and_then(|id| state.clients.get(&id));
    match client {
        Some(c) if c.enabled => Ok(()),
        Some(_) => Err(TokenRefusal::Revoked(format!(
            "its client {} is disabled (its product was deleted)",
            claims.client_id.chars().take(64).collect::<String>()
        ))),
        None => Err(TokenRefusal::Revoked(format!(
            "its client {} is not registered",
            claims.client_id.chars().take(64).collect::<String>()
        ))),
    }
}

/// The audience a verified token of this cluster may carry: the cluster IRI (every API
/// route) or the IRI of a product whose own client exists (that product's routes).
pub fn audience_is_ours(state: &IamState, iri: &IriBuilder, aud: &str) -> bool {
    aud == iri.cluster().as_str()
        || state
            .clients
            .values()
            .filter_map(|c| c.is_product_client())
            .any(|p| iri.product(p).as_str() == aud)
}

/// What an API route needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Any valid token (`whoami`, userinfo).
    Authenticated,
    /// Read the platform: `admin` or `reader`.
    PlatformRead,
    /// Change the platform: `admin`.
    PlatformAdmin,
    /// Read a product: `admin`, `reader`, or any role in the product.
    ProductRead(Name),
    /// A product's SPARQL endpoint: `admin` or a role in that product.
    ProductRole(Name),
}

/// Why a valid token may not do something (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token's roles {roles:?} do not allow this: it needs {need}")]
pub struct Forbidden {
    /// What the token had.
    pub roles: Vec<String>,
    /// What was needed, for people.
    pub need: String,
}

/// Whether `claims` (already verified) satisfy `need`.
pub fn authorize(claims: &Claims, need: &Need) -> Result<(), Forbidden> {
    let has = |r: &str| claims.roles.iter().any(|x| x == r);
    let in_product = |p: &Name| {
        let prefix = format!("{p}:");
        claims.roles.iter().any(|r| r.starts_with(&prefix))
    };
    let (ok, what) = match need {
        Need::Authenticated => (true, String::new()),
        Need::PlatformRead => (
            has("admin") || has("reader"),
            "the admin or reader role".into(),
        ),
        Need::PlatformAdmin => (has("admin"), "the admin role".into()),
        Need::ProductRead(p) => (
            has("admin") || has("reader") || in_product(p),
            format!("admin, reader, or a role in the product {p}"),
        ),
        Need::ProductRole(p) => (
            has("admin") || in_product(p),
            format!("admin or a role in the product {p}"),
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(Forbidden {
            roles: claims.roles.clone(),
            need: what,
        })
    }
}
