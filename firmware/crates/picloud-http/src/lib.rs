//! PiCloud's HTTPS API — ring 1: the cluster made visible and usable over HTTP.
//!
//! - [`router`]`(`[`AppState`]`)` builds the axum router; [`serve_tls`] serves it over
//!   rustls (ring provider, HTTP/1.1) with a certificate from a [`ClusterCa`].
//! - [`AppState`] holds a [`Backend`] (what the cluster offers: submit a command, read the
//!   graph, subscribe to committed events, report status). The binary implements it over
//!   the Raft cluster; [`MemoryBackend`] is a complete single-process implementation.
//!
//! # Routes (see `docs/api.md`)
//!
//! | route | what |
//! | --- | --- |
//! | `GET /`, `/nodes/<n>`, `/products/<p>`, `/products/<p>/<kinds>/<name>[/<nested>…]`, `/ontology` | the IRI's description: JSON, Turtle, JSON-LD, N-Triples, HTML, RDF/XML by `Accept` (q-values); 406, `ETag`/304, `Vary: Accept` |
//! | `GET\|POST /sparql`, `/products/<p>/sparql` | SPARQL 1.1 Protocol, queries only (updates → 403) |
//! | `POST /api/apply`, `POST /api/delete` | commands ([`picloud_api::ApplyRequest`], [`picloud_api::DeleteRequest`]) |
//! | `GET /api/events` | server-sent events of committed events (`id:` = log offset) |
//! | `GET /api/status/<p>`, `GET /api/cluster`, `GET /health` | status |
//!
//! # Architecture invariants
//!
//! - The HTTP layer never changes state except by submitting a command to the backend;
//!   the graph is read-only here.
//! - Handlers never panic on input; every error answer is a JSON [`picloud_api::ErrorBody`].
//! - No ambient clock or randomness in handlers: time comes from the backend's [`Clock`],
//!   correlation ids from the state's [`IdSource`].

mod backend;
mod conneg;
mod error;
mod graph;
mod rdf;
mod routes;
mod sparql;
mod tls;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use picloud_events::CorrelationId;

pub use backend::{
    random_correlation_id, system_clock, Backend, BackendError, BoxFuture, Clock, EventStream,
    IdSource, Journal, MemoryBackend, SubmitOutcome,
};
pub use error::ApiError;
pub use tls::{
    fingerprint, serve_tls, serve_tls_until, ClusterCa, ServerCertificate, TlsConfig, TlsError,
    DEFAULT_SANS,
};

/// What every handler shares: the backend and the correlation-id source.
#[derive(Clone)]
pub struct AppState {
    backend: Arc<dyn Backend>,
    ids: IdSource,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `backend`, drawing correlation ids with [`random_correlation_id`].
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            ids: Arc::new(random_correlation_id),
        }
    }

    /// Replaces the correlation-id source (tests, or an adapter with its own randomness).
    pub fn with_ids(mut self, ids: IdSource) -> Self {
        self.ids = ids;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    fn correlation_id(&self) -> CorrelationId {
        (self.ids)()
    }
}

/// The whole API as an axum router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::root))
        .route("/ontology", get(routes::ontology))
        .route("/health", get(routes::health))
        .route(
            "/sparql",
            get(routes::sparql_cluster).post(routes::sparql_cluster),
        )
        .route("/nodes/{node}", get(routes::node))
        .route("/products/{product}", get(routes::product))
        .route(
            "/products/{product}/sparql",
            get(routes::sparql_product).post(routes::sparql_product),
        )
        .route("/products/{product}/{kind}/{name}", get(routes::resource))
        .route(
            "/products/{product}/{kind}/{name}/{*rest}",
            get(routes::nested),
        )
        .route("/api/apply", post(routes::apply))
        .route("/api/delete", post(routes::delete))
        .route("/api/events", get(routes::events))
        .route("/api/status/{product}", get(routes::status))
        .route("/api/cluster", get(routes::cluster))
        .fallback(routes::fallback)
        .with_state(state)
}
