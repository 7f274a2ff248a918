//! IAM events (emitted by the IAM slice: passkeys, OIDC clients, keys, tokens, CA).
//!
//! Secrets never appear in clear: codes, client secrets and tokens are stored as SHA-256
//! digests computed by the adapter; private keys only encrypted under the cluster key.

use picloud_domain::Name;
use serde::{Deserialize, Serialize};

use crate::bytes::{Bytes, Sha256Digest};
use crate::id::TokenFamilyId;
use crate::time::Timestamp;
use crate::token::{ClientId, KeyId};

/// Whether an identity is a person or a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// A person; authenticates with passkeys only.
    Human,
    /// A product workload; authenticates with mTLS certificates and client credentials.
    Workload,
}

/// An OAuth 2.0 grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code` (with PKCE).
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `client_credentials` (app registrations).
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `refresh_token`.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// RFC 8628 device authorization (`picloud login`).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693 token exchange.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// A JWS signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

/// Why a refresh-token family was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// A rotated (already used) token was presented again: assume theft.
    ReuseDetected,
    /// The user logged out.
    Logout,
    /// An administrator revoked it.
    AdminRevoked,
    /// The identity lost its last passkey or was recovered.
    IdentityReset,
}

/// Emitted by the IAM slice when a human or workload identity is created (first admin at
/// bootstrap, users invited by admins, workload identities of products).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityCreatedV1 {
    /// The identity's name.
    pub identity: Name,
    /// Human or workload.
    pub kind: IdentityKind,
    /// How to show it.
    pub display_name: String,
}

/// Emitted by the IAM slice after a successful WebAuthn registration ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegisteredV1 {
    /// Whose passkey.
    pub identity: Name,
    /// The WebAuthn credential id.
    pub credential_id: Bytes,
    /// The credential public key, COSE_Key encoded.
    pub public_key: Bytes,
    /// The authenticator's signature counter at registration.
    pub sign_count: u32,
    /// A label the user chose ("YubiKey 5C").
    pub label: String,
}

/// Emitted by the IAM slice after a successful WebAuthn assertion: records the new
/// signature counter (a counter that goes backwards signals a cloned authenticator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyUsedV1 {
    /// Whose passkey.
    pub identity: Name,
    /// Which credential.
    pub credential_id: Bytes,
    /// The counter reported by the authenticator.
    pub sign_count: u32,
}

/// Emitted by the IAM slice when a passkey is removed (by its owner, an admin, or a
/// re-enrolment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRevokedV1 {
    /// Whose passkey.
    pub identity: Name,
    /// Which credential.
    pub credential_id: Bytes,
}

/// Emitted at `cluster init`: a single-use bootstrap code for enrolling the first admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapCodeIssuedV1 {
    /// SHA-256 of the code shown on the console.
    pub code_hash: Sha256Digest,
    /// When it stops being accepted.
    pub expires: Timestamp,
}

/// Emitted when the bootstrap code is used to enrol the first administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapCodeRedeemedV1 {
    /// The code that was used.
    pub code_hash: Sha256Digest,
    /// The administrator it enrolled.
    pub identity: Name,
}

/// Emitted when an admin issues a re-enrolment code for a user who lost their passkeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReEnrolmentCodeIssuedV1 {
    /// Who may enrol a new passkey with it.
    pub identity: Name,
    /// SHA-256 of the code.
    pub code_hash: Sha256Digest,
    /// When it stops being accepted.
    pub expires: Timestamp,
}

/// Emitted when an OIDC client is registered: a product's app registration or a
/// platform client such as the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegisteredV1 {
    /// The `client_id`.
    pub client_id: ClientId,
    /// The product it belongs to; `None` for platform clients.
    pub product: Option<Name>,
    /// SHA-256 of the client secret; `None` for public clients (the CLI).
    pub secret_hash: Option<Sha256Digest>,
    /// Allowed redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
}

/// Emitted when the IAM slice creates a token-signing key (at init and on rotation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyCreatedV1 {
    /// The JWK `kid`.
    pub kid: KeyId,
    /// The algorithm (`ES256`).
    pub alg: SigningAlgorithm,
    /// The public key's JWK `x` coordinate (32 bytes).
    pub x: Bytes,
    /// The public key's JWK `y` coordinate (32 bytes).
    pub y: Bytes,
    /// The private key, encrypted under the cluster key.
    pub encrypted_private_key: Bytes,
}

/// Emitted on key rotation: the key stops signing now and leaves the JWKS after
/// `retire_after` (the overlap lets issued tokens expire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyRetiredV1 {
    /// Which key.
    pub kid: KeyId,
    /// When it leaves the JWKS.
    pub retire_after: Timestamp,
}

/// Emitted when a role is granted to an identity; `product: None` means a platform role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignedV1 {
    /// Who.
    pub identity: Name,
    /// Which role.
    pub role: Name,
    /// In which product; `None` for platform roles.
    pub product: Option<Name>,
}

/// Emitted when a role is taken away from an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRevokedV1 {
    /// Who.
    pub identity: Name,
    /// Which role.
    pub role: Name,
    /// In which product; `None` for platform roles.
    pub product: Option<Name>,
}

/// Emitted when a login issues the first refresh token of a new family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenIssuedV1 {
    /// The new family.
    pub family_id: TokenFamilyId,
    /// Whose token.
    pub identity: Name,
    /// For which client.
    pub client_id: ClientId,
    /// SHA-256 of the token.
    pub token_hash: Sha256Digest,
    /// When it expires.
    pub expires: Timestamp,
}

/// Emitted when a refresh token is exchanged: the previous token is spent, a new one issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenRotatedV1 {
    /// The family.
    pub family_id: TokenFamilyId,
    /// SHA-256 of the spent token.
    pub previous_token_hash: Sha256Digest,
    /// SHA-256 of the new token.
    pub token_hash: Sha256Digest,
    /// When the new token expires.
    pub expires: Timestamp,
}

/// Emitted when every token of a family becomes invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshTokenFamilyRevokedV1 {
    /// The family.
    pub family_id: TokenFamilyId,
    /// Why.
    pub reason: RevocationReason,
}

/// Emitted at `cluster init` (or when an operator brings a CA): the cluster CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCreatedV1 {
    /// The CA certificate, DER.
    pub certificate_der: Bytes,
    /// The CA private key, encrypted under the cluster key.
    pub encrypted_key: Bytes,
    /// SHA-256 of `certificate_der`.
    pub fingerprint: Sha256Digest,
}

/// Emitted by a node after a local recovery on its console (tier 3): a high-severity
/// audit record of who regained access where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryPerformedV1 {
    /// The node whose console was used.
    pub node: Name,
    /// The identity that regained access.
    pub identity: Name,
    /// What the operator wrote about why.
    pub audit_note: String,
}

/// Emitted when an OIDC client is registered (v2: names the workload identity the client
/// acts as under `client_credentials`, whose roles its tokens carry). `ClientRegistered` v1
/// upcasts to this with `identity: None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegisteredV2 {
    /// The `client_id`.
    pub client_id: ClientId,
    /// The product it belongs to; `None` for platform clients.
    pub product: Option<Name>,
    /// SHA-256 of the client secret; `None` for public clients (the CLI).
    pub secret_hash: Option<Sha256Digest>,
    /// Allowed redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
    /// The workload identity `client_credentials` tokens are issued for (`sub` and roles);
    /// `None`: the client cannot use `client_credentials`.
    pub identity: Option<Name>,
}

/// Emitted when the authorization endpoint issues a code (after a passkey login). The code
/// itself never enters the log, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationCodeIssuedV1 {
    /// SHA-256 of the code.
    pub code_hash: Sha256Digest,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The identity that logged in.
    pub identity: Name,
    /// The redirect URI of the request (the token request must repeat it exactly).
    pub redirect_uri: String,
    /// The PKCE S256 code challenge (base64url).
    pub code_challenge: String,
    /// The granted scope (space separated).
    pub scope: String,
    /// The OIDC `nonce` of the request, echoed in the ID token.
    pub nonce: Option<String>,
    /// When it stops being accepted.
    pub expires: Timestamp,
}

/// Emitted when an authorization code is exchanged (or presented again: a second
/// redemption is refused and revokes what the first one issued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationCodeRedeemedV1 {
    /// SHA-256 of the code.
    pub code_hash: Sha256Digest,
}

/// Emitted when a device authorization request (RFC 8628, `picloud login`) starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCodeIssuedV1 {
    /// SHA-256 of the device code (the CLI's secret).
    pub device_code_hash: Sha256Digest,
    /// SHA-256 of the user code (typed by the person in the portal).
    pub user_code_hash: Sha256Digest,
    /// The client that asked.
    pub client_id: ClientId,
    /// The requested scope.
    pub scope: String,
    /// When both codes stop being accepted.
    pub expires: Timestamp,
}

/// Emitted when a logged-in person approves a device code in the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCodeApprovedV1 {
    /// SHA-256 of the user code that was approved.
    pub user_code_hash: Sha256Digest,
    /// Who approved it (the tokens are issued for this identity).
    pub identity: Name,
}

/// Emitted when the device code is exchanged for tokens (once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCodeRedeemedV1 {
    /// SHA-256 of the device code.
    pub device_code_hash: Sha256Digest,
}

/// Emitted when an administrator sets or rotates the secret of a product's client (every
/// product is an app registration). The secret is drawn by the adapter and shown once; only
/// its digest is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretRotatedV1 {
    /// The client (a product's client id is the product's name).
    pub client_id: ClientId,
    /// The product the client belongs to.
    pub product: Option<Name>,
    /// SHA-256 of the new secret; the previous secret stops working.
    pub secret_hash: Sha256Digest,
}

/// Emitted when an access token is revoked (RFC 7009): every node refuses the token with
/// this `jti` until it expires. The identity state drops the entry once `expires` passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenRevokedV1 {
    /// The token's `jti`.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// The token's `exp`: after it the token is refused anyway.
    pub expires: Timestamp,
}

/// Emitted when a WebAuthn ceremony (passkey registration or login) finishes, in the same
/// commit as its outcome (`PasskeyRegistered`, `PasskeyUsed`, …). The ceremony's state
/// travels sealed with the browser, not in the log; this record makes it single use on
/// every node: the identity core refuses a challenge whose digest it holds, and drops the
/// entry once `expires` passed (the ceremony is refused by its expiry anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebAuthnCeremonyFinishedV1 {
    /// SHA-256 of the ceremony's challenge.
    pub challenge_hash: Sha256Digest,
    /// When the ceremony would have expired.
    pub expires: Timestamp,
}
