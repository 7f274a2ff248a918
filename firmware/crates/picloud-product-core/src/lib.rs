//! The product/resource slice core — ring 0: `decide` / `apply` / `plan`.
//!
//! Products are PiCloud's unit of deployment; they own resources (containers, volumes,
//! secrets, …). This crate turns resource commands into events and folds events into
//! [`ProductState`]:
//!
//! - [`decide`]`(&state, &command, now, &iri) -> Result<Vec<Envelope>, Rejection>` validates a
//!   [`Command`] and returns the events to append (possibly none);
//! - [`apply`]`(&mut state, &event)` folds one committed event into the state;
//! - [`plan`] describes what `decide` would do, field by field, for `picloud resource plan`.
//!
//! # Rules
//!
//! - **Apply sets are authoritative for the products they declare** (prune rule): when a
//!   set contains a product's `product` resource, every resource of that product that the
//!   set does not contain is deleted. A set holding only some resources of an existing
//!   product (without its `product` declaration) creates/updates them and prunes nothing.
//! - New resource → `ResourceDeclared` generation 1, status `declared` (nothing provisions
//!   yet). Changed spec → `ResourceUpdated` generation + 1 (status back to `declared`).
//!   Unchanged → no event: **re-applying the same set yields zero events**, and so does any
//!   command whose idempotency key was already applied.
//! - `DeleteProduct` cascades: one `ResourceDeleted` per resource (dependents first), then
//!   `ProductDeleted`. `DeleteResource` is refused for the product resource and while other
//!   resources reference the target (the rejection names the referrers).
//! - References (mounts → volumes, env → secrets, identity → identities, ingress → workloads,
//!   …, as listed by `Resource::references`) must resolve inside the product after the command.
//!
//! # Architecture invariants
//!
//! - Pure: no I/O, no clock, no randomness, no async runtime. Time and ids come in with the
//!   command; event ids derive from the command's correlation id, so `decide` is
//!   deterministic.
//! - `decide` never changes the state; only `apply` does, and `apply` is total (it never
//!   fails and ignores events of other slices). Replaying every event from
//!   `ProductState::default()` rebuilds the identical state (property-tested).
//! - Depends only on `picloud-domain` and `picloud-events`; no other slice core.
//! - Nothing here derives serde: the wire and log forms live in `picloud-events`.

mod command;
mod decide;
mod plan;
mod rejection;
mod state;

pub use command::Command;
pub use decide::decide;
pub use plan::{changed_fields, plan, Plan, PlannedChange, PlannedResource};
pub use rejection::{DanglingReference, Referrer, Rejection};
pub use state::{apply, ProductResources, ProductState, ResourceEntry};
