//! [`Projection`]: the in-memory Oxigraph store the events are folded into, with its
//! cursor, snapshots, compaction, and read-only queries.
//!
//! # Why compaction
//!
//! Oxigraph 0.5's in-memory store is MVCC: removing a quad only closes its version range;
//! the node stays linked in the per-subject, per-predicate, per-object and per-graph lists
//! (`// TODO: garbage collection` in its `storage/memory.rs`), and every later lookup walks
//! past it. So a long-lived projection that keeps updating resources grows without bound
//! and gets slower. Two things keep it bounded here:
//!
//! - the **cursor** is not a triple in the store (moving it would leave one dead quad per
//!   event); it lives beside the store and is written into snapshots only;
//! - [`Projection`] counts the quads it removes (they become dead nodes) and, once they
//!   reach an eighth of the live quads (and a floor), **compacts**: a thread copies the live quads
//!   (as of that moment) into a fresh [`Store`] while batches go on into the current one
//!   and are sent to the thread, which folds them into the copy until it has caught up;
//!   the first batch after that folds whatever the copy still lacks (about one batch)
//!   and swaps it in under a lock. Readers ([`GraphReader`]) take the current store at the start of
//!   each operation, so a query sees either the old store or the finished new one, never
//!   a half-built one.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use oxigraph::io::{RdfFormat, RdfParser, RdfSerializer};
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

/// The default floor of [`Projection::set_compaction_floor`]: never compact for fewer dead
/// quads than this (a compaction copies every live quad).
pub const DEFAULT_COMPACTION_FLOOR: usize = 10_000;

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

/// The store's size as the projection accounts for it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Quads in the graph.
    pub live_quads: usize,
    /// Quads removed since the last compaction (an upper bound on the dead nodes the
    /// store still holds).
    pub dead_quads: usize,
    /// Compactions so far.
    pub compactions: u64,
}

/// The store readers use and the cursor it has been projected to.
#[derive(Clone)]
struct Current {
    store: Store,
    cursor: Option<u64>,
}

/// Read access to the graph: queries, descriptions and dumps. Cheap to clone and shareable
/// across threads (the HTTP layer holds one per handler); it sees every event the
/// [`Projection`] applies, atomically per batch, and follows compactions (each operation
/// runs on the store that is current when it starts). It cannot change the graph.
#[derive(Clone)]
pub struct GraphReader {
    current: Arc<RwLock<Current>>,
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
/// The graph changes only through [`Projection::apply`] / [`Projection::apply_batch`]
/// (events) and [`Projection::restore`] (a snapshot); there is no other update API.
/// Compaction ([`Projection::compact`], automatic by default) changes how the graph is
/// stored, never what it holds.
#[derive(Debug)]
pub struct Projection {
    reader: GraphReader,
    cursor: Option<u64>,
    live: usize,
    dead: usize,
    compactions: u64,
    /// `None`: never compact automatically.
    floor: Option<usize>,
    /// A compaction running in the background.
    background: Option<Background>,
}

/// A background compaction: the thread copying the live quads, and the events folded into
/// the current store since the copy's snapshot (to fold into the copy before the swap).
#[derive(Debug)]
struct Background {
    handle: std::thread::JoinHandle<Result<Copied, ProjectionError>>,
    /// Batches folded since the copy's snapshot, for the thread to catch up with.
    events: std::sync::mpsc::Sender<(u64, Envelope)>,
    /// The same events, for whatever the thread had not folded when it ended.
    since: Vec<(u64, Envelope)>,
}

/// What a background compaction hands back: the fresh store, the offset of the last event
/// it folded after the copy (none: it folded none), and the quads those removed.
struct Copied {
    store: Store,
    last: Option<u64>,
    removed: usize,
}

impl std::fmt::Debug for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copied")
            .field("last", &self.last)
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

/// What [`fold`] did to the live quads.
struct Folded {
    inserted: usize,
    removed: usize,
}

/// Folds `events` into `store` in one transaction.
fn fold(
    store: &Store,
    iri: &IriBuilder,
    events: &[(u64, &Envelope)],
) -> Result<Folded, ProjectionError> {
    let mut tx = Tracked {
        tx: store.start_transaction()?,
        inserted: 0,
        removed: HashSet::new(),
    };
    for (_, event) in events {
        for change in &project(iri, event)? {
            apply_change(&mut tx, iri, change)?;
        }
    }
    let Tracked {
        tx,
        inserted,
        removed,
    } = tx;
    tx.commit()?;
    Ok(Folded {
        inserted,
        removed: removed.len(),
    })
}

/// A fresh store holding `quads`.
fn copy(quads: oxigraph::store::QuadIter<'static>) -> Result<Store, ProjectionError> {
    let fresh = Store::new()?;
    let mut tx = fresh.start_transaction()?;
    for q in quads {
        tx.insert(&q?);
    }
    tx.commit()?;
    Ok(fresh)
}

/// A transaction that counts what it does to the live quads.
struct Tracked<'a> {
    tx: Transaction<'a>,
    inserted: usize,
    removed: HashSet<Quad>,
}

impl<'a> Tracked<'a> {
    fn insert(&mut self, q: QuadRef<'_>) -> Result<(), ProjectionError> {
        // A quad removed earlier in this transaction comes back to life; any other absent
        // quad is a new live one.
        if !self.tx.contains(q)? && !self.removed.remove(&q.into_owned()) {
            self.inserted += 1;
        }
        self.tx.insert(q);
        Ok(())
    }

    /// Removes `q`, known to be in the graph (it was just read from the transaction).
    fn remove_live(&mut self, q: Quad) {
        self.tx.remove(&q);
        self.removed.insert(q);
    }

    fn remove(&mut self, q: QuadRef<'_>) -> Result<(), ProjectionError> {
        if self.tx.contains(q)? {
            self.remove_live(q.into_owned());
        }
        Ok(())
    }

    fn quads(
        &self,
        subject: NamedNodeRef<'_>,
        predicate: Option<NamedNodeRef<'_>>,
        graph: Option<GraphNameRef<'_>>,
    ) -> Result<Vec<Quad>, ProjectionError> {
        Ok(self
            .tx
            .quads_for_pattern(Some(subject.into()), predicate, None, graph)
            .collect::<Result<_, _>>()?)
    }
}

impl Projection {
    /// An empty graph (cursor: nothing projected).
    pub fn new(iri: IriBuilder) -> Result<Self, ProjectionError> {
        Ok(Self {
            reader: GraphReader {
                current: Arc::new(RwLock::new(Current {
                    store: Store::new()?,
                    cursor: None,
                })),
                iri,
            },
            cursor: None,
            live: 0,
            dead: 0,
            compactions: 0,
            floor: Some(DEFAULT_COMPACTION_FLOOR),
            background: None,
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

    /// Automatic compaction: after a batch, a background compaction starts when the quads
    /// removed since the last one reach both `floor` and an eighth of the live quads (so the store
    /// holds at most about 1.125 × the live quads plus `floor` dead ones, and the copying
    /// costs O(1) per change, amortised). `None` turns it off (tests, benchmarks).
    pub fn set_compaction_floor(&mut self, floor: Option<usize>) {
        self.floor = floor;
    }

    /// The live and dead quad counts and the compactions so far.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            live_quads: self.live,
            dead_quads: self.dead,
            compactions: self.compactions,
        }
    }

    /// Folds the event at `log_offset` into the graph (a batch of one, see
    /// [`Projection::apply_batch`]). Offsets at or below the cursor are skipped (replaying
    /// an overlap is harmless). On `Err` nothing changed.
    pub fn apply(&mut self, event: &Envelope, log_offset: u64) -> Result<Applied, ProjectionError> {
        match self.apply_batch([(log_offset, event)])? {
            0 => Ok(Applied::AlreadyProjected),
            _ => Ok(Applied::Projected),
        }
    }

    /// Folds events, in the order given, in **one** transaction, and moves the cursor to
    /// the last offset folded: readers see all of them or none. Events at or below the
    /// cursor (or not above the previous one in the batch) are skipped. Returns how many
    /// were folded. On `Err` nothing changed.
    ///
    /// Compaction runs in the background: once enough quads are dead, a thread copies the
    /// live quads (as of that moment) into a fresh store while batches go on into the
    /// current one; the batch that finds the copy finished folds the events since into it
    /// too and swaps it in. So a batch never waits for a whole copy.
    pub fn apply_batch<'e>(
        &mut self,
        events: impl IntoIterator<Item = (u64, &'e Envelope)>,
    ) -> Result<usize, ProjectionError> {
        let mut todo = Vec::new();
        let mut cursor = self.cursor;
        for (offset, event) in events {
            if cursor.is_some_and(|c| offset <= c) {
                continue;
            }
            todo.push((offset, event));
            cursor = Some(offset);
        }
        if todo.is_empty() {
            return Ok(0);
        }
        let folded = fold(&self.reader.store(), &self.reader.iri, &todo)?;
        self.live = (self.live + folded.inserted).saturating_sub(folded.removed);
        self.dead += folded.removed;
        self.cursor = cursor;
        self.reader.set(None, cursor);
        if let Some(bg) = &mut self.background {
            for (o, e) in &todo {
                // A copy that has stopped listening is finished: `since` covers the rest.
                let _ = bg.events.send((*o, (*e).clone()));
                bg.since.push((*o, (*e).clone()));
            }
            if bg.handle.is_finished() {
                self.finish_compaction()?;
            }
        } else if let Some(floor) = self.floor {
            if self.dead >= floor && self.dead.saturating_mul(8) >= self.live {
                self.start_compaction()?;
            }
        }
        Ok(todo.len())
    }

    /// Starts copying the live quads into a fresh store on a thread (synchronously if no
    /// thread can be started).
    fn start_compaction(&mut self) -> Result<(), ProjectionError> {
        // The iterator reads the store as of now; later batches go to the thread over
        // `events` (and into `since`, for what the thread has not folded when it ends).
        let quads = self.reader.store().iter();
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Envelope)>();
        let iri = self.reader.iri.clone();
        let spawned = std::thread::Builder::new()
            .name("graph-compaction".into())
            .spawn(move || {
                let fresh = copy(quads)?;
                // Catch up with the batches folded meanwhile, until none is waiting.
                let mut last = None;
                let mut removed = 0;
                loop {
                    let waiting: Vec<(u64, Envelope)> = rx.try_iter().collect();
                    if waiting.is_empty() {
                        return Ok(Copied {
                            store: fresh,
                            last,
                            removed,
                        });
                    }
                    let batch: Vec<(u64, &Envelope)> =
                        waiting.iter().map(|(o, e)| (*o, e)).collect();
                    removed += fold(&fresh, &iri, &batch)?.removed;
                    last = waiting.last().map(|(o, _)| *o);
                }
            });
        match spawned {
            Ok(handle) => {
                self.background = Some(Background {
                    handle,
                    events: tx,
                    since: Vec::new(),
                });
                Ok(())
            }
            Err(_) => self.compact(),
        }
    }

    /// Waits for a background compaction (if one runs), folds the events the copy has not
    /// caught up with into it and swaps it in. A failed copy is dropped (the next batch
    /// over the threshold starts another).
    pub fn finish_compaction(&mut self) -> Result<(), ProjectionError> {
        let Some(bg) = self.background.take() else {
            return Ok(());
        };
        drop(bg.events);
        let Ok(Ok(copied)) = bg.handle.join() else {
            return Ok(());
        };
        let rest: Vec<(u64, &Envelope)> = bg
            .since
            .iter()
            .filter(|(o, _)| copied.last.is_none_or(|last| *o > last))
            .map(|(o, e)| (*o, e))
            .collect();
        let folded = fold(&copied.store, &self.reader.iri, &rest)?;
        self.reader.set(Some(copied.store), self.cursor);
        self.dead = copied.removed + folded.removed;
        self.compactions += 1;
        Ok(())
    }

    /// Copies the live quads into a fresh store and makes it the one readers use, now (a
    /// background compaction in progress is abandoned). The graph (and its canonical
    /// N-Quads) is unchanged; the dead quads of the old store go away once the last reader
    /// still running on it finishes. On `Err` nothing changed.
    pub fn compact(&mut self) -> Result<(), ProjectionError> {
        self.background = None;
        let fresh = copy(self.reader.store().iter())?;
        self.reader.set(Some(fresh), self.cursor);
        self.dead = 0;
        self.compactions += 1;
        Ok(())
    }

    /// Replaces the whole graph with a snapshot (N-Quads, as written by
    /// [`GraphReader::snapshot`]) and takes the cursor from it. Atomic: on `Err` the graph
    /// and the cursor are unchanged. Readers see the restored graph.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), ProjectionError> {
        self.background = None;
        let cursor_quad = CursorQuad::new(&self.reader.iri)?;
        let fresh = Store::new()?;
        let mut cursor = None;
        let mut live = 0;
        {
            let mut tx = fresh.start_transaction()?;
            for q in RdfParser::from_format(RdfFormat::NQuads).for_slice(snapshot) {
                let q = q.map_err(|e| ProjectionError::BadSnapshot(e.to_string()))?;
                if let Some(offset) = cursor_quad.offset_of(&q)? {
                    if cursor.replace(offset).is_some() {
                        return Err(ProjectionError::BadSnapshot(
                            "the projector cursor must be one integer".into(),
                        ));
                    }
                    continue;
                }
                if !tx.contains(&q)? {
                    live += 1;
                }
                tx.insert(&q);
            }
            tx.commit()?;
        }
        self.reader.set(Some(fresh), cursor);
        self.cursor = cursor;
        self.live = live;
        self.dead = 0;
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

/// The cursor as a quad: `<https://<domain>/meta/projector> pc:lastProjectedOffset N` in
/// the cluster graph. Only snapshots (and canonical N-Quads) hold it.
struct CursorQuad {
    subject: NamedNode,
    predicate: NamedNode,
    graph: NamedNode,
}

impl CursorQuad {
    fn new(iri: &IriBuilder) -> Result<Self, ProjectionError> {
        Ok(Self {
            subject: named(iris::projector(iri))?,
            predicate: named(iri.ontology_term("lastProjectedOffset").as_str())?,
            graph: named(iris::cluster_graph(iri))?,
        })
    }

    fn quad(&self, offset: u64) -> Quad {
        Quad::new(
            self.subject.clone(),
            self.predicate.clone(),
            Literal::from(offset),
            self.graph.clone(),
        )
    }

    /// The offset if `q` is a cursor quad.
    fn offset_of(&self, q: &Quad) -> Result<Option<u64>, ProjectionError> {
        let is_cursor = matches!(&q.subject, NamedOrBlankNode::NamedNode(s) if *s == self.subject)
            && q.predicate == self.predicate;
        if !is_cursor {
            return Ok(None);
        }
        if q.graph_name != GraphName::NamedNode(self.graph.clone()) {
            return Err(ProjectionError::BadSnapshot(
                "the projector cursor is outside the cluster graph".into(),
            ));
        }
        match &q.object {
            Term::Literal(l) => l.value().parse().map(Some).map_err(|_| {
                ProjectionError::BadSnapshot(format!("cursor `{}` is not an offset", l.value()))
            }),
            _ => Err(ProjectionError::BadSnapshot(
                "the projector cursor must be one integer".into(),
            )),
        }
    }
}

impl GraphReader {
    fn snapshot_of(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The store readers use now.
    fn store(&self) -> Store {
        self.snapshot_of().store
    }

    /// Swaps in a new store (if any) and publishes the cursor.
    fn set(&self, store: Option<Store>, cursor: Option<u64>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = store {
            current.store = store;
        }
        current.cursor = cursor;
    }

    /// The whole graph as canonical N-Quads (see [`GraphReader::canonical_nquads`]): taken
    /// with each Raft snapshot, given to [`Projection::restore`] at start. It contains the
    /// cursor triple, so it records which offset it is at.
    pub fn snapshot(&self) -> Result<Vec<u8>, ProjectionError> {
        Ok(self.canonical_nquads()?.into_bytes())
    }

    /// Every quad as an N-Quads line, lines sorted, each ending in `\n`, with the cursor
    /// quad (`<https://<domain>/meta/projector> pc:lastProjectedOffset N` in the cluster
    /// graph) among them once something is projected. Two graphs are equal exactly when
    /// these strings are (there are no blank nodes).
    pub fn canonical_nquads(&self) -> Result<String, ProjectionError> {
        let Current { store, cursor } = self.snapshot_of();
        let serialize = |e: std::io::Error| ProjectionError::Serialize(e.to_string());
        let mut dump = store
            .dump_to_writer(RdfFormat::NQuads, Vec::new())
            .map_err(|e| ProjectionError::Serialize(e.to_string()))?;
        if let Some(offset) = cursor {
            let q = CursorQuad::new(&self.iri)?.quad(offset);
            let mut w = RdfSerializer::from_format(RdfFormat::NQuads).for_writer(Vec::new());
            w.serialize_quad(&q).map_err(serialize)?;
            dump.extend(w.finish().map_err(serialize)?);
        }
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

    /// Number of quads in all graphs (the cursor is not a quad of the store).
    pub fn len(&self) -> Result<usize, ProjectionError> {
        Ok(self.store().len()?)
    }

    /// Whether the graph holds no quad.
    pub fn is_empty(&self) -> Result<bool, ProjectionError> {
        Ok(self.store().is_empty()?)
    }

    /// The projector's cursor: the offset of the last event whose changes readers can
    /// see (they may already see a later batch's while this still names the earlier).
    pub fn cursor(&self) -> Result<Option<u64>, ProjectionError> {
        Ok(self.snapshot_of().cursor)
    }

    /// The named graphs holding at least one quad, sorted: the cluster graph and one per
    /// product. (Only non-empty graphs count, as in a snapshot.)
    pub fn graphs(&self) -> Result<Vec<String>, ProjectionError> {
        let store = self.store();
        let mut out = Vec::new();
        for g in store.named_graphs() {
            if let NamedOrBlankNode::NamedNode(n) = g? {
                let graph = GraphNameRef::NamedNode(n.as_ref());
                let mut quads = store.quads_for_pattern(None, None, None, Some(graph));
                if quads.next().transpose()?.is_some() {
                    out.push(n.into_string());
                }
            }
        }
        if self.snapshot_of().cursor.is_some() {
            out.push(iris::cluster_graph(&self.iri));
        }
        out.sort();
        out.dedup();
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
        Ok(prepared.on_store(&self.store()).execute()?)
    }

    /// The description of one subject: its triples in every graph, plus those of the
    /// nested IRIs it links to (`<iri>/mounts/0`, …, recursively), sorted and without
    /// duplicates. Empty when the graph knows nothing about `iri`. Reads without taking
    /// the writer's transaction lock, so it never holds up the projection; each lookup sees
    /// the latest committed batch.
    pub fn describe(&self, iri: &str) -> Result<Vec<Triple>, ProjectionError> {
        let root = named(iri)?;
        let store = self.store();
        let lookup = |s: NamedNodeRef<'_>| -> Result<Vec<Quad>, ProjectionError> {
            Ok(store
                .quads_for_pattern(Some(s.into()), None, None, None)
                .collect::<Result<_, _>>()?)
        };
        let mut triples = BTreeMap::new();
        for q in tree(root.as_ref(), lookup)?.into_values().flatten() {
            let t = Triple::new(q.subject, q.predicate, q.object);
            triples.insert(t.to_string(), t);
        }
        Ok(triples.into_values().collect())
    }
}

/// `root` and every nested IRI reachable from it (objects starting with `<root>/`), each
/// with its quads as `lookup` finds them.
fn tree(
    root: NamedNodeRef<'_>,
    lookup: impl Fn(NamedNodeRef<'_>) -> Result<Vec<Quad>, ProjectionError>,
) -> Result<BTreeMap<NamedNode, Vec<Quad>>, ProjectionError> {
    let prefix = format!("{}/", root.as_str());
    let mut seen = BTreeMap::new();
    let mut todo = vec![root.into_owned()];
    while let Some(s) = todo.pop() {
        if seen.contains_key(&s) {
            continue;
        }
        let quads = lookup(s.as_ref())?;
        for q in &quads {
            if let Term::NamedNode(o) = &q.object {
                if o.as_str().starts_with(&prefix) && !seen.contains_key(o) {
                    todo.push(o.clone());
                }
            }
        }
        seen.insert(s, quads);
    }
    Ok(seen)
}

fn remove_property(
    tx: &mut Tracked<'_>,
    graph: NamedNodeRef<'_>,
    subject: NamedNodeRef<'_>,
    predicate: NamedNodeRef<'_>,
) -> Result<(), ProjectionError> {
    for q in tx.quads(subject, Some(predicate), Some(graph.into()))? {
        tx.remove_live(q);
    }
    Ok(())
}

fn apply_change(
    tx: &mut Tracked<'_>,
    iri: &IriBuilder,
    change: &Change,
) -> Result<(), ProjectionError> {
    match change {
        Change::Insert(q) => tx.insert(q.as_ref())?,
        Change::Remove(q) => tx.remove(q.as_ref())?,
        Change::RemoveProperty {
            graph,
            subject,
            predicate,
        } => remove_property(tx, graph.as_ref(), subject.as_ref(), predicate.as_ref())?,
        Change::RemoveTree { graph, root, keep } => {
            let g = GraphNameRef::NamedNode(graph.as_ref());
            let found = tree(root.as_ref(), |s| tx.quads(s, None, Some(g)))?;
            for (s, quads) in found {
                for q in quads {
                    if !(s == *root && keep.contains(&q.predicate)) {
                        tx.remove_live(q);
                    }
                }
            }
        }
        Change::ClearGraph(graph) => {
            let g = GraphNameRef::NamedNode(graph.as_ref());
            let quads: Vec<Quad> = tx
                .tx
                .quads_for_pattern(None, None, None, Some(g))
                .collect::<Result<_, _>>()?;
            for q in quads {
                tx.remove_live(q);
            }
            tx.tx.remove_named_graph(graph)?;
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
            if tx
                .tx
                .contains(QuadRef::new(subject, &generation_p, &generation, graph))?
            {
                let status_p = pc("status")?;
                let reason_p = pc("statusReason")?;
                remove_property(tx, graph.as_ref(), subject.as_ref(), status_p.as_ref())?;
                remove_property(tx, graph.as_ref(), subject.as_ref(), reason_p.as_ref())?;
                tx.insert(QuadRef::new(subject, &status_p, status, graph))?;
                if let Some(r) = reason {
                    tx.insert(QuadRef::new(
                        subject,
                        &reason_p,
                        &Literal::new_simple_literal(r),
                        graph,
                    ))?;
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
            let g = GraphNameRef::NamedNode(graph.as_ref());
            let exists = |n: &NamedNode| -> Result<bool, ProjectionError> {
                let mut it = tx
                    .tx
                    .quads_for_pattern(Some(n.as_ref().into()), None, None, Some(g));
                Ok(it.next().transpose()?.is_some())
            };
            let target = if exists(binary)? && !exists(container)? {
                binary
            } else {
                container
            };
            tx.insert(QuadRef::new(subject, predicate, target, graph))?;
        }
    }
    Ok(())
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
