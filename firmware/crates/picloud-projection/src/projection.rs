//! [`Projection`]: the in-memory Oxigraph store the events are folded into, with its
//! cursor, snapshots, and read-only queries.

use std::collections::{BTreeMap, BTreeSet};

use oxigraph::io::RdfFormat;
use oxigraph::model::{
    GraphName, GraphNameRef, Literal, NamedNode, NamedNodeRef, NamedOrBlankNode, Quad, QuadRef,
    Term, Triple,
};
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::{Store, Transaction};
use picloud_domain::{IriBuilder, Name};
use picloud_events::Envelope;

use crate::iris;
use crate::projector::{named, project, Change};
use crate::{ProjectionError, QueryError};

/// Which graphs a SPARQL query sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphScope {
    /// The cluster endpoint (`/sparql`): the default graph is the cluster graph; every
    /// named graph (each product's) is available through `GRAPH`. `FROM` / `FROM NAMED`
    /// in the query take precedence.
    Cluster,
    /// A product endpoint (`/products/<p>/sparql`): the default graph is the product's
    /// graph and it is the only graph visible; `FROM` clauses cannot widen that.
    Product(Name),
}

/// What [`Projection::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was folded in and the cursor moved to its offset.
    Projected,
    /// The offset was at or below the cursor: the event is already in the graph.
    AlreadyProjected,
}

/// Read access to the graph: queries, descriptions and dumps. Cheap to clone and shareable
/// across threads (the HTTP layer holds one per handler); it sees every event the
/// [`Projection`] applies, atomically per event. It cannot change the graph.
#[derive(Clone)]
pub struct GraphReader {
    store: Store,
    iri: IriBuilder,
}

impl std::fmt::Debug for GraphReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphReader")
            .field("domain", self.iri.domain())
            .finish_non_exhaustive()
    }
}

/// The RDF projection of the event log: owns the in-memory store and is its only writer.
///
/// The graph changes only through [`Projection::apply`] (one event) and
/// [`Projection::restore`] (a snapshot); there is no other update API.
#[derive(Debug)]
pub struct Projection {
    reader: GraphReader,
    cursor: Option<u64>,
}

impl Projection {
    /// An empty graph (cursor: nothing projected).
    pub fn new(iri: IriBuilder) -> Result<Self, ProjectionError> {
        Ok(Self {
            reader: GraphReader {
                store: Store::new()?,
                iri,
            },
            cursor: None,
        })
    }

    /// A projection restored from a [`GraphReader::snapshot`].
    pub fn from_snapshot(iri: IriBuilder, snapshot: &[u8]) -> Result<Self, ProjectionError> {
        let mut p = Self::new(iri)?;
        p.restore(snapshot)?;
        Ok(p)
    }

    /// A read handle on the graph.
    pub fn reader(&self) -> GraphReader {
        self.reader.clone()
    }

    /// The offset of the last projected event, `None` before the first.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// The IRI builder this projection was made with.
    pub fn iri(&self) -> &IriBuilder {
        &self.reader.iri
    }

    /// Folds the event at `log_offset` into the graph, atomically with the cursor triple.
    /// Offsets at or below the cursor are skipped (replaying an overlap is harmless).
    /// On `Err` nothing changed.
    pub fn apply(&mut self, event: &Envelope, log_offset: u64) -> Result<Applied, ProjectionError> {
        if self.cursor.is_some_and(|c| log_offset <= c) {
            return Ok(Applied::AlreadyProjected);
        }
        let changes = project(&self.reader.iri, event)?;
        let cluster_graph = named(iris::cluster_graph(&self.reader.iri))?;
        let projector = named(iris::projector(&self.reader.iri))?;
        let offset_p = named(
            self.reader
                .iri
                .ontology_term("lastProjectedOffset")
                .as_str(),
        )?;
        let mut tx = self.reader.store.start_transaction()?;
        for change in &changes {
            apply_change(&mut tx, &self.reader.iri, change)?;
        }
        remove_property(
            &mut tx,
            cluster_graph.as_ref(),
            projector.as_ref(),
            offset_p.as_ref(),
        )?;
        tx.insert(QuadRef::new(
            &projector,
            &offset_p,
            &Literal::from(log_offset),
            &cluster_graph,
        ));
        tx.commit()?;
        self.cursor = Some(log_offset);
        Ok(Applied::Projected)
    }

    /// Replaces the whole graph with a snapshot (N-Quads, as written by
    /// [`GraphReader::snapshot`]) and takes the cursor from it. Atomic: on `Err` the graph
    /// and the cursor are unchanged. Readers see the restored graph.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), ProjectionError> {
        let mut tx = self.reader.store.start_transaction()?;
        tx.clear()?;
        tx.load_from_slice(RdfFormat::NQuads, snapshot)?;
        let cursor = read_cursor(&tx, &self.reader.iri)?;
        tx.commit()?;
        self.cursor = cursor;
        Ok(())
    }

    /// See [`GraphReader::snapshot`].
    pub fn snapshot(&self) -> Result<Vec<u8>, ProjectionError> {
        self.reader.snapshot()
    }

    /// See [`GraphReader::canonical_nquads`].
    pub fn canonical_nquads(&self) -> Result<String, ProjectionError> {
        self.reader.canonical_nquads()
    }

    /// See [`GraphReader::query`].
    pub fn query(
        &self,
        sparql: &str,
        scope: &GraphScope,
    ) -> Result<QueryResults<'static>, QueryError> {
        self.reader.query(sparql, scope)
    }

    /// See [`GraphReader::describe`].
    pub fn describe(&self, iri: &str) -> Result<Vec<Triple>, ProjectionError> {
        self.reader.describe(iri)
    }
}

impl GraphReader {
    /// The whole graph as canonical N-Quads (see [`GraphReader::canonical_nquads`]): taken
    /// with each Raft snapshot, given to [`Projection::restore`] at start. It contains the
    /// cursor triple, so it records which offset it is at.
    pub fn snapshot(&self) -> Result<Vec<u8>, ProjectionError> {
        Ok(self.canonical_nquads()?.into_bytes())
    }

    /// Every quad as an N-Quads line, lines sorted, each ending in `\n`. Two graphs are
    /// equal exactly when these strings are (there are no blank nodes).
    pub fn canonical_nquads(&self) -> Result<String, ProjectionError> {
        let dump = self
            .store
            .dump_to_writer(RdfFormat::NQuads, Vec::new())
            .map_err(|e| ProjectionError::Serialize(e.to_string()))?;
        let text =
            String::from_utf8(dump).map_err(|e| ProjectionError::Serialize(e.to_string()))?;
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        lines.sort_unstable();
        lines.dedup();
        let mut out = String::with_capacity(text.len());
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        Ok(out)
    }

    /// Number of quads in all graphs.
    pub fn len(&self) -> Result<usize, ProjectionError> {
        Ok(self.store.len()?)
    }

    /// Whether the graph holds no quad.
    pub fn is_empty(&self) -> Result<bool, ProjectionError> {
        Ok(self.store.is_empty()?)
    }

    /// The projector's cursor as stored in the graph.
    pub fn cursor(&self) -> Result<Option<u64>, ProjectionError> {
        let tx = self.store.start_transaction()?;
        read_cursor(&tx, &self.iri)
    }

    /// The named graphs holding at least one quad, sorted: the cluster graph and one per
    /// product. (Only non-empty graphs count, as in a snapshot.)
    pub fn graphs(&self) -> Result<Vec<String>, ProjectionError> {
        let mut out = Vec::new();
        for g in self.store.named_graphs() {
            if let NamedOrBlankNode::NamedNode(n) = g? {
                let graph = GraphNameRef::NamedNode(n.as_ref());
                let mut quads = self.store.quads_for_pattern(None, None, None, Some(graph));
                if quads.next().transpose()?.is_some() {
                    out.push(n.into_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Evaluates a SPARQL 1.1 **query** (SELECT, ASK, CONSTRUCT, DESCRIBE) over `scope`.
    /// Updates are not queries: their text fails to parse here, and nothing else can change
    /// the graph. No `SERVICE` calls leave the node.
    pub fn query(
        &self,
        sparql: &str,
        scope: &GraphScope,
    ) -> Result<QueryResults<'static>, QueryError> {
        // Built without oxigraph's `http-client` feature: `SERVICE` cannot call out.
        let mut prepared = SparqlEvaluator::new().parse_query(sparql)?;
        let dataset = prepared.dataset_mut();
        match scope {
            GraphScope::Cluster => {
                if dataset.is_default_dataset() {
                    let g = named(iris::cluster_graph(&self.iri)).map_err(QueryError::Graph)?;
                    dataset.set_default_graph(vec![GraphName::NamedNode(g)]);
                }
            }
            GraphScope::Product(p) => {
                let g = named(iris::product_graph(&self.iri, p)).map_err(QueryError::Graph)?;
                dataset.set_default_graph(vec![GraphName::NamedNode(g.clone())]);
                dataset.set_available_named_graphs(vec![NamedOrBlankNode::NamedNode(g)]);
            }
        }
        Ok(prepared.on_store(&self.store).execute()?)
    }

    /// The description of one subject: its triples in every graph, plus those of the
    /// nested IRIs it links to (`<iri>/mounts/0`, …, recursively), sorted and without
    /// duplicates. Empty when the graph knows nothing about `iri`.
    pub fn describe(&self, iri: &str) -> Result<Vec<Triple>, ProjectionError> {
        let root = named(iri)?;
        let tx = self.store.start_transaction()?;
        let mut triples = BTreeMap::new();
        for subject in tree(&tx, root.as_ref(), None)? {
            for q in tx.quads_for_pattern(Some(subject.as_ref().into()), None, None, None) {
                let q = q?;
                let t = Triple::new(q.subject, q.predicate, q.object);
                triples.insert(t.to_string(), t);
            }
        }
        Ok(triples.into_values().collect())
    }
}

/// `root` and every nested IRI reachable from it (objects starting with `<root>/`), in
/// `graph` or in all graphs.
fn tree(
    tx: &Transaction<'_>,
    root: NamedNodeRef<'_>,
    graph: Option<GraphNameRef<'_>>,
) -> Result<BTreeSet<NamedNode>, ProjectionError> {
    let prefix = format!("{}/", root.as_str());
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.into_owned()];
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        for q in tx.quads_for_pattern(Some(s.as_ref().into()), None, None, graph) {
            if let Term::NamedNode(o) = q?.object {
                if o.as_str().starts_with(&prefix) && !seen.contains(&o) {
                    todo.push(o);
                }
            }
        }
    }
    Ok(seen)
}

fn remove_property(
    tx: &mut Transaction<'_>,
    graph: NamedNodeRef<'_>,
    subject: NamedNodeRef<'_>,
    predicate: NamedNodeRef<'_>,
) -> Result<(), ProjectionError> {
    let quads: Vec<Quad> = tx
        .quads_for_pattern(
            Some(subject.into()),
            Some(predicate),
            None,
            Some(graph.into()),
        )
        .collect::<Result<_, _>>()?;
    for q in &quads {
        tx.remove(q);
    }
    Ok(())
}

fn apply_change(
    tx: &mut Transaction<'_>,
    iri: &IriBuilder,
    change: &Change,
) -> Result<(), ProjectionError> {
    match change {
        Change::Insert(q) => tx.insert(q),
        Change::Remove(q) => tx.remove(q),
        Change::RemoveProperty {
            graph,
            subject,
            predicate,
        } => remove_property(tx, graph.as_ref(), subject.as_ref(), predicate.as_ref())?,
        Change::RemoveTree { graph, root, keep } => {
            let g = GraphNameRef::NamedNode(graph.as_ref());
            let mut doomed = Vec::new();
            for s in tree(tx, root.as_ref(), Some(g))? {
                for q in tx.quads_for_pattern(Some(s.as_ref().into()), None, None, Some(g)) {
                    let q = q?;
                    if !(s == *root && keep.contains(&q.predicate)) {
                        doomed.push(q);
                    }
                }
            }
            for q in &doomed {
                tx.remove(q);
            }
        }
        Change::ClearGraph(graph) => {
            tx.remove_named_graph(graph)?;
        }
        Change::SetStatus {
            graph,
            subject,
            generation,
            status,
            reason,
        } => {
            let pc = |t: &str| named(iri.ontology_term(t).as_str());
            let generation_p = pc("generation")?;
            let generation = Literal::from(*generation);
            if tx.contains(QuadRef::new(subject, &generation_p, &generation, graph))? {
                let status_p = pc("status")?;
                let reason_p = pc("statusReason")?;
                remove_property(tx, graph.as_ref(), subject.as_ref(), status_p.as_ref())?;
                remove_property(tx, graph.as_ref(), subject.as_ref(), reason_p.as_ref())?;
                tx.insert(QuadRef::new(subject, &status_p, status, graph));
                if let Some(r) = reason {
                    tx.insert(QuadRef::new(
                        subject,
                        &reason_p,
                        &Literal::new_simple_literal(r),
                        graph,
                    ));
                }
            }
        }
        Change::LinkWorkload {
            graph,
            subject,
            predicate,
            container,
            binary,
        } => {
            let exists = |n: &NamedNode| -> Result<bool, ProjectionError> {
                let mut it = tx.quads_for_pattern(
                    Some(n.as_ref().into()),
                    None,
                    None,
                    Some(GraphNameRef::NamedNode(graph.as_ref())),
                );
                Ok(it.next().transpose()?.is_some())
            };
            let target = if exists(binary)? && !exists(container)? {
                binary
            } else {
                container
            };
            tx.insert(QuadRef::new(subject, predicate, target, graph));
        }
    }
    Ok(())
}

fn read_cursor(tx: &Transaction<'_>, iri: &IriBuilder) -> Result<Option<u64>, ProjectionError> {
    let graph = named(iris::cluster_graph(iri))?;
    let projector = named(iris::projector(iri))?;
    let offset_p = named(iri.ontology_term("lastProjectedOffset").as_str())?;
    let mut values = Vec::new();
    for q in tx.quads_for_pattern(
        Some(projector.as_ref().into()),
        Some(offset_p.as_ref()),
        None,
        Some(graph.as_ref().into()),
    ) {
        values.push(q?.object);
    }
    match values.as_slice() {
        [] => Ok(None),
        [Term::Literal(l)] => l.value().parse().map(Some).map_err(|_| {
            ProjectionError::BadSnapshot(format!("cursor `{}` is not an offset", l.value()))
        }),
        _ => Err(ProjectionError::BadSnapshot(
            "the projector cursor must be one integer".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<GraphReader>();
    }
}
