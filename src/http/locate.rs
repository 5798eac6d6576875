//! `GET /v1/locate`: the location alone.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::{Client, params, versioned, wire};

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
    client: Client,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = params::Params::parse(uri.query(), &["ip"])?;
    let ip = params::ip(params.get("ip"), || client.ip(&state))?;
    let snapshot = state.snapshot();
    let location = snapshot.locator().locate(ip);
    Ok(versioned(&snapshot, &wire::Location::new(ip, &location)))
}
