//! The PiCloud ontology (`pc:` = `https://<domain>/ontology#`), served as Turtle at
//! `https://<domain>/ontology`.
//!
//! The tables below are the single definition of every class, individual and property
//! the projectors write; a test checks that every `pc:` term found in a projected graph is
//! declared here. `docs/ontology.md` explains the model for humans.

use std::fmt::Write as _;

use picloud_domain::{IriBuilder, ResourceKind};

/// A class of the ontology: (name, comment, superclass).
type ClassDef = (&'static str, &'static str, Option<&'static str>);

/// Classes other than the resource kinds (those come from [`ResourceKind::class_name`]).
const CLASSES: &[ClassDef] = &[
    ("Cluster", "The PiCloud cluster: its root IRI is `https://<domain>/`.", None),
    ("Node", "A Raspberry Pi that is a member of the cluster.", None),
    ("Resource", "Anything declared in a `.picloud` file; owned by a product.", None),
    ("Workload", "A container or binary: something that runs.", Some("Resource")),
    ("ConfigEntry", "One typed entry of a config resource.", None),
    ("StorageIntent", "What a volume needs (durability and performance), not how it is provided.", None),
    ("VolumeMount", "A volume mounted into a workload at a path.", None),
    ("Port", "A port a workload listens on.", None),
    ("EnvVar", "An environment variable of a workload: a literal, a secret reference or a config key.", None),
    ("ResourceLimits", "CPU and memory limits of a workload.", None),
    ("HealthCheck", "The liveness check of a workload.", None),
    ("ListItem", "One element of an ordered list of strings (command, arguments), with its index.", None),
    ("Identity", "A platform IAM identity: a person or a workload.", None),
    ("PlatformRole", "A platform-wide role held by an identity (product roles are `pc:Role`).", None),
    ("ResourceStatus", "Where a resource is in its lifecycle; one of the individuals pc:Declared, pc:Provisioning, pc:Ready, pc:Failed, pc:Deleting.", None),
    ("NodeRole", "A node's Raft membership role: pc:Voter or pc:Learner.", None),
    ("Event", "A committed event of the log (see its schema IRI `https://<domain>/schemas/events/<Type>/v<n>`).", None),
    ("EventSchema", "A versioned event type, `https://<domain>/schemas/events/<Type>/v<n>`.", None),
    ("Projector", "The process folding the event log into this graph; its IRI is `https://<domain>/meta/projector`.", None),
];

/// Comments of the resource-kind classes.
fn kind_comment(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Product => "The unit of deployment: owns its resources, graph and IAM scope.",
        ResourceKind::Identity => "A workload identity (service account) declared by a product.",
        ResourceKind::Role => "A product role: permissions, possibly inheriting other roles.",
        ResourceKind::Group => "A group of identities holding roles.",
        ResourceKind::Secret => {
            "A secret of a product. Its value is never projected: only pc:hasValue true."
        }
        ResourceKind::Config => "Typed configuration entries of a product.",
        ResourceKind::FeatureFlag => "An on/off flag bound to product major versions.",
        ResourceKind::Volume => "A replicated block volume.",
        ResourceKind::Container => "An OCI container workload.",
        ResourceKind::Binary => "A native binary workload.",
        ResourceKind::Ingress => "HTTPS ingress to a workload.",
        ResourceKind::EventSubscription => {
            "A subscription to another product's events, handled by a workload."
        }
    }
}

/// Individuals: (name, class, comment).
const INDIVIDUALS: &[(&str, &str, &str)] = &[
    ("Declared", "ResourceStatus", "Accepted into the log; nothing has been provisioned for this generation yet. The reason says which controller it waits for."),
    ("Provisioning", "ResourceStatus", "A controller is working on it."),
    ("Ready", "ResourceStatus", "Provisioned and healthy."),
    ("Failed", "ResourceStatus", "Provisioning failed; see pc:statusReason."),
    ("Deleting", "ResourceStatus", "Being torn down."),
    ("Voter", "NodeRole", "Votes in Raft elections and counts towards the commit quorum."),
    ("Learner", "NodeRole", "Receives the log but does not vote."),
];

/// What a property's values are.
#[derive(Clone, Copy)]
enum Range {
    /// A literal datatype, as a prefixed name (`xsd:string`).
    Data(&'static str),
    /// An IRI of this class (prefixed name, `pc:Volume`).
    Object(&'static str),
}

use Range::{Data, Object};

/// A property: (name, comment, domain (only when there is exactly one), range).
type PropertyDef = (&'static str, &'static str, Option<&'static str>, Range);

const STRING: Range = Data("xsd:string");
const INTEGER: Range = Data("xsd:integer");
const BOOLEAN: Range = Data("xsd:boolean");
const DATE_TIME: Range = Data("xsd:dateTime");

const PROPERTIES: &[PropertyDef] = &[
    // ---- every resource ----
    ("name", "The name of a resource, node, port, identity or environment variable.", None, STRING),
    ("product", "The product that owns a resource.", Some("pc:Resource"), Object("pc:Product")),
    ("generation", "The resource's spec generation: 1 when declared, +1 on every change.", Some("pc:Resource"), INTEGER),
    ("status", "The resource's lifecycle status for its current generation.", Some("pc:Resource"), Object("pc:ResourceStatus")),
    ("statusReason", "Why the resource has its status, for humans (e.g. \"waiting for the workload controller\").", Some("pc:Resource"), STRING),
    ("declaredAt", "When the resource was first declared (time of its ResourceDeclared event).", Some("pc:Resource"), DATE_TIME),
    ("updatedAt", "When the resource's current generation was declared.", Some("pc:Resource"), DATE_TIME),
    ("description", "Free text.", None, STRING),
    // ---- product ----
    ("version", "A product's semantic version, or a feature flag's version expression (`>= 2`).", None, STRING),
    ("graph", "The named graph holding a product's resources (`<product>/graph`).", Some("pc:Product"), Object("rdfs:Resource")),
    // ---- cluster and nodes ----
    ("hasProduct", "A product deployed on the cluster (cluster graph).", Some("pc:Cluster"), Object("pc:Product")),
    ("hasNode", "A node that is a member of the cluster.", Some("pc:Cluster"), Object("pc:Node")),
    ("clusterId", "The cluster's id, drawn at `cluster init`.", Some("pc:Cluster"), STRING),
    ("domain", "The cluster domain every IRI lives under.", Some("pc:Cluster"), STRING),
    ("caFingerprint", "SHA-256 (hex) of the cluster CA certificate, as shown on the console.", Some("pc:Cluster"), STRING),
    ("initializedAt", "When the cluster was initialised.", Some("pc:Cluster"), DATE_TIME),
    ("nodeId", "A node's stable id.", Some("pc:Node"), STRING),
    ("address", "Where peers reach a node, `host:port`.", Some("pc:Node"), STRING),
    ("role", "A node's Raft membership role.", Some("pc:Node"), Object("pc:NodeRole")),
    ("joinedAt", "When the node was admitted.", Some("pc:Node"), DATE_TIME),
    ("bootSlot", "The A/B system slot the node last booted from (`A` or `B`).", Some("pc:Node"), STRING),
    ("firmwareVersion", "The firmware version the node last booted.", Some("pc:Node"), STRING),
    ("bootedAt", "When the node last reported a boot.", Some("pc:Node"), DATE_TIME),
    // ---- IAM ----
    ("identityKind", "`human` or `workload`.", Some("pc:Identity"), STRING),
    ("displayName", "How to show an identity.", Some("pc:Identity"), STRING),
    ("hasRole", "A role granted to a platform identity: a product's pc:Role or a pc:PlatformRole.", Some("pc:Identity"), Object("rdfs:Resource")),
    ("roles", "Product roles granted to a workload identity or a group.", None, Object("pc:Role")),
    ("permissions", "A permission of a role, `<resource-pattern>:<action>`.", Some("pc:Role"), STRING),
    ("inherits", "A role whose permissions this role includes.", Some("pc:Role"), Object("pc:Role")),
    // ---- secrets and config ----
    ("hasValue", "Always true: the secret has a value. The value itself is never projected.", Some("pc:Secret"), BOOLEAN),
    ("entries", "An entry of a config resource (`<config>/entries/<key>`).", Some("pc:Config"), Object("pc:ConfigEntry")),
    ("key", "A config entry's key.", Some("pc:ConfigEntry"), STRING),
    ("value", "The value of a config entry (typed: string, integer, decimal, boolean), an environment variable or a list item.", None, Data("rdfs:Literal")),
    ("enabled", "Whether a feature flag is on.", Some("pc:FeatureFlag"), BOOLEAN),
    // ---- volumes ----
    ("size", "A volume's capacity in bytes.", Some("pc:Volume"), INTEGER),
    ("storageIntent", "A volume's storage intent (`<volume>/storageIntent`).", Some("pc:Volume"), Object("pc:StorageIntent")),
    ("volumeType", "`mounted` (a filesystem) or `raw-block`.", Some("pc:Volume"), STRING),
    ("durability", "`full-replication`, `quorum`, `local` or `none`.", Some("pc:StorageIntent"), STRING),
    ("performance", "`standard`, `fast` or `archive`.", Some("pc:StorageIntent"), STRING),
    // ---- workloads ----
    ("image", "A container's OCI image reference.", Some("pc:Container"), STRING),
    ("executable", "A binary's executable path.", Some("pc:Binary"), STRING),
    ("identity", "The workload identity a workload runs as.", Some("pc:Workload"), Object("pc:WorkloadIdentity")),
    ("command", "An element of a command line (`<workload>/command/<i>`, `<workload>/healthCheck/command/<i>`).", None, Object("pc:ListItem")),
    ("args", "An argument of a workload (`<workload>/args/<i>`).", Some("pc:Workload"), Object("pc:ListItem")),
    ("index", "Position in an ordered list, from 0.", None, INTEGER),
    ("env", "An environment variable of a workload (`<workload>/env/<NAME>`).", Some("pc:Workload"), Object("pc:EnvVar")),
    ("secret", "The secret whose value an environment variable receives.", Some("pc:EnvVar"), Object("pc:Secret")),
    ("configKey", "The config key whose value an environment variable receives.", Some("pc:EnvVar"), STRING),
    ("mounts", "A volume mount of a workload (`<workload>/mounts/<i>`).", Some("pc:Workload"), Object("pc:VolumeMount")),
    ("volume", "The mounted volume.", Some("pc:VolumeMount"), Object("pc:Volume")),
    ("path", "An absolute path (mount point), an HTTP probe path or an ingress path prefix.", None, STRING),
    ("readOnly", "Whether a mount is read-only.", Some("pc:VolumeMount"), BOOLEAN),
    ("ports", "A port a workload listens on (`<workload>/ports/<i>`).", Some("pc:Workload"), Object("pc:Port")),
    ("port", "A TCP/UDP port number.", None, INTEGER),
    ("protocol", "`tcp` or `udp`.", Some("pc:Port"), STRING),
    ("resources", "A workload's CPU and memory limits (`<workload>/resources`).", Some("pc:Workload"), Object("pc:ResourceLimits")),
    ("cpu", "CPU limit in millicores.", Some("pc:ResourceLimits"), INTEGER),
    ("memory", "Memory limit in bytes.", Some("pc:ResourceLimits"), INTEGER),
    ("healthCheck", "A workload's liveness check (`<workload>/healthCheck`).", Some("pc:Workload"), Object("pc:HealthCheck")),
    ("probe", "What a health check probes: `http`, `tcp` or `exec`.", Some("pc:HealthCheck"), STRING),
    ("interval", "Time between probes, in milliseconds.", Some("pc:HealthCheck"), INTEGER),
    ("timeout", "Time a probe may take, in milliseconds.", Some("pc:HealthCheck"), INTEGER),
    ("failureThreshold", "Consecutive failures before the workload counts as unhealthy.", Some("pc:HealthCheck"), INTEGER),
    ("restartPolicy", "`always`, `on-failure` or `never`.", Some("pc:Workload"), STRING),
    ("maxRetries", "Limit on consecutive restarts of an `on-failure` policy.", Some("pc:Workload"), INTEGER),
    // ---- ingress and subscriptions ----
    ("target", "The workload an ingress routes to.", Some("pc:Ingress"), Object("pc:Workload")),
    ("host", "Host routing of an ingress.", Some("pc:Ingress"), STRING),
    ("tls", "Whether an ingress serves HTTPS with a certificate from the cluster CA.", Some("pc:Ingress"), BOOLEAN),
    ("internal", "Whether an ingress is reachable only from inside the cluster.", Some("pc:Ingress"), BOOLEAN),
    ("source", "The product whose events a subscription receives.", Some("pc:EventSubscription"), Object("pc:Product")),
    ("sourceVersion", "The version of the source product a subscription is pinned to.", Some("pc:EventSubscription"), STRING),
    ("event", "The event type a subscription receives (`UserCreated`).", Some("pc:EventSubscription"), STRING),
    ("handler", "The workload that handles a subscription's events.", Some("pc:EventSubscription"), Object("pc:Workload")),
    // ---- projector ----
    ("lastProjectedOffset", "The log offset of the last event folded into the graph (the projector's cursor).", Some("pc:Projector"), INTEGER),
];

/// Every term (class, individual, property) the ontology declares, without namespace.
pub fn terms() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ResourceKind::ALL.iter().map(|k| k.class_name()).collect();
    out.extend(CLASSES.iter().map(|c| c.0));
    out.extend(INDIVIDUALS.iter().map(|i| i.0));
    out.extend(PROPERTIES.iter().map(|p| p.0));
    out
}

/// Splits `camelCase` into lower-case words for a label (`statusReason` → `status reason`).
fn label_of(term: &str) -> String {
    let mut out = String::new();
    for (i, c) in term.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A Turtle string literal.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The ontology as Turtle, with `pc:` bound to `https://<domain>/ontology#`: an
/// `owl:Ontology` header, then every class, individual and property with `rdfs:label`,
/// `rdfs:comment`, and `rdfs:domain` / `rdfs:range` where they are single classes. The
/// output is deterministic (same domain → same bytes).
pub fn ontology_turtle(iri: &IriBuilder) -> String {
    let mut t = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(t, "@prefix pc: <{}> .", iri.ontology_namespace());
    t.push_str("@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .\n");
    t.push_str("@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n");
    t.push_str("@prefix owl: <http://www.w3.org/2002/07/owl#> .\n");
    t.push_str("@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n\n");
    let _ = writeln!(
        t,
        "<{}> a owl:Ontology ;\n  rdfs:label \"PiCloud ontology\" ;\n  rdfs:comment {} .\n",
        iri.ontology(),
        quoted(
            "The vocabulary of the PiCloud cluster graph: products and their resources, \
             nodes, the cluster, IAM subjects and resource statuses. Every resource IRI \
             is https://<domain>/products/<product>/<kind>/<name>; nested values have \
             IRIs below their resource."
        )
    );
    t.push_str("# ---- resource kinds ----\n");
    for kind in ResourceKind::ALL {
        let parent = if kind.is_workload() {
            "pc:Workload"
        } else {
            "pc:Resource"
        };
        let _ = writeln!(
            t,
            "pc:{} a owl:Class ;\n  rdfs:subClassOf {parent} ;\n  rdfs:label {} ;\n  rdfs:comment {} .\n",
            kind.class_name(),
            quoted(&label_of(kind.class_name())),
            quoted(&format!(
                "{} Declared with `{}` in .picloud files; IRI {}.",
                kind_comment(kind),
                kind.keyword(),
                if kind == ResourceKind::Product {
                    "https://<domain>/products/<name>".to_owned()
                } else {
                    format!("https://<domain>/products/<product>/{}/<name>", kind.plural())
                }
            )),
        );
    }
    t.push_str("# ---- other classes ----\n");
    for (name, comment, parent) in CLASSES {
        let _ = writeln!(t, "pc:{name} a owl:Class ;");
        if let Some(p) = parent {
            let _ = writeln!(t, "  rdfs:subClassOf pc:{p} ;");
        }
        let _ = writeln!(
            t,
            "  rdfs:label {} ;\n  rdfs:comment {} .\n",
            quoted(&label_of(name)),
            quoted(comment)
        );
    }
    t.push_str("# ---- individuals ----\n");
    for (name, class, comment) in INDIVIDUALS {
        let _ = writeln!(
            t,
            "pc:{name} a owl:NamedIndividual, pc:{class} ;\n  rdfs:label {} ;\n  rdfs:comment {} .\n",
            quoted(&label_of(name)),
            quoted(comment)
        );
    }
    t.push_str("# ---- properties ----\n");
    for (name, comment, domain, range) in PROPERTIES {
        let (kind, range) = match range {
            Data(r) => ("owl:DatatypeProperty", *r),
            Object(r) => ("owl:ObjectProperty", *r),
        };
        let _ = writeln!(t, "pc:{name} a {kind} ;");
        let _ = writeln!(t, "  rdfs:label {} ;", quoted(&label_of(name)));
        let _ = writeln!(t, "  rdfs:comment {} ;", quoted(comment));
        if let Some(d) = domain {
            let _ = writeln!(t, "  rdfs:domain {d} ;");
        }
        let _ = writeln!(t, "  rdfs:range {range} .\n");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_unique() {
        let terms = terms();
        let set: std::collections::BTreeSet<_> = terms.iter().collect();
        assert_eq!(set.len(), terms.len());
    }

    #[test]
    fn product_class_names_its_own_iri_shape() {
        let t = ontology_turtle(&IriBuilder::default());
        assert!(t.contains("IRI https://<domain>/products/<name>."));
        assert!(!t.contains("/products/<product>/products/"));
    }

    #[test]
    fn labels() {
        assert_eq!(label_of("statusReason"), "status reason");
        assert_eq!(label_of("Container"), "container");
    }
}
