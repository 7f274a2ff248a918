//! [`Rejection`]: why `decide` refused a command. Refusals are values, never panics.

use std::fmt;

use picloud_domain::resource::ResourceId;
use picloud_domain::{Name, ResourceKind};

/// A reference from one resource to a resource that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingReference {
    /// The referring resource.
    pub from: ResourceId,
    /// The field holding the reference (`mounts[0].volume`).
    pub field: String,
    /// The kinds the target may have.
    pub kinds: Vec<ResourceKind>,
    /// The missing name.
    pub name: Name,
}

impl fmt::Display for DanglingReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.keyword()).collect();
        write!(
            f,
            "{} field `{}` names {} '{}', which neither the apply set nor the cluster has",
            self.from,
            self.field,
            kinds.join(" or "),
            self.name
        )
    }
}

/// A resource that names the one being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The referring resource.
    pub from: ResourceId,
    /// The field holding the reference.
    pub field: String,
}

impl fmt::Display for Referrer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (field `{}`)", self.from, self.field)
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a command was refused. The state is unchanged and no event is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// An apply set without resources.
    #[error("the apply set is empty: declare at least one resource")]
    EmptyApplySet,
    /// The same (product, kind, name) twice in one set.
    #[error("{resource} is declared more than once in the apply set")]
    DuplicateResource {
        /// The duplicate.
        resource: ResourceId,
    },
    /// `kind` disagrees with the spec.
    #[error("{resource} carries a {spec_kind} spec")]
    KindMismatch {
        /// The resource.
        resource: ResourceId,
        /// The spec's kind.
        spec_kind: ResourceKind,
    },
    /// A product resource whose `product` is not its own name.
    #[error("product '{name}' must belong to itself, not to product '{product}'")]
    ProductNameMismatch {
        /// The product's name.
        name: Name,
        /// The product it claimed.
        product: Name,
    },
    /// A resource of a product that neither the set nor the cluster declares.
    #[error(
        "{resource} belongs to product '{product}', which is neither declared in the apply \
         set nor exists in the cluster"
    )]
    UndeclaredProduct {
        /// The resource.
        resource: ResourceId,
        /// Its unknown product.
        product: Name,
    },
    /// After the apply, references would point at nothing.
    #[error("dangling references: {}", list(references))]
    DanglingReferences {
        /// Every dangling reference, in resource order.
        references: Vec<DanglingReference>,
    },
    /// A delete names a product that does not exist.
    #[error("product '{product}' does not exist")]
    UnknownProduct {
        /// The product.
        product: Name,
    },
    /// A delete names a resource that does not exist.
    #[error("{resource} does not exist")]
    UnknownResource {
        /// The resource.
        resource: ResourceId,
    },
    /// A delete of a resource that others still name.
    #[error(
        "{resource} cannot be deleted: it is referenced by {}",
        list(referrers)
    )]
    ResourceReferenced {
        /// The resource.
        resource: ResourceId,
        /// Who references it.
        referrers: Vec<Referrer>,
    },
    /// `DeleteResource` on a product resource.
    #[error("the product resource of '{product}' cannot be deleted alone: delete the product")]
    ProductResourceDelete {
        /// The product.
        product: Name,
    },
    /// A broken internal invariant (a bug), reported instead of panicking.
    #[error("internal invariant broken: {0}")]
    Invariant(&'static str),
}
