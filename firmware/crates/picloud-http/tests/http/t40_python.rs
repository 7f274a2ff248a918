//! Real RDF clients: Python rdflib (Turtle and JSON-LD parsers) and SPARQLWrapper.
//! Skips, saying why, when `python3 -c 'import rdflib, SPARQLWrapper'` fails
//! (CI installs both: `python3 -m pip install rdflib SPARQLWrapper`).

use std::process::Command;

use crate::support::{Server, CONTAINER, PC};

const SCRIPT: &str = r#"
import json, sys, urllib.parse, urllib.request
import rdflib
from rdflib import URIRef, RDF
from SPARQLWrapper import SPARQLWrapper, JSON

base, container, pc, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5]
path = container.replace("https://picloud.local", "")
# Every call carries the access token.
opener = urllib.request.build_opener()
opener.addheaders = [("Authorization", "Bearer " + token)]
urllib.request.install_opener(opener)

# rdflib fetches and parses the Turtle of an IRI (conneg by its own Accept header).
ttl = rdflib.Graph()
ttl.parse(base + path, format="turtle")
assert (URIRef(container), RDF.type, URIRef(pc + "Container")) in ttl, list(ttl)

# rdflib's JSON-LD parser reads the JSON-LD of the same IRI: the same triples.
req = urllib.request.Request(base + path, headers={"Accept": "application/ld+json"})
body = urllib.request.urlopen(req).read().decode()
ld = rdflib.Graph()
ld.parse(data=body, format="json-ld")
assert set(ld) == set(ttl), (len(ld), len(ttl))

# ... and that JSON-LD is compact and readable: an @context with the ontology as @vocab,
# short keys, bare class names, native numbers and booleans, IRIs as strings.
doc = json.loads(body)
ctx = doc["@context"]
assert ctx["@vocab"] == pc and ctx["pc"] == pc, ctx
node = next(n for n in doc["@graph"] if n["@id"] == container)
assert node["@type"] == "Container", node
assert node["name"] == "api-server" and node["label"] == "api-server", node
assert isinstance(node["generation"], int) and node["generation"] == 1, node
assert node["status"] == "pc:Declared", node
assert ctx["status"] == {"@id": "pc:status", "@type": "@id"}, ctx
assert node["product"] == "https://picloud.local/products/photo-app", node
assert all("://" not in k for n in doc["@graph"] for k in n), "a key is a full IRI"
mount = next(n for n in doc["@graph"] if n["@id"] == container + "/mounts/0")
assert isinstance(mount["readOnly"], bool) and isinstance(mount["index"], int), mount

# The cluster root and a CONSTRUCT over SPARQL: JSON-LD and N-Triples give the same triples.
def fetch(url, accept):
    return urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept})).read().decode()
for url in [base + "/", base + "/products/photo-app/sparql?query=" + urllib.parse.quote(
        "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }")]:
    a = rdflib.Graph().parse(data=fetch(url, "application/ld+json"), format="json-ld")
    b = rdflib.Graph().parse(data=fetch(url, "application/n-triples"), format="nt")
    assert len(a) > 0 and set(a) == set(b), (url, len(a), len(b))

# SPARQLWrapper against /sparql.
sparql = SPARQLWrapper(base + "/sparql")
sparql.addCustomHttpHeader("Authorization", "Bearer " + token)
sparql.setQuery("PREFIX pc: <%s> SELECT ?name WHERE { ?c pc:hasProduct ?p . ?p pc:name ?name }" % pc)
sparql.setReturnFormat(JSON)
rows = sparql.query().convert()["results"]["bindings"]
assert [r["name"]["value"] for r in rows] == ["photo-app"], rows

# ... with POST too, and against the product endpoint.
sparql = SPARQLWrapper(base + "/products/photo-app/sparql")
sparql.addCustomHttpHeader("Authorization", "Bearer " + token)
sparql.setMethod("POST")
sparql.setQuery("PREFIX pc: <%s> SELECT (COUNT(?r) AS ?n) WHERE { ?r pc:status pc:Declared }" % pc)
sparql.setReturnFormat(JSON)
n = int(sparql.query().convert()["results"]["bindings"][0]["n"]["value"])
assert n == int(sys.argv[4]), n

print("python clients ok:", len(ttl), "triples")
"#;

#[test]
fn rdflib_and_sparqlwrapper_read_the_graph() {
    let probe = Command::new("python3")
        .args(["-c", "import rdflib, SPARQLWrapper"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "SKIPPED rdflib_and_sparqlwrapper_read_the_graph: python3 cannot import rdflib \
                 and SPARQLWrapper ({}); install them with `python3 -m pip install rdflib \
                 SPARQLWrapper`",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED rdflib_and_sparqlwrapper_read_the_graph: no python3 ({e})");
            return;
        }
    }
    let s = Server::start();
    let applied = s.apply_photo_app();
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(s.url(""))
        .arg(CONTAINER)
        .arg(PC)
        .arg(applied["events"].to_string())
        .arg(&s.admin_token)
        .env("SSL_CERT_FILE", s.ca_path())
        .env("REQUESTS_CA_BUNDLE", s.ca_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
}
