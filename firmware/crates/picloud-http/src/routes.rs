//! The route handlers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use picloud_api::{ApplyRequest, ApplyResponse, DeleteRequest, Health};
use picloud_domain::{IriBuilder, Name, ResourceKind};
use picloud_events::{CorrelationId, Envelope};
use picloud_product_core::{Command, Rejection};
use picloud_projection::oxigraph::io::{RdfFormat, RdfParser};
use picloud_projection::oxigraph::model::Triple;
use picloud_projection::GraphScope;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backend::BackendError;
use crate::error::ApiError;
use crate::{conneg, graph, rdf, sparql, AppState};

fn accept(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => ApiError::internal(format!("json: {e}")).into_response(),
    }
}

fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// `If-None-Match` matches `tag` (weak comparison, `*`, lists).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == strip(tag))
}

/// A negotiated representation: body, `Content-Type`, `ETag`, `Vary: Accept`, and 304
/// when `If-None-Match` names the tag.
pub(crate) fn representation(headers: &HeaderMap, media: &str, body: Vec<u8>) -> Response {
    let tag = etag(&body);
    let not_modified = none_match(headers, &tag);
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rdf::content_type(media)) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn render(
    headers: &HeaderMap,
    subject: &str,
    triples: &[Triple],
    iri: &IriBuilder,
) -> Result<Response, ApiError> {
    let accept = accept(headers);
    let media = conneg::choose(accept.as_deref(), rdf::RESOURCE_OFFERS)
        .ok_or_else(|| ApiError::not_acceptable(rdf::RESOURCE_OFFERS))?;
    let body = match media {
        rdf::JSON => serde_json::to_vec_pretty(&rdf::document(subject, triples, iri))
            .map_err(|e| ApiError::internal(format!("json: {e}")))?,
        rdf::HTML => rdf::html(subject, triples, iri).into_bytes(),
        other => {
            let format = rdf::rdf_format(other)
                .ok_or_else(|| ApiError::internal("unknown representation"))?;
            rdf::serialize(triples, format, iri)?
        }
    };
    Ok(representation(headers, media, body))
}

fn dereference(state: &AppState, headers: &HeaderMap, subject: &str) -> Response {
    let backend = state.backend();
    let iri = backend.iri();
    let reader = backend.graph();
    let result = graph::describe(&reader, subject).and_then(|triples| {
        if triples.is_empty() {
            Err(ApiError::not_found(format!(
                "the graph knows nothing about <{subject}>"
            )))
        } else {
            render(headers, subject, &triples, &iri)
        }
    });
    result.unwrap_or_else(IntoResponse::into_response)
}

fn name(segment: &str, what: &str) -> Result<Name, ApiError> {
    Name::parse(segment).map_err(|e| ApiError::not_found(format!("no such {what}: {e}")))
}

/// `GET /`: the cluster, its nodes and products.
pub(crate) async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let backend = state.backend();
    let iri = backend.iri();
    let cluster = iri.cluster();
    graph::root(&backend.graph(), &iri)
        .and_then(|triples| render(&headers, cluster.as_str(), &triples, &iri))
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /ontology`.
pub(crate) async fn ontology(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let iri = state.backend().iri();
    let turtle = picloud_projection::ontology_turtle(&iri);
    let accept = accept(&headers);
    // Turtle is the ontology's native form: it leads here.
    let offers = [
        rdf::TURTLE,
        rdf::JSON,
        rdf::JSON_LD,
        rdf::N_TRIPLES,
        rdf::HTML,
        rdf::RDF_XML,
    ];
    let Some(media) = conneg::choose(accept.as_deref(), &offers) else {
        return ApiError::not_acceptable(&offers).into_response();
    };
    if media == rdf::TURTLE {
        return representation(&headers, media, turtle.into_bytes());
    }
    let mut triples = Vec::new();
    for q in RdfParser::from_format(RdfFormat::Turtle).for_slice(turtle.as_bytes()) {
        match q {
            Ok(q) => triples.push(Triple::new(q.subject, q.predicate, q.object)),
            Err(e) => return ApiError::internal(format!("ontology: {e}")).into_response(),
        }
    }
    render(&headers, iri.ontology().as_str(), &triples, &iri)
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /nodes/<n>`.
pub(crate) async fn node(
    State(state): State<AppState>,
    Path(node): Path<String>,
    headers: HeaderMap,
) -> Response {
    match name(&node, "node") {
        Ok(n) => {
            let iri = state.backend().iri().node(&n);
            dereference(&state, &headers, iri.as_str())
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /products/<p>`.
pub(crate) async fn product(
    State(state): State<AppState>,
    Path(product): Path<String>,
    headers: HeaderMap,
) -> Response {
    match name(&product, "product") {
        Ok(p) => {
            let iri = state.backend().iri().product(&p);
            dereference(&state, &headers, iri.as_str())
        }
        Err(e) => e.into_response(),
    }
}

fn resource_iri(
    state: &AppState,
    product: &str,
    kind: &str,
    resource: &str,
) -> Result<String, ApiError> {
    let p = name(product, "product")?;
    let k = ResourceKind::from_plural(kind)
        .filter(|k| *k != ResourceKind::Product)
        .ok_or_else(|| ApiError::not_found(format!("no resource kind is called '{kind}'")))?;
    let n = name(resource, "resource")?;
    Ok(state
        .backend()
        .iri()
        .resource(&p, k, &n)
        .as_str()
        .to_owned())
}

/// `GET /products/<p>/<plural-kind>/<name>`.
pub(crate) async fn resource(
    State(state): State<AppState>,
    Path((product, kind, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    match resource_iri(&state, &product, &kind, &resource) {
        Ok(iri) => dereference(&state, &headers, &iri),
        Err(e) => e.into_response(),
    }
}

/// `GET /products/<p>/<plural-kind>/<name>/<nested…>`: a value nested in a resource
/// (`…/mounts/0`, `…/env/NAME`).
pub(crate) async fn nested(
    State(state): State<AppState>,
    Path((product, kind, resource, rest)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let parent = match resource_iri(&state, &product, &kind, &resource) {
        Ok(iri) => iri,
        Err(e) => return e.into_response(),
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let Ok(parent) = picloud_domain::Iri::parse(&parent) else {
        return ApiError::internal("bad resource iri").into_response();
    };
    let iri = picloud_projection::iris::nested(&parent, &segments);
    dereference(&state, &headers, &iri)
}

/// `GET /health`.
pub(crate) async fn health() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".into(),
        },
    )
}

/// `GET|POST /sparql`.
pub(crate) async fn sparql_cluster(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sparql::endpoint(
        state,
        method == Method::POST,
        GraphScope::Cluster,
        query,
        headers,
        body,
    )
    .await
}

/// `GET|POST /products/<p>/sparql`.
pub(crate) async fn sparql_product(
    State(state): State<AppState>,
    method: Method,
    Path(product): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match name(&product, "product") {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let backend = state.backend();
    match graph::exists(&backend.graph(), backend.iri().product(&p).as_str()) {
        Ok(true) => {}
        Ok(false) => {
            return ApiError::not_found(format!("product '{p}' does not exist")).into_response()
        }
        Err(e) => return e.into_response(),
    }
    sparql::endpoint(
        state,
        method == Method::POST,
        GraphScope::Product(p),
        query,
        headers,
        body,
    )
    .await
}

fn backend_error(e: BackendError) -> ApiError {
    match e {
        BackendError::Rejected(r) => {
            let status = match &r {
                Rejection::UnknownProduct { .. } | Rejection::UnknownResource { .. } => {
                    StatusCode::NOT_FOUND
                }
                Rejection::ResourceReferenced { .. } | Rejection::ProductResourceDelete { .. } => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, "rejected", r.to_string())
        }
        BackendError::Unavailable(m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
        }
        other => ApiError::internal(other.to_string()),
    }
}

async fn run_command(state: &AppState, command: Command) -> Response {
    let backend = state.backend();
    let outcome = match backend.submit(command).await {
        Ok(o) => o,
        Err(e) => return backend_error(e).into_response(),
    };
    let last = outcome.last_offset();
    let projected = match last {
        Some(o) => backend.wait_projected(o).await,
        None => true,
    };
    let response = ApplyResponse {
        correlation_id: outcome.correlation_id,
        events: u64::try_from(outcome.events.len()).unwrap_or(u64::MAX),
        first_offset: outcome.first_offset,
        last_offset: last,
        projected,
    };
    let status = if projected {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    json(status, &response)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
}

/// `POST /api/apply`.
pub(crate) async fn apply(State(state): State<AppState>, body: Bytes) -> Response {
    let request: ApplyRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let command = Command::ApplySet {
        resources: request.resources,
        idempotency_key: request.idempotency_key,
        correlation_id: state.correlation_id(),
        source: state.backend().iri().cluster(),
    };
    run_command(&state, command).await
}

/// `POST /api/delete`.
pub(crate) async fn delete(State(state): State<AppState>, body: Bytes) -> Response {
    let request: DeleteRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let correlation_id = state.correlation_id();
    let source = state.backend().iri().cluster();
    let command = match (request.kind.as_deref(), request.name) {
        (None, None) | (Some("product"), None) => Command::DeleteProduct {
            product: request.product,
            idempotency_key: request.idempotency_key,
            correlation_id,
            source,
        },
        (Some(kind), Some(name)) => {
            let Some(kind) = ResourceKind::from_keyword(kind) else {
                return ApiError::bad_request(format!("no resource kind is called '{kind}'"))
                    .into_response();
            };
            Command::DeleteResource {
                product: request.product,
                kind,
                name,
                idempotency_key: request.idempotency_key,
                correlation_id,
                source,
            }
        }
        _ => {
            return ApiError::bad_request(
                "give both `kind` and `name` to delete a resource, or neither to delete the \
                 product",
            )
            .into_response()
        }
    };
    run_command(&state, command).await
}

/// `GET /api/status/<p>`.
pub(crate) async fn status(State(state): State<AppState>, Path(product): Path<String>) -> Response {
    let backend = state.backend();
    name(&product, "product")
        .and_then(|p| graph::product_status(&backend.graph(), &backend.iri(), &p))
        .map(|s| json(StatusCode::OK, &s))
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/cluster`.
pub(crate) async fn cluster(State(state): State<AppState>) -> Response {
    match state.backend().cluster_status().await {
        Ok(s) => json(StatusCode::OK, &s),
        Err(e) => backend_error(e).into_response(),
    }
}

fn event_matches(e: &Envelope, correlation: Option<CorrelationId>, product: Option<&Name>) -> bool {
    correlation.is_none_or(|c| e.correlation_id == c)
        && product.is_none_or(|p| e.product.as_ref() == Some(p))
}

/// `GET /api/events`: server-sent events.
pub(crate) async fn events(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params: HashMap<String, String> =
        match serde_urlencoded::from_str(query.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => {
                return ApiError::bad_request(format!("bad query string: {e}")).into_response()
            }
        };
    let correlation = match params
        .get("correlationId")
        .map(|c| CorrelationId::from_str(c))
    {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            return ApiError::bad_request(format!("bad correlationId: {e}")).into_response()
        }
    };
    let product = match params.get("product").map(|p| Name::parse(p)) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return ApiError::bad_request(format!("bad product: {e}")).into_response(),
    };
    let number = |key: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("`{key}` must be a log offset")))
            })
            .transpose()
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::bad_request("Last-Event-ID must be a log offset"))
        })
        .transpose();
    // `from=end`: only events committed from now on.
    let from_end = params.get("from").is_some_and(|f| f == "end");
    let from_param = if from_end { Ok(None) } else { number("from") };
    let from = match (last_event_id, from_param) {
        (Ok(Some(last)), _) => last.saturating_add(1),
        (Ok(None), Ok(_)) if from_end => match state.backend().cluster_status().await {
            Ok(c) => c.committed_offset.map_or(0, |o| o.saturating_add(1)),
            Err(e) => return backend_error(e).into_response(),
        },
        (Ok(None), Ok(from)) => from.unwrap_or(0),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let limit = match number("limit") {
        Ok(l) => l
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX),
        Err(e) => return e.into_response(),
    };
    let stream = state
        .backend()
        .subscribe(from)
        .take_while(|item| futures_util::future::ready(item.is_ok()))
        .filter_map(move |item| {
            let out = match item {
                Ok((offset, e)) if event_matches(&e, correlation, product.as_ref()) => {
                    picloud_events::encode_json(&e.redacted()).ok().map(|data| {
                        Ok::<_, Infallible>(Event::default().id(offset.to_string()).data(data))
                    })
                }
                _ => None,
            };
            futures_util::future::ready(out)
        })
        .take(limit);
    // A first comment tells the client it is subscribed (events from here on reach it).
    let hello = Event::default().comment(format!("subscribed from offset {from}"));
    let stream = futures_util::stream::once(futures_util::future::ready(Ok(hello))).chain(stream);
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Anything else: 401 without a valid token (so unknown paths reveal nothing), 404 with one.
pub(crate) async fn fallback(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    match crate::identity::check(&state, crate::Access::Authenticated, &headers, uri.path()) {
        Ok(_) => ApiError::not_found("no such route or resource").into_response(),
        Err(r) => r,
    }
}
