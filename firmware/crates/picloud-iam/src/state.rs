//! [`IamState`]: everything identity-related, folded from the log by [`apply`].

use std::collections::{BTreeMap, BTreeSet};

use picloud_domain::{Name, ResourceKind};
use picloud_events::payload::*;

use picloud_events::{
    Bytes, ClientId, CorrelationId, Envelope, EventPayload, KeyId, Sha256Digest, Timestamp,
    TokenFamilyId,
};

use crate::jwt::PublicKey;

/// A role held by an identity: a platform role (`product: None`: `admin`, `reader`) or a
/// role in a product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role {
    /// The product; `None` for platform roles.
    pub product: Option<Name>,
    /// The role's name.
    pub role: Name,
}

impl Role {
    /// The claim form: `admin`, or `<product>:<role>`.
    pub fn claim(&self) -> String {
        match &self.product {
            None => self.role.to_string(),
            Some(p) => format!("{p}:{}", self.role),
        }
    }
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    /// The credential as registered (COSE key, or the WebAuthn library's credential).
    pub public_key: Bytes,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// The owner's label.
    pub label: String,
}

/// A person or a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Human or workload.
    pub kind: IdentityKind,
    /// How to show it.
    pub display_name: String,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// Its live passkeys by credential id.
    pub passkeys: BTreeMap<Vec<u8>, Passkey>,
}

/// An OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The product it belongs to.
    pub product: Option<Name>,
    /// SHA-256 of its secret (confidential clients).
    pub secret_hash: Option<Sha256Digest>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: Vec<GrantType>,
    /// The workload identity of `client_credentials`; `None` for a product's own client
    /// (see [`Client::is_product_client`]), whose tokens are about the product.
    pub identity: Option<Name>,
    /// `false` once its product is deleted: it authenticates nothing and its tokens are
    /// refused.
    pub enabled: bool,
}

impl Client {
    /// The product whose own client this is (folded from the product's events: client id
    /// = product name, no workload identity), if it is one.
    pub fn is_product_client(&self) -> Option<&Name> {
        self.product.as_ref().filter(|_| self.identity.is_none())
    }
}

/// A token-signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Its public half.
    pub public: PublicKey,
    /// The sealed PKCS#8 private key.
    pub sealed: Vec<u8>,
    /// When it was created.
    pub created: Timestamp,
    /// When it leaves the JWKS, once retired.
    pub retire_after: Option<Timestamp>,
}

/// A one-time code (bootstrap, re-enrolment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeCode {
    /// For whom (re-enrolment), `None` for bootstrap.
    pub identity: Option<Name>,
    /// Expiry.
    pub expires: Timestamp,
    /// Already used.
    pub used: bool,
}

/// An issued authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// The client.
    pub client_id: ClientId,
    /// Who logged in.
    pub identity: Name,
    /// Exact redirect URI.
    pub redirect_uri: String,
    /// S256 challenge.
    pub code_challenge: String,
    /// Scope.
    pub scope: String,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// Expiry.
    pub expires: Timestamp,
    /// Redeemed already.
    pub redeemed: bool,
    /// The refresh family its redemption started.
    pub family: Option<TokenFamilyId>,
}

/// A device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// SHA-256 of the user code.
    pub user_code_hash: Sha256Digest,
    /// The client.
    pub client_id: ClientId,
    /// Scope.
    pub scope: String,
    /// Expiry.
    pub expires: Timestamp,
    /// Who approved it.
    pub approved_by: Option<Name>,
    /// Redeemed already.
    pub redeemed: bool,
}

/// A refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Whose.
    pub identity: Name,
    /// Which client.
    pub client_id: ClientId,
    /// The live token's hash.
    pub current: Sha256Digest,
    /// The live token's expiry.
    pub expires: Timestamp,
    /// Revoked, and why.
    pub revoked: Option<RevocationReason>,
}

/// The cluster CA as recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaRecord {
    /// Certificate DER.
    pub certificate_der: Vec<u8>,
    /// Sealed private key (PKCS#8).
    pub sealed_key: Vec<u8>,
    /// SHA-256 of the certificate.
    pub fingerprint: Sha256Digest,
}

/// The identity slice's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IamState {
    /// Identities by name.
    pub identities: BTreeMap<Name, Identity>,
    /// Clients by id.
    pub clients: BTreeMap<ClientId, Client>,
    /// Signing keys by kid, in creation order of `key_order`.
    pub keys: BTreeMap<KeyId, KeyRecord>,
    /// Kids in creation order (the last unretired one signs).
    pub key_order: Vec<KeyId>,
    /// Bootstrap codes by hash.
    pub bootstrap: BTreeMap<Sha256Digest, OneTimeCode>,
    /// Re-enrolment codes by hash.
    pub reenrolment: BTreeMap<Sha256Digest, OneTimeCode>,
    /// Authorization codes by hash.
    pub codes: BTreeMap<Sha256Digest, AuthCode>,
    /// Device authorizations by device-code hash.
    pub devices: BTreeMap<Sha256Digest, DeviceAuth>,
    /// Refresh families by id.
    pub families: BTreeMap<TokenFamilyId, Family>,
    /// Every refresh-token hash ever issued → its family (spent ones included).
    pub refresh_index: BTreeMap<Sha256Digest, TokenFamilyId>,
    /// The CA.
    pub ca: Option<CaRecord>,
    /// Audit: local recoveries performed (node, identity).
    pub recoveries: Vec<(Name, Name)>,
    /// Revoked access tokens: `jti` → `exp`. An entry is dropped once its `exp` passed
    /// (at the next revocation, by the event's time), so the map holds at most the tokens
    /// revoked within one access-token lifetime.
    pub revoked_access: BTreeMap<String, Timestamp>,
    /// Finished WebAuthn ceremonies: SHA-256 of the challenge → the ceremony's expiry. A
    /// ceremony named here cannot finish again, on any node. An entry is dropped once its
    /// expiry passed (at the next finished ceremony, by the event's time), so the map holds
    /// at most the ceremonies finished within one ceremony lifetime.
    pub finished_ceremonies: BTreeMap<Sha256Digest, Timestamp>,
    /// The code redeemed by the command being applied (to link it to its family).
    last_redeemed: Option<(CorrelationId, Sha256Digest)>,
}

impl IamState {
    /// Whether `cluster init` already ran (a signing key exists).
    pub fn initialised(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether a *person* is an administrator (workload administrators such as `picloud
    /// dev`'s credential do not close the bootstrap path).
    pub fn has_admin(&self) -> bool {
        self.identities.values().any(|i| {
            i.kind == IdentityKind::Human
                && i.roles
                    .iter()
                    .any(|r| r.product.is_none() && r.role.as_str() == "admin")
        })
    }

    /// The key that signs now: the newest one not retired.
    pub fn active_key(&self) -> Option<(&KeyId, &KeyRecord)> {
        self.key_order
            .iter()
            .rev()
            .filter_map(|k| self.keys.get_key_value(k))
            .find(|(_, r)| r.retire_after.is_none())
    }

    /// Keys in the JWKS at `now`: every key not retired, or retired but still within its
    /// overlap (tokens it signed may still be live).
    pub fn published_keys(&self, now: Timestamp) -> impl Iterator<Item = &KeyRecord> {
        self.key_order
            .iter()
            .filter_map(|k| self.keys.get(k))
            .filter(move |r| r.retire_after.is_none_or(|t| t > now))
    }

    /// The published key with this kid at `now`.
    pub fn published_key(&self, kid: &str, now: Timestamp) -> Option<&PublicKey> {
        self.published_keys(now)
            .map(|r| &r.public)
            .find(|p| p.kid == kid)
    }

    /// The client with this id, if it exists and is enabled.
    pub fn live_client(&self, id: &ClientId) -> Option<&Client> {
        self.clients.get(id).filter(|c| c.enabled)
    }

    /// The role claims of `identity`.
    pub fn role_claims(&self, identity: &Name) -> Vec<String> {
        self.identities
            .get(identity)
            .map(|i| i.roles.iter().map(Role::claim).collect())
            .unwrap_or_default()
    }
}

/// Folds one committed event into the state. Total: events of other slices are ignored,
/// and an event that refers to something unknown changes nothing.
pub fn apply(state: &mut IamState, event: &Envelope) {
    let at = event.time;
    match event.payload.clone().upcast() {
        EventPayload::IdentityCreatedV1(p) => {
            state.identities.entry(p.identity).or_insert(Identity {
                kind: p.kind,
                display_name: p.display_name,
                roles: BTreeSet::new(),
                passkeys: BTreeMap::new(),
            });
        }
        EventPayload::PasskeyRegisteredV1(p) => {
            if let Some(i) = state.identities.get_mut(&p.identity) {
                i.passkeys.insert(
                    p.credential_id.0,
                    Passkey {
                        public_key: p.public_key,
                        sign_count: p.sign_count,
                        label: p.label,
                    },
                );
            }
        }
        EventPayload::PasskeyUsedV1(p) => {
            if let Some(k) = state
                .identities
                .get_mut(&p.identity)
                .and_then(|i| i.passkeys.get_mut(&p.credential_id.0))
            {
                k.sign_count = p.sign_count;
            }
        }
        EventPayload::PasskeyRevokedV1(p) => {
            if let Some(i) = state.identities.get_mut(&p.identity) {
                i.passkeys.remove(&p.credential_id.0);
            }
        }
        EventPayload::BootstrapCodeIssuedV1(p) => {
            state.bootstrap.insert(
                p.code_hash,
                OneTimeCode {
                    identity: None,
                    expires: p.expires,
                    used: false,
                },
            );
        }
        EventPayload::BootstrapCodeRedeemedV1(p) => {
            if let Some(c) = state.bootstrap.get_mut(&p.code_hash) {
                c.used = true;
            }
        }
        EventPayload::ReEnrolmentCodeIssuedV1(p) => {
            state.reenrolment.insert(
                p.code_hash,
                OneTimeCode {
                    identity: Some(p.identity),
                    expires: p.expires,
                    used: false,
                },
            );
        }
        EventPayload::ClientRegisteredV2(p) => {
            state.clients.insert(
                p.client_id,
                Client {
                    product: p.product,
                    secret_hash: p.secret_hash,
                    redirect_uris: p.redirect_uris,
                    grant_types: p.grant_types,
                    identity: p.identity,
                    enabled: true,
                },
            );
        }
        // Every product is an app registration: declaring a product creates its client
        // (id = the product name; no secret until an administrator rotates one in), or
        // re-enables the clients of a product declared again. A client id already taken by
        // another client (a platform client) is left alone.
        EventPayload::ResourceDeclaredV1(p) if p.resource.kind == ResourceKind::Product => {
            let product = p.resource.product;
            if let Ok(id) = ClientId::new(product.as_str()) {
                state.clients.entry(id).or_insert_with(|| Client {
                    product: Some(product.clone()),
                    secret_hash: None,
                    redirect_uris: Vec::new(),
                    grant_types: vec![GrantType::ClientCredentials],
                    identity: None,
                    enabled: true,
                });
            }
            for c in state.clients.values_mut() {
                if c.product.as_ref() == Some(&product) {
                    c.enabled = true;
                }
            }
        }
        // Deleting a product disables its clients and forgets their secrets (a product
        // declared again needs a new secret); their tokens are refused from now on.
        EventPayload::ProductDeletedV1(p) => {
            for c in state.clients.values_mut() {
                if c.product.as_ref() == Some(&p.product) {
                    c.enabled = false;
                    c.secret_hash = None;
                }
            }
        }
        EventPayload::ClientSecretRotatedV1(p) => {
            if let Some(c) = state.clients.get_mut(&p.client_id) {
                c.secret_hash = Some(p.secret_hash);
            }
        }
        EventPayload::AccessTokenRevokedV1(p) => {
            // Prune by the event's time (the fold's "now"): deterministic on every node.
            state.revoked_access.retain(|_, exp| *exp > at);
            if p.expires > at {
                state.revoked_access.insert(p.jti, p.expires);
            }
        }
        EventPayload::WebAuthnCeremonyFinishedV1(p) => {
            // Prune by the event's time (the fold's "now"): deterministic on every node.
            state.finished_ceremonies.retain(|_, exp| *exp > at);
            if p.expires > at {
                state
                    .finished_ceremonies
                    .insert(p.challenge_hash, p.expires);
            }
        }
        EventPayload::SigningKeyCreatedV1(p) => {
            let public = PublicKey::from_xy(p.kid.as_str(), p.x.as_slice(), p.y.as_slice());
            if !state.keys.contains_key(&p.kid) {
                state.key_order.push(p.kid.clone());
            }
            state.keys.insert(
                p.kid,
                KeyRecord {
                    public,
                    sealed: p.encrypted_private_key.0,
                    created: at,
                    retire_after: None,
                },
            );
        }
        EventPayload::SigningKeyRetiredV1(p) => {
            if let Some(k) = state.keys.get_mut(&p.kid) {
                k.retire_after = Some(p.retire_after);
            }
        }
        EventPayload::RoleAssignedV1(p) => {
            if let Some(i) = state.identities.get_mut(&p.identity) {
                i.roles.insert(Role {
                    product: p.product,
                    role: p.role,
                });
            }
        }
        EventPayload::RoleRevokedV1(p) => {
            if let Some(i) = state.identities.get_mut(&p.identity) {
                i.roles.remove(&Role {
                    product: p.product,
                    role: p.role,
                });
            }
        }
        EventPayload::RefreshTokenIssuedV1(p) => {
            state.refresh_index.insert(p.token_hash, p.family_id);
            state.families.insert(
                p.family_id,
                Family {
                    identity: p.identity,
                    client_id: p.client_id,
                    current: p.token_hash,
                    expires: p.expires,
                    revoked: None,
                },
            );
            if let Some((corr, code)) = state.last_redeemed.take() {
                if corr == event.correlation_id {
                    if let Some(c) = state.codes.get_mut(&code) {
                        c.family = Some(p.family_id);
                    }
                }
            }
        }
        EventPayload::RefreshTokenRotatedV1(p) => {
            state.refresh_index.insert(p.token_hash, p.family_id);
            if let Some(f) = state.families.get_mut(&p.family_id) {
                f.current = p.token_hash;
                f.expires = p.expires;
            }
        }
        EventPayload::RefreshTokenFamilyRevokedV1(p) => {
            if let Some(f) = state.families.get_mut(&p.family_id) {
                f.revoked = Some(p.reason);
            }
        }
        EventPayload::CaCreatedV1(p) => {
            state.ca = Some(CaRecord {
                certificate_der: p.certificate_der.0,
                sealed_key: p.encrypted_key.0,
                fingerprint: p.fingerprint,
            });
        }
        EventPayload::RecoveryPerformedV1(p) => {
            state.recoveries.push((p.node, p.identity));
        }
        EventPayload::AuthorizationCodeIssuedV1(p) => {
            state.codes.insert(
                p.code_hash,
                AuthCode {
                    client_id: p.client_id,
                    identity: p.identity,
                    redirect_uri: p.redirect_uri,
                    code_challenge: p.code_challenge,
                    scope: p.scope,
                    nonce: p.nonce,
                    expires: p.expires,
                    redeemed: false,
                    family: None,
                },
            );
        }
        EventPayload::AuthorizationCodeRedeemedV1(p) => {
            if let Some(c) = state.codes.get_mut(&p.code_hash) {
                c.redeemed = true;
                state.last_redeemed = Some((event.correlation_id, p.code_hash));
            }
        }
        EventPayload::DeviceCodeIssuedV1(p) => {
            state.devices.insert(
                p.device_code_hash,
                DeviceAuth {
                    user_code_hash: p.user_code_hash,
                    client_id: p.client_id,
                    scope: p.scope,
                    expires: p.expires,
                    approved_by: None,
                    redeemed: false,
                },
            );
        }
        EventPayload::DeviceCodeApprovedV1(p) => {
            if let Some(d) = state
                .devices
                .values_mut()
                .find(|d| d.user_code_hash == p.user_code_hash)
            {
                d.approved_by = Some(p.identity);
            }
        }
        EventPayload::DeviceCodeRedeemedV1(p) => {
            if let Some(d) = state.devices.get_mut(&p.device_code_hash) {
                d.redeemed = true;
            }
        }
        _ => {}
    }
}

/// Whether [`apply`] can change the state for this event (adapters republish the state
/// only then). Besides the identity events: a product declared or deleted (its client).
pub fn is_iam_event(payload: &EventPayload) -> bool {
    if let EventPayload::ResourceDeclaredV1(p) = payload {
        return p.resource.kind == ResourceKind::Product;
    }
    matches!(
        payload,
        EventPayload::ProductDeletedV1(_)
            | EventPayload::ClientSecretRotatedV1(_)
            | EventPayload::AccessTokenRevokedV1(_)
            | EventPayload::WebAuthnCeremonyFinishedV1(_)
            | EventPayload::IdentityCreatedV1(_)
            | EventPayload::PasskeyRegisteredV1(_)
            | EventPayload::PasskeyUsedV1(_)
            | EventPayload::PasskeyRevokedV1(_)
            | EventPayload::BootstrapCodeIssuedV1(_)
            | EventPayload::BootstrapCodeRedeemedV1(_)
            | EventPayload::ReEnrolmentCodeIssuedV1(_)
            | EventPayload::ClientRegisteredV1(_)
            | EventPayload::ClientRegisteredV2(_)
            | EventPayload::SigningKeyCreatedV1(_)
            | EventPayload::SigningKeyRetiredV1(_)
            | EventPayload::RoleAssignedV1(_)
            | EventPayload::RoleRevokedV1(_)
            | EventPayload::RefreshTokenIssuedV1(_)
            | EventPayload::RefreshTokenRotatedV1(_)
            | EventPayload::RefreshTokenFamilyRevokedV1(_)
            | EventPayload::CaCreatedV1(_)
            | EventPayload::RecoveryPerformedV1(_)
            | EventPayload::AuthorizationCodeIssuedV1(_)
            | EventPayload::AuthorizationCodeRedeemedV1(_)
            | EventPayload::DeviceCodeIssuedV1(_)
            | EventPayload::DeviceCodeApprovedV1(_)
            | EventPayload::DeviceCodeRedeemedV1(_)
    )
}
