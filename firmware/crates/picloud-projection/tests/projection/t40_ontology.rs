//! The ontology parses, declares every kind, and covers every term the projectors write.

use std::collections::BTreeSet;

use picloud_domain::{ClusterDomain, IriBuilder, ResourceKind};
use picloud_events::payload::*;
use picloud_projection::oxigraph::io::RdfFormat;
use picloud_projection::oxigraph::model::{vocab::rdf, NamedNodeRef, Term};
use picloud_projection::oxigraph::store::Store;
use picloud_projection::{ontology_terms, ontology_turtle};

use crate::support::*;

const NS: &str = "https://picloud.local/ontology#";

fn ontology_store(iri: &IriBuilder) -> Store {
    let store = Store::new().unwrap();
    store
        .load_from_slice(RdfFormat::Turtle, ontology_turtle(iri).as_bytes())
        .unwrap();
    store
}

/// Terms that have an `rdf:type` in the ontology.
fn declared(store: &Store) -> BTreeSet<String> {
    store
        .quads_for_pattern(None, Some(rdf::TYPE), None, None)
        .map(|q| q.unwrap().subject.to_string())
        .filter_map(|s| {
            s.strip_prefix(&format!("<{NS}"))
                .map(|t| t.trim_end_matches('>').to_owned())
        })
        .collect()
}

#[test]
fn turtle_parses_and_declares_every_kind() {
    let store = ontology_store(&iri());
    let terms = declared(&store);
    for kind in ResourceKind::ALL {
        assert!(terms.contains(kind.class_name()), "{}", kind.class_name());
    }
    for t in [
        "Node",
        "Cluster",
        "Event",
        "Declared",
        "Ready",
        "status",
        "statusReason",
        "generation",
        "declaredAt",
        "updatedAt",
        "product",
        "lastProjectedOffset",
    ] {
        assert!(terms.contains(t), "{t}");
    }
    let expected: BTreeSet<String> = ontology_terms().iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(terms, expected);
    // Every term has a label and a comment.
    for t in &terms {
        let s = picloud_projection::oxigraph::model::NamedNode::new(format!("{NS}{t}")).unwrap();
        for p in [
            "http://www.w3.org/2000/01/rdf-schema#label",
            "http://www.w3.org/2000/01/rdf-schema#comment",
        ] {
            let p = NamedNodeRef::new(p).unwrap();
            assert_eq!(
                store
                    .quads_for_pattern(Some(s.as_ref().into()), Some(p), None, None)
                    .count(),
                1,
                "{t} {p}"
            );
        }
    }
}

#[test]
fn other_domains_get_their_own_namespace() {
    let b = IriBuilder::new(ClusterDomain::parse("lab.example.org").unwrap());
    let ttl = ontology_turtle(&b);
    assert!(ttl.contains("@prefix pc: <https://lab.example.org/ontology#> ."));
    assert!(!ttl.contains("picloud.local"));
    ontology_store(&b);
}

#[test]
fn every_projected_term_is_declared() {
    let mut log = Log::default();
    log.event(cluster_initialized());
    log.event(node_joined("pi1", 1, NodeRole::Learner));
    log.event(NodeBootedV1 {
        node: n("pi1"),
        slot: BootSlot::A,
        version: "1".into(),
    });
    log.event(IdentityCreatedV1 {
        identity: n("alice"),
        kind: IdentityKind::Human,
        display_name: "Alice".into(),
    });
    log.event(RoleAssignedV1 {
        identity: n("alice"),
        role: n("admin"),
        product: None,
    });
    assert!(log.apply_set(example("photo-app")));
    assert!(log.apply_set(example("home-hub")));
    let p = project(&log.events);
    let declared = declared(&ontology_store(&iri()));
    let mut used = BTreeSet::new();
    for line in p.canonical_nquads().unwrap().lines() {
        let mut rest = line;
        while let Some(i) = rest.find(&format!("<{NS}")) {
            let after = &rest[i + NS.len() + 1..];
            let end = after.find('>').unwrap();
            used.insert(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    let missing: Vec<_> = used.difference(&declared).collect();
    assert!(missing.is_empty(), "undeclared: {missing:?}");
    // home-hub uses every kind: all of them show up as classes.
    let _ = Term::from(NamedNodeRef::new(NS).unwrap());
    for kind in ResourceKind::ALL {
        assert!(used.contains(kind.class_name()), "{}", kind.class_name());
    }
}
