//! The identity slice core — ring 0: PiCloud's passkey-only OIDC provider, minus I/O.
//!
//! - [`state::IamState`] is folded from the log by [`state::apply`]: identities, roles,
//!   passkeys, clients, signing keys (sealed), one-time codes, authorization codes, device
//!   authorizations and refresh-token families.
//! - [`decide::decide`]`(&state, &command, &ctx) -> Result<Decision, Rejection>` turns a
//!   [`decide::Command`] into events, plus a [`decide::Grant`] for token requests. A
//!   refusal may carry events: presenting a spent refresh token or authorization code
//!   commits the revocation of its family, then refuses.
//! - [`jwt`]: ES256 compact JWS, issued and checked one strict way; [`pkce`]: S256 only;
//!   [`seal`]: ChaCha20-Poly1305 sealing of keys before they enter the log;
//!   [`tokens`]: claims from grants, and [`tokens::authorize`] for API routes.
//!
//! # Architecture invariants
//!
//! - Pure: no I/O, no clock. Time comes in the [`decide::Context`]; codes, tokens and
//!   secrets come in as SHA-256 digests drawn and hashed by the adapter; nonces for
//!   sealing and ECDSA come in as arguments.
//! - `decide` never mutates; `apply` is total. Folding `apply` over the log rebuilds the
//!   state on any node, so any node validates any token, and a restart logs nobody out.
//! - Nothing secret is in the log in clear: codes and tokens as digests, private keys sealed.
//! - Bounded records: the access-token deny-list and the finished WebAuthn ceremonies
//!   (`Command::FinishCeremony`, single use of a ceremony on every node) refuse an expiry
//!   beyond one lifetime and are pruned by event time once their entries expired.

pub mod decide;
pub mod jwt;
pub mod pkce;
pub mod seal;
pub mod state;
pub mod tokens;

pub use decide::{decide, Command, Context, Decision, Grant, Rejection};
pub use state::{apply, is_iam_event, IamState, Role};
