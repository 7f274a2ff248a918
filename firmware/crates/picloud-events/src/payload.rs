//! [`EventPayload`]: one variant per versioned event type.
//!
//! # Compatibility rules
//!
//! The log encodes the payload with postcard as an externally tagged enum: the **variant
//! index** is written, not its name. So:
//!
//! - appending a variant at the end is compatible;
//! - reordering, removing or inserting variants is **not** (old logs would decode as the
//!   wrong event); neither is changing any field of an existing `…V<n>` struct;
//! - a change of shape is a new type version: add `FooV2` at the end, keep `FooV1`
//!   forever, and teach [`EventPayload::upcast`] to turn `FooV1` into `FooV2`.
//!
//! The committed fixtures (`tests/fixtures/<Type>/v<n>.*`) pin every variant's bytes; the
//! fixture tests fail if any of these rules is broken.

mod cluster;
mod firmware;
mod iam;
mod resource;

pub use cluster::*;
pub use firmware::*;
pub use iam::*;
pub use resource::*;

use serde::{Deserialize, Serialize, Serializer};

/// Why a JSON payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// No event type with this name and version exists.
    #[error("unknown event type {type_name} version {version}")]
    UnknownType {
        /// The type name given.
        type_name: String,
        /// The version given.
        version: u32,
    },
    /// The payload does not match the type's schema.
    #[error("invalid {type_name} v{version} payload: {message}")]
    Invalid {
        /// The type name.
        type_name: &'static str,
        /// The version.
        version: u32,
        /// What serde reported.
        message: String,
    },
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $type_name:literal v $version:literal; )*) => {
        /// Every event type PiCloud has ever written, one variant per (type, version).
        ///
        /// Variant order is the log encoding: **append only** (see the module docs).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[allow(clippy::large_enum_variant)] // Resource specs are large; events are moved rarely.
        pub enum EventPayload {
            $( $(#[$doc])* $variant($variant), )*
        }

        impl EventPayload {
            /// Every (type name, version), in variant order.
            pub const CATALOGUE: &'static [(&'static str, u32)] = &[ $( ($type_name, $version), )* ];

            /// The event type name, e.g. `ResourceDeclared`.
            pub fn type_name(&self) -> &'static str {
                match self { $( Self::$variant(_) => $type_name, )* }
            }

            /// The schema version of this variant (the `v<n>` of its schema IRI).
            pub fn version(&self) -> u32 {
                match self { $( Self::$variant(_) => $version, )* }
            }

            /// Reads the API JSON form of the payload of `type_name` version `version`.
            pub fn from_json(
                type_name: &str,
                version: u32,
                value: serde_json::Value,
            ) -> Result<Self, PayloadError> {
                match (type_name, version) {
                    $(
                        ($type_name, $version) => serde_json::from_value::<$variant>(value)
                            .map(Self::$variant)
                            .map_err(|e| PayloadError::Invalid {
                                type_name: $type_name,
                                version: $version,
                                message: e.to_string(),
                            }),
                    )*
                    _ => Err(PayloadError::UnknownType {
                        type_name: type_name.chars().take(64).collect(),
                        version,
                    }),
                }
            }

            /// Writes the API JSON form: the variant's fields only (type and version travel in
            /// the envelope's `type` and `schema`).
            pub fn serialize_fields<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self { $( Self::$variant(p) => p.serialize(serializer), )* }
            }
        }

        $(
            impl From<$variant> for EventPayload {
                fn from(p: $variant) -> Self {
                    Self::$variant(p)
                }
            }
        )*
    };
}

catalogue! {
    // ---- cluster ----
    /// See [`ClusterInitializedV1`].
    ClusterInitializedV1 = "ClusterInitialized" v 1;
    /// See [`NodeJoinedV1`].
    NodeJoinedV1 = "NodeJoined" v 1;
    /// See [`NodePromotedV1`].
    NodePromotedV1 = "NodePromoted" v 1;
    /// See [`NodeDemotedV1`].
    NodeDemotedV1 = "NodeDemoted" v 1;
    /// See [`NodeRemovedV1`].
    NodeRemovedV1 = "NodeRemoved" v 1;
    // ---- resources ----
    /// See [`ResourceDeclaredV1`].
    ResourceDeclaredV1 = "ResourceDeclared" v 1;
    /// See [`ResourceUpdatedV1`].
    ResourceUpdatedV1 = "ResourceUpdated" v 1;
    /// See [`ResourceDeletedV1`].
    ResourceDeletedV1 = "ResourceDeleted" v 1;
    /// See [`ResourceStatusChangedV1`].
    ResourceStatusChangedV1 = "ResourceStatusChanged" v 1;
    /// See [`ProductDeletedV1`].
    ProductDeletedV1 = "ProductDeleted" v 1;
    // ---- IAM ----
    /// See [`IdentityCreatedV1`].
    IdentityCreatedV1 = "IdentityCreated" v 1;
    /// See [`PasskeyRegisteredV1`].
    PasskeyRegisteredV1 = "PasskeyRegistered" v 1;
    /// See [`PasskeyUsedV1`].
    PasskeyUsedV1 = "PasskeyUsed" v 1;
    /// See [`PasskeyRevokedV1`].
    PasskeyRevokedV1 = "PasskeyRevoked" v 1;
    /// See [`BootstrapCodeIssuedV1`].
    BootstrapCodeIssuedV1 = "BootstrapCodeIssued" v 1;
    /// See [`BootstrapCodeRedeemedV1`].
    BootstrapCodeRedeemedV1 = "BootstrapCodeRedeemed" v 1;
    /// See [`ReEnrolmentCodeIssuedV1`].
    ReEnrolmentCodeIssuedV1 = "ReEnrolmentCodeIssued" v 1;
    /// See [`ClientRegisteredV1`].
    ClientRegisteredV1 = "ClientRegistered" v 1;
    /// See [`SigningKeyCreatedV1`].
    SigningKeyCreatedV1 = "SigningKeyCreated" v 1;
    /// See [`SigningKeyRetiredV1`].
    SigningKeyRetiredV1 = "SigningKeyRetired" v 1;
    /// See [`RoleAssignedV1`].
    RoleAssignedV1 = "RoleAssigned" v 1;
    /// See [`RoleRevokedV1`].
    RoleRevokedV1 = "RoleRevoked" v 1;
    /// See [`RefreshTokenIssuedV1`].
    RefreshTokenIssuedV1 = "RefreshTokenIssued" v 1;
    /// See [`RefreshTokenRotatedV1`].
    RefreshTokenRotatedV1 = "RefreshTokenRotated" v 1;
    /// See [`RefreshTokenFamilyRevokedV1`].
    RefreshTokenFamilyRevokedV1 = "RefreshTokenFamilyRevoked" v 1;
    /// See [`CaCreatedV1`].
    CaCreatedV1 = "CaCreated" v 1;
    /// See [`RecoveryPerformedV1`].
    RecoveryPerformedV1 = "RecoveryPerformed" v 1;
    // ---- firmware ----
    /// See [`NodeBootedV1`].
    NodeBootedV1 = "NodeBooted" v 1;
    // ---- IAM (identity issue) ----
    /// See [`ClientRegisteredV2`].
    ClientRegisteredV2 = "ClientRegistered" v 2;
    /// See [`AuthorizationCodeIssuedV1`].
    AuthorizationCodeIssuedV1 = "AuthorizationCodeIssued" v 1;
    /// See [`AuthorizationCodeRedeemedV1`].
    AuthorizationCodeRedeemedV1 = "AuthorizationCodeRedeemed" v 1;
    /// See [`DeviceCodeIssuedV1`].
    DeviceCodeIssuedV1 = "DeviceCodeIssued" v 1;
    /// See [`DeviceCodeApprovedV1`].
    DeviceCodeApprovedV1 = "DeviceCodeApproved" v 1;
    /// See [`DeviceCodeRedeemedV1`].
    DeviceCodeRedeemedV1 = "DeviceCodeRedeemed" v 1;
    // ---- IAM (product clients, access-token revocation) ----
    /// See [`ClientSecretRotatedV1`].
    ClientSecretRotatedV1 = "ClientSecretRotated" v 1;
    /// See [`AccessTokenRevokedV1`].
    AccessTokenRevokedV1 = "AccessTokenRevoked" v 1;
    // ---- IAM (cluster-wide WebAuthn ceremonies) ----
    /// See [`WebAuthnCeremonyFinishedV1`].
    WebAuthnCeremonyFinishedV1 = "WebAuthnCeremonyFinished" v 1;
    // Append new variants here, never above.
}

impl EventPayload {
    /// Converts an old version of an event into the newest version of its type, so that
    /// consumers only handle current shapes: `ClientRegistered` v1 becomes v2 (no workload
    /// identity). Tested with the committed `ClientRegistered/v1` fixture.
    #[must_use]
    pub fn upcast(self) -> Self {
        match self {
            Self::ClientRegisteredV1(p) => Self::ClientRegisteredV2(ClientRegisteredV2 {
                client_id: p.client_id,
                product: p.product,
                secret_hash: p.secret_hash,
                redirect_uris: p.redirect_uris,
                grant_types: p.grant_types,
                identity: None,
            }),
            other => other,
        }
    }

    /// The product this event is about, for events that belong to one product.
    pub fn product(&self) -> Option<&picloud_domain::Name> {
        match self {
            Self::ResourceDeclaredV1(p) => Some(&p.resource.product),
            Self::ResourceUpdatedV1(p) => Some(&p.resource.product),
            Self::ResourceDeletedV1(p) => Some(&p.product),
            Self::ResourceStatusChangedV1(p) => Some(&p.product),
            Self::ProductDeletedV1(p) => Some(&p.product),
            Self::ClientRegisteredV1(p) => p.product.as_ref(),
            Self::ClientRegisteredV2(p) => p.product.as_ref(),
            Self::RoleAssignedV1(p) => p.product.as_ref(),
            Self::RoleRevokedV1(p) => p.product.as_ref(),
            Self::ClientSecretRotatedV1(p) => p.product.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_schema_safe() {
        let mut seen = std::collections::BTreeSet::new();
        let iri = picloud_domain::IriBuilder::default();
        for &(name, version) in EventPayload::CATALOGUE {
            assert!(seen.insert((name, version)), "{name} v{version} twice");
            assert!(iri.event_schema(name, version).is_ok(), "{name}");
        }
    }

    #[test]
    fn unknown_json_types_are_refused() {
        let err = EventPayload::from_json("Nope", 1, serde_json::json!({})).unwrap_err();
        assert_eq!(err.to_string(), "unknown event type Nope version 1");
        let err = EventPayload::from_json("NodeBooted", 1, serde_json::json!({})).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid NodeBooted v1 payload: missing field"));
    }
}
