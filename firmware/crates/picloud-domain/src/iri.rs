//! IRIs: every resource, node, product, event schema and ontology term has one, and it is
//! also its HTTP address.
//!
//! [`IriBuilder`] is the only code in PiCloud that builds IRIs. The shapes are:
//!
//! | what | IRI |
//! | --- | --- |
//! | cluster | `https://<domain>/` |
//! | node | `https://<domain>/nodes/<node>` |
//! | product | `https://<domain>/products/<product>` |
//! | product resource | `https://<domain>/products/<product>/<plural-kind>/<name>` |
//! | event schema | `https://<domain>/schemas/events/<Type>/v<n>` |
//! | ontology | `https://<domain>/ontology`, terms `https://<domain>/ontology#<Term>` |
//!
//! The domain is chosen at `cluster init` (default `picloud.local`) and never changes, so an
//! IRI is stable for the life of the cluster.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::name::Name;
use crate::resource::ResourceKind;

/// The default cluster domain.
pub const DEFAULT_DOMAIN: &str = "picloud.local";

/// Longest DNS name (RFC 1035), without the trailing dot.
pub const MAX_DOMAIN_LEN: usize = 253;

/// A validated cluster domain such as `picloud.local` or `lab.example.org`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClusterDomain(String);

/// Why a string is not a valid cluster domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Empty string.
    #[error("the cluster domain cannot be empty")]
    Empty,
    /// Longer than a DNS name may be.
    #[error("the cluster domain is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A label between dots is invalid.
    #[error("label {index} (`{label}`) of the cluster domain is invalid: {reason}")]
    Label {
        /// 1-based label index.
        index: usize,
        /// The label text.
        label: String,
        /// Why.
        reason: crate::name::NameError,
    },
    /// A single-label domain.
    #[error("the cluster domain needs at least two labels, such as `picloud.local`")]
    SingleLabel,
}

impl ClusterDomain {
    /// Validates a DNS domain: at least two labels, each a valid lower-case DNS label
    /// (labels may start with a digit, as in RFC 1123).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s.is_empty() {
            return Err(DomainError::Empty);
        }
        let len = s.chars().count();
        if len > MAX_DOMAIN_LEN {
            return Err(DomainError::TooLong {
                len,
                max: MAX_DOMAIN_LEN,
            });
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(DomainError::SingleLabel);
        }
        for (i, label) in labels.iter().enumerate() {
            // RFC 1123 lets host labels start with a digit; names in PiCloud may not, so
            // validate a letter-prefixed copy to reuse the same rules.
            let probe = if label.starts_with(|c: char| c.is_ascii_digit()) {
                format!("a{label}")
            } else {
                (*label).to_owned()
            };
            Name::parse(&probe).map_err(|reason| DomainError::Label {
                index: i + 1,
                label: (*label).to_owned(),
                reason,
            })?;
        }
        Ok(Self(s.to_owned()))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ClusterDomain {
    fn default() -> Self {
        Self(DEFAULT_DOMAIN.to_owned())
    }
}

impl fmt::Display for ClusterDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClusterDomain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClusterDomain::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An absolute IRI built by [`IriBuilder`].
///
/// Deserialising accepts any `https://` IRI without whitespace; IRIs are only *built* by
/// the builder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Iri(String);

/// Why a string is not an acceptable IRI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an https IRI without spaces")]
pub struct IriError(pub String);

impl Iri {
    /// Accepts an IRI read back from storage or the wire.
    pub fn parse(s: &str) -> Result<Self, IriError> {
        let ok = s.starts_with("https://")
            && s.len() > "https://".len()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IriError(s.to_owned()))
        }
    }

    /// The IRI as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Iri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Iri::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why an event type name cannot be used in a schema IRI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaNameError {
    /// Not an UpperCamelCase ASCII identifier.
    #[error("event type `{0}` must be UpperCamelCase ASCII letters and digits")]
    BadTypeName(String),
    /// Versions start at 1.
    #[error("event schema versions start at 1")]
    ZeroVersion,
}

/// Builds every IRI in PiCloud from the cluster domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IriBuilder {
    domain: ClusterDomain,
}

impl IriBuilder {
    /// A builder for `domain`.
    pub fn new(domain: ClusterDomain) -> Self {
        Self { domain }
    }

    /// The cluster domain.
    pub fn domain(&self) -> &ClusterDomain {
        &self.domain
    }

    fn at(&self, path: &str) -> Iri {
        Iri(format!("https://{}/{}", self.domain, path))
    }

    /// `https://<domain>/`: the cluster itself (also the OIDC issuer).
    pub fn cluster(&self) -> Iri {
        self.at("")
    }

    /// `https://<domain>/nodes/<node>`.
    pub fn node(&self, node: &Name) -> Iri {
        self.at(&format!("nodes/{node}"))
    }

    /// `https://<domain>/platform/identities/<identity>` (a person or a workload; the `sub` of its
    /// tokens).
    pub fn identity(&self, identity: &Name) -> Iri {
        self.at(&format!("platform/identities/{identity}"))
    }

    /// `https://<domain>/products/<product>`.
    pub fn product(&self, product: &Name) -> Iri {
        self.at(&format!("products/{product}"))
    }

    /// `https://<domain>/products/<product>/<plural-kind>/<name>`; for
    /// [`ResourceKind::Product`] this is the product's own IRI.
    pub fn resource(&self, product: &Name, kind: ResourceKind, name: &Name) -> Iri {
        match kind {
            ResourceKind::Product => self.product(product),
            _ => self.at(&format!("products/{product}/{}/{name}", kind.plural())),
        }
    }

    /// `https://<domain>/products/<product>/<plural-kind>`: the collection of one kind.
    pub fn resource_collection(&self, product: &Name, kind: ResourceKind) -> Iri {
        self.at(&format!("products/{product}/{}", kind.plural()))
    }

    /// `https://<domain>/schemas/events/<Type>/v<n>`.
    pub fn event_schema(&self, type_name: &str, version: u32) -> Result<Iri, SchemaNameError> {
        let mut chars = type_name.chars();
        let upper_first = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        if !upper_first || !type_name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SchemaNameError::BadTypeName(type_name.to_owned()));
        }
        if version == 0 {
            return Err(SchemaNameError::ZeroVersion);
        }
        Ok(self.at(&format!("schemas/events/{type_name}/v{version}")))
    }

    /// `https://<domain>/ontology`: the ontology document.
    pub fn ontology(&self) -> Iri {
        self.at("ontology")
    }

    /// `https://<domain>/ontology#<term>` for a class (`Container`) or property (`image`).
    pub fn ontology_term(&self, term: &str) -> Iri {
        Iri(format!("https://{}/ontology#{term}", self.domain))
    }

    /// `https://<domain>/ontology#`: the namespace, for prefix declarations.
    pub fn ontology_namespace(&self) -> String {
        format!("https://{}/ontology#", self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn shapes() {
        let b = IriBuilder::default();
        assert_eq!(b.cluster().as_str(), "https://picloud.local/");
        assert_eq!(
            b.node(&n("node1")).as_str(),
            "https://picloud.local/nodes/node1"
        );
        assert_eq!(
            b.product(&n("photo-app")).as_str(),
            "https://picloud.local/products/photo-app"
        );
        assert_eq!(
            b.resource(&n("photo-app"), ResourceKind::Container, &n("api-server"))
                .as_str(),
            "https://picloud.local/products/photo-app/containers/api-server"
        );
        assert_eq!(
            b.resource(&n("photo-app"), ResourceKind::FeatureFlag, &n("dark-mode"))
                .as_str(),
            "https://picloud.local/products/photo-app/feature-flags/dark-mode"
        );
        assert_eq!(
            b.resource(&n("photo-app"), ResourceKind::Product, &n("photo-app"))
                .as_str(),
            "https://picloud.local/products/photo-app"
        );
        assert_eq!(
            b.event_schema("ResourceDeclared", 1).unwrap().as_str(),
            "https://picloud.local/schemas/events/ResourceDeclared/v1"
        );
        assert_eq!(
            b.ontology_term("Container").as_str(),
            "https://picloud.local/ontology#Container"
        );
    }

    #[test]
    fn custom_domain() {
        let b = IriBuilder::new(ClusterDomain::parse("lab.example.org").unwrap());
        assert_eq!(b.cluster().as_str(), "https://lab.example.org/");
    }

    #[test]
    fn bad_domains() {
        assert_eq!(ClusterDomain::parse(""), Err(DomainError::Empty));
        assert_eq!(ClusterDomain::parse("local"), Err(DomainError::SingleLabel));
        assert!(matches!(
            ClusterDomain::parse("pi..local"),
            Err(DomainError::Label { index: 2, .. })
        ));
        assert!(matches!(
            ClusterDomain::parse("Pi.local"),
            Err(DomainError::Label { index: 1, .. })
        ));
        assert!(ClusterDomain::parse("1pi.local").is_ok());
        assert!(matches!(
            ClusterDomain::parse(&format!("{}.local", "a.".repeat(130))),
            Err(DomainError::TooLong { .. })
        ));
    }

    #[test]
    fn bad_schema_names() {
        let b = IriBuilder::default();
        assert!(b.event_schema("resourceDeclared", 1).is_err());
        assert!(b.event_schema("Resource/Declared", 1).is_err());
        assert!(b.event_schema("ResourceDeclared", 0).is_err());
    }

    #[test]
    fn iri_parse() {
        assert!(Iri::parse("https://picloud.local/x").is_ok());
        assert!(Iri::parse("http://picloud.local/x").is_err());
        assert!(Iri::parse("https://pi cloud").is_err());
    }
}
