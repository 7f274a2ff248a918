//! Updates replace, deletes remove, statuses follow generations; nodes and IAM.

use picloud_domain::ResourceKind;
use picloud_events::payload::*;
use picloud_projection::GraphScope;

use crate::support::*;

const APP: &str = "https://picloud.local/products/photo-app";
const API: &str = "https://picloud.local/products/photo-app/containers/api-server";

#[test]
fn an_update_removes_stale_triples() {
    let mut log = Log::default();
    assert!(log.apply_set(photo_app_with_mount_path("/data")));
    let declared_at = select(
        &project(&log.events),
        &product_scope("photo-app"),
        &format!("SELECT ?t WHERE {{ <{API}> pc:declaredAt ?t }}"),
    );
    assert!(log.apply_set(photo_app_with_mount_path("/media")));
    let p = project(&log.events);
    let scope = product_scope("photo-app");
    let paths = select(
        &p,
        &scope,
        &format!("SELECT ?path WHERE {{ <{API}> pc:mounts ?m . ?m pc:path ?path }}"),
    );
    assert_eq!(paths, vec![vec!["\"/media\"".to_owned()]]);
    let nq = p.canonical_nquads().unwrap();
    assert!(!nq.contains("\"/data\""), "{nq}");
    // Generation 2, declared again, first declaration time kept, one updatedAt.
    let rows = select(
        &p,
        &scope,
        &format!("SELECT ?g ?s ?d ?u WHERE {{ <{API}> pc:generation ?g ; pc:status ?s ; pc:declaredAt ?d ; pc:updatedAt ?u }}"),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0][0],
        "\"2\"^^<http://www.w3.org/2001/XMLSchema#integer>"
    );
    assert_eq!(rows[0][1], "<https://picloud.local/ontology#Declared>");
    assert_eq!(rows[0][2], declared_at[0][0]);
    assert_ne!(rows[0][3], rows[0][2]);
}

#[test]
fn dropping_nested_values_removes_their_iris() {
    let mut log = Log::default();
    let mut rs = example("photo-app");
    assert!(log.apply_set(rs.clone()));
    for r in &mut rs {
        if let picloud_domain::ResourceSpec::Container(c) = &mut r.spec {
            c.env.clear();
            c.ports.clear();
        }
    }
    assert!(log.apply_set(rs));
    let p = project(&log.events);
    let nq = p.canonical_nquads().unwrap();
    assert!(!nq.contains(&format!("<{API}/env/")), "{nq}");
    assert!(!nq.contains(&format!("<{API}/ports/")), "{nq}");
    assert!(nq.contains(&format!("<{API}/mounts/0>")));
}

#[test]
fn deleting_a_resource_removes_all_of_it() {
    let mut log = Log::default();
    assert!(log.apply_set(example("photo-app")));
    assert!(log.delete_resource("photo-app", ResourceKind::Ingress, "photos-web"));
    let p = project(&log.events);
    let nq = p.canonical_nquads().unwrap();
    assert!(!nq.contains("/ingresses/photos-web"), "{nq}");
    assert!(p
        .describe(&format!("{APP}/ingresses/photos-web"))
        .unwrap()
        .is_empty());
    // The rest is untouched.
    assert!(!p.describe(API).unwrap().is_empty());
}

#[test]
fn deleting_the_product_clears_its_graph_and_listing() {
    let mut log = Log::default();
    assert!(log.apply_set(example("photo-app")));
    assert!(log.apply_set(example("home-hub")));
    assert!(log.delete_product("photo-app"));
    let p = project(&log.events);
    let nq = p.canonical_nquads().unwrap();
    assert!(!nq.contains("/products/photo-app"), "{nq}");
    assert_eq!(
        p.reader().graphs().unwrap(),
        vec![
            "https://picloud.local/graph".to_owned(),
            "https://picloud.local/products/home-hub/graph".to_owned(),
        ]
    );
    assert_eq!(
        select(
            &p,
            &GraphScope::Cluster,
            "SELECT ?p WHERE { ?c pc:hasProduct ?p }"
        ),
        vec![vec!["<https://picloud.local/products/home-hub>".to_owned()]]
    );
    // Only the cluster graph's product list and the cursor remain of photo-app's life:
    // re-applying it gives the same graph as applying it once after home-hub.
    let mut again = log;
    assert!(again.apply_set(example("photo-app")));
    let p = project(&again.events);
    assert!(ask(
        &p,
        &product_scope("photo-app"),
        &format!("ASK {{ <{API}> pc:generation 1 }}")
    ));
}

#[test]
fn statuses_follow_the_current_generation() {
    let mut log = Log::default();
    assert!(log.apply_set(photo_app_with_mount_path("/data")));
    log.event(status(
        "photo-app",
        ResourceKind::Container,
        "api-server",
        1,
        ResourceStatus::Ready,
        None,
    ));
    let p = project(&log.events);
    let scope = product_scope("photo-app");
    let q = format!(
        "SELECT ?s ?r WHERE {{ <{API}> pc:status ?s OPTIONAL {{ <{API}> pc:statusReason ?r }} }}"
    );
    assert_eq!(
        select(&p, &scope, &q),
        vec![vec![
            "<https://picloud.local/ontology#Ready>".to_owned(),
            "-".to_owned()
        ]]
    );

    // A change resets to Declared; a late status for generation 1 is stale.
    assert!(log.apply_set(photo_app_with_mount_path("/media")));
    log.event(status(
        "photo-app",
        ResourceKind::Container,
        "api-server",
        1,
        ResourceStatus::Failed,
        Some("old"),
    ));
    let p = project(&log.events);
    assert_eq!(
        select(&p, &scope, &q),
        vec![vec![
            "<https://picloud.local/ontology#Declared>".to_owned(),
            "\"waiting for the workload controller\"".to_owned()
        ]]
    );
    log.event(status(
        "photo-app",
        ResourceKind::Container,
        "api-server",
        2,
        ResourceStatus::Failed,
        Some("image not found"),
    ));
    let p = project(&log.events);
    assert_eq!(
        select(&p, &scope, &q),
        vec![vec![
            "<https://picloud.local/ontology#Failed>".to_owned(),
            "\"image not found\"".to_owned()
        ]]
    );
    // A status for an unknown resource adds nothing.
    let before = p.canonical_nquads().unwrap();
    log.event(status(
        "photo-app",
        ResourceKind::Volume,
        "ghost",
        1,
        ResourceStatus::Ready,
        None,
    ));
    let after = project(&log.events).canonical_nquads().unwrap();
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("lastProjectedOffset"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&before), strip(&after));
}

#[test]
fn nodes_and_the_cluster() {
    let mut log = Log::default();
    log.event(cluster_initialized());
    log.event(node_joined("pi1", 1, NodeRole::Voter));
    log.event(node_joined("pi2", 2, NodeRole::Learner));
    log.event(NodePromotedV1 {
        node: n("pi2"),
        node_id: picloud_events::NodeId::from_bytes([2; 16]),
    });
    log.event(NodeBootedV1 {
        node: n("pi1"),
        slot: BootSlot::B,
        version: "1.2.3".into(),
    });
    log.event(NodeBootedV1 {
        node: n("pi1"),
        slot: BootSlot::A,
        version: "1.2.4".into(),
    });
    let p = project(&log.events);
    let c = GraphScope::Cluster;
    assert_eq!(
        select(&p, &c, "SELECT ?n ?role ?addr WHERE { <https://picloud.local/> a pc:Cluster ; pc:hasNode ?n . ?n a pc:Node ; pc:role ?role ; pc:address ?addr }"),
        vec![
            vec!["<https://picloud.local/nodes/pi1>".to_owned(), "<https://picloud.local/ontology#Voter>".to_owned(), "\"10.0.0.1:7443\"".to_owned()],
            vec!["<https://picloud.local/nodes/pi2>".to_owned(), "<https://picloud.local/ontology#Voter>".to_owned(), "\"10.0.0.2:7443\"".to_owned()],
        ]
    );
    assert_eq!(
        select(&p, &c, "SELECT ?slot ?v WHERE { <https://picloud.local/nodes/pi1> pc:bootSlot ?slot ; pc:firmwareVersion ?v }"),
        vec![vec!["\"A\"".to_owned(), "\"1.2.4\"".to_owned()]]
    );
    assert!(ask(&p, &c, "ASK { <https://picloud.local/> pc:domain \"picloud.local\" ; pc:clusterId ?id ; pc:initializedAt ?t }"));
    log.event(NodeRemovedV1 {
        node: n("pi1"),
        node_id: picloud_events::NodeId::from_bytes([1; 16]),
    });
    let p = project(&log.events);
    assert!(!p.canonical_nquads().unwrap().contains("/nodes/pi1"));
    assert!(p.canonical_nquads().unwrap().contains("/nodes/pi2"));
}

#[test]
fn iam_identities_and_roles_without_secrets() {
    let mut log = Log::default();
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
    log.event(RoleAssignedV1 {
        identity: n("alice"),
        role: n("reader"),
        product: Some(n("photo-app")),
    });
    log.event(BootstrapCodeIssuedV1 {
        code_hash: picloud_events::Sha256Digest([0xcd; 32]),
        expires: picloud_events::Timestamp::from_unix_millis(1_800_000_000_000).unwrap(),
    });
    let p = project(&log.events);
    let c = GraphScope::Cluster;
    assert_eq!(
        select(&p, &c, "SELECT ?role WHERE { ?id a pc:Identity ; pc:name \"alice\" ; pc:identityKind \"human\" ; pc:hasRole ?role }"),
        vec![
            vec!["<https://picloud.local/platform/roles/admin>".to_owned()],
            vec!["<https://picloud.local/products/photo-app/roles/reader>".to_owned()],
        ]
    );
    assert!(!p.canonical_nquads().unwrap().contains("cdcdcd"));
    log.event(RoleRevokedV1 {
        identity: n("alice"),
        role: n("admin"),
        product: None,
    });
    let p = project(&log.events);
    assert_eq!(
        select(&p, &c, "SELECT ?role WHERE { ?id pc:hasRole ?role }"),
        vec![vec![
            "<https://picloud.local/products/photo-app/roles/reader>".to_owned()
        ]]
    );
}

#[test]
fn an_ingress_to_a_binary_links_the_binary() {
    let src = r#"
product 'lab' = { version: '1.0.0' }
binary 'svc' = {
  product: 'lab'
  executable: '/bin/svc'
  ports: [8080]
}
ingress 'web' = {
  product: 'lab'
  target: 'svc'
  port: 8080
}
"#;
    let rs = picloud_lang::check(&[picloud_lang::SourceFile::new("lab.picloud", src)])
        .unwrap()
        .resources;
    let mut log = Log::default();
    assert!(log.apply_set(rs));
    let p = project(&log.events);
    assert!(ask(
        &p,
        &product_scope("lab"),
        "ASK { <https://picloud.local/products/lab/ingresses/web> pc:target <https://picloud.local/products/lab/binaries/svc> }"
    ));
}
