//! Minting claims from a [`Grant`], and what a verified token may do ([`authorize`]).

use picloud_domain::{IriBuilder, Name};

use crate::decide::{Grant, ACCESS_TTL_SECS};
use crate::jwt::Claims;
use crate::state::IamState;

/// The access-token claims for `grant` at `now` (seconds): `aud` is the cluster IRI (the
/// API), roles are the identity's roles now.
pub fn access_claims(
    state: &IamState,
    iri: &IriBuilder,
    grant: &Grant,
    now: i64,
    jti: String,
) -> Claims {
    Claims {
        iss: iri.cluster().as_str().to_owned(),
        sub: iri.identity(&grant.identity).as_str().to_owned(),
        aud: iri.cluster().as_str().to_owned(),
        exp: now.saturating_add(ACCESS_TTL_SECS),
        iat: now,
        nbf: now,
        jti,
        client_id: grant.client_id.to_string(),
        scope: grant.scope.clone(),
        roles: state.role_claims(&grant.identity),
        preferred_username: Some(grant.identity.to_string()),
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
