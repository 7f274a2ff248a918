//! Resource kinds and their typed specs.
//!
//! A [`Resource`] is one declaration of a `.picloud` file after validation: a kind, a name,
//! the product that owns it and a typed [`ResourceSpec`]. Specs are carried inside events
//! (`ResourceDeclared`, `ResourceUpdated`), so they serialise with serde — camelCase field
//! names in JSON, exactly the field names users write — and must stay compatible with the
//! log's postcard encoding: no `skip_serializing_if`, no untagged or internally tagged enums,
//! no `flatten`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::Name;
use crate::units::{ByteSize, DurationMs, MilliCpu};

mod values;
pub use values::*;

/// Every kind of resource a `.picloud` file can declare, in dependency order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// The unit of deployment; owns everything else.
    Product,
    /// A workload identity (service account) of the product.
    Identity,
    /// A product role (permissions, inheritance).
    Role,
    /// A group of identities holding roles.
    Group,
    /// A secret value, encrypted by the platform.
    Secret,
    /// Typed configuration entries.
    Config,
    /// An on/off flag bound to product versions.
    FeatureFlag,
    /// A replicated block volume.
    Volume,
    /// An OCI container workload.
    Container,
    /// A native binary workload.
    Binary,
    /// HTTPS ingress to a workload.
    Ingress,
    /// A subscription to another product's events.
    EventSubscription,
}

impl ResourceKind {
    /// All kinds, in dependency order (a kind only references kinds before it, except
    /// ingress and subscriptions, which reference workloads).
    pub const ALL: [ResourceKind; 12] = [
        ResourceKind::Product,
        ResourceKind::Identity,
        ResourceKind::Role,
        ResourceKind::Group,
        ResourceKind::Secret,
        ResourceKind::Config,
        ResourceKind::FeatureFlag,
        ResourceKind::Volume,
        ResourceKind::Container,
        ResourceKind::Binary,
        ResourceKind::Ingress,
        ResourceKind::EventSubscription,
    ];

    /// The keyword in `.picloud` files: `container`, `feature-flag`, …
    pub fn keyword(self) -> &'static str {
        match self {
            ResourceKind::Product => "product",
            ResourceKind::Identity => "identity",
            ResourceKind::Role => "role",
            ResourceKind::Group => "group",
            ResourceKind::Secret => "secret",
            ResourceKind::Config => "config",
            ResourceKind::FeatureFlag => "feature-flag",
            ResourceKind::Volume => "volume",
            ResourceKind::Container => "container",
            ResourceKind::Binary => "binary",
            ResourceKind::Ingress => "ingress",
            ResourceKind::EventSubscription => "event-subscription",
        }
    }

    /// The kind for a keyword, if there is one.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.keyword() == keyword)
    }

    /// The IRI path segment: `containers`, `feature-flags`, `identities`, `ingresses`, …
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Product => "products",
            ResourceKind::Identity => "identities",
            ResourceKind::Role => "roles",
            ResourceKind::Group => "groups",
            ResourceKind::Secret => "secrets",
            ResourceKind::Config => "configs",
            ResourceKind::FeatureFlag => "feature-flags",
            ResourceKind::Volume => "volumes",
            ResourceKind::Container => "containers",
            ResourceKind::Binary => "binaries",
            ResourceKind::Ingress => "ingresses",
            ResourceKind::EventSubscription => "event-subscriptions",
        }
    }

    /// The kind for an IRI path segment.
    pub fn from_plural(plural: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// The ontology class name: `Container`, `FeatureFlag`, …
    pub fn class_name(self) -> &'static str {
        match self {
            ResourceKind::Product => "Product",
            ResourceKind::Identity => "WorkloadIdentity",
            ResourceKind::Role => "Role",
            ResourceKind::Group => "Group",
            ResourceKind::Secret => "Secret",
            ResourceKind::Config => "Config",
            ResourceKind::FeatureFlag => "FeatureFlag",
            ResourceKind::Volume => "Volume",
            ResourceKind::Container => "Container",
            ResourceKind::Binary => "Binary",
            ResourceKind::Ingress => "Ingress",
            ResourceKind::EventSubscription => "EventSubscription",
        }
    }

    /// Whether this kind is a workload (container or binary).
    pub fn is_workload(self) -> bool {
        matches!(self, ResourceKind::Container | ResourceKind::Binary)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One validated declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Its kind; always equal to `spec.kind()`.
    pub kind: ResourceKind,
    /// Its name, unique per (product, kind).
    pub name: Name,
    /// The owning product; for a product, its own name.
    pub product: Name,
    /// The typed spec.
    pub spec: ResourceSpec,
}

impl Resource {
    /// Builds a resource; the kind is taken from the spec.
    pub fn new(product: Name, name: Name, spec: ResourceSpec) -> Self {
        Self {
            kind: spec.kind(),
            name,
            product,
            spec,
        }
    }

    /// The identity of this resource inside the cluster.
    pub fn id(&self) -> ResourceId {
        ResourceId {
            product: self.product.clone(),
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    /// Every other resource this one names, so that dangling references can be refused.
    pub fn references(&self) -> Vec<Reference> {
        self.spec.references()
    }
}

/// Where a resource lives: (product, kind, name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceId {
    /// Owning product.
    pub product: Name,
    /// Kind.
    pub kind: ResourceKind,
    /// Name.
    pub name: Name,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} '{}' in product '{}'",
            self.kind, self.name, self.product
        )
    }
}

/// A reference from one resource to another resource of the same product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The field path that holds the reference, such as `mounts[0].volume`.
    pub field: String,
    /// The kinds the target may have (an ingress targets a container or a binary).
    pub kinds: &'static [ResourceKind],
    /// The referenced name.
    pub name: Name,
}

/// The typed spec of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceSpec {
    /// `product`
    Product(ProductSpec),
    /// `identity`
    Identity(IdentitySpec),
    /// `role`
    Role(RoleSpec),
    /// `group`
    Group(GroupSpec),
    /// `secret`
    Secret(SecretSpec),
    /// `config`
    Config(ConfigSpec),
    /// `feature-flag`
    FeatureFlag(FeatureFlagSpec),
    /// `volume`
    Volume(VolumeSpec),
    /// `container`
    Container(ContainerSpec),
    /// `binary`
    Binary(BinarySpec),
    /// `ingress`
    Ingress(IngressSpec),
    /// `event-subscription`
    EventSubscription(EventSubscriptionSpec),
}

const WORKLOADS: &[ResourceKind] = &[ResourceKind::Container, ResourceKind::Binary];

impl ResourceSpec {
    /// The kind of this spec.
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceSpec::Product(_) => ResourceKind::Product,
            ResourceSpec::Identity(_) => ResourceKind::Identity,
            ResourceSpec::Role(_) => ResourceKind::Role,
            ResourceSpec::Group(_) => ResourceKind::Group,
            ResourceSpec::Secret(_) => ResourceKind::Secret,
            ResourceSpec::Config(_) => ResourceKind::Config,
            ResourceSpec::FeatureFlag(_) => ResourceKind::FeatureFlag,
            ResourceSpec::Volume(_) => ResourceKind::Volume,
            ResourceSpec::Container(_) => ResourceKind::Container,
            ResourceSpec::Binary(_) => ResourceKind::Binary,
            ResourceSpec::Ingress(_) => ResourceKind::Ingress,
            ResourceSpec::EventSubscription(_) => ResourceKind::EventSubscription,
        }
    }

    fn references(&self) -> Vec<Reference> {
        let mut refs = Vec::new();
        let mut push = |field: String, kinds: &'static [ResourceKind], name: &Name| {
            refs.push(Reference {
                field,
                kinds,
                name: name.clone(),
            });
        };
        match self {
            ResourceSpec::Container(ContainerSpec {
                identity,
                env,
                mounts,
                ..
            })
            | ResourceSpec::Binary(BinarySpec {
                identity,
                env,
                mounts,
                ..
            }) => {
                if let Some(id) = identity {
                    push("identity".into(), &[ResourceKind::Identity], id);
                }
                for (key, value) in env {
                    if let EnvValue::Secret(s) = value {
                        push(format!("env.{key}"), &[ResourceKind::Secret], s);
                    }
                }
                for (i, m) in mounts.iter().enumerate() {
                    push(
                        format!("mounts[{i}].volume"),
                        &[ResourceKind::Volume],
                        &m.volume,
                    );
                }
            }
            ResourceSpec::Ingress(s) => push("target".into(), WORKLOADS, &s.target),
            ResourceSpec::EventSubscription(s) => push("handler".into(), WORKLOADS, &s.handler),
            ResourceSpec::Identity(s) => {
                for (i, r) in s.roles.iter().enumerate() {
                    push(format!("roles[{i}]"), &[ResourceKind::Role], r);
                }
            }
            ResourceSpec::Group(s) => {
                for (i, r) in s.roles.iter().enumerate() {
                    push(format!("roles[{i}]"), &[ResourceKind::Role], r);
                }
            }
            ResourceSpec::Role(s) => {
                for (i, r) in s.inherits.iter().enumerate() {
                    push(format!("inherits[{i}]"), &[ResourceKind::Role], r);
                }
            }
            ResourceSpec::Product(_)
            | ResourceSpec::Secret(_)
            | ResourceSpec::Config(_)
            | ResourceSpec::FeatureFlag(_)
            | ResourceSpec::Volume(_) => {}
        }
        refs
    }
}

/// `product 'photo-app' = { version: '1.0.0', description: '…' }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSpec {
    /// Semantic version of the product; one version is active at a time.
    pub version: SemVer,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A workload identity (service account) of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySpec {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Product roles granted to the identity.
    #[serde(default)]
    pub roles: Vec<Name>,
}

/// A product role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleSpec {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Permissions, such as `containers/api-server:read` or `sparql:query`.
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Roles whose permissions this role includes.
    #[serde(default)]
    pub inherits: Vec<Name>,
}

/// A group holding roles; membership is managed by IAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Roles every member holds.
    #[serde(default)]
    pub roles: Vec<Name>,
}

/// A secret. The value is written in the file and encrypted by the platform when applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    /// The secret value (never printed: its `Debug` is redacted).
    pub value: SecretValue,
}

/// Typed configuration entries of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    /// Entries by key.
    pub entries: BTreeMap<ConfigKey, ConfigValue>,
}

/// An on/off flag, optionally active only for some product major versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureFlagSpec {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the flag is on (default `true`).
    pub enabled: bool,
    /// Product major versions the flag applies to, such as `>= 2`.
    #[serde(default)]
    pub version: Option<VersionExpr>,
}

/// A replicated block volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Capacity.
    pub size: ByteSize,
    /// Durability and performance intent; the platform picks replication and placement.
    pub storage_intent: StorageIntent,
    /// Filesystem mount or raw block device.
    pub volume_type: VolumeType,
}

/// What a volume needs, not how to provide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageIntent {
    /// How many failures the data survives.
    pub durability: Durability,
    /// Placement and I/O priority.
    pub performance: Performance,
}

/// Durability tier (immutable after creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// A replica on every node.
    FullReplication,
    /// A majority of nodes.
    Quorum,
    /// One node, pinned to the workload.
    Local,
    /// Memory only; gone on restart.
    None,
}

/// Performance tier (immutable after creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Performance {
    /// The default.
    Standard,
    /// Low-latency placement and I/O priority.
    Fast,
    /// Sequential, batched writes.
    Archive,
}

/// How a volume is presented to workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeType {
    /// A filesystem mounted at a path.
    Mounted,
    /// A raw block device.
    RawBlock,
}

/// An OCI container workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// Image reference, such as `photo-api:1.0.0` (from the cluster registry) or a digest.
    pub image: ImageRef,
    /// The workload identity it runs as.
    #[serde(default)]
    pub identity: Option<Name>,
    /// Overrides the image's entrypoint.
    #[serde(default)]
    pub command: Vec<String>,
    /// Overrides the image's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<EnvName, EnvValue>,
    /// Volumes mounted into the container.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Ports the container listens on.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// CPU and memory limits.
    #[serde(default)]
    pub resources: Option<ResourceLimits>,
    /// Liveness check.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// What happens when it exits.
    pub restart_policy: RestartPolicy,
}

/// A native binary workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinarySpec {
    /// The executable: an absolute path inside its artefact, such as `/bin/worker`.
    pub executable: String,
    /// Arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The workload identity it runs as.
    #[serde(default)]
    pub identity: Option<Name>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<EnvName, EnvValue>,
    /// Volumes mounted for the process.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Ports the process listens on.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// CPU and memory limits.
    #[serde(default)]
    pub resources: Option<ResourceLimits>,
    /// Liveness check.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// What happens when it exits.
    pub restart_policy: RestartPolicy,
}

/// HTTPS ingress to a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// The container or binary that receives the traffic.
    pub target: Name,
    /// The workload port.
    pub port: u16,
    /// Path prefix routing, such as `/api`.
    #[serde(default)]
    pub path: Option<String>,
    /// Host routing, such as `photos.picloud.local`.
    #[serde(default)]
    pub host: Option<String>,
    /// Serve HTTPS with a certificate from the cluster CA (default `true`).
    pub tls: bool,
    /// Reachable only from inside the cluster (default `false`).
    pub internal: bool,
}

/// A subscription to events of another product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSubscriptionSpec {
    /// The emitting product, optionally pinned: `user-service@1.0.0`.
    pub source: SubscriptionSource,
    /// The event type, such as `UserCreated`.
    pub event: EventTypeName,
    /// The container or binary of this product that handles the events.
    pub handler: Name,
}

/// A volume mounted into a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// The volume's name (same product).
    pub volume: Name,
    /// Absolute mount path inside the workload.
    pub path: String,
    /// Mount read-only (default `false`).
    pub read_only: bool,
}

/// A listening port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// Optional name, such as `http`.
    #[serde(default)]
    pub name: Option<Name>,
    /// The port number.
    pub port: u16,
    /// `tcp` (default) or `udp`.
    pub protocol: Protocol,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// CPU and memory limits, enforced with cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLimits {
    /// CPU limit.
    #[serde(default)]
    pub cpu: Option<MilliCpu>,
    /// Memory limit.
    #[serde(default)]
    pub memory: Option<ByteSize>,
}

/// A liveness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// What is probed.
    pub probe: Probe,
    /// Time between probes (default 10 s).
    pub interval: DurationMs,
    /// Time a probe may take (default 2 s).
    pub timeout: DurationMs,
    /// Consecutive failures before the workload counts as unhealthy (default 3).
    pub failure_threshold: u32,
}

/// The probe of a [`HealthCheck`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Probe {
    /// `GET http://<workload>:<port><path>` answers 2xx.
    Http {
        /// Request path.
        path: String,
        /// Port.
        port: u16,
    },
    /// A TCP connection to the port succeeds.
    Tcp {
        /// Port.
        port: u16,
    },
    /// A command run inside the workload exits 0.
    Exec {
        /// Command and arguments.
        command: Vec<String>,
    },
}

/// What happens when a workload exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum RestartPolicy {
    /// Always restart (the default), with backoff.
    Always,
    /// Restart after a non-zero exit, at most `max_retries` times when set.
    OnFailure {
        /// Limit on consecutive restarts.
        max_retries: Option<u32>,
    },
    /// Never restart.
    Never,
}

/// Default probe interval.
pub const DEFAULT_PROBE_INTERVAL: DurationMs = DurationMs(10_000);
/// Default probe timeout.
pub const DEFAULT_PROBE_TIMEOUT: DurationMs = DurationMs(2_000);
/// Default failure threshold.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn keywords_round_trip() {
        for k in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_keyword(k.keyword()), Some(k));
            assert_eq!(ResourceKind::from_plural(k.plural()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.keyword()));
        }
        assert_eq!(ResourceKind::from_keyword("featureflag"), None);
    }

    #[test]
    fn references_are_listed() {
        let spec = ContainerSpec {
            image: ImageRef::parse("photo-api:1.0.0").unwrap(),
            identity: Some(n("api-worker")),
            command: vec![],
            args: vec![],
            env: [(
                EnvName::parse("DB_URL").unwrap(),
                EnvValue::Secret(n("db-connection")),
            )]
            .into_iter()
            .collect(),
            mounts: vec![Mount {
                volume: n("media-store"),
                path: "/data".into(),
                read_only: false,
            }],
            ports: vec![],
            resources: None,
            health_check: None,
            restart_policy: RestartPolicy::Always,
        };
        let r = Resource::new(
            n("photo-app"),
            n("api-server"),
            ResourceSpec::Container(spec),
        );
        let refs: Vec<(String, String)> = r
            .references()
            .into_iter()
            .map(|r| (r.field, r.name.to_string()))
            .collect();
        assert_eq!(
            refs,
            vec![
                ("identity".to_owned(), "api-worker".to_owned()),
                ("env.DB_URL".to_owned(), "db-connection".to_owned()),
                ("mounts[0].volume".to_owned(), "media-store".to_owned()),
            ]
        );
    }

    #[test]
    fn restart_policy_fields_are_camel_case() {
        let p = RestartPolicy::OnFailure {
            max_retries: Some(3),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "on-failure": { "maxRetries": 3 } })
        );
        assert_eq!(serde_json::from_value::<RestartPolicy>(json).unwrap(), p);
    }

    #[test]
    fn json_uses_user_field_names() {
        let v = VolumeSpec {
            size: ByteSize(100_000_000_000),
            storage_intent: StorageIntent {
                durability: Durability::FullReplication,
                performance: Performance::Standard,
            },
            volume_type: VolumeType::Mounted,
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["storageIntent"]["durability"], "full-replication");
        assert_eq!(json["volumeType"], "mounted");
        let back: VolumeSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
    }
}
