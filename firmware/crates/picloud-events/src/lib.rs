//! THE PiCloud event schema — ring 0, **API boundary, persisted forever**.
//!
//! The event log is PiCloud's only source of truth. Every slice core emits
//! [`Envelope`]s from `decide`, the log stores them, projections fold them. This crate defines
//! what an event *is*:
//!
//! - [`Envelope`]: id, schema IRI, type, time, source, product, correlation id, idempotency
//!   key, and a typed [`EventPayload`].
//! - [`EventPayload`]: one variant per versioned event type (`ResourceDeclaredV1`, …), with
//!   [`EventPayload::type_name`] and [`EventPayload::version`]. The schema IRI is
//!   `https://<domain>/schemas/events/<Type>/v<n>`.
//! - Two encodings: the **log** ([`encode_log`] / [`decode_log`]: a format-version byte then
//!   postcard) and the **API** ([`encode_json`] / [`decode_json`]: camelCase JSON). Both
//!   round-trip exactly.
//! - Value types: [`Timestamp`] (unix ms, RFC 3339 text), 128-bit ids ([`EventId`],
//!   [`CorrelationId`], …), [`IdempotencyKey`], [`Bytes`], [`Sha256Digest`].
//!
//! # Architecture invariants
//!
//! - No I/O, no clock, no randomness, no async runtime. Time and ids come in as arguments;
//!   [`EventId::derive`] makes event ids a pure function of the command's correlation id.
//! - Decoding never panics, on any bytes or text; it returns [`DecodeError`]. Every decoded
//!   envelope satisfies [`Envelope::check`] (type and schema agree with the payload).
//! - Secrets never appear in clear in IAM events: only SHA-256 digests or ciphertexts.
//!
//! # Schema evolution (read before changing anything here)
//!
//! Events are persisted forever, and the log encoding is positional (postcard has no field
//! names and writes enum variants by index). Therefore:
//!
//! 1. **Never change an existing `…V<n>` payload struct**, nor any domain type it contains,
//!    and never reorder or remove an [`EventPayload`] variant.
//! 2. A new event type, or a new shape of an old one, is a **new variant appended at the
//!    end** of the catalogue (`FooV2` next to `FooV1`), with a new schema IRI `…/Foo/v2`.
//! 3. Add an **upcaster** in [`EventPayload::upcast`] from every older version to the newest,
//!    so consumers handle only current shapes.
//! 4. **Never edit an old fixture.** Each variant has `tests/fixtures/<Type>/v<n>.json` and
//!    `v<n>.postcard.hex`; the tests decode every committed fixture and require byte-identical
//!    re-encoding, and they fail if a variant has no fixture. Generate the fixture of a *new*
//!    variant with `UPDATE_FIXTURES=1 cargo test -p picloud-events --test events`, which only
//!    writes missing files, review it, and commit it.
//! 5. [`LOG_FORMAT_VERSION`] changes only with a migration of the whole log.

mod bytes;
mod codec;
mod envelope;
mod id;
pub mod payload;
mod time;
mod token;

pub use bytes::{Bytes, BytesError, Sha256Digest};
pub use codec::{
    decode_json, decode_log, encode_json, encode_json_value, encode_log, DecodeError, EncodeError,
    LOG_FORMAT_VERSION,
};
pub use envelope::{schema_parts, Envelope, EnvelopeError};
pub use id::{ClusterId, CorrelationId, EventId, IdParseError, NodeId, TokenFamilyId};
pub use payload::{EventPayload, PayloadError};
pub use time::{Timestamp, TimestampError};
pub use token::{ClientId, IdempotencyKey, KeyId, TokenError, TOKEN_MAX_LEN};
