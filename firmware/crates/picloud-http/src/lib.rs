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
mod clients;
mod cluster_admin;
mod conneg;
mod error;
mod graph;
pub mod identity;
mod oidc;
pub mod passkeys;
pub mod portal;
mod rdf;
mod routes;
mod sparql;
mod tls;

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use picloud_events::CorrelationId;

pub use backend::{
    random_correlation_id, system_clock, Backend, BackendError, BoxFuture, Clock, EventStream,
    IamDecided, IdSource, Journal, MemoryBackend, SubmitOutcome,
};
pub use backend::{AdminError, ClusterAdmin};
pub use error::ApiError;
pub use identity::{Access, Identity, IdentityError, TokenResponse};
pub use tls::{
    fingerprint, serve_tls, serve_tls_until, ClusterCa, ServerCertificate, TlsConfig, TlsError,
    DEFAULT_SANS,
};

/// What every handler shares: the backend, the identity adapter and the correlation-id
/// source.
#[derive(Clone)]
pub struct AppState {
    backend: Arc<dyn Backend>,
    identity: Arc<Identity>,
    passkeys: Arc<passkeys::Passkeys>,
    ids: IdSource,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `backend` and `identity`, drawing correlation ids with
    /// [`random_correlation_id`].
    pub fn new(backend: Arc<dyn Backend>, identity: Arc<Identity>) -> Self {
        Self {
            backend,
            identity,
            passkeys: Arc::default(),
            ids: Arc::new(random_correlation_id),
        }
    }

    /// The identity adapter.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The passkey ceremonies of this node.
    pub fn passkeys(&self) -> &passkeys::Passkeys {
        &self.passkeys
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

/// One route: its path pattern, methods, and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// The axum path pattern.
    pub path: &'static str,
    /// Its methods.
    pub methods: &'static [Method],
    /// Who may call it.
    pub access: Access,
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const GET_POST: &[Method] = &[Method::GET, Method::POST];

/// THE route table: every route of the API, its handlers and its [`Access`]. The router
/// is built from it and only from it, so a test can enumerate every route
/// ([`route_table`]) and prove each one is guarded.
fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::*;
    let r = |path, methods, access, m| {
        (
            RouteSpec {
                path,
                methods,
                access,
            },
            m,
        )
    };
    vec![
        // Public: discovery, keys, the CA, the portal's pages.
        r(
            "/.well-known/openid-configuration",
            GET,
            Public,
            get(oidc::discovery),
        ),
        r("/oauth2/jwks", GET, Public, get(oidc::jwks)),
        // Liveness for load balancers, PID 1 and boot tests: answers {"status":"ok"} and
        // reveals nothing about the cluster.
        r("/health", GET, Public, get(routes::health)),
        r("/ca.pem", GET, Public, get(oidc::ca_pem)),
        r("/oauth2/logout", GET, Public, get(oidc::end_session)),
        r("/oauth2/authorize", GET, Public, get(passkeys::authorize)),
        r("/portal/setup", GET, Public, get(portal::setup_page)),
        r("/portal/login", GET, Public, get(portal::login_get)),
        r("/portal/device", GET, Public, get(portal::device_page)),
        r("/portal/reenrol", GET, Public, get(portal::reenrol_page)),
        r("/portal/portal.js", GET, Public, get(portal::script)),
        // The ceremonies behind those pages: authenticated by the bootstrap code, a
        // re-enrolment code, or the passkey itself.
        r(
            "/portal/api/setup/start",
            POST,
            Public,
            post(passkeys::setup_start),
        ),
        r(
            "/portal/api/reenrol/start",
            POST,
            Public,
            post(passkeys::reenrol_start),
        ),
        r(
            "/portal/api/enrol/finish",
            POST,
            Public,
            post(passkeys::enrol_finish),
        ),
        r(
            "/portal/api/login/start",
            POST,
            Public,
            post(passkeys::login_start),
        ),
        r(
            "/portal/api/login/finish",
            POST,
            Public,
            post(passkeys::login_finish),
        ),
        // OAuth endpoints that authenticate the client themselves.
        r("/oauth2/token", POST, Client, post(oidc::token)),
        r(
            "/oauth2/device_authorization",
            POST,
            Client,
            post(oidc::device_authorization),
        ),
        r("/oauth2/revoke", POST, Client, post(oidc::revoke)),
        r("/oauth2/introspect", POST, Client, post(oidc::introspect)),
        // Bearer token required.
        r(
            "/oauth2/userinfo",
            GET_POST,
            Authenticated,
            get(oidc::userinfo).post(oidc::userinfo),
        ),
        r(
            "/portal/api/device/approve",
            POST,
            Authenticated,
            post(portal::approve_device),
        ),
        r(
            "/portal/api/passkey/start",
            POST,
            Authenticated,
            post(passkeys::passkey_start),
        ),
        r("/", GET, PlatformRead, get(routes::root)),
        r("/ontology", GET, PlatformRead, get(routes::ontology)),
        r(
            "/sparql",
            GET_POST,
            PlatformRead,
            get(routes::sparql_cluster).post(routes::sparql_cluster),
        ),
        r("/nodes/{node}", GET, PlatformRead, get(routes::node)),
        r(
            "/products/{product}",
            GET,
            ProductRead,
            get(routes::product),
        ),
        r(
            "/products/{product}/sparql",
            GET_POST,
            ProductRole,
            get(routes::sparql_product).post(routes::sparql_product),
        ),
        r(
            "/products/{product}/{kind}/{name}",
            GET,
            ProductRead,
            get(routes::resource),
        ),
        r(
            "/products/{product}/{kind}/{name}/{*rest}",
            GET,
            ProductRead,
            get(routes::nested),
        ),
        r("/api/apply", POST, PlatformAdmin, post(routes::apply)),
        r(
            "/api/identity/people",
            POST,
            PlatformAdmin,
            post(portal::invite),
        ),
        r(
            "/api/identity/reenrolment",
            POST,
            PlatformAdmin,
            post(portal::reenrolment),
        ),
        r(
            "/api/identity/clients/{product}/secret",
            POST,
            PlatformAdmin,
            post(clients::rotate_secret),
        ),
        r("/api/delete", POST, PlatformAdmin, post(routes::delete)),
        r("/api/events", GET, PlatformRead, get(routes::events)),
        r(
            "/api/status/{product}",
            GET,
            ProductRead,
            get(routes::status),
        ),
        r("/api/cluster", GET, PlatformRead, get(routes::cluster)),
        // Cluster membership (docs/cluster.md). `init` is public but works only while the
        // node is uninitialised (409 after); it never reveals the bootstrap code.
        r("/api/cluster/init", POST, Public, post(cluster_admin::init)),
        r(
            "/api/cluster/add",
            POST,
            PlatformAdmin,
            post(cluster_admin::add),
        ),
        r(
            "/api/cluster/remove",
            POST,
            PlatformAdmin,
            post(cluster_admin::remove),
        ),
    ]
}

/// Every route of the API with its methods and access (for tests and docs).
pub fn route_table() -> Vec<RouteSpec> {
    table().into_iter().map(|(s, _)| s).collect()
}

/// The whole API as an axum router: every route behind [`identity::guard`] with its
/// [`Access`]; anything else is 401 without a valid token, 404 with one.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, methods) in table() {
        let guarded = methods.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), spec.access),
            identity::guard,
        ));
        router = router.route(spec.path, guarded);
    }
    router.fallback(routes::fallback).with_state(state)
}
