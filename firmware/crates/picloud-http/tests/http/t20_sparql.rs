//! The SPARQL 1.1 Protocol through curl.

use crate::support::{example, Server, PC};

fn select_products() -> String {
    format!("PREFIX pc: <{PC}> SELECT ?name WHERE {{ ?c pc:hasProduct ?p . ?p pc:name ?name }} ORDER BY ?name")
}

fn encoded(q: &str) -> String {
    serde_urlencoded::to_string([("query", q)]).unwrap()
}

#[test]
fn queries_by_get_and_both_posts_in_every_result_format() {
    let s = Server::start();
    s.apply_photo_app();
    let q = select_products();

    // GET ?query=
    let r = s.get(
        &format!("/sparql?{}", encoded(&q)),
        "application/sparql-results+json",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/sparql-results+json");
    let j = r.json();
    assert_eq!(j["head"]["vars"][0], "name");
    assert_eq!(j["results"]["bindings"][0]["name"]["value"], "photo-app");

    // POST form
    let form = s.curl(
        "/sparql",
        &[
            "-H",
            "Accept: application/sparql-results+xml",
            "--data-urlencode",
            &format!("query={q}"),
        ],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(
        form.header("content-type"),
        "application/sparql-results+xml"
    );
    assert!(
        form.body.contains("<literal>photo-app</literal>"),
        "{}",
        form.body
    );

    // POST application/sparql-query
    let direct = s.curl(
        "/sparql",
        &[
            "-H",
            "Accept: text/csv",
            "-H",
            "Content-Type: application/sparql-query",
            "--data-binary",
            &q,
        ],
    );
    assert_eq!(direct.status, 200, "{}", direct.body);
    assert!(direct.header("content-type").starts_with("text/csv"));
    assert_eq!(direct.body.replace("\r\n", "\n"), "name\nphoto-app\n");

    let tsv = s.get(
        &format!("/sparql?{}", encoded(&q)),
        "text/tab-separated-values",
    );
    assert_eq!(tsv.status, 200);
    assert_eq!(tsv.body, "?name\n\"photo-app\"\n");

    // Default (no Accept): SPARQL JSON.
    let ask = s.curl(
        &format!(
            "/sparql?{}",
            encoded(&format!("PREFIX pc: <{PC}> ASK {{ ?p a pc:Product }}"))
        ),
        &[],
    );
    assert_eq!(ask.status, 200);
    assert_eq!(ask.json()["boolean"], true);

    // CONSTRUCT / DESCRIBE in Turtle, N-Triples, JSON-LD.
    let construct = format!(
        "PREFIX pc: <{PC}> CONSTRUCT {{ ?c pc:hasProduct ?p }} WHERE {{ ?c pc:hasProduct ?p }}"
    );
    let path = format!("/sparql?{}", encoded(&construct));
    let ttl = s.get(&path, "text/turtle");
    assert_eq!(ttl.status, 200, "{}", ttl.body);
    assert!(ttl.header("content-type").starts_with("text/turtle"));
    assert!(ttl.body.contains("pc:hasProduct"), "{}", ttl.body);
    let nt = s.get(&path, "application/n-triples");
    assert_eq!(
        nt.body.trim(),
        format!("<https://picloud.local/> <{PC}hasProduct> <https://picloud.local/products/photo-app> .")
    );
    let ld = s.get(&path, "application/ld+json");
    assert_eq!(ld.header("content-type"), "application/ld+json");
    assert!(ld.json().to_string().contains("products/photo-app"));
    let describe = s.get(
        &format!(
            "/products/photo-app/sparql?{}",
            encoded("DESCRIBE <https://picloud.local/products/photo-app/volumes/media-store>")
        ),
        "application/n-triples",
    );
    assert_eq!(describe.status, 200, "{}", describe.body);
    assert!(
        describe.body.contains("\"media-store\""),
        "{}",
        describe.body
    );

    // Results never come as an RDF syntax, graphs never as a results format.
    assert_eq!(
        s.get(&format!("/sparql?{}", encoded(&q)), "text/turtle")
            .status,
        406
    );
    assert_eq!(s.get(&path, "text/csv").status, 406);
}

#[test]
fn updates_are_refused_and_bad_queries_explained() {
    let s = Server::start();
    s.apply_photo_app();
    let update = "INSERT DATA { <urn:a> <urn:b> <urn:c> }";

    let form = s.curl(
        "/sparql",
        &["--data-urlencode", &format!("update={update}")],
    );
    assert_eq!(form.status, 403, "{}", form.body);
    let e = form.json();
    assert_eq!(e["error"], "update_refused");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("only through commands"));

    let direct = s.post("/sparql", "application/sparql-update", update);
    assert_eq!(direct.status, 403);
    // An update sent as a query is refused as an update, not as a syntax error.
    let as_query = s.get(&format!("/sparql?{}", encoded(update)), "*/*");
    assert_eq!(as_query.status, 403, "{}", as_query.body);

    // Nothing changed.
    let ask = s.get(
        &format!("/sparql?{}", encoded("ASK { GRAPH ?g { <urn:a> ?p ?o } }")),
        "*/*",
    );
    assert_eq!(ask.json()["boolean"], false);

    let bad = s.get(
        &format!("/sparql?{}", encoded("SELEKT * WHERE { ?s ?p ?o }")),
        "*/*",
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_query");
    assert!(bad.json()["message"]
        .as_str()
        .unwrap()
        .contains("does not parse"));

    let none = s.curl("/sparql", &[]);
    assert_eq!(none.status, 400);
    let wrong_type = s.post("/sparql", "text/plain", "SELECT * {}");
    assert_eq!(wrong_type.status, 415);
}

#[test]
fn a_product_endpoint_sees_only_its_graph() {
    let s = Server::start();
    s.apply_photo_app();
    let r = s.apply(&example("home-hub"), None);
    assert_eq!(r.status, 200, "{}", r.body);

    let q = format!("PREFIX pc: <{PC}> SELECT DISTINCT ?p WHERE {{ ?r pc:product ?p }}");
    let all = s.get(
        &format!(
            "/sparql?{}",
            encoded(&format!(
                "PREFIX pc: <{PC}> SELECT DISTINCT ?p WHERE {{ GRAPH ?g {{ ?r pc:product ?p }} }} ORDER BY ?p"
            ))
        ),
        "text/csv",
    );
    assert_eq!(
        all.body.replace("\r\n", "\n"),
        "p\nhttps://picloud.local/products/home-hub\nhttps://picloud.local/products/photo-app\n"
    );
    let scoped = s.get(
        &format!("/products/photo-app/sparql?{}", encoded(&q)),
        "text/csv",
    );
    assert_eq!(
        scoped.body.replace("\r\n", "\n"),
        "p\nhttps://picloud.local/products/photo-app\n"
    );
    // FROM cannot widen a product endpoint.
    let widened = s.get(
        &format!(
            "/products/photo-app/sparql?{}",
            encoded(&format!(
                "PREFIX pc: <{PC}> SELECT DISTINCT ?p FROM <https://picloud.local/products/home-hub/graph> WHERE {{ ?r pc:product ?p }}"
            ))
        ),
        "text/csv",
    );
    assert!(!widened.body.contains("home-hub"), "{}", widened.body);
    assert_eq!(
        s.get("/products/nope/sparql?query=ASK%7B%7D", "*/*").status,
        404
    );
}
