//! Projecting `examples/photo-app` as product-core decides it on an empty state.

use picloud_projection::{GraphScope, QueryError};

use crate::support::*;

const APP: &str = "https://picloud.local/products/photo-app";

fn photo_app() -> (Log, picloud_projection::Projection) {
    let mut log = Log::default();
    assert!(log.apply_set(example("photo-app")));
    let p = project(&log.events);
    (log, p)
}

#[test]
fn container_mount_links_the_volume_iri() {
    let (_, p) = photo_app();
    let scope = product_scope("photo-app");
    let rows = select(
        &p,
        &scope,
        "SELECT ?m ?path ?vt WHERE {
           ?c a pc:Container ; pc:name \"api-server\" ; pc:mounts ?m .
           ?m a pc:VolumeMount ; pc:volume ?v ; pc:path ?path .
           ?v a pc:Volume ; pc:volumeType ?vt .
         }",
    );
    assert_eq!(
        rows,
        vec![vec![
            format!("<{APP}/containers/api-server/mounts/0>"),
            "\"/data\"".to_owned(),
            "\"mounted\"".to_owned(),
        ]]
    );
    assert!(ask(
        &p,
        &scope,
        &format!("ASK {{ <{APP}/containers/api-server/mounts/0> pc:volume <{APP}/volumes/media-store> }}")
    ));
}

#[test]
fn freshly_declared_resources_are_declared_with_a_reason_never_ready() {
    let (log, p) = photo_app();
    let scope = product_scope("photo-app");
    let rows = select(
        &p,
        &scope,
        "SELECT ?name ?reason WHERE { ?r pc:name ?name ; pc:status pc:Declared ; pc:statusReason ?reason ; pc:generation 1 }",
    );
    let get = |name: &str| {
        rows.iter()
            .find(|r| r[0] == format!("\"{name}\""))
            .map(|r| r[1].clone())
            .unwrap_or_default()
    };
    assert_eq!(get("api-server"), "\"waiting for the workload controller\"");
    assert_eq!(get("media-store"), "\"waiting for the storage controller\"");
    assert_eq!(get("photos-web"), "\"waiting for the network controller\"");
    // Every resource of the product-core state is there, declared.
    assert_eq!(rows.len(), log.state.resource_count());
    assert!(!ask(
        &p,
        &scope,
        "ASK { ?r pc:status ?s FILTER(?s != pc:Declared) }"
    ));
}

#[test]
fn product_graph_and_cluster_graph_list_the_product() {
    let (log, p) = photo_app();
    let graphs = p.reader().graphs().unwrap();
    assert_eq!(
        graphs,
        vec![
            "https://picloud.local/graph".to_owned(),
            format!("{APP}/graph"),
        ]
    );
    assert!(ask(
        &p,
        &GraphScope::Cluster,
        &format!("ASK {{ <https://picloud.local/> a pc:Cluster ; pc:hasProduct <{APP}> . <{APP}> a pc:Product ; pc:graph <{APP}/graph> ; pc:version \"1.0.0\" }}")
    ));
    // The cluster endpoint reaches product graphs with GRAPH.
    assert!(ask(
        &p,
        &GraphScope::Cluster,
        "ASK { <https://picloud.local/> pc:hasProduct ?p . ?p pc:graph ?g . GRAPH ?g { ?c a pc:Container } }"
    ));
    // The cursor is the last event's offset. It is kept beside the store (moving a triple
    // on every event would leave a dead quad per event in Oxigraph's MVCC store), so
    // SPARQL does not see it; snapshots and canonical N-Quads hold it.
    let last = log.events.len() as u64 - 1;
    assert_eq!(p.cursor(), Some(last));
    assert_eq!(p.reader().cursor().unwrap(), Some(last));
    assert!(!ask(
        &p,
        &GraphScope::Cluster,
        "ASK { <https://picloud.local/meta/projector> ?p ?o }"
    ));
    let cursor_line = format!(
        "<https://picloud.local/meta/projector> <https://picloud.local/ontology#lastProjectedOffset> \"{last}\"^^<http://www.w3.org/2001/XMLSchema#integer> <https://picloud.local/graph> ."
    );
    assert!(
        p.canonical_nquads()
            .unwrap()
            .lines()
            .any(|l| l == cursor_line),
        "no cursor line"
    );
    assert_eq!(p.reader().len().unwrap(), p.stats().live_quads);
}

#[test]
fn references_are_iri_links() {
    let (_, p) = photo_app();
    let scope = product_scope("photo-app");
    for q in [
        format!("ASK {{ <{APP}/containers/api-server> pc:identity <{APP}/identities/api-worker> . <{APP}/identities/api-worker> a pc:WorkloadIdentity }}"),
        format!("ASK {{ <{APP}/containers/api-server> pc:env <{APP}/containers/api-server/env/DB_URL> . <{APP}/containers/api-server/env/DB_URL> pc:secret <{APP}/secrets/db-connection> }}"),
        format!("ASK {{ <{APP}/containers/api-server/env/LOG_LEVEL> pc:configKey \"log-level\" }}"),
        format!("ASK {{ <{APP}/ingresses/photos-web> pc:target <{APP}/containers/api-server> ; pc:port 8080 ; pc:path \"/api\" }}"),
        format!("ASK {{ <{APP}/event-subscriptions/user-created> pc:handler <{APP}/containers/api-server> ; pc:source <https://picloud.local/products/user-service> ; pc:sourceVersion \"1.0.0\" }}"),
        format!("ASK {{ <{APP}/volumes/media-store> pc:storageIntent <{APP}/volumes/media-store/storageIntent> . <{APP}/volumes/media-store/storageIntent> pc:durability \"full-replication\" }}"),
        format!("ASK {{ <{APP}/configs/photo-settings> pc:entries <{APP}/configs/photo-settings/entries/max-upload-mb> . <{APP}/configs/photo-settings/entries/max-upload-mb> pc:value 50 }}"),
        format!("ASK {{ <{APP}/containers/api-server> pc:product <{APP}> ; pc:ports ?port . ?port pc:port 8080 ; pc:protocol \"tcp\" }}"),
    ] {
        assert!(ask(&p, &scope, &q), "{q}");
    }
}

#[test]
fn secret_values_never_reach_the_graph() {
    let (_, p) = photo_app();
    let nq = p.canonical_nquads().unwrap();
    assert!(!nq.contains("change-me"), "{nq}");
    assert!(!nq.contains("postgres://"), "{nq}");
    assert!(ask(
        &p,
        &product_scope("photo-app"),
        &format!("ASK {{ <{APP}/secrets/db-connection> a pc:Secret ; pc:hasValue true }}")
    ));
}

#[test]
fn product_scope_sees_only_its_graph() {
    let (_, p) = photo_app();
    let scope = product_scope("photo-app");
    assert!(!ask(&p, &scope, "ASK { ?c pc:hasProduct ?p }"));
    assert!(!ask(
        &p,
        &scope,
        "ASK { GRAPH <https://picloud.local/graph> { ?s ?p ?o } }"
    ));
    // FROM cannot widen a product scope.
    assert!(!ask(
        &p,
        &scope,
        "ASK FROM <https://picloud.local/graph> { ?c pc:hasProduct ?p }"
    ));
    assert!(!ask(&p, &product_scope("other"), "ASK { ?s ?p ?o }"));
}

#[test]
fn updates_are_not_queries() {
    let (_, p) = photo_app();
    let result = p.query(
        "INSERT DATA { <https://a.example/> <https://a.example/> <https://a.example/> }",
        &GraphScope::Cluster,
    );
    assert!(matches!(result, Err(QueryError::Syntax(_))));
}

#[test]
fn describe_gives_the_resource_with_its_nested_values_only() {
    let (_, p) = photo_app();
    let triples = p.describe(&format!("{APP}/containers/api-server")).unwrap();
    let subjects: std::collections::BTreeSet<String> =
        triples.iter().map(|t| t.subject.to_string()).collect();
    let expected: std::collections::BTreeSet<String> =
        ["", "/env/DB_URL", "/env/LOG_LEVEL", "/mounts/0", "/ports/0"]
            .iter()
            .map(|s| format!("<{APP}/containers/api-server{s}>"))
            .collect();
    assert_eq!(subjects, expected);
    // The product: its own triples from both graphs, not its resources.
    let product = p.describe(APP).unwrap();
    assert!(product
        .iter()
        .all(|t| t.subject.to_string() == format!("<{APP}>")));
    assert!(product
        .iter()
        .any(|t| t.predicate.as_str().ends_with("#version")));
    assert!(p.describe("https://picloud.local/nope").unwrap().is_empty());
}

#[test]
fn construct_and_describe_queries_work() {
    let (_, p) = photo_app();
    let r = p
        .query(
            &format!("DESCRIBE <{APP}/volumes/media-store>"),
            &product_scope("photo-app"),
        )
        .unwrap();
    let picloud_projection::oxigraph::sparql::QueryResults::Graph(triples) = r else {
        panic!("DESCRIBE gives a graph");
    };
    assert!(triples.count() > 5);
}
