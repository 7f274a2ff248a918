//! Every product is an app registration: `POST /api/identity/clients/{product}/secret`
//! (admin) sets or rotates the secret of the product's client and answers it once.
//!
//! The client itself is folded from the product's events by the identity core (declaring
//! a product creates it, deleting the product disables it); this route only draws a secret
//! (the adapter's randomness) and commits its SHA-256 (`ClientSecretRotated`).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use picloud_domain::Name;
use picloud_events::ClientId;
use picloud_iam::{Command, Rejection};

use crate::error::ApiError;
use crate::identity::digest;
use crate::AppState;

/// `POST /api/identity/clients/{product}/secret`: `{clientId, clientSecret, product,
/// audience, tokenEndpoint}`. The secret is shown only here; the previous one stops
/// working. 404 when the product does not exist (or was deleted).
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(product): Path<String>,
) -> Response {
    let Ok(product) = Name::parse(&product) else {
        return ApiError::bad_request(format!("{product:?} is not a product name (a DNS label)"))
            .into_response();
    };
    let Ok(client_id) = ClientId::new(product.as_str()) else {
        return ApiError::bad_request("the product name is not a client id").into_response();
    };
    let secret = match state.identity().secret() {
        Ok(s) => s,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let command = Command::RotateClientSecret {
        client_id: client_id.clone(),
        secret_hash: digest(&secret),
    };
    match state
        .backend()
        .submit_iam(command, state.correlation_id())
        .await
    {
        Ok(Ok(_)) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or("picloud.local");
            let audience = state.backend().iri().product(&product);
            let mut r = (
                StatusCode::OK,
                axum::Json(serde_json::json!({
                    "clientId": client_id.as_str(),
                    "clientSecret": secret,
                    "product": product.as_str(),
                    "audience": audience.as_str(),
                    "tokenEndpoint": format!("https://{host}/oauth2/token"),
                })),
            )
                .into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Ok(Err(r @ Rejection::UnknownProductClient(_))) => {
            ApiError::not_found(r.to_string()).into_response()
        }
        Ok(Err(r)) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", r.to_string())
            .into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
