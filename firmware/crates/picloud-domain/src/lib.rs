//! PiCloud's domain model — ring 0: pure data and validation.
//!
//! This crate holds the vocabulary every other crate speaks:
//!
//! - [`name`]: validated resource names (DNS labels).
//! - [`iri`]: the **only** place that builds IRIs (cluster, nodes, products, product
//!   resources, event schemas, ontology terms).
//! - [`units`]: sizes (`'100GB'`, `'512MiB'`), CPU (`'500m'`, `'2'`), durations (`'10s'`).
//! - [`resource`]: the resource kinds and their typed specs, as declared in `.picloud` files
//!   and carried inside events.
//!
//! # Architecture invariants
//!
//! - No I/O, no clock, no randomness, no async runtime. Everything here is a pure function of
//!   its arguments, so it can't fail except by returning a typed error.
//! - Depends on nothing of PiCloud's; every other PiCloud crate may depend on it.
//! - Types that derive serde here are persisted inside events forever: changing their shape
//!   is a schema change (see `picloud-events`).

pub mod iri;
pub mod name;
pub mod resource;
pub mod units;

pub use iri::{ClusterDomain, Iri, IriBuilder};
pub use name::{Name, NameError};
pub use resource::{Resource, ResourceKind, ResourceSpec};
