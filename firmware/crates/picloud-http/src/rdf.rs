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
/// where the syntax has prefixes.
pub fn serialize<'a>(
    triples: impl IntoIterator<Item = &'a Triple>,
    format: RdfFormat,
    iri: &IriBuilder,
) -> Result<Vec<u8>, ApiError> {
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
