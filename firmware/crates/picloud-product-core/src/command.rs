//! [`Command`]: what a client asks the product slice to do.

use picloud_domain::{Iri, Name, Resource, ResourceKind};
use picloud_events::{CorrelationId, IdempotencyKey};

/// A request to change products and resources. Every command carries the adapter-drawn
/// `correlation_id` (fresh per command: event ids derive from it), the emitter `source`
/// and an optional client `idempotency_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Declare a set of resources (one `.picloud` directory).
    ///
    /// **Prune rule**: the set is authoritative for every product whose `product`
    /// resource it contains: resources of those products that exist in the cluster but
    /// are absent from the set are deleted. For products the set does not declare (it only
    /// holds some of their resources), resources are created or updated and nothing is
    /// pruned.
    ApplySet {
        /// The declarations.
        resources: Vec<Resource>,
        /// Makes a retry safe.
        idempotency_key: Option<IdempotencyKey>,
        /// Links the command and its events.
        correlation_id: CorrelationId,
        /// Who sent it.
        source: Iri,
    },
    /// Delete a product: every resource, then the product.
    DeleteProduct {
        /// The product.
        product: Name,
        /// Makes a retry safe.
        idempotency_key: Option<IdempotencyKey>,
        /// Links the command and its events.
        correlation_id: CorrelationId,
        /// Who sent it.
        source: Iri,
    },
    /// Delete one resource; refused for the product resource itself and while other
    /// resources reference it.
    DeleteResource {
        /// Its product.
        product: Name,
        /// Its kind.
        kind: ResourceKind,
        /// Its name.
        name: Name,
        /// Makes a retry safe.
        idempotency_key: Option<IdempotencyKey>,
        /// Links the command and its events.
        correlation_id: CorrelationId,
        /// Who sent it.
        source: Iri,
    },
}

impl Command {
    /// The command's idempotency key.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        match self {
            Command::ApplySet {
                idempotency_key, ..
            }
            | Command::DeleteProduct {
                idempotency_key, ..
            }
            | Command::DeleteResource {
                idempotency_key, ..
            } => idempotency_key.as_ref(),
        }
    }

    /// The command's correlation id.
    pub fn correlation_id(&self) -> CorrelationId {
        match self {
            Command::ApplySet { correlation_id, .. }
            | Command::DeleteProduct { correlation_id, .. }
            | Command::DeleteResource { correlation_id, .. } => *correlation_id,
        }
    }

    /// Who sent the command.
    pub fn source(&self) -> &Iri {
        match self {
            Command::ApplySet { source, .. }
            | Command::DeleteProduct { source, .. }
            | Command::DeleteResource { source, .. } => source,
        }
    }
}
