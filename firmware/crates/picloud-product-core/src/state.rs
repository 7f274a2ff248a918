//! [`ProductState`]: the slice's state, folded from events by [`apply`].

use std::collections::{BTreeMap, BTreeSet};

use picloud_domain::{Name, Resource, ResourceKind};
use picloud_events::payload::ResourceStatus;
use picloud_events::{Envelope, EventPayload, IdempotencyKey};

/// One resource as the slice knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEntry {
    /// The current declaration.
    pub resource: Resource,
    /// Starts at 1, +1 on every spec change.
    pub generation: u64,
    /// The latest status reported for this generation (`declared` until a provisioner
    /// reports; reset to `declared` by every spec change).
    pub status: ResourceStatus,
    /// The reason given with the status, if any.
    pub status_reason: Option<String>,
}

/// The resources of one product, keyed by (kind, name); the product's own resource is
/// under `(ResourceKind::Product, <product>)`. Kinds order in dependency order.
pub type ProductResources = BTreeMap<(ResourceKind, Name), ResourceEntry>;

/// Every product with its resources, plus the idempotency keys already applied.
///
/// `Default` is the empty cluster. The idempotency-key set is **unbounded**: one short
/// entry per keyed command that produced events, at human rate (CLI applies), kept in
/// snapshots like the rest of the state. A key is recorded only when its command produced
/// events; a keyed command that changed nothing leaves no trace (re-running it still
/// changes nothing unless the state moved in between).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductState {
    products: BTreeMap<Name, ProductResources>,
    applied_keys: BTreeSet<IdempotencyKey>,
}

impl ProductState {
    /// Whether `product` exists (its product resource was declared and not deleted).
    pub fn has_product(&self, product: &Name) -> bool {
        self.resource(product, ResourceKind::Product, product)
            .is_some()
    }

    /// The resources of `product` (including its product resource), if it has any.
    pub fn product(&self, product: &Name) -> Option<&ProductResources> {
        self.products.get(product)
    }

    /// Every product name with its resources, in name order.
    pub fn products(&self) -> impl Iterator<Item = (&Name, &ProductResources)> {
        self.products.iter()
    }

    /// One resource.
    pub fn resource(
        &self,
        product: &Name,
        kind: ResourceKind,
        name: &Name,
    ) -> Option<&ResourceEntry> {
        self.products
            .get(product)
            .and_then(|r| r.get(&(kind, name.clone())))
    }

    /// Whether a command with `key` already produced events.
    pub fn has_applied(&self, key: &IdempotencyKey) -> bool {
        self.applied_keys.contains(key)
    }

    /// How many resources exist in all products (product resources included).
    pub fn resource_count(&self) -> usize {
        self.products.values().map(BTreeMap::len).sum()
    }
}

/// Folds one event into the state. Total: events of other slices are ignored, and an event
/// that does not fit the state (a status for an unknown resource or an old generation) is a
/// no-op, so replaying any log never fails.
pub fn apply(state: &mut ProductState, event: &Envelope) {
    let ours = match &event.payload {
        EventPayload::ResourceDeclaredV1(p) => {
            upsert(state, &p.resource, p.generation);
            true
        }
        EventPayload::ResourceUpdatedV1(p) => {
            upsert(state, &p.resource, p.generation);
            true
        }
        EventPayload::ResourceDeletedV1(p) => {
            if let Some(resources) = state.products.get_mut(&p.product) {
                resources.remove(&(p.kind, p.name.clone()));
                if resources.is_empty() {
                    state.products.remove(&p.product);
                }
            }
            true
        }
        EventPayload::ProductDeletedV1(p) => {
            state.products.remove(&p.product);
            true
        }
        EventPayload::ResourceStatusChangedV1(p) => {
            let entry = state
                .products
                .get_mut(&p.product)
                .and_then(|r| r.get_mut(&(p.kind, p.name.clone())));
            if let Some(entry) = entry.filter(|e| e.generation == p.generation) {
                entry.status = p.status;
                entry.status_reason.clone_from(&p.reason);
            }
            false
        }
        _ => false,
    };
    if let (true, Some(key)) = (ours, &event.idempotency_key) {
        state.applied_keys.insert(key.clone());
    }
}

fn upsert(state: &mut ProductState, resource: &Resource, generation: u64) {
    state
        .products
        .entry(resource.product.clone())
        .or_default()
        .insert(
            (resource.kind, resource.name.clone()),
            ResourceEntry {
                resource: resource.clone(),
                generation,
                status: ResourceStatus::Declared,
                status_reason: None,
            },
        );
}
