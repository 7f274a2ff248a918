//! [`decide`]: validate a command against the state and turn it into events.

use std::collections::{BTreeMap, BTreeSet};

use picloud_domain::resource::ResourceId;
use picloud_domain::{IriBuilder, Name, Resource, ResourceKind};
use picloud_events::payload::{
    ProductDeletedV1, ResourceDeclaredV1, ResourceDeletedV1, ResourceUpdatedV1,
};
use picloud_events::{Envelope, EventId, EventPayload, Timestamp};

use crate::command::Command;
use crate::rejection::{DanglingReference, Referrer, Rejection};
use crate::state::{ProductResources, ProductState};

type Key = (ResourceKind, Name);

/// Decides the events for `command` in `state`, at `now`, with IRIs from `iri`.
///
/// Pure and deterministic: the same arguments give the same events (ids derive from the
/// command's correlation id). A command whose idempotency key was already applied yields no
/// events; so does an apply set that changes nothing. On `Err`, nothing happened.
pub fn decide(
    state: &ProductState,
    command: &Command,
    now: Timestamp,
    iri: &IriBuilder,
) -> Result<Vec<Envelope>, Rejection> {
    if command
        .idempotency_key()
        .is_some_and(|k| state.has_applied(k))
    {
        return Ok(Vec::new());
    }
    let payloads = match command {
        Command::ApplySet { resources, .. } => decide_apply(state, resources)?,
        Command::DeleteProduct { product, .. } => decide_delete_product(state, product)?,
        Command::DeleteResource {
            product,
            kind,
            name,
            ..
        } => decide_delete_resource(state, product, *kind, name)?,
    };
    wrap(payloads, command, now, iri)
}

fn wrap(
    payloads: Vec<EventPayload>,
    command: &Command,
    now: Timestamp,
    iri: &IriBuilder,
) -> Result<Vec<Envelope>, Rejection> {
    let correlation = command.correlation_id();
    payloads
        .into_iter()
        .enumerate()
        .map(|(index, payload)| {
            let index = u32::try_from(index)
                .map_err(|_| Rejection::Invariant("more than u32::MAX events"))?;
            Envelope::new(
                iri,
                EventId::derive(correlation, index),
                now,
                command.source().clone(),
                correlation,
                payload,
            )
            .map(|e| e.with_idempotency_key(command.idempotency_key().cloned()))
            .map_err(|_| Rejection::Invariant("catalogue type name refused by the iri builder"))
        })
        .collect()
}

fn key_of(r: &Resource) -> Key {
    (r.kind, r.name.clone())
}

fn decide_apply(
    state: &ProductState,
    resources: &[Resource],
) -> Result<Vec<EventPayload>, Rejection> {
    if resources.is_empty() {
        return Err(Rejection::EmptyApplySet);
    }
    // Validate each declaration and group the set by product.
    let mut by_product: BTreeMap<Name, BTreeMap<Key, &Resource>> = BTreeMap::new();
    let mut declared: BTreeSet<Name> = BTreeSet::new();
    for r in resources {
        if r.kind != r.spec.kind() {
            return Err(Rejection::KindMismatch {
                resource: r.id(),
                spec_kind: r.spec.kind(),
            });
        }
        if r.kind == ResourceKind::Product {
            if r.product != r.name {
                return Err(Rejection::ProductNameMismatch {
                    name: r.name.clone(),
                    product: r.product.clone(),
                });
            }
            declared.insert(r.name.clone());
        }
        let group = by_product.entry(r.product.clone()).or_default();
        if group.insert(key_of(r), r).is_some() {
            return Err(Rejection::DuplicateResource { resource: r.id() });
        }
    }
    for r in resources {
        if !declared.contains(&r.product) && !state.has_product(&r.product) {
            return Err(Rejection::UndeclaredProduct {
                resource: r.id(),
                product: r.product.clone(),
            });
        }
    }

    // The target state of every product the set touches.
    let empty = ProductResources::new();
    let mut events = Vec::new();
    let mut dangling = Vec::new();
    for (product, set) in &by_product {
        let current = state.product(product).unwrap_or(&empty);
        let authoritative = declared.contains(product);
        let mut target: BTreeMap<&Key, &Resource> = BTreeMap::new();
        if !authoritative {
            target.extend(current.iter().map(|(k, e)| (k, &e.resource)));
        }
        target.extend(set.iter().map(|(k, r)| (k, *r)));
        dangling.extend(dangling_references(&target));

        for (key, r) in set {
            match current.get(key) {
                None => events.push(EventPayload::from(ResourceDeclaredV1 {
                    resource: (*r).clone(),
                    generation: 1,
                })),
                Some(old) if old.resource != **r => {
                    events.push(EventPayload::from(ResourceUpdatedV1 {
                        resource: (*r).clone(),
                        generation: old.generation.saturating_add(1),
                        previous_generation: old.generation,
                    }));
                }
                Some(_) => {}
            }
        }
        if authoritative {
            // Prune: dependents (later kinds) first.
            for (key, old) in current.iter().rev() {
                if !set.contains_key(key) {
                    events.push(deleted(&old.resource.id(), old.generation));
                }
            }
        }
    }
    if !dangling.is_empty() {
        return Err(Rejection::DanglingReferences {
            references: dangling,
        });
    }
    Ok(events)
}

/// References of resources in `target` that name nothing in `target`.
fn dangling_references(target: &BTreeMap<&Key, &Resource>) -> Vec<DanglingReference> {
    let mut out = Vec::new();
    for r in target.values() {
        for reference in r.references() {
            let found = reference
                .kinds
                .iter()
                .any(|k| target.contains_key(&(*k, reference.name.clone())));
            if !found {
                out.push(DanglingReference {
                    from: r.id(),
                    field: reference.field,
                    kinds: reference.kinds.to_vec(),
                    name: reference.name,
                });
            }
        }
    }
    out
}

fn deleted(id: &ResourceId, generation: u64) -> EventPayload {
    EventPayload::from(ResourceDeletedV1 {
        kind: id.kind,
        product: id.product.clone(),
        name: id.name.clone(),
        generation,
    })
}

fn decide_delete_product(
    state: &ProductState,
    product: &Name,
) -> Result<Vec<EventPayload>, Rejection> {
    let resources = state
        .product(product)
        .filter(|_| state.has_product(product))
        .ok_or_else(|| Rejection::UnknownProduct {
            product: product.clone(),
        })?;
    let mut events: Vec<EventPayload> = resources
        .iter()
        .rev()
        .filter(|((kind, _), _)| *kind != ResourceKind::Product)
        .map(|(_, e)| deleted(&e.resource.id(), e.generation))
        .collect();
    events.push(EventPayload::from(ProductDeletedV1 {
        product: product.clone(),
    }));
    Ok(events)
}

fn decide_delete_resource(
    state: &ProductState,
    product: &Name,
    kind: ResourceKind,
    name: &Name,
) -> Result<Vec<EventPayload>, Rejection> {
    let id = ResourceId {
        product: product.clone(),
        kind,
        name: name.clone(),
    };
    if kind == ResourceKind::Product {
        return Err(Rejection::ProductResourceDelete {
            product: name.clone(),
        });
    }
    if !state.has_product(product) {
        return Err(Rejection::UnknownProduct {
            product: product.clone(),
        });
    }
    let resources = state.product(product).ok_or(Rejection::Invariant(
        "product exists without its resource map",
    ))?;
    let entry = resources
        .get(&(kind, name.clone()))
        .ok_or_else(|| Rejection::UnknownResource {
            resource: id.clone(),
        })?;
    let referrers: Vec<Referrer> = resources
        .values()
        .flat_map(|e| {
            e.resource
                .references()
                .into_iter()
                .filter(|r| r.kinds.contains(&kind) && r.name == *name)
                .map(|r| Referrer {
                    from: e.resource.id(),
                    field: r.field,
                })
        })
        .collect();
    if !referrers.is_empty() {
        return Err(Rejection::ResourceReferenced {
            resource: id,
            referrers,
        });
    }
    Ok(vec![deleted(&id, entry.generation)])
}
