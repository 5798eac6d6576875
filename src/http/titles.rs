//! `GET /v1/titles` (every title available at an address, paged) and `GET /v1/titles/{id}`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::{Client, params, versioned, versioned_json, wire};
use crate::resolve;

/// Titles per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 1000;
/// The largest page.
pub const MAX_LIMIT: usize = 10_000;

/// Every title available at an address, sorted by id, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/titles",
    params(
        wire::DeviceParams,
        ("limit" = Option<usize>, Query, description = "Titles per page, 1 to 10000; default 1000"),
        ("after" = Option<String>, Query, description = "The `next_after` of the previous page")
    ),
    responses(
        (status = 200, description = "The titles available there, sorted by id", body = wire::Listing),
        (status = 400, description = "A malformed request", body = crate::http::error::ErrorBody)
    )
)]
pub async fn list_titles(
    State(state): State<AppState>,
    client: Client,
    uri: Uri,
) -> Result<Response, ApiError> {
    list(&state, &client, &uri)
}

/// The answer `list_titles` gives: a plain function, so that the service can call it
/// without the router (see `Api`).
pub(crate) fn list(state: &AppState, client: &Client, uri: &Uri) -> Result<Response, ApiError> {
    let params = params::Params::parse(
        uri.query(),
        &["ip", "at", "platform", "home", "limit", "after"],
    )?;
    let ip = params::ip(params.get("ip"), || client.ip(state))?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let snapshot = state.snapshot_guard();
    let catalog = snapshot.catalog();
    let query = params::query(
        params.get("at"),
        params.get("platform"),
        params.get("home"),
        catalog,
        state.settings().policy,
    )?;
    let location = snapshot.locator().locate(ip);
    let listing = resolve::available(catalog, &location, &query, params.get("after"), limit);
    let answer = wire::Listing::new(
        &listing,
        wire::Location::new(ip, &location),
        query.at,
        snapshot.version(),
    );
    Ok(versioned_json(&snapshot, answer.to_json()))
}

/// A title, its licenses and blackouts, and where it is available at `at`.
#[utoipa::path(
    get,
    path = "/v1/titles/{id}",
    params(
        ("id" = String, Path, description = "The title's id"),
        ("at" = Option<String>, Query, description = "RFC 3339 with an offset; default: now")
    ),
    responses(
        (status = 200, description = "The title, its rights and where it is available", body = wire::TitleDetail),
        (status = 400, description = "A malformed request", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such title", body = crate::http::error::ErrorBody)
    )
)]
pub async fn get_title(
    State(state): State<AppState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::InvalidParameter("the title id in the path is not valid UTF-8".into())
    })?;
    let params = params::Params::parse(uri.query(), &["at"])?;
    let at = params::at(params.get("at"), crate::reload::now())?;
    let snapshot = state.snapshot();
    let title = snapshot
        .catalog()
        .title(&id)
        .ok_or_else(|| ApiError::UnknownTitle(id.clone()))?;
    let (countries, regions) = resolve::where_available(snapshot.catalog(), title, at);
    let answer = wire::TitleDetail::new(
        title.title(),
        at,
        countries.iter().map(ToString::to_string).collect(),
        regions.iter().map(ToString::to_string).collect(),
        snapshot.version(),
    );
    Ok(versioned(&snapshot, &answer))
}
