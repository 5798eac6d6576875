//! `GET /v1/availability` (one title) and `POST /v1/availability` (a batch).

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::{Client, params, versioned_json, wire};
use crate::resolve;

/// The most titles one batch may ask about.
pub const MAX_BATCH: usize = 1000;
/// The largest batch body accepted.
pub const MAX_BODY: usize = 256 * 1024;

/// One title at one address.
#[utoipa::path(
    get,
    path = "/v1/availability",
    params(
        ("title" = String, Query, description = "The title's id"),
        wire::DeviceParams
    ),
    responses(
        (status = 200, description = "The answer for one title", body = wire::Availability),
        (status = 400, description = "A malformed request", body = crate::http::error::ErrorBody),
        (status = 404, description = "No such title", body = crate::http::error::ErrorBody)
    )
)]
pub async fn get_availability(
    State(state): State<AppState>,
    client: Client,
    uri: Uri,
) -> Result<Response, ApiError> {
    answer(&state, &client, &uri)
}

/// The answer `get_availability` gives: a plain function, so that the service can call it
/// without the router (see `Api`).
pub(crate) fn answer(state: &AppState, client: &Client, uri: &Uri) -> Result<Response, ApiError> {
    let params = params::Params::parse(uri.query(), &["ip", "title", "at", "platform", "home"])?;
    let title_id = params.required("title")?;
    let ip = params::ip(params.get("ip"), || client.ip(state))?;
    let snapshot = state.snapshot_guard();
    let catalog = snapshot.catalog();
    let title = catalog
        .title(title_id)
        .ok_or_else(|| ApiError::UnknownTitle(title_id.to_owned()))?;
    let query = params::query(
        params.get("at"),
        params.get("platform"),
        params.get("home"),
        catalog,
        state.settings().policy,
    )?;
    let location = snapshot.locator().locate(ip);
    let decision = resolve::title(catalog, title, &location, &query);
    let answer = wire::Availability {
        decision: wire::TitleDecision::new(&title.id, &decision),
        at: wire::Instant(query.at),
        location: wire::Location::new(ip, &location),
        catalog_version: snapshot.version(),
    };
    Ok(versioned_json(&snapshot, answer.to_json()))
}

/// Up to 1000 titles at one address; an unknown title is an entry with an error.
#[utoipa::path(
    post,
    path = "/v1/availability",
    request_body = wire::BatchRequest,
    responses(
        (status = 200, description = "One entry per requested title, in request order", body = wire::Batch),
        (status = 400, description = "A malformed request", body = crate::http::error::ErrorBody),
        (status = 413, description = "The body is too large", body = crate::http::error::ErrorBody)
    )
)]
pub async fn post_availability(
    State(state): State<AppState>,
    client: Client,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = match tokio::time::timeout(
        state.settings().body_timeout,
        axum::body::to_bytes(body, MAX_BODY),
    )
    .await
    {
        Err(_) => return Err(ApiError::Timeout),
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                ApiError::BodyTooLarge(MAX_BODY)
            } else {
                ApiError::InvalidJson("the body could not be read".into())
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    // The place among those in flight the middleware leaves to requests with a body, taken
    // once the body is here.
    let _place = state.in_flight().try_enter().ok_or(ApiError::Overloaded)?;
    let request: wire::BatchRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::InvalidJson(format!("the body is not a batch request: {error}"))
    })?;
    if request.titles.len() > MAX_BATCH {
        return Err(ApiError::TooManyTitles(MAX_BATCH));
    }
    let ip = params::ip(request.ip.as_deref(), || client.ip(&state))?;
    let snapshot = state.snapshot();
    let catalog = snapshot.catalog();
    let query = params::query(
        request.at.as_deref(),
        request.platform.as_deref(),
        request.home.as_deref(),
        catalog,
        state.settings().policy,
    )?;
    let location = snapshot.locator().locate(ip);
    let results = request
        .titles
        .iter()
        .map(|id| match catalog.title(id) {
            Some(title) => {
                let decision = resolve::title(catalog, title, &location, &query);
                wire::BatchResult::Decision(wire::TitleDecision::new(&title.title().id, &decision))
            }
            None => {
                let error = ApiError::UnknownTitle(id.clone());
                wire::BatchResult::Error {
                    title: id.clone(),
                    error: wire::ErrorDetail {
                        code: error.code(),
                        message: error.message(),
                    },
                }
            }
        })
        .collect();
    let answer = wire::Batch {
        location: wire::Location::new(ip, &location),
        at: wire::Instant(query.at),
        catalog_version: snapshot.version(),
        results,
    };
    Ok(versioned_json(&snapshot, answer.to_json()))
}
