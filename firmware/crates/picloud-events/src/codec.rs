//! The two encodings of an [`Envelope`].
//!
//! - **Log** ([`encode_log`], [`decode_log`]): one format-version byte
//!   ([`LOG_FORMAT_VERSION`]) followed by postcard of the envelope fields in declaration
//!   order, the payload as an externally tagged enum (variant index + fields).
//! - **API** ([`encode_json`], [`decode_json`]): `{"id","schema","type","time","source",
//!   "product","correlationId","idempotencyKey","payload":{…}}`, camelCase payload fields;
//!   the payload's type comes from `type` and its version from `schema`.
//!
//! `Envelope`'s own `Serialize`/`Deserialize` pick the API form for human-readable formats
//! (JSON) and the log form otherwise (postcard), so envelopes can be embedded in other
//! wire types. Decoding never panics and always re-checks [`Envelope::check`].

use picloud_domain::{Iri, Name};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::envelope::{schema_parts, Envelope, EnvelopeError};
use crate::id::{CorrelationId, EventId};
use crate::payload::{EventPayload, PayloadError};
use crate::time::Timestamp;
use crate::token::IdempotencyKey;

/// The first byte of every log record. Bump only with a migration of the whole log.
pub const LOG_FORMAT_VERSION: u8 = 1;

/// Why bytes or text are not an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The record is empty.
    #[error("empty log record")]
    Empty,
    /// The format-version byte is unknown.
    #[error("unsupported log format version {version} (this build reads {LOG_FORMAT_VERSION})")]
    UnsupportedFormat {
        /// The byte found.
        version: u8,
    },
    /// postcard could not decode the record.
    #[error("malformed log record: {0}")]
    Postcard(#[source] postcard::Error),
    /// Bytes remain after the envelope.
    #[error("{count} unexpected bytes after the log record")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The JSON is not an envelope.
    #[error("malformed event json: {0}")]
    Json(#[source] serde_json::Error),
    /// The payload does not fit its type.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The envelope's metadata contradicts its payload.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// Why an envelope could not be encoded (only with a serializer bug or out of memory).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// postcard failed.
    #[error("cannot encode log record: {0}")]
    Postcard(#[source] postcard::Error),
    /// serde_json failed.
    #[error("cannot encode event json: {0}")]
    Json(#[source] serde_json::Error),
}

/// The log record of `envelope`: [`LOG_FORMAT_VERSION`] then postcard.
pub fn encode_log(envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    let out = vec![LOG_FORMAT_VERSION];
    postcard::to_extend(&LogRef::from(envelope), out).map_err(EncodeError::Postcard)
}

/// Decodes one log record. Never panics on any input (fuzzed).
pub fn decode_log(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != LOG_FORMAT_VERSION {
        return Err(DecodeError::UnsupportedFormat { version });
    }
    let (log, rest) = postcard::take_from_bytes::<LogOwned>(body).map_err(DecodeError::Postcard)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    let envelope = Envelope::from(log);
    envelope.check()?;
    Ok(envelope)
}

/// The API JSON text of `envelope` (compact, fields in the documented order).
pub fn encode_json(envelope: &Envelope) -> Result<String, EncodeError> {
    serde_json::to_string(&JsonRef::from(envelope)).map_err(EncodeError::Json)
}

/// The API JSON value of `envelope`.
pub fn encode_json_value(envelope: &Envelope) -> Result<serde_json::Value, EncodeError> {
    serde_json::to_value(JsonRef::from(envelope)).map_err(EncodeError::Json)
}

/// Decodes the API JSON form. Never panics on any input.
pub fn decode_json(text: &str) -> Result<Envelope, DecodeError> {
    let raw: JsonOwned = serde_json::from_str(text).map_err(DecodeError::Json)?;
    from_json_owned(raw)
}

fn from_json_owned(raw: JsonOwned) -> Result<Envelope, DecodeError> {
    let (type_name, version) = schema_parts(&raw.schema).ok_or_else(|| {
        DecodeError::Envelope(EnvelopeError::NotASchema {
            schema: raw.schema.to_string(),
        })
    })?;
    let payload = EventPayload::from_json(type_name, version, raw.payload)?;
    let envelope = Envelope {
        id: raw.id,
        schema: raw.schema,
        event_type: raw.event_type,
        time: raw.time,
        source: raw.source,
        product: raw.product,
        correlation_id: raw.correlation_id,
        idempotency_key: raw.idempotency_key,
        payload,
    };
    envelope.check()?;
    Ok(envelope)
}

// ---- log form ----

#[derive(Serialize)]
struct LogRef<'a> {
    id: &'a EventId,
    schema: &'a Iri,
    event_type: &'a str,
    time: Timestamp,
    source: &'a Iri,
    product: &'a Option<Name>,
    correlation_id: &'a CorrelationId,
    idempotency_key: &'a Option<IdempotencyKey>,
    payload: &'a EventPayload,
}

#[derive(Deserialize)]
struct LogOwned {
    id: EventId,
    schema: Iri,
    event_type: String,
    time: Timestamp,
    source: Iri,
    product: Option<Name>,
    correlation_id: CorrelationId,
    idempotency_key: Option<IdempotencyKey>,
    payload: EventPayload,
}

impl<'a> From<&'a Envelope> for LogRef<'a> {
    fn from(e: &'a Envelope) -> Self {
        LogRef {
            id: &e.id,
            schema: &e.schema,
            event_type: &e.event_type,
            time: e.time,
            source: &e.source,
            product: &e.product,
            correlation_id: &e.correlation_id,
            idempotency_key: &e.idempotency_key,
            payload: &e.payload,
        }
    }
}

impl From<LogOwned> for Envelope {
    fn from(l: LogOwned) -> Self {
        Envelope {
            id: l.id,
            schema: l.schema,
            event_type: l.event_type,
            time: l.time,
            source: l.source,
            product: l.product,
            correlation_id: l.correlation_id,
            idempotency_key: l.idempotency_key,
            payload: l.payload,
        }
    }
}

// ---- API form ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonRef<'a> {
    id: &'a EventId,
    schema: &'a Iri,
    #[serde(rename = "type")]
    event_type: &'a str,
    time: Timestamp,
    source: &'a Iri,
    product: &'a Option<Name>,
    correlation_id: &'a CorrelationId,
    idempotency_key: &'a Option<IdempotencyKey>,
    payload: PayloadFields<'a>,
}

struct PayloadFields<'a>(&'a EventPayload);

impl Serialize for PayloadFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_fields(serializer)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonOwned {
    id: EventId,
    schema: Iri,
    #[serde(rename = "type")]
    event_type: String,
    time: Timestamp,
    source: Iri,
    product: Option<Name>,
    correlation_id: CorrelationId,
    idempotency_key: Option<IdempotencyKey>,
    payload: serde_json::Value,
}

impl<'a> From<&'a Envelope> for JsonRef<'a> {
    fn from(e: &'a Envelope) -> Self {
        JsonRef {
            id: &e.id,
            schema: &e.schema,
            event_type: &e.event_type,
            time: e.time,
            source: &e.source,
            product: &e.product,
            correlation_id: &e.correlation_id,
            idempotency_key: &e.idempotency_key,
            payload: PayloadFields(&e.payload),
        }
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            JsonRef::from(self).serialize(serializer)
        } else {
            LogRef::from(self).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let raw = JsonOwned::deserialize(deserializer)?;
            from_json_owned(raw).map_err(D::Error::custom)
        } else {
            let envelope = Envelope::from(LogOwned::deserialize(deserializer)?);
            envelope.check().map_err(D::Error::custom)?;
            Ok(envelope)
        }
    }
}
