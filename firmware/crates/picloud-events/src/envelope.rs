//! [`Envelope`]: the metadata every event carries, and its consistency rules.

use picloud_domain::{Iri, IriBuilder, Name};

use crate::id::{CorrelationId, EventId};
use crate::payload::EventPayload;
use crate::time::Timestamp;
use crate::token::IdempotencyKey;

/// One event as stored in the log and served by the API.
///
/// Invariants (checked by [`Envelope::check`] on every decode, guaranteed by
/// [`Envelope::new`]): `event_type == payload.type_name()` and `schema` ends with
/// `/schemas/events/<event_type>/v<payload.version()>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id of the event.
    pub id: EventId,
    /// The schema IRI, `https://<domain>/schemas/events/<Type>/v<n>`.
    pub schema: Iri,
    /// The type name (`ResourceDeclared`).
    pub event_type: String,
    /// When the command that caused it was decided (passed in by the adapter).
    pub time: Timestamp,
    /// The IRI of the emitter (a node, the API, a provisioner, an identity).
    pub source: Iri,
    /// The product it belongs to; `None` for platform events.
    pub product: Option<Name>,
    /// Links the command with all its events.
    pub correlation_id: CorrelationId,
    /// The command's idempotency key, if the client sent one.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The typed, versioned body.
    pub payload: EventPayload,
}

/// Why an envelope is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// `type` names another type than the payload.
    #[error("envelope type {declared:?} does not match its {payload} payload")]
    TypeMismatch {
        /// The envelope's `type`.
        declared: String,
        /// The payload's type name.
        payload: &'static str,
    },
    /// `schema` is not the payload's schema IRI.
    #[error("schema {schema} is not a schema for {type_name} v{version}")]
    SchemaMismatch {
        /// The envelope's schema.
        schema: String,
        /// The payload's type name.
        type_name: &'static str,
        /// The payload's version.
        version: u32,
    },
    /// The schema IRI has no `/schemas/events/<Type>/v<n>` path.
    #[error("schema {schema} is not an event schema iri")]
    NotASchema {
        /// The refused IRI.
        schema: String,
    },
    /// The builder refused the type name (a bug in the catalogue).
    #[error("cannot build a schema iri: {0}")]
    SchemaName(#[from] picloud_domain::iri::SchemaNameError),
}

impl Envelope {
    /// A copy safe to show to API clients: every secret value inside the payload is replaced
    /// by [`SecretValue::REDACTED`](picloud_domain::resource::SecretValue::REDACTED). The
    /// event stream and every other read path use this; only the log holds the real value.
    #[must_use]
    pub fn redacted(&self) -> Envelope {
        use crate::payload::EventPayload;
        use picloud_domain::resource::{ResourceSpec, SecretValue};
        let mut out = self.clone();
        let resource = match &mut out.payload {
            EventPayload::ResourceDeclaredV1(p) => Some(&mut p.resource),
            EventPayload::ResourceUpdatedV1(p) => Some(&mut p.resource),
            _ => None,
        };
        if let Some(r) = resource {
            if let ResourceSpec::Secret(spec) = &mut r.spec {
                spec.value = SecretValue::new(SecretValue::REDACTED);
            }
        }
        out
    }

    /// An envelope for `payload`, with `schema` and `event_type` derived from it.
    /// `product` defaults to [`EventPayload::product`]; idempotency key to none.
    pub fn new(
        iri: &IriBuilder,
        id: EventId,
        time: Timestamp,
        source: Iri,
        correlation_id: CorrelationId,
        payload: EventPayload,
    ) -> Result<Self, EnvelopeError> {
        let schema = iri.event_schema(payload.type_name(), payload.version())?;
        Ok(Envelope {
            id,
            schema,
            event_type: payload.type_name().to_owned(),
            time,
            source,
            product: payload.product().cloned(),
            correlation_id,
            idempotency_key: None,
            payload,
        })
    }

    /// The same envelope with this idempotency key.
    #[must_use]
    pub fn with_idempotency_key(mut self, key: Option<IdempotencyKey>) -> Self {
        self.idempotency_key = key;
        self
    }

    /// The same envelope with this product.
    #[must_use]
    pub fn with_product(mut self, product: Option<Name>) -> Self {
        self.product = product;
        self
    }

    /// Checks the invariants between `event_type`, `schema` and `payload`.
    pub fn check(&self) -> Result<(), EnvelopeError> {
        let type_name = self.payload.type_name();
        let version = self.payload.version();
        if self.event_type != type_name {
            return Err(EnvelopeError::TypeMismatch {
                declared: self.event_type.chars().take(64).collect(),
                payload: type_name,
            });
        }
        if schema_parts(&self.schema) != Some((type_name, version)) {
            return Err(EnvelopeError::SchemaMismatch {
                schema: self.schema.to_string(),
                type_name,
                version,
            });
        }
        Ok(())
    }
}

/// The (type name, version) named by an event schema IRI
/// (`https://<domain>/schemas/events/<Type>/v<n>`).
pub fn schema_parts(schema: &Iri) -> Option<(&str, u32)> {
    let rest = schema.as_str().strip_prefix("https://")?;
    let (_, path) = rest.split_once('/')?;
    let path = path.strip_prefix("schemas/events/")?;
    let (type_name, version) = path.split_once('/')?;
    let version = version.strip_prefix('v')?;
    if type_name.is_empty() || version.starts_with('0') || version.starts_with('+') {
        return None;
    }
    Some((type_name, version.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parts_parse() {
        let ok = Iri::parse("https://picloud.local/schemas/events/NodeBooted/v12").unwrap();
        assert_eq!(schema_parts(&ok), Some(("NodeBooted", 12)));
        for bad in [
            "https://picloud.local/schemas/events/NodeBooted/v0",
            "https://picloud.local/schemas/events/NodeBooted/v01",
            "https://picloud.local/schemas/events/NodeBooted/v+1",
            "https://picloud.local/schemas/events/NodeBooted",
            "https://picloud.local/schemas/events//v1",
            "https://picloud.local/other/NodeBooted/v1",
            "https://picloud.local/schemas/events/NodeBooted/v1/extra",
        ] {
            assert_eq!(schema_parts(&Iri::parse(bad).unwrap()), None, "{bad}");
        }
    }
}
