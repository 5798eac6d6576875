//! `GET /v1/locate`: the location alone.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::{Peer, params, versioned, wire};

/// Where an address is and which source said so.
#[utoipa::path(
    get,
    path = "/v1/locate",
    params(("ip" = Option<String>, Query, description = "The address; default: the client's")),
    responses(
        (status = 200, description = "The location", body = wire::Location),
        (status = 400, description = "A malformed request", body = crate::http::error::ErrorBody)
    )
)]
pub async fn locate(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = params::Params::parse(raw.as_deref(), &["ip"])?;
    let ip = params::ip(params.get("ip"), || state.client_ip(peer, &headers))?;
    let snapshot = state.snapshot();
    let location = snapshot.locator().locate(ip);
    Ok(versioned(
        &snapshot,
        Json(wire::Location::new(ip, &location)),
    ))
}
