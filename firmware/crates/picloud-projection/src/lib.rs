//! PiCloud's RDF projection — ring 1: the event log folded into an in-memory Oxigraph
//! graph, the read model behind every IRI and SPARQL endpoint.
//!
//! - [`ontology_turtle`]: the documented ontology (`pc:` = `https://<domain>/ontology#`),
//!   served as Turtle at `https://<domain>/ontology` (see `docs/ontology.md`).
//! - [`project`]: pure projectors, one event → a list of graph [`Change`]s.
//! - [`Projection`]: owns the store; [`Projection::apply_batch`] folds events in one
//!   transaction ([`Projection::apply`]: a batch of one) and moves the **cursor**, which is
//!   kept beside the store, not in it, and written into snapshots as
//!   `<https://<domain>/meta/projector> pc:lastProjectedOffset N` in the cluster graph;
//!   snapshots ([`GraphReader::snapshot`], canonical N-Quads) and [`Projection::restore`];
//!   [`Projection::compact`] (automatic by default) copies the live quads into a fresh
//!   store and swaps it in, because Oxigraph's in-memory store never frees removed quads.
//! - [`GraphReader`]: a cloneable read-only handle: [`GraphReader::query`] (SPARQL over a
//!   [`GraphScope`]), [`GraphReader::describe`] (one IRI with its nested values),
//!   [`GraphReader::canonical_nquads`].
//!
//! # Graphs
//!
//! One named graph per product, `https://<domain>/products/<p>/graph`, holding the product's
//! resources; and the cluster graph `https://<domain>/graph`, holding the cluster, its
//! nodes, the product list, IAM identities and role assignments, and the cursor. There is
//! no data in the default graph. See [`iris`] for every IRI shape.
//!
//! # Architecture invariants
//!
//! - **Deterministic**: the graph is a pure function of the events and their order. No
//!   blank nodes (nested values get IRIs below their resource), no clock, no randomness, so
//!   replaying the log from empty — or from a snapshot plus the rest of the log — gives
//!   byte-identical canonical N-Quads. Batching and compaction never change them.
//! - **Bounded**: the store holds at most about twice the live quads plus
//!   [`DEFAULT_COMPACTION_FLOOR`] dead ones, however many updates it has seen.
//! - **Read-only** to everyone else: the only mutations are [`Projection::apply`] and
//!   [`Projection::restore`]. SPARQL updates are not offered.
//! - **No secrets**: a secret resource shows only `pc:hasValue true`; IAM events that carry
//!   credentials, tokens, keys or code hashes are not projected.
//! - **Honest status**: a declared or changed resource is `pc:Declared` with a reason
//!   naming the controller it waits for; only a `ResourceStatusChanged` for its current
//!   generation changes that.

pub mod iris;
mod ontology;
mod projection;
mod projector;

pub use ontology::{ontology_turtle, terms as ontology_terms};
pub use oxigraph;
pub use projection::{
    Applied, GraphReader, GraphScope, Projection, StoreStats, DEFAULT_COMPACTION_FLOOR,
};
pub use projector::{declared_reason, project, status_term, Change};

/// Why the projection could not fold an event, take or restore a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The store failed (in memory: should not happen).
    #[error("graph storage failed: {0}")]
    Storage(#[from] oxigraph::store::StorageError),
    /// A built IRI was refused (a bug: every IRI comes from the IRI builder).
    #[error("invalid iri: {0}")]
    Iri(#[from] oxigraph::model::IriParseError),
    /// A snapshot did not parse as N-Quads.
    #[error("the graph snapshot does not load: {0}")]
    Load(#[from] oxigraph::store::LoaderError),
    /// A snapshot parsed but is not a projection snapshot.
    #[error("the graph snapshot is invalid: {0}")]
    BadSnapshot(String),
    /// Dumping the graph failed.
    #[error("the graph could not be serialised: {0}")]
    Serialize(String),
}

/// Why a SPARQL query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The text is not a SPARQL 1.1 query (an update is not a query either).
    #[error("{0}")]
    Syntax(#[from] oxigraph::sparql::SparqlSyntaxError),
    /// Evaluation failed.
    #[error("{0}")]
    Evaluation(#[from] oxigraph::sparql::QueryEvaluationError),
    /// The scope's graph IRI could not be built.
    #[error("{0}")]
    Graph(ProjectionError),
}
