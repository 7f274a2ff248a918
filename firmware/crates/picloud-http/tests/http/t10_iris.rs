//! Dereferenceable IRIs through curl: every representation, q-values, 406, ETag/304.

use crate::support::{Server, CONTAINER, PC};

const CONTAINER_PATH: &str = "/products/photo-app/containers/api-server";

#[test]
fn a_container_iri_answers_in_every_representation() {
    let s = Server::start();
    s.apply_photo_app();

    let ttl = s.get(CONTAINER_PATH, "text/turtle");
    assert_eq!(ttl.status, 200, "{}", ttl.body);
    assert!(ttl.header("content-type").starts_with("text/turtle"));
    assert_eq!(ttl.header("vary"), "Accept");
    assert!(
        ttl.body.contains(&format!("@prefix pc: <{PC}>")),
        "{}",
        ttl.body
    );
    assert!(ttl.body.contains(&format!("<{CONTAINER}>")), "{}", ttl.body);
    assert!(ttl.body.contains("pc:Container"), "{}", ttl.body);

    let nt = s.get(CONTAINER_PATH, "application/n-triples");
    assert_eq!(nt.status, 200);
    assert!(nt
        .header("content-type")
        .starts_with("application/n-triples"));
    assert!(nt.body.lines().all(|l| l.ends_with(" .")), "{}", nt.body);
    assert!(nt.body.contains(&format!(
        "<{CONTAINER}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{PC}Container> ."
    )));
    // The nested values come with the resource.
    assert!(
        nt.body.contains(&format!("<{CONTAINER}/mounts/0>")),
        "{}",
        nt.body
    );

    let ld = s.get(CONTAINER_PATH, "application/ld+json");
    assert_eq!(ld.status, 200);
    assert_eq!(ld.header("content-type"), "application/ld+json");
    let doc = ld.json();
    assert!(doc.to_string().contains(CONTAINER), "{doc}");

    let json = s.get(CONTAINER_PATH, "application/json");
    assert_eq!(json.status, 200);
    let doc: picloud_api::GraphDocument = serde_json::from_str(&json.body).unwrap();
    assert_eq!(doc.iri, CONTAINER);
    assert_eq!(doc.subjects[0].iri, CONTAINER);
    let props = &doc.subjects[0].properties;
    assert_eq!(props["pc:name"][0].value.as_deref(), Some("api-server"));
    assert_eq!(
        props["pc:status"][0].iri.as_deref(),
        Some(&*format!("{PC}Declared"))
    );
    assert_eq!(
        props["pc:statusReason"][0].value.as_deref(),
        Some("waiting for the workload controller")
    );

    let html = s.get(CONTAINER_PATH, "text/html");
    assert_eq!(html.status, 200);
    assert!(html.header("content-type").starts_with("text/html"));
    assert!(html.body.starts_with("<!DOCTYPE html>"));
    assert!(html.body.contains("<table>"));
    // Links stay on this server: the volume the container mounts.
    assert!(
        html.body
            .contains("href=\"/products/photo-app/volumes/media-store\""),
        "{}",
        html.body
    );

    // A missing Accept and */* get the JSON document.
    let any = s.curl(CONTAINER_PATH, &[]);
    assert!(any.header("content-type").starts_with("application/json"));
    let any = s.get(CONTAINER_PATH, "*/*");
    assert!(any.header("content-type").starts_with("application/json"));
    // A browser's Accept gets HTML.
    let browser = s.get(
        CONTAINER_PATH,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    assert!(browser.header("content-type").starts_with("text/html"));
}

#[test]
fn q_values_406_etag_and_304() {
    let s = Server::start();
    s.apply_photo_app();

    let r = s.get(
        CONTAINER_PATH,
        "text/turtle;q=0.5, application/ld+json;q=0.9",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/ld+json");
    let r = s.get(
        CONTAINER_PATH,
        "text/turtle;q=0.9, application/ld+json;q=0.5",
    );
    assert!(r.header("content-type").starts_with("text/turtle"));

    let r = s.get(CONTAINER_PATH, "image/png");
    assert_eq!(r.status, 406);
    let e = r.json();
    assert_eq!(e["error"], "not_acceptable");
    let available: Vec<&str> = e["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for t in [
        "text/turtle",
        "application/ld+json",
        "application/n-triples",
        "application/json",
        "text/html",
    ] {
        assert!(available.contains(&t), "{available:?}");
    }

    let first = s.get(CONTAINER_PATH, "text/turtle");
    let tag = first.header("etag").to_owned();
    assert!(tag.starts_with('"') && tag.len() > 10, "{tag}");
    let again = s.curl(
        CONTAINER_PATH,
        &[
            "-H",
            "Accept: text/turtle",
            "-H",
            &format!("If-None-Match: {tag}"),
        ],
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), tag);
    assert!(again.body.is_empty());
    // Another representation has another tag.
    let nt = s.curl(
        CONTAINER_PATH,
        &[
            "-H",
            "Accept: application/n-triples",
            "-H",
            &format!("If-None-Match: {tag}"),
        ],
    );
    assert_eq!(nt.status, 200);
    assert_ne!(nt.header("etag"), tag);
}

#[test]
fn root_product_node_ontology_and_404s() {
    let s = Server::start();
    s.apply_photo_app();

    let root = s.get("/", "application/n-triples");
    assert_eq!(root.status, 200);
    assert!(
        root.body.contains(&format!(
            "<https://picloud.local/> <{PC}hasProduct> <https://picloud.local/products/photo-app> ."
        )),
        "{}",
        root.body
    );
    assert!(root.body.contains("\"photo-app\""), "{}", root.body);

    let product = s.get("/products/photo-app", "text/turtle");
    assert_eq!(product.status, 200);
    assert!(product.body.contains("pc:Product"));

    let ontology = s.curl("/ontology", &[]);
    assert_eq!(ontology.status, 200);
    assert!(ontology.header("content-type").starts_with("text/turtle"));
    assert!(ontology.body.contains("Container"));
    let ontology = s.get("/ontology", "application/n-triples");
    assert_eq!(ontology.status, 200);
    assert!(ontology.body.contains(&format!("<{PC}Container>")));

    // Nested values are IRIs too.
    let mount = s.get(
        "/products/photo-app/containers/api-server/mounts/0",
        "application/n-triples",
    );
    assert_eq!(mount.status, 200, "{}", mount.body);
    assert!(mount.body.contains("/volumes/media-store>"));

    for path in [
        "/products/nope",
        "/products/photo-app/containers/nope",
        "/products/photo-app/widgets/api-server",
        "/products/NOT_A_NAME",
        "/nodes/pi9",
        "/no/such/route",
    ] {
        let r = s.get(path, "text/turtle");
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "not_found", "{path}");
    }

    let h = s.curl("/health", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
}
