//! Reads of the graph the routes share: product lists, statuses, descriptions.

use picloud_api::{ProductStatus, ResourceStatus};
use picloud_domain::{IriBuilder, Name, ResourceKind};
use picloud_projection::oxigraph::model::{Term, Triple};
use picloud_projection::oxigraph::sparql::QueryResults;
use picloud_projection::{GraphReader, GraphScope};

use crate::error::ApiError;

fn select(
    reader: &GraphReader,
    scope: &GraphScope,
    query: &str,
) -> Result<Vec<Vec<Option<Term>>>, ApiError> {
    let results = reader
        .query(query, scope)
        .map_err(|e| ApiError::internal(format!("graph query failed: {e}")))?;
    let QueryResults::Solutions(solutions) = results else {
        return Err(ApiError::internal("graph query is not a SELECT"));
    };
    let vars = solutions.variables().to_vec();
    let mut rows = Vec::new();
    for s in solutions {
        let s = s.map_err(|e| ApiError::internal(format!("graph query failed: {e}")))?;
        rows.push(vars.iter().map(|v| s.get(v).cloned()).collect());
    }
    Ok(rows)
}

fn literal(t: Option<&Option<Term>>) -> Option<String> {
    match t {
        Some(Some(Term::Literal(l))) => Some(l.value().to_owned()),
        _ => None,
    }
}

fn named(t: Option<&Option<Term>>) -> Option<String> {
    match t {
        Some(Some(Term::NamedNode(n))) => Some(n.as_str().to_owned()),
        _ => None,
    }
}

/// The names of the products in the cluster graph, sorted.
pub fn product_names(reader: &GraphReader, iri: &IriBuilder) -> Result<Vec<String>, ApiError> {
    let query = format!(
        "PREFIX pc: <{}>\nSELECT DISTINCT ?name WHERE {{ ?c pc:hasProduct ?p . ?p pc:name ?name }} \
         ORDER BY ?name",
        iri.ontology_namespace()
    );
    Ok(select(reader, &GraphScope::Cluster, &query)?
        .iter()
        .filter_map(|r| literal(r.first()))
        .collect())
}

/// Whether the graph knows anything about `iri` (as a subject).
pub fn exists(reader: &GraphReader, iri: &str) -> Result<bool, ApiError> {
    Ok(!describe(reader, iri)?.is_empty())
}

/// The description of one IRI (its triples and its nested values').
pub fn describe(reader: &GraphReader, iri: &str) -> Result<Vec<Triple>, ApiError> {
    reader
        .describe(iri)
        .map_err(|e| ApiError::internal(format!("graph read failed: {e}")))
}

/// The cluster root: the cluster's own triples plus those of every node and product it
/// lists (`pc:hasNode`, `pc:hasProduct`), restricted to the cluster graph's view of them.
pub fn root(reader: &GraphReader, iri: &IriBuilder) -> Result<Vec<Triple>, ApiError> {
    let cluster = iri.cluster();
    let mut out = describe(reader, cluster.as_str())?;
    let query = format!(
        "PREFIX pc: <{ns}>\nCONSTRUCT {{ <{c}> ?rel ?m . ?m ?p ?o }} WHERE {{ \
         VALUES ?rel {{ pc:hasNode pc:hasProduct }} <{c}> ?rel ?m . ?m ?p ?o }}",
        ns = iri.ontology_namespace(),
        c = cluster.as_str()
    );
    if let QueryResults::Graph(triples) = reader
        .query(&query, &GraphScope::Cluster)
        .map_err(|e| ApiError::internal(format!("graph query failed: {e}")))?
    {
        for t in triples {
            out.push(t.map_err(|e| ApiError::internal(format!("graph query failed: {e}")))?);
        }
    }
    out.sort_by_key(|t| t.to_string());
    out.dedup();
    Ok(out)
}

/// The statuses of a product's resources, or 404 when the product does not exist.
pub fn product_status(
    reader: &GraphReader,
    iri: &IriBuilder,
    product: &Name,
) -> Result<ProductStatus, ApiError> {
    let product_iri = iri.product(product);
    let ns = iri.ontology_namespace();
    let query = format!(
        "PREFIX pc: <{ns}>\nSELECT ?r ?type ?name ?generation ?status ?reason WHERE {{ \
         ?r pc:generation ?generation ; a ?type ; pc:name ?name . \
         OPTIONAL {{ ?r pc:status ?status }} OPTIONAL {{ ?r pc:statusReason ?reason }} }}"
    );
    let rows = select(reader, &GraphScope::Product(product.clone()), &query)?;
    let mut resources = Vec::new();
    for row in &rows {
        let Some(type_iri) = named(row.get(1)) else {
            continue;
        };
        let Some(kind) = ResourceKind::ALL
            .into_iter()
            .find(|k| type_iri == format!("{ns}{}", k.class_name()))
        else {
            continue;
        };
        let status = named(row.get(4))
            .map(|s| s.rsplit('#').next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| "Declared".to_owned());
        resources.push(ResourceStatus {
            kind: kind.keyword().to_owned(),
            name: literal(row.get(2)).unwrap_or_default(),
            iri: named(row.first()).unwrap_or_default(),
            generation: literal(row.get(3))
                .and_then(|g| g.parse().ok())
                .unwrap_or_default(),
            status,
            reason: literal(row.get(5)),
        });
    }
    if !resources.iter().any(|r| r.iri == product_iri.as_str()) {
        return Err(ApiError::not_found(format!(
            "product '{product}' does not exist"
        )));
    }
    let order = |k: &str| {
        ResourceKind::ALL
            .iter()
            .position(|x| x.keyword() == k)
            .unwrap_or(usize::MAX)
    };
    resources.sort_by(|a, b| {
        order(&a.kind)
            .cmp(&order(&b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
    resources.dedup();
    Ok(ProductStatus {
        product: product.to_string(),
        iri: product_iri.as_str().to_owned(),
        resources,
        projected_offset: reader.cursor().ok().flatten(),
    })
}
