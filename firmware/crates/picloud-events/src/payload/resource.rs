//! Resource lifecycle events (emitted by the product slice; statuses by provisioners).

use picloud_domain::{Name, Resource, ResourceKind};
use serde::{Deserialize, Serialize};

/// Where a resource is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceStatus {
    /// Accepted into the log; nothing has been provisioned for this generation yet.
    Declared,
    /// A provisioner is working on it.
    Provisioning,
    /// Provisioned and healthy.
    Ready,
    /// Provisioning failed (see the reason).
    Failed,
    /// Being torn down.
    Deleting,
}

/// Emitted by the product slice when an apply set declares a resource that did not exist:
/// generation 1, status `declared`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDeclaredV1 {
    /// The full declaration.
    pub resource: Resource,
    /// Always 1 for a new resource.
    pub generation: u64,
}

/// Emitted by the product slice when an apply set changes an existing resource's spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceUpdatedV1 {
    /// The full new declaration.
    pub resource: Resource,
    /// `previous_generation + 1`.
    pub generation: u64,
    /// The generation it replaces.
    pub previous_generation: u64,
}

/// Emitted by the product slice when a resource is deleted: explicitly, by the prune rule
/// of an apply set, or by a product delete cascading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDeletedV1 {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its product.
    pub product: Name,
    /// Its name.
    pub name: Name,
    /// The generation that was deleted.
    pub generation: u64,
}

/// Emitted by a provisioner (storage, workload, network slices) when a resource's
/// observed status changes for a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatusChangedV1 {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its product.
    pub product: Name,
    /// Its name.
    pub name: Name,
    /// The generation the status is about (stale statuses are ignored).
    pub generation: u64,
    /// The new status.
    pub status: ResourceStatus,
    /// Why, for humans (required in practice for `failed`).
    pub reason: Option<String>,
}

/// Emitted by the product slice after the last `ResourceDeleted` of a product delete:
/// the product itself is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDeletedV1 {
    /// The deleted product.
    pub product: Name,
}
