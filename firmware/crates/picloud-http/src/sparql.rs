//! The SPARQL 1.1 Protocol endpoint (query only; updates are refused).

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use picloud_projection::oxigraph::sparql::results::{QueryResultsFormat, QueryResultsSerializer};
use picloud_projection::oxigraph::sparql::{QueryResults, SparqlEvaluator};
use picloud_projection::{GraphReader, GraphScope, QueryError};

use crate::error::ApiError;
use crate::{conneg, rdf, routes, AppState};

/// SELECT / ASK results, in the server's order of preference.
pub const RESULT_OFFERS: &[&str] = &[
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "application/json",
    "application/xml",
    "text/xml",
];

/// CONSTRUCT / DESCRIBE results, in the server's order of preference.
pub const GRAPH_OFFERS: &[&str] = &[rdf::TURTLE, rdf::N_TRIPLES, rdf::JSON_LD, rdf::RDF_XML];

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "update_refused",
        "SPARQL updates are refused: the graph is a read-only projection of the event log, \
         and state changes only through commands (POST /api/apply, POST /api/delete)",
    )
}

struct Request {
    query: Option<String>,
    update: bool,
    datasets: bool,
}

fn from_pairs(pairs: Vec<(String, String)>) -> Request {
    let mut r = Request {
        query: None,
        update: false,
        datasets: false,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "query" => r.query = Some(v),
            "update" | "using-graph-uri" | "using-named-graph-uri" => r.update = true,
            "default-graph-uri" | "named-graph-uri" => r.datasets = true,
            _ => {}
        }
    }
    r
}

fn parse_request(
    method_is_post: bool,
    query_string: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Request, ApiError> {
    let pairs = |text: &str| -> Result<Vec<(String, String)>, ApiError> {
        serde_urlencoded::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("bad form encoding: {e}")))
    };
    let mut request = from_pairs(pairs(query_string.unwrap_or(""))?);
    if method_is_post {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
        match content_type.as_str() {
            "application/x-www-form-urlencoded" => {
                let form = from_pairs(pairs(text)?);
                request.update |= form.update;
                request.datasets |= form.datasets;
                if form.query.is_some() {
                    request.query = form.query;
                }
            }
            "application/sparql-query" => request.query = Some(text.to_owned()),
            "application/sparql-update" => request.update = true,
            other => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "a SPARQL POST body must be application/x-www-form-urlencoded or \
                         application/sparql-query, not `{other}`"
                    ),
                ))
            }
        }
    }
    Ok(request)
}

/// Answers one protocol request (GET or POST; `body` is empty for GET).
pub(crate) async fn endpoint(
    state: AppState,
    is_post: bool,
    scope: GraphScope,
    query_string: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match parse_request(is_post, query_string.as_deref(), &headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if request.update {
        return refused().into_response();
    }
    if request.datasets {
        return ApiError::bad_request(
            "default-graph-uri / named-graph-uri are not supported: use FROM / FROM NAMED in \
             the query",
        )
        .into_response();
    }
    let Some(query) = request.query else {
        return ApiError::bad_request(
            "no query: send `query=` in the URL or a form body, or an application/sparql-query \
             body",
        )
        .into_response();
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reader = state.backend().graph();
    let iri = state.backend().iri();
    let result = tokio::task::spawn_blocking(move || {
        // An adapter measuring its own work for the `Server-Timing` header.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let out = run(&reader, &iri, &scope, &query, accept.as_deref());
        (out, started.elapsed())
    })
    .await;
    match result {
        Ok((Ok((media, bytes)), took)) => {
            let mut response = routes::representation(&headers, media, bytes);
            // Evaluation and serialisation (they interleave: solutions are computed as they
            // are written), so clients can tell the query's cost from the transport's.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "sparql;dur={:.3};desc=\"evaluate and serialise\"",
                took.as_secs_f64() * 1e3
            )) {
                response.headers_mut().insert("server-timing", v);
            }
            response
        }
        Ok((Err(e), _)) => e.into_response(),
        Err(e) => ApiError::internal(format!("query task failed: {e}")).into_response(),
    }
}

fn io(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("serialisation failed: {e}"))
}

fn run(
    reader: &GraphReader,
    iri: &picloud_domain::IriBuilder,
    scope: &GraphScope,
    query: &str,
    accept: Option<&str>,
) -> Result<(&'static str, Vec<u8>), ApiError> {
    let results = match reader.query(query, scope) {
        Ok(r) => r,
        Err(QueryError::Syntax(e)) => {
            if SparqlEvaluator::new().parse_update(query).is_ok() {
                return Err(refused());
            }
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("the query does not parse: {e}"),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("the query failed: {e}"),
            ))
        }
    };
    match results {
        QueryResults::Graph(triples) => {
            let media = conneg::choose(accept, GRAPH_OFFERS)
                .ok_or_else(|| ApiError::not_acceptable(GRAPH_OFFERS))?;
            let format = rdf::rdf_format(media).ok_or_else(|| io("unknown format"))?;
            let mut collected = Vec::new();
            for t in triples {
                collected.push(t.map_err(|e| {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string())
                })?);
            }
            Ok((media, rdf::serialize(&collected, format, iri)?))
        }
        other => {
            let media = conneg::choose(accept, RESULT_OFFERS)
                .ok_or_else(|| ApiError::not_acceptable(RESULT_OFFERS))?;
            let format = match media {
                "application/sparql-results+xml" | "application/xml" | "text/xml" => {
                    QueryResultsFormat::Xml
                }
                "text/csv" => QueryResultsFormat::Csv,
                "text/tab-separated-values" => QueryResultsFormat::Tsv,
                _ => QueryResultsFormat::Json,
            };
            let serializer = QueryResultsSerializer::from_format(format);
            let bytes = match other {
                QueryResults::Boolean(b) => serializer
                    .serialize_boolean_to_writer(Vec::new(), b)
                    .map_err(io)?,
                QueryResults::Solutions(solutions) => {
                    let mut w = serializer
                        .serialize_solutions_to_writer(Vec::new(), solutions.variables().to_vec())
                        .map_err(io)?;
                    for s in solutions {
                        let s = s.map_err(|e| {
                            ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.to_string())
                        })?;
                        w.serialize(&s).map_err(io)?;
                    }
                    w.finish().map_err(io)?
                }
                QueryResults::Graph(_) => return Err(io("unexpected graph")),
            };
            Ok((media, bytes))
        }
    }
}
