//! Representations of a set of triples: Turtle, N-Triples, JSON-LD, RDF/XML, the plain
//! JSON view and a small HTML page.

use std::collections::BTreeMap;

use picloud_api::{GraphDocument, SubjectDocument, TermValue};
use picloud_domain::IriBuilder;
use picloud_projection::oxigraph::io::{JsonLdProfileSet, RdfFormat, RdfSerializer};
use picloud_projection::oxigraph::model::{Term, Triple};

use crate::error::ApiError;

/// Turtle.
pub const TURTLE: &str = "text/turtle";
/// JSON-LD.
pub const JSON_LD: &str = "application/ld+json";
/// N-Triples.
pub const N_TRIPLES: &str = "application/n-triples";
/// RDF/XML.
pub const RDF_XML: &str = "application/rdf+xml";
/// The plain JSON view.
pub const JSON: &str = "application/json";
/// HTML.
pub const HTML: &str = "text/html";

/// What a dereferenceable IRI is offered as, in the server's order of preference (JSON
/// first: `*/*` and a missing `Accept` get JSON).
pub const RESOURCE_OFFERS: &[&str] = &[JSON, TURTLE, JSON_LD, N_TRIPLES, HTML, RDF_XML];

/// The prefixes used in Turtle, JSON-LD and the JSON view.
pub fn prefixes(iri: &IriBuilder) -> Vec<(&'static str, String)> {
    vec![
        ("pc", iri.ontology_namespace()),
        (
            "rdf",
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#".to_owned(),
        ),
        ("rdfs", "http://www.w3.org/2000/01/rdf-schema#".to_owned()),
        ("xsd", "http://www.w3.org/2001/XMLSchema#".to_owned()),
    ]
}

/// The oxigraph format of an RDF media type.
pub fn rdf_format(media: &str) -> Option<RdfFormat> {
    match media {
        TURTLE => Some(RdfFormat::Turtle),
        N_TRIPLES => Some(RdfFormat::NTriples),
        JSON_LD => Some(RdfFormat::JsonLd {
            profile: JsonLdProfileSet::empty(),
        }),
        RDF_XML => Some(RdfFormat::RdfXml),
        _ => None,
    }
}

/// The `Content-Type` to send for a chosen media type.
pub fn content_type(media: &str) -> String {
    match media {
        TURTLE | N_TRIPLES | HTML => format!("{media}; charset=utf-8"),
        other => other.to_owned(),
    }
}

/// Serialises triples in an RDF syntax, with the `pc:`/`rdf:`/`rdfs:`/`xsd:` prefixes
/// where the syntax has prefixes. JSON-LD is compacted with an `@context` (see
/// [`json_ld`]).
pub fn serialize<'a>(
    triples: impl IntoIterator<Item = &'a Triple>,
    format: RdfFormat,
    iri: &IriBuilder,
) -> Result<Vec<u8>, ApiError> {
    if matches!(format, RdfFormat::JsonLd { .. }) {
        let triples: Vec<&Triple> = triples.into_iter().collect();
        return serde_json::to_vec_pretty(&json_ld(triples, iri))
            .map_err(|e| ApiError::internal(format!("serialisation failed: {e}")));
    }
    let mut serializer = RdfSerializer::from_format(format);
    if !matches!(format, RdfFormat::NTriples | RdfFormat::NQuads) {
        for (name, ns) in prefixes(iri) {
            serializer = serializer
                .with_prefix(name, ns)
                .map_err(|e| ApiError::internal(format!("bad prefix: {e}")))?;
        }
    }
    let mut writer = serializer.for_writer(Vec::new());
    for t in triples {
        writer
            .serialize_triple(t)
            .map_err(|e| ApiError::internal(format!("serialisation failed: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| ApiError::internal(format!("serialisation failed: {e}")))
}

const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";

/// Compact JSON-LD: `{"@context": …, "@graph": [one object per subject]}`.
///
/// The context sets `@vocab` to the ontology namespace, so a `pc:` predicate is the key
/// of its local name (`"name"`, `"generation"`) and a `pc:` class is a bare `@type`
/// (`"Container"`); `rdfs:label` is `"label"`; other predicates keep their full IRI. A
/// key whose values are all IRIs is declared `"@type": "@id"` in the context, so its
/// values are plain strings; otherwise IRIs are `{"@id": …}`. Strings are JSON strings;
/// canonical integers and booleans are JSON numbers and booleans (JSON-LD reads them back
/// as `xsd:integer` / `xsd:boolean`); other typed literals are `{"@value", "@type"}`. Any
/// JSON-LD 1.1 processor expands it to exactly the given triples.
pub fn json_ld<'a>(
    triples: impl IntoIterator<Item = &'a Triple>,
    iri: &IriBuilder,
) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let prefixes = prefixes(iri);
    let vocab = iri.ontology_namespace();
    let triples: Vec<&Triple> = triples.into_iter().collect();
    // Which key each predicate gets, and whether all its values are IRIs.
    let mut keys: BTreeMap<String, (String, bool)> = BTreeMap::new();
    // Prefix names are context terms too.
    let mut taken: BTreeMap<String, String> = prefixes
        .iter()
        .map(|(name, ns)| ((*name).to_owned(), ns.clone()))
        .collect();
    for t in &triples {
        let p = t.predicate.as_str();
        let is_iri = matches!(t.object, Term::NamedNode(_) | Term::BlankNode(_));
        if let Some((_, all_iris)) = keys.get_mut(p) {
            *all_iris &= is_iri;
            continue;
        }
        let short = if let Some(local) = p.strip_prefix(vocab.as_str()) {
            Some(local.to_owned())
        } else if p == "http://www.w3.org/2000/01/rdf-schema#label" {
            Some("label".to_owned())
        } else {
            None
        };
        let key = match short {
            Some(k) if !k.is_empty() && !k.contains(':') && !taken.contains_key(&k) => k,
            _ => p.to_owned(),
        };
        taken.insert(key.clone(), p.to_owned());
        keys.insert(p.to_owned(), (key, is_iri));
    }
    let mut context = Map::new();
    context.insert("@vocab".into(), Value::String(vocab.clone()));
    for (name, ns) in &prefixes {
        context.insert((*name).to_owned(), Value::String(ns.clone()));
    }
    for (p, (key, all_iris)) in &keys {
        if p == RDF_TYPE || key == p {
            continue;
        }
        let id = compact(p, &prefixes);
        let def = if *all_iris {
            json!({"@id": id, "@type": "@id"})
        } else if p.starts_with(vocab.as_str()) {
            continue;
        } else {
            Value::String(id)
        };
        context.insert(key.clone(), def);
    }
    let node_ref = |n: &str| -> String {
        match n.strip_prefix(vocab.as_str()) {
            Some(local) if !local.is_empty() => format!("pc:{local}"),
            _ => n.to_owned(),
        }
    };
    let mut graph = Vec::new();
    for (s, ts) in by_subject("", triples.iter().copied()) {
        let mut node = Map::new();
        node.insert("@id".into(), Value::String(s));
        let mut types = Vec::new();
        let mut props: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for t in ts {
            let p = t.predicate.as_str();
            if p == RDF_TYPE {
                if let Term::NamedNode(c) = &t.object {
                    let c = c.as_str();
                    types.push(Value::String(match c.strip_prefix(vocab.as_str()) {
                        Some(local) if !local.is_empty() && !local.contains(':') => {
                            local.to_owned()
                        }
                        _ => c.to_owned(),
                    }));
                    continue;
                }
            }
            let (key, all_iris) = keys.get(p).cloned().unwrap_or((p.to_owned(), false));
            let value = match &t.object {
                Term::NamedNode(n) if all_iris => Value::String(node_ref(n.as_str())),
                Term::NamedNode(n) => json!({"@id": n.as_str()}),
                Term::BlankNode(b) if all_iris => Value::String(format!("_:{}", b.as_str())),
                Term::BlankNode(b) => json!({"@id": format!("_:{}", b.as_str())}),
                Term::Literal(l) => literal_json(l, &prefixes),
                #[allow(unreachable_patterns)]
                other => Value::String(other.to_string()),
            };
            props.entry(key).or_default().push(value);
        }
        match types.len() {
            0 => {}
            1 => {
                node.insert("@type".into(), types.swap_remove(0));
            }
            _ => {
                node.insert("@type".into(), Value::Array(types));
            }
        }
        for (k, mut v) in props {
            let v = if v.len() == 1 {
                v.swap_remove(0)
            } else {
                Value::Array(v)
            };
            node.insert(k, v);
        }
        graph.push(Value::Object(node));
    }
    json!({"@context": Value::Object(context), "@graph": graph})
}

fn literal_json(
    l: &picloud_projection::oxigraph::model::Literal,
    prefixes: &[(&'static str, String)],
) -> serde_json::Value {
    use serde_json::{json, Value};
    let v = l.value();
    if let Some(lang) = l.language() {
        return json!({"@value": v, "@language": lang});
    }
    let dt = l.datatype().as_str();
    match dt.strip_prefix(XSD) {
        Some("string") => return Value::String(v.to_owned()),
        Some("boolean") if v == "true" || v == "false" => return Value::Bool(v == "true"),
        Some("integer") => {
            if let Ok(n) = v.parse::<i64>() {
                if n.to_string() == v {
                    return Value::from(n);
                }
            }
        }
        _ => {}
    }
    json!({"@value": v, "@type": compact(dt, prefixes)})
}

fn compact(iri: &str, prefixes: &[(&'static str, String)]) -> String {
    for (name, ns) in prefixes {
        if let Some(local) = iri.strip_prefix(ns.as_str()) {
            if !local.is_empty() {
                return format!("{name}:{local}");
            }
        }
    }
    iri.to_owned()
}

fn term_value(term: &Term) -> TermValue {
    let mut v = TermValue {
        iri: None,
        value: None,
        datatype: None,
        language: None,
    };
    match term {
        Term::NamedNode(n) => v.iri = Some(n.as_str().to_owned()),
        Term::BlankNode(b) => v.iri = Some(format!("_:{}", b.as_str())),
        Term::Literal(l) => {
            v.value = Some(l.value().to_owned());
            if let Some(lang) = l.language() {
                v.language = Some(lang.to_owned());
            } else if l.datatype().as_str() != "http://www.w3.org/2001/XMLSchema#string" {
                v.datatype = Some(l.datatype().as_str().to_owned());
            }
        }
        #[allow(unreachable_patterns)]
        other => v.value = Some(other.to_string()),
    }
    v
}

/// Groups triples by subject: the subject `first` leads, the rest follow in IRI order.
fn by_subject<'a>(
    first: &str,
    triples: impl IntoIterator<Item = &'a Triple>,
) -> Vec<(String, Vec<&'a Triple>)> {
    let mut map: BTreeMap<String, Vec<&'a Triple>> = BTreeMap::new();
    for t in triples {
        let s = match &t.subject {
            picloud_projection::oxigraph::model::NamedOrBlankNode::NamedNode(n) => {
                n.as_str().to_owned()
            }
            other => other.to_string(),
        };
        map.entry(s).or_default().push(t);
    }
    let mut out: Vec<(String, Vec<&'a Triple>)> = Vec::with_capacity(map.len());
    if let Some(ts) = map.remove(first) {
        out.push((first.to_owned(), ts));
    }
    out.extend(map);
    out
}

/// The plain JSON view.
pub fn document(subject: &str, triples: &[Triple], iri: &IriBuilder) -> GraphDocument {
    let prefixes = prefixes(iri);
    let subjects = by_subject(subject, triples)
        .into_iter()
        .map(|(s, ts)| {
            let mut properties: BTreeMap<String, Vec<TermValue>> = BTreeMap::new();
            for t in ts {
                properties
                    .entry(compact(t.predicate.as_str(), &prefixes))
                    .or_default()
                    .push(term_value(&t.object));
            }
            SubjectDocument { iri: s, properties }
        })
        .collect();
    GraphDocument {
        iri: subject.to_owned(),
        prefixes: prefixes
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        subjects,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link target for an IRI: a path on this server for IRIs of the cluster's domain (so
/// the page works whatever host name it was reached by), the IRI itself otherwise.
fn href(target: &str, iri: &IriBuilder) -> String {
    let base = iri.cluster();
    match target.strip_prefix(base.as_str()) {
        Some(rest) => format!("/{rest}"),
        None => target.to_owned(),
    }
}

fn html_term(term: &Term, iri: &IriBuilder, prefixes: &[(&'static str, String)]) -> String {
    match term {
        Term::NamedNode(n) => format!(
            "<a href=\"{}\">{}</a>",
            escape(&href(n.as_str(), iri)),
            escape(&compact(n.as_str(), prefixes))
        ),
        Term::Literal(l) => {
            let dt = l.datatype().as_str();
            if l.language().is_none() && dt != "http://www.w3.org/2001/XMLSchema#string" {
                format!(
                    "&quot;{}&quot;<span class=dt>^^{}</span>",
                    escape(l.value()),
                    escape(&compact(dt, prefixes))
                )
            } else {
                format!("&quot;{}&quot;", escape(l.value()))
            }
        }
        other => escape(&other.to_string()),
    }
}

/// A small self-contained HTML page listing the triples, with links.
pub fn html(subject: &str, triples: &[Triple], iri: &IriBuilder) -> String {
    let prefixes = prefixes(iri);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>");
    out.push_str(&format!("<title>{}</title>", escape(subject)));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}\
         table{border-collapse:collapse;width:100%}td{border-top:1px solid #ddd;\
         padding:.3em .6em;vertical-align:top}td:first-child{width:16em;color:#555}\
         .dt{color:#888;font-size:.85em}h2{font-size:1.05em;margin-top:1.6em}\
         nav a{margin-right:1em}</style></head><body>\n",
    );
    out.push_str(&format!("<h1>{}</h1>\n", escape(subject)));
    out.push_str("<nav>Also as: ");
    for (label, media) in [
        ("Turtle", TURTLE),
        ("JSON-LD", JSON_LD),
        ("N-Triples", N_TRIPLES),
        ("JSON", JSON),
    ] {
        out.push_str(&format!("<code title=\"Accept: {media}\">{label}</code> "));
    }
    out.push_str("· <a href=\"/\">cluster</a> <a href=\"/ontology\">ontology</a></nav>\n");
    for (s, ts) in by_subject(subject, triples) {
        out.push_str(&format!(
            "<h2 id=\"{0}\"><a href=\"{1}\">{2}</a></h2>\n<table>\n",
            escape(&s),
            escape(&href(&s, iri)),
            escape(&s)
        ));
        for t in ts {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                html_term(&Term::NamedNode(t.predicate.clone()), iri, &prefixes),
                html_term(&t.object, iri, &prefixes)
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}
