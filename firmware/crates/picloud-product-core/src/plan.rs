//! [`plan`]: what a command would do, for `picloud resource plan` (`+ create`, `~ change`,
//! `- delete`), built on [`decide`] so that plan and apply can never disagree.

use picloud_domain::resource::ResourceId;
use picloud_domain::{Iri, IriBuilder, ResourceKind, ResourceSpec};
use picloud_events::{EventPayload, Timestamp};
use serde_json::Value;

use crate::command::Command;
use crate::decide::decide;
use crate::rejection::Rejection;
use crate::state::ProductState;

/// A resource the plan creates or deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedResource {
    /// Which resource.
    pub id: ResourceId,
    /// Its IRI.
    pub iri: Iri,
}

/// A resource whose spec changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// Which resource.
    pub id: ResourceId,
    /// Its IRI.
    pub iri: Iri,
    /// The generation it will have.
    pub generation: u64,
    /// The changed fields as camelCase paths into the spec (`storageIntent.durability`,
    /// `mounts[0].path`, `env.DB_URL`). Paths only, never values, so secrets stay secret.
    pub fields: Vec<String>,
}

/// What a command would do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Resources that would be declared.
    pub create: Vec<PlannedResource>,
    /// Resources whose spec would change.
    pub change: Vec<PlannedChange>,
    /// Resources that would be deleted (explicitly, by pruning or by cascade; a deleted
    /// product appears as its product resource, last).
    pub delete: Vec<PlannedResource>,
    /// Resources of the apply set that would stay as they are.
    pub unchanged: usize,
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.change.is_empty() && self.delete.is_empty()
    }
}

/// Plans `command`: runs [`decide`] and describes its events.
pub fn plan(
    state: &ProductState,
    command: &Command,
    now: Timestamp,
    iri: &IriBuilder,
) -> Result<Plan, Rejection> {
    let events = decide(state, command, now, iri)?;
    let mut out = Plan::default();
    let planned = |id: ResourceId| PlannedResource {
        iri: iri.resource(&id.product, id.kind, &id.name),
        id,
    };
    for event in &events {
        match &event.payload {
            EventPayload::ResourceDeclaredV1(p) => out.create.push(planned(p.resource.id())),
            EventPayload::ResourceUpdatedV1(p) => {
                let id = p.resource.id();
                let old = state
                    .resource(&id.product, id.kind, &id.name)
                    .ok_or(Rejection::Invariant("update of a resource the state lacks"))?;
                out.change.push(PlannedChange {
                    iri: iri.resource(&id.product, id.kind, &id.name),
                    generation: p.generation,
                    fields: changed_fields(&old.resource.spec, &p.resource.spec)?,
                    id,
                });
            }
            EventPayload::ResourceDeletedV1(p) => out.delete.push(planned(ResourceId {
                product: p.product.clone(),
                kind: p.kind,
                name: p.name.clone(),
            })),
            EventPayload::ProductDeletedV1(p) => out.delete.push(planned(ResourceId {
                product: p.product.clone(),
                kind: ResourceKind::Product,
                name: p.product.clone(),
            })),
            _ => return Err(Rejection::Invariant("decide emitted a foreign event")),
        }
    }
    if let Command::ApplySet { resources, .. } = command {
        out.unchanged = resources
            .len()
            .saturating_sub(out.create.len() + out.change.len());
    }
    Ok(out)
}

/// The camelCase paths that differ between two specs of the same kind.
pub fn changed_fields(old: &ResourceSpec, new: &ResourceSpec) -> Result<Vec<String>, Rejection> {
    let to_json =
        |s: &ResourceSpec| serde_json::to_value(s).map_err(|_| Rejection::Invariant("spec json"));
    let (old, new) = (to_json(old)?, to_json(new)?);
    let mut out = Vec::new();
    // Specs are `{"<kind>": {...}}`: diff inside the kind's object.
    match (inner(&old), inner(&new)) {
        (Some((ko, vo)), Some((kn, vn))) if ko == kn => diff(vo, vn, "", &mut out),
        _ => out.push("kind".to_owned()),
    }
    Ok(out)
}

fn inner(v: &Value) -> Option<(&String, &Value)> {
    match v.as_object() {
        Some(map) if map.len() == 1 => map.iter().next(),
        _ => None,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn diff(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let sub = join(path, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, &sub, out),
                    _ => out.push(sub),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(if path.is_empty() {
            "spec".to_owned()
        } else {
            path.to_owned()
        }),
    }
}
