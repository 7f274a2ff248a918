//! Projectors: pure, deterministic functions from one event to a list of graph
//! [`Change`]s.
//!
//! [`project`] reads nothing but its arguments. The few changes whose effect depends on the
//! graph ([`Change::RemoveTree`] follows links, [`Change::SetStatus`] checks the generation,
//! [`Change::LinkWorkload`] resolves a workload name) read only what earlier events wrote,
//! so folding the same events from an empty graph always gives the same graph.
//!
//! # What goes where
//!
//! - **Product graph** `<product>/graph`: every resource of the product (the product
//!   resource included) with its spec, generation, status and times, and the nested values
//!   (`<resource>/mounts/0`, `<resource>/env/DB_URL`, …).
//! - **Cluster graph** `https://<domain>/graph`: the cluster (`pc:Cluster`), its nodes, the
//!   list of products (`<cluster> pc:hasProduct <product>`, with type, name, version and
//!   graph), IAM identities and role assignments, and the projector's cursor.

use oxigraph::model::vocab::{rdf, rdfs, xsd};
use oxigraph::model::{GraphName, Literal, NamedNode, Quad, Term};
use picloud_domain::resource::{
    BinarySpec, ConfigSpec, ConfigValue, ContainerSpec, Durability, EnvName, EnvValue,
    EventSubscriptionSpec, FeatureFlagSpec, GroupSpec, HealthCheck, IdentitySpec, IngressSpec,
    Mount, Performance, Port, Probe, ProductSpec, Protocol, ResourceLimits, RestartPolicy,
    RoleSpec, VolumeSpec, VolumeType,
};
use picloud_domain::{Iri, IriBuilder, Name, Resource, ResourceKind, ResourceSpec};
use picloud_events::payload::{
    BootSlot, ClusterInitializedV1, IdentityKind, NodeJoinedV1, NodeRole, ResourceStatus,
    ResourceStatusChangedV1,
};
use picloud_events::{Envelope, EventPayload, Timestamp};

use crate::iris;
use crate::ProjectionError;

/// One change to the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert a quad (a no-op when present).
    Insert(Quad),
    /// Remove a quad (a no-op when absent).
    Remove(Quad),
    /// Remove every `(subject, predicate, *)` of `graph`.
    RemoveProperty {
        /// The graph.
        graph: NamedNode,
        /// The subject.
        subject: NamedNode,
        /// The predicate.
        predicate: NamedNode,
    },
    /// Remove the triples of `root` in `graph` and, recursively, of every nested IRI it
    /// links to (objects that start with `<root>/`), except `(root, p, *)` for `p` in
    /// `keep`.
    RemoveTree {
        /// The graph.
        graph: NamedNode,
        /// The subject whose description is removed.
        root: NamedNode,
        /// Predicates of `root` that survive (e.g. `pc:declaredAt` across updates).
        keep: Vec<NamedNode>,
    },
    /// Remove every quad of a named graph.
    ClearGraph(NamedNode),
    /// Replace `pc:status` and `pc:statusReason` of `subject`, but only if its
    /// `pc:generation` is `generation` (statuses of other generations are stale).
    SetStatus {
        /// The graph.
        graph: NamedNode,
        /// The resource.
        subject: NamedNode,
        /// The generation the status is about.
        generation: u64,
        /// The status individual (`pc:Ready`, …).
        status: NamedNode,
        /// The reason, if any.
        reason: Option<String>,
    },
    /// Insert `(subject, predicate, workload)` where the workload is the product's
    /// container or binary of that name: the binary if only the binary exists in `graph`,
    /// otherwise the container.
    LinkWorkload {
        /// The graph.
        graph: NamedNode,
        /// The linking resource (an ingress, a subscription).
        subject: NamedNode,
        /// `pc:target` or `pc:handler`.
        predicate: NamedNode,
        /// The container of that name.
        container: NamedNode,
        /// The binary of that name.
        binary: NamedNode,
    },
}

/// A checked named node.
pub(crate) fn named(iri: impl Into<String>) -> Result<NamedNode, ProjectionError> {
    Ok(NamedNode::new(iri.into())?)
}

fn node(iri: &Iri) -> Result<NamedNode, ProjectionError> {
    named(iri.as_str())
}

fn date_time(t: Timestamp) -> Literal {
    Literal::new_typed_literal(t.to_string(), xsd::DATE_TIME)
}

/// The status reason of a freshly declared (or changed) resource: which controller it
/// waits for. No controller exists yet, so nothing is ever `Ready` without one saying so.
pub fn declared_reason(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Product => "waiting for the product controller",
        ResourceKind::Identity | ResourceKind::Role | ResourceKind::Group => {
            "waiting for the IAM controller"
        }
        ResourceKind::Secret => "waiting for the secrets controller",
        ResourceKind::Config | ResourceKind::FeatureFlag => {
            "waiting for the configuration controller"
        }
        ResourceKind::Volume => "waiting for the storage controller",
        ResourceKind::Container | ResourceKind::Binary => "waiting for the workload controller",
        ResourceKind::Ingress => "waiting for the network controller",
        ResourceKind::EventSubscription => "waiting for the event bus controller",
    }
}

/// The `pc:` individual of a status.
pub fn status_term(status: ResourceStatus) -> &'static str {
    match status {
        ResourceStatus::Declared => "Declared",
        ResourceStatus::Provisioning => "Provisioning",
        ResourceStatus::Ready => "Ready",
        ResourceStatus::Failed => "Failed",
        ResourceStatus::Deleting => "Deleting",
    }
}

/// Builds changes for one event.
struct Out<'a> {
    iri: &'a IriBuilder,
    changes: Vec<Change>,
}

impl<'a> Out<'a> {
    fn pc(&self, term: &str) -> Result<NamedNode, ProjectionError> {
        node(&self.iri.ontology_term(term))
    }

    fn insert(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        predicate: &str,
        object: impl Into<Term>,
    ) -> Result<(), ProjectionError> {
        let p = self.pc(predicate)?;
        self.insert_p(graph, subject, p, object);
        Ok(())
    }

    fn insert_p(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        predicate: NamedNode,
        object: impl Into<Term>,
    ) {
        self.changes.push(Change::Insert(Quad::new(
            subject.clone(),
            predicate,
            object,
            GraphName::NamedNode(graph.clone()),
        )));
    }

    fn typed(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        class: &str,
    ) -> Result<(), ProjectionError> {
        let c = self.pc(class)?;
        self.insert_p(graph, subject, rdf::TYPE.into_owned(), c);
        Ok(())
    }

    fn text(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        predicate: &str,
        value: &str,
    ) -> Result<(), ProjectionError> {
        self.insert(
            graph,
            subject,
            predicate,
            Literal::new_simple_literal(value),
        )
    }

    fn opt_text(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        predicate: &str,
        value: Option<&str>,
    ) -> Result<(), ProjectionError> {
        match value {
            Some(v) => self.text(graph, subject, predicate, v),
            None => Ok(()),
        }
    }

    fn link(
        &mut self,
        graph: &NamedNode,
        subject: &NamedNode,
        predicate: &str,
        object: &NamedNode,
    ) -> Result<(), ProjectionError> {
        self.insert(graph, subject, predicate, object.clone())
    }
}

/// The changes that fold `event` into the graph. Pure: same arguments, same changes.
/// Events that the graph does not show (passkeys, tokens, keys, …) give no changes.
pub fn project(iri: &IriBuilder, event: &Envelope) -> Result<Vec<Change>, ProjectionError> {
    let mut out = Out {
        iri,
        changes: Vec::new(),
    };
    let payload = event.payload.clone().upcast();
    let cluster_graph = named(iris::cluster_graph(iri))?;
    let cluster = node(&iri.cluster())?;
    match &payload {
        EventPayload::ResourceDeclaredV1(p) => {
            declare(&mut out, &p.resource, p.generation, event.time, true)?;
        }
        EventPayload::ResourceUpdatedV1(p) => {
            declare(&mut out, &p.resource, p.generation, event.time, false)?;
        }
        EventPayload::ResourceDeletedV1(p) => {
            let graph = named(iris::product_graph(iri, &p.product))?;
            let subject = node(&iri.resource(&p.product, p.kind, &p.name))?;
            out.changes.push(Change::RemoveTree {
                graph,
                root: subject,
                keep: Vec::new(),
            });
            if p.kind == ResourceKind::Product {
                unlist_product(&mut out, &cluster_graph, &cluster, &p.product)?;
            }
        }
        EventPayload::ProductDeletedV1(p) => {
            out.changes
                .push(Change::ClearGraph(named(iris::product_graph(
                    iri, &p.product,
                ))?));
            unlist_product(&mut out, &cluster_graph, &cluster, &p.product)?;
        }
        EventPayload::ResourceStatusChangedV1(p) => status_changed(&mut out, p)?,
        EventPayload::ClusterInitializedV1(p) => {
            cluster_initialized(&mut out, &cluster_graph, &cluster, p, event.time)?;
        }
        EventPayload::NodeJoinedV1(p) => {
            node_joined(&mut out, &cluster_graph, &cluster, p, event.time)?;
        }
        EventPayload::NodePromotedV1(p) => {
            set_node_role(&mut out, &cluster_graph, &p.node, NodeRole::Voter)?;
        }
        EventPayload::NodeDemotedV1(p) => {
            set_node_role(&mut out, &cluster_graph, &p.node, NodeRole::Learner)?;
        }
        EventPayload::NodeRemovedV1(p) => {
            let n = node(&iri.node(&p.node))?;
            out.changes.push(Change::RemoveTree {
                graph: cluster_graph.clone(),
                root: n.clone(),
                keep: Vec::new(),
            });
            let has_node = out.pc("hasNode")?;
            out.changes.push(Change::Remove(Quad::new(
                cluster,
                has_node,
                n,
                GraphName::NamedNode(cluster_graph),
            )));
        }
        EventPayload::NodeBootedV1(p) => {
            let n = node(&iri.node(&p.node))?;
            for predicate in ["bootSlot", "firmwareVersion", "bootedAt"] {
                let predicate = out.pc(predicate)?;
                out.changes.push(Change::RemoveProperty {
                    graph: cluster_graph.clone(),
                    subject: n.clone(),
                    predicate,
                });
            }
            let slot = match p.slot {
                BootSlot::A => "A",
                BootSlot::B => "B",
            };
            out.text(&cluster_graph, &n, "bootSlot", slot)?;
            out.text(&cluster_graph, &n, "firmwareVersion", &p.version)?;
            out.insert(&cluster_graph, &n, "bootedAt", date_time(event.time))?;
        }
        EventPayload::IdentityCreatedV1(p) => {
            let id = named(iris::platform_identity(iri, &p.identity))?;
            out.typed(&cluster_graph, &id, "Identity")?;
            out.text(&cluster_graph, &id, "name", p.identity.as_str())?;
            let kind = match p.kind {
                IdentityKind::Human => "human",
                IdentityKind::Workload => "workload",
            };
            out.text(&cluster_graph, &id, "identityKind", kind)?;
            out.text(&cluster_graph, &id, "displayName", &p.display_name)?;
        }
        EventPayload::RoleAssignedV1(p) => {
            let (id, role) = role_link(&out, &p.identity, &p.role, p.product.as_ref())?;
            if p.product.is_none() {
                out.typed(&cluster_graph, &role, "PlatformRole")?;
            }
            out.link(&cluster_graph, &id, "hasRole", &role)?;
        }
        EventPayload::RoleRevokedV1(p) => {
            let (id, role) = role_link(&out, &p.identity, &p.role, p.product.as_ref())?;
            let has_role = out.pc("hasRole")?;
            out.changes.push(Change::Remove(Quad::new(
                id,
                has_role,
                role,
                GraphName::NamedNode(cluster_graph),
            )));
        }
        // Credentials, tokens, keys, codes and the CA hold secrets or hashes of secrets:
        // the graph does not show them.
        EventPayload::PasskeyRegisteredV1(_)
        | EventPayload::PasskeyUsedV1(_)
        | EventPayload::PasskeyRevokedV1(_)
        | EventPayload::BootstrapCodeIssuedV1(_)
        | EventPayload::BootstrapCodeRedeemedV1(_)
        | EventPayload::ReEnrolmentCodeIssuedV1(_)
        | EventPayload::ClientRegisteredV1(_)
        | EventPayload::ClientRegisteredV2(_)
        | EventPayload::AuthorizationCodeIssuedV1(_)
        | EventPayload::AuthorizationCodeRedeemedV1(_)
        | EventPayload::DeviceCodeIssuedV1(_)
        | EventPayload::DeviceCodeApprovedV1(_)
        | EventPayload::DeviceCodeRedeemedV1(_)
        | EventPayload::ClientSecretRotatedV1(_)
        | EventPayload::AccessTokenRevokedV1(_)
        | EventPayload::WebAuthnCeremonyFinishedV1(_)
        | EventPayload::SigningKeyCreatedV1(_)
        | EventPayload::SigningKeyRetiredV1(_)
        | EventPayload::RefreshTokenIssuedV1(_)
        | EventPayload::RefreshTokenRotatedV1(_)
        | EventPayload::RefreshTokenFamilyRevokedV1(_)
        | EventPayload::CaCreatedV1(_)
        | EventPayload::RecoveryPerformedV1(_) => {}
    }
    Ok(out.changes)
}

fn role_link(
    out: &Out<'_>,
    identity: &Name,
    role: &Name,
    product: Option<&Name>,
) -> Result<(NamedNode, NamedNode), ProjectionError> {
    let id = named(iris::platform_identity(out.iri, identity))?;
    let role = match product {
        Some(p) => node(&out.iri.resource(p, ResourceKind::Role, role))?,
        None => named(iris::platform_role(out.iri, role))?,
    };
    Ok((id, role))
}

fn unlist_product(
    out: &mut Out<'_>,
    cluster_graph: &NamedNode,
    cluster: &NamedNode,
    product: &Name,
) -> Result<(), ProjectionError> {
    let p = node(&out.iri.product(product))?;
    out.changes.push(Change::RemoveTree {
        graph: cluster_graph.clone(),
        root: p.clone(),
        keep: Vec::new(),
    });
    let has_product = out.pc("hasProduct")?;
    out.changes.push(Change::Remove(Quad::new(
        cluster.clone(),
        has_product,
        p,
        GraphName::NamedNode(cluster_graph.clone()),
    )));
    Ok(())
}

fn cluster_initialized(
    out: &mut Out<'_>,
    graph: &NamedNode,
    cluster: &NamedNode,
    p: &ClusterInitializedV1,
    time: Timestamp,
) -> Result<(), ProjectionError> {
    out.typed(graph, cluster, "Cluster")?;
    out.text(graph, cluster, "clusterId", &p.cluster_id.to_string())?;
    out.text(graph, cluster, "domain", p.domain.as_str())?;
    out.text(
        graph,
        cluster,
        "caFingerprint",
        &p.ca_fingerprint.to_string(),
    )?;
    out.insert(graph, cluster, "initializedAt", date_time(time))
}

fn role_term(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Voter => "Voter",
        NodeRole::Learner => "Learner",
    }
}

fn node_joined(
    out: &mut Out<'_>,
    graph: &NamedNode,
    cluster: &NamedNode,
    p: &NodeJoinedV1,
    time: Timestamp,
) -> Result<(), ProjectionError> {
    let n = node(&out.iri.node(&p.node))?;
    out.changes.push(Change::RemoveTree {
        graph: graph.clone(),
        root: n.clone(),
        keep: Vec::new(),
    });
    out.typed(graph, cluster, "Cluster")?;
    out.link(graph, cluster, "hasNode", &n)?;
    out.typed(graph, &n, "Node")?;
    out.text(graph, &n, "name", p.node.as_str())?;
    out.text(graph, &n, "nodeId", &p.node_id.to_string())?;
    out.text(graph, &n, "address", &p.address)?;
    let role = out.pc(role_term(p.role))?;
    out.link(graph, &n, "role", &role)?;
    out.insert(graph, &n, "joinedAt", date_time(time))
}

fn set_node_role(
    out: &mut Out<'_>,
    graph: &NamedNode,
    name: &Name,
    role: NodeRole,
) -> Result<(), ProjectionError> {
    let n = node(&out.iri.node(name))?;
    let predicate = out.pc("role")?;
    out.changes.push(Change::RemoveProperty {
        graph: graph.clone(),
        subject: n.clone(),
        predicate,
    });
    let role = out.pc(role_term(role))?;
    out.link(graph, &n, "role", &role)
}

fn status_changed(out: &mut Out<'_>, p: &ResourceStatusChangedV1) -> Result<(), ProjectionError> {
    let graph = named(iris::product_graph(out.iri, &p.product))?;
    let subject = node(&out.iri.resource(&p.product, p.kind, &p.name))?;
    let status = out.pc(status_term(p.status))?;
    out.changes.push(Change::SetStatus {
        graph,
        subject,
        generation: p.generation,
        status,
        reason: p.reason.clone(),
    });
    Ok(())
}

/// `ResourceDeclared` (`first`) or `ResourceUpdated`: replace the resource's description.
fn declare(
    out: &mut Out<'_>,
    r: &Resource,
    generation: u64,
    time: Timestamp,
    first: bool,
) -> Result<(), ProjectionError> {
    let iri = out.iri;
    let graph = named(iris::product_graph(iri, &r.product))?;
    let product = node(&iri.product(&r.product))?;
    let subject_iri = iri.resource(&r.product, r.kind, &r.name);
    let s = node(&subject_iri)?;
    // An update keeps the first declaration time; a (re-)declaration starts afresh.
    let keep = if first {
        Vec::new()
    } else {
        vec![out.pc("declaredAt")?]
    };
    out.changes.push(Change::RemoveTree {
        graph: graph.clone(),
        root: s.clone(),
        keep,
    });
    out.typed(&graph, &s, r.kind.class_name())?;
    out.text(&graph, &s, "name", r.name.as_str())?;
    out.insert_p(
        &graph,
        &s,
        rdfs::LABEL.into_owned(),
        Literal::new_simple_literal(r.name.as_str()),
    );
    if r.kind != ResourceKind::Product {
        out.link(&graph, &s, "product", &product)?;
    }
    out.insert(&graph, &s, "generation", Literal::from(generation))?;
    let declared = out.pc("Declared")?;
    out.link(&graph, &s, "status", &declared)?;
    out.text(&graph, &s, "statusReason", declared_reason(r.kind))?;
    if first {
        out.insert(&graph, &s, "declaredAt", date_time(time))?;
    }
    out.insert(&graph, &s, "updatedAt", date_time(time))?;

    let mut spec = Spec {
        out,
        graph: &graph,
        product: &r.product,
        subject_iri: &subject_iri,
        s: &s,
    };
    match &r.spec {
        ResourceSpec::Product(x) => spec.product_spec(x)?,
        ResourceSpec::Identity(x) => spec.identity(x)?,
        ResourceSpec::Role(x) => spec.role(x)?,
        ResourceSpec::Group(x) => spec.group(x)?,
        // Never the value: only that there is one.
        ResourceSpec::Secret(_) => spec
            .out
            .insert(&graph, &s, "hasValue", Literal::from(true))?,
        ResourceSpec::Config(x) => spec.config(x)?,
        ResourceSpec::FeatureFlag(x) => spec.flag(x)?,
        ResourceSpec::Volume(x) => spec.volume(x)?,
        ResourceSpec::Container(x) => spec.container(x)?,
        ResourceSpec::Binary(x) => spec.binary(x)?,
        ResourceSpec::Ingress(x) => spec.ingress(x)?,
        ResourceSpec::EventSubscription(x) => spec.subscription(x)?,
    }

    if r.kind == ResourceKind::Product {
        // The cluster graph lists the product.
        let cluster_graph = named(iris::cluster_graph(iri))?;
        let cluster = node(&iri.cluster())?;
        out.changes.push(Change::RemoveTree {
            graph: cluster_graph.clone(),
            root: product.clone(),
            keep: Vec::new(),
        });
        out.typed(&cluster_graph, &cluster, "Cluster")?;
        out.link(&cluster_graph, &cluster, "hasProduct", &product)?;
        out.typed(&cluster_graph, &product, "Product")?;
        out.text(&cluster_graph, &product, "name", r.product.as_str())?;
        out.insert_p(
            &cluster_graph,
            &product,
            rdfs::LABEL.into_owned(),
            Literal::new_simple_literal(r.product.as_str()),
        );
        out.link(&cluster_graph, &product, "graph", &graph)?;
        if let ResourceSpec::Product(x) = &r.spec {
            out.text(&cluster_graph, &product, "version", x.version.as_str())?;
        }
    }
    Ok(())
}

/// Writes one resource's spec fields.
struct Spec<'o, 'a> {
    out: &'o mut Out<'a>,
    graph: &'o NamedNode,
    product: &'o Name,
    subject_iri: &'o Iri,
    s: &'o NamedNode,
}

fn durability(d: Durability) -> &'static str {
    match d {
        Durability::FullReplication => "full-replication",
        Durability::Quorum => "quorum",
        Durability::Local => "local",
        Durability::None => "none",
    }
}

fn performance(p: Performance) -> &'static str {
    match p {
        Performance::Standard => "standard",
        Performance::Fast => "fast",
        Performance::Archive => "archive",
    }
}

impl Spec<'_, '_> {
    /// The IRI `<resource>/<segments…>`.
    fn nested(&self, segments: &[&str]) -> Result<NamedNode, ProjectionError> {
        named(iris::nested(self.subject_iri, segments))
    }

    fn res(&self, kind: ResourceKind, name: &Name) -> Result<NamedNode, ProjectionError> {
        node(&self.out.iri.resource(self.product, kind, name))
    }

    fn text(&mut self, s: &NamedNode, p: &str, v: &str) -> Result<(), ProjectionError> {
        self.out.text(self.graph, s, p, v)
    }

    fn value(&mut self, s: &NamedNode, p: &str, v: impl Into<Term>) -> Result<(), ProjectionError> {
        self.out.insert(self.graph, s, p, v)
    }

    fn typed(&mut self, s: &NamedNode, class: &str) -> Result<(), ProjectionError> {
        self.out.typed(self.graph, s, class)
    }

    fn link(&mut self, s: &NamedNode, p: &str, o: &NamedNode) -> Result<(), ProjectionError> {
        self.out.link(self.graph, s, p, o)
    }

    fn description(&mut self, d: Option<&String>) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.out
            .opt_text(self.graph, &s, "description", d.map(String::as_str))
    }

    fn product_spec(&mut self, x: &ProductSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.text(&s, "version", x.version.as_str())?;
        self.description(x.description.as_ref())?;
        let graph = self.graph.clone();
        self.link(&s, "graph", &graph)
    }

    fn roles(&mut self, predicate: &str, roles: &[Name]) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        for r in roles {
            let role = self.res(ResourceKind::Role, r)?;
            self.link(&s, predicate, &role)?;
        }
        Ok(())
    }

    fn identity(&mut self, x: &IdentitySpec) -> Result<(), ProjectionError> {
        self.description(x.description.as_ref())?;
        self.roles("roles", &x.roles)
    }

    fn role(&mut self, x: &RoleSpec) -> Result<(), ProjectionError> {
        self.description(x.description.as_ref())?;
        let s = self.s.clone();
        for p in &x.permissions {
            self.text(&s, "permissions", p.as_str())?;
        }
        self.roles("inherits", &x.inherits)
    }

    fn group(&mut self, x: &GroupSpec) -> Result<(), ProjectionError> {
        self.description(x.description.as_ref())?;
        self.roles("roles", &x.roles)
    }

    fn config(&mut self, x: &ConfigSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        for (key, value) in &x.entries {
            let e = self.nested(&["entries", key.as_str()])?;
            self.link(&s, "entries", &e)?;
            self.typed(&e, "ConfigEntry")?;
            self.text(&e, "key", key.as_str())?;
            let literal = match value {
                ConfigValue::String(v) => Literal::new_simple_literal(v),
                ConfigValue::Integer(v) => Literal::from(*v),
                ConfigValue::Decimal(v) => Literal::new_typed_literal(v, xsd::DECIMAL),
                ConfigValue::Bool(v) => Literal::from(*v),
            };
            self.value(&e, "value", literal)?;
        }
        Ok(())
    }

    fn flag(&mut self, x: &FeatureFlagSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.description(x.description.as_ref())?;
        self.value(&s, "enabled", Literal::from(x.enabled))?;
        if let Some(v) = x.version {
            self.text(&s, "version", &v.to_string())?;
        }
        Ok(())
    }

    fn volume(&mut self, x: &VolumeSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.value(&s, "size", Literal::from(x.size.bytes()))?;
        let vt = match x.volume_type {
            VolumeType::Mounted => "mounted",
            VolumeType::RawBlock => "raw-block",
        };
        self.text(&s, "volumeType", vt)?;
        let i = self.nested(&["storageIntent"])?;
        self.link(&s, "storageIntent", &i)?;
        self.typed(&i, "StorageIntent")?;
        self.text(&i, "durability", durability(x.storage_intent.durability))?;
        self.text(&i, "performance", performance(x.storage_intent.performance))
    }

    /// `<parent> pc:<field> <parent>/<field>/<i>` with `pc:index` and `pc:value`.
    fn list(
        &mut self,
        parent: &NamedNode,
        prefix: &[&str],
        field: &str,
        items: &[String],
    ) -> Result<(), ProjectionError> {
        for (i, item) in items.iter().enumerate() {
            let index = i.to_string();
            let mut segments = prefix.to_vec();
            segments.extend([field, index.as_str()]);
            let n = self.nested(&segments)?;
            self.link(parent, field, &n)?;
            self.typed(&n, "ListItem")?;
            self.value(&n, "index", Literal::from(i as u64))?;
            self.text(&n, "value", item)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn workload(
        &mut self,
        identity: Option<&Name>,
        args: &[String],
        env: &std::collections::BTreeMap<EnvName, EnvValue>,
        mounts: &[Mount],
        ports: &[Port],
        resources: Option<&ResourceLimits>,
        health_check: Option<&HealthCheck>,
        restart_policy: &RestartPolicy,
    ) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        if let Some(id) = identity {
            let id = self.res(ResourceKind::Identity, id)?;
            self.link(&s, "identity", &id)?;
        }
        self.list(&s, &[], "args", args)?;
        for (name, value) in env {
            let e = self.nested(&["env", name.as_str()])?;
            self.link(&s, "env", &e)?;
            self.typed(&e, "EnvVar")?;
            self.text(&e, "name", name.as_str())?;
            match value {
                EnvValue::Literal(v) => self.text(&e, "value", v)?,
                EnvValue::Secret(secret) => {
                    let secret = self.res(ResourceKind::Secret, secret)?;
                    self.link(&e, "secret", &secret)?;
                }
                EnvValue::Config(key) => self.text(&e, "configKey", key.as_str())?,
            }
        }
        for (i, m) in mounts.iter().enumerate() {
            let n = self.nested(&["mounts", &i.to_string()])?;
            self.link(&s, "mounts", &n)?;
            self.typed(&n, "VolumeMount")?;
            self.value(&n, "index", Literal::from(i as u64))?;
            let volume = self.res(ResourceKind::Volume, &m.volume)?;
            self.link(&n, "volume", &volume)?;
            self.text(&n, "path", &m.path)?;
            self.value(&n, "readOnly", Literal::from(m.read_only))?;
        }
        for (i, p) in ports.iter().enumerate() {
            let n = self.nested(&["ports", &i.to_string()])?;
            self.link(&s, "ports", &n)?;
            self.typed(&n, "Port")?;
            self.value(&n, "index", Literal::from(i as u64))?;
            self.value(&n, "port", Literal::from(p.port))?;
            let protocol = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            self.text(&n, "protocol", protocol)?;
            if let Some(name) = &p.name {
                self.text(&n, "name", name.as_str())?;
            }
        }
        if let Some(r) = resources {
            let n = self.nested(&["resources"])?;
            self.link(&s, "resources", &n)?;
            self.typed(&n, "ResourceLimits")?;
            if let Some(cpu) = r.cpu {
                self.value(&n, "cpu", Literal::from(cpu.millicores()))?;
            }
            if let Some(memory) = r.memory {
                self.value(&n, "memory", Literal::from(memory.bytes()))?;
            }
        }
        if let Some(h) = health_check {
            let n = self.nested(&["healthCheck"])?;
            self.link(&s, "healthCheck", &n)?;
            self.typed(&n, "HealthCheck")?;
            match &h.probe {
                Probe::Http { path, port } => {
                    self.text(&n, "probe", "http")?;
                    self.text(&n, "path", path)?;
                    self.value(&n, "port", Literal::from(*port))?;
                }
                Probe::Tcp { port } => {
                    self.text(&n, "probe", "tcp")?;
                    self.value(&n, "port", Literal::from(*port))?;
                }
                Probe::Exec { command } => {
                    self.text(&n, "probe", "exec")?;
                    self.list(&n, &["healthCheck"], "command", command)?;
                }
            }
            self.value(&n, "interval", Literal::from(h.interval.millis()))?;
            self.value(&n, "timeout", Literal::from(h.timeout.millis()))?;
            self.value(&n, "failureThreshold", Literal::from(h.failure_threshold))?;
        }
        let (policy, retries) = match restart_policy {
            RestartPolicy::Always => ("always", None),
            RestartPolicy::OnFailure { max_retries } => ("on-failure", *max_retries),
            RestartPolicy::Never => ("never", None),
        };
        self.text(&s, "restartPolicy", policy)?;
        if let Some(r) = retries {
            self.value(&s, "maxRetries", Literal::from(r))?;
        }
        Ok(())
    }

    fn container(&mut self, x: &ContainerSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.text(&s, "image", x.image.as_str())?;
        self.list(&s, &[], "command", &x.command)?;
        self.workload(
            x.identity.as_ref(),
            &x.args,
            &x.env,
            &x.mounts,
            &x.ports,
            x.resources.as_ref(),
            x.health_check.as_ref(),
            &x.restart_policy,
        )
    }

    fn binary(&mut self, x: &BinarySpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.text(&s, "executable", &x.executable)?;
        self.workload(
            x.identity.as_ref(),
            &x.args,
            &x.env,
            &x.mounts,
            &x.ports,
            x.resources.as_ref(),
            x.health_check.as_ref(),
            &x.restart_policy,
        )
    }

    fn link_workload(&mut self, predicate: &str, name: &Name) -> Result<(), ProjectionError> {
        let change = Change::LinkWorkload {
            graph: self.graph.clone(),
            subject: self.s.clone(),
            predicate: self.out.pc(predicate)?,
            container: self.res(ResourceKind::Container, name)?,
            binary: self.res(ResourceKind::Binary, name)?,
        };
        self.out.changes.push(change);
        Ok(())
    }

    fn ingress(&mut self, x: &IngressSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        self.link_workload("target", &x.target)?;
        self.value(&s, "port", Literal::from(x.port))?;
        if let Some(p) = &x.path {
            self.text(&s, "path", p)?;
        }
        if let Some(h) = &x.host {
            self.text(&s, "host", h)?;
        }
        self.value(&s, "tls", Literal::from(x.tls))?;
        self.value(&s, "internal", Literal::from(x.internal))
    }

    fn subscription(&mut self, x: &EventSubscriptionSpec) -> Result<(), ProjectionError> {
        let s = self.s.clone();
        let source = node(&self.out.iri.product(&x.source.product))?;
        self.link(&s, "source", &source)?;
        if let Some(v) = &x.source.version {
            self.text(&s, "sourceVersion", v.as_str())?;
        }
        self.text(&s, "event", x.event.as_str())?;
        self.link_workload("handler", &x.handler)
    }
}
