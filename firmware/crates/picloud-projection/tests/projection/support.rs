//! Event sequences from real commands (product-core `decide`), and query helpers.

use std::path::PathBuf;

use picloud_domain::{Iri, IriBuilder, Name, Resource};
use picloud_events::payload::*;
use picloud_events::{
    ClusterId, CorrelationId, Envelope, EventId, EventPayload, NodeId, Sha256Digest, Timestamp,
};
use picloud_product_core::{apply, decide, Command, ProductState};
use picloud_projection::oxigraph::sparql::QueryResults;
use picloud_projection::{GraphScope, Projection};

pub const PC: &str = "PREFIX pc: <https://picloud.local/ontology#>\n";

pub fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn iri() -> IriBuilder {
    IriBuilder::default()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// The resources of `examples/<dir>`, through the language's `check`.
pub fn example(dir: &str) -> Vec<Resource> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "picloud"))
        .collect();
    paths.sort();
    let files: Vec<picloud_lang::SourceFile> = paths
        .iter()
        .map(|p| {
            picloud_lang::SourceFile::new(
                p.display().to_string(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    picloud_lang::check(&files).unwrap().resources
}

/// A log: product-core state plus every committed event, in order (offset = index).
#[derive(Default)]
pub struct Log {
    pub state: ProductState,
    pub events: Vec<Envelope>,
    commands: u32,
}

impl Log {
    fn next(&mut self) -> (CorrelationId, Timestamp) {
        self.commands += 1;
        let c = self.commands;
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&c.to_be_bytes());
        let t = Timestamp::from_unix_millis(1_795_794_861_000 + i64::from(c) * 1_000).unwrap();
        (CorrelationId::from_bytes(bytes), t)
    }

    /// Decides and commits a command; `false` if refused.
    pub fn command(&mut self, make: impl FnOnce(CorrelationId, Iri) -> Command) -> bool {
        let (corr, now) = self.next();
        let cmd = make(corr, iri().cluster());
        match decide(&self.state, &cmd, now, &iri()) {
            Ok(events) => {
                for e in events {
                    apply(&mut self.state, &e);
                    self.events.push(e);
                }
                true
            }
            Err(_) => false,
        }
    }

    pub fn apply_set(&mut self, resources: Vec<Resource>) -> bool {
        self.command(|correlation_id, source| Command::ApplySet {
            resources,
            idempotency_key: None,
            correlation_id,
            source,
        })
    }

    pub fn delete_product(&mut self, product: &str) -> bool {
        self.command(|correlation_id, source| Command::DeleteProduct {
            product: n(product),
            idempotency_key: None,
            correlation_id,
            source,
        })
    }

    pub fn delete_resource(
        &mut self,
        product: &str,
        kind: picloud_domain::ResourceKind,
        name: &str,
    ) -> bool {
        self.command(|correlation_id, source| Command::DeleteResource {
            product: n(product),
            kind,
            name: n(name),
            idempotency_key: None,
            correlation_id,
            source,
        })
    }

    /// Commits an event of another slice (cluster, IAM, a provisioner's status).
    pub fn event(&mut self, payload: impl Into<EventPayload>) {
        let (corr, now) = self.next();
        let e = Envelope::new(
            &iri(),
            EventId::derive(corr, 0),
            now,
            iri().cluster(),
            corr,
            payload.into(),
        )
        .unwrap();
        apply(&mut self.state, &e);
        self.events.push(e);
    }
}

/// Projects `events` with offsets `first..` into `p`.
pub fn project_into(p: &mut Projection, events: &[Envelope], first: u64) {
    for (i, e) in events.iter().enumerate() {
        p.apply(e, first + i as u64).unwrap();
    }
}

/// A fresh projection of all events (offsets from 0).
pub fn project(events: &[Envelope]) -> Projection {
    let mut p = Projection::new(iri()).unwrap();
    project_into(&mut p, events, 0);
    p
}

/// SELECT rows as strings (N-Triples form of each bound term, `-` when unbound).
pub fn select(p: &Projection, scope: &GraphScope, q: &str) -> Vec<Vec<String>> {
    let QueryResults::Solutions(solutions) = p.query(&format!("{PC}{q}"), scope).unwrap() else {
        panic!("not a SELECT: {q}");
    };
    let vars: Vec<_> = solutions.variables().to_vec();
    let mut rows: Vec<Vec<String>> = solutions
        .map(|s| {
            let s = s.unwrap();
            vars.iter()
                .map(|v| s.get(v).map_or_else(|| "-".to_owned(), ToString::to_string))
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

pub fn ask(p: &Projection, scope: &GraphScope, q: &str) -> bool {
    match p.query(&format!("{PC}{q}"), scope).unwrap() {
        QueryResults::Boolean(b) => b,
        _ => panic!("not an ASK: {q}"),
    }
}

pub fn product_scope(p: &str) -> GraphScope {
    GraphScope::Product(n(p))
}

pub fn node_joined(node: &str, id: u8, role: NodeRole) -> NodeJoinedV1 {
    NodeJoinedV1 {
        node: n(node),
        node_id: NodeId::from_bytes([id; 16]),
        address: format!("10.0.0.{id}:7443"),
        role,
    }
}

pub fn cluster_initialized() -> ClusterInitializedV1 {
    ClusterInitializedV1 {
        cluster_id: ClusterId::from_bytes([7; 16]),
        domain: picloud_domain::ClusterDomain::default(),
        ca_fingerprint: Sha256Digest([0xab; 32]),
    }
}

pub fn status(
    product: &str,
    kind: picloud_domain::ResourceKind,
    name: &str,
    generation: u64,
    status: ResourceStatus,
    reason: Option<&str>,
) -> ResourceStatusChangedV1 {
    ResourceStatusChangedV1 {
        kind,
        product: n(product),
        name: n(name),
        generation,
        status,
        reason: reason.map(str::to_owned),
    }
}

/// The photo-app example with the api-server's first mount at `path`.
pub fn photo_app_with_mount_path(path: &str) -> Vec<Resource> {
    let mut rs = example("photo-app");
    for r in &mut rs {
        if let picloud_domain::ResourceSpec::Container(c) = &mut r.spec {
            c.mounts[0].path = path.to_owned();
        }
    }
    rs
}
