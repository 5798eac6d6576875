//! `/openapi.json`: the API described in OpenAPI 3, generated from the handlers' annotations
//! and the `wire` types, so the description cannot drift from the code.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::http::{admin, availability, error, locate, titles, wire};

/// The description of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "geoavail",
        description = "Which titles may the device at this IP address stream, here and now?"
    ),
    paths(
        availability::get_availability,
        availability::post_availability,
        titles::list_titles,
        titles::get_title,
        locate::locate,
        admin::get_status,
        admin::post_reload,
        admin::healthz,
        admin::readyz,
        admin::metrics,
        openapi_json,
    ),
    components(schemas(
        wire::Availability,
        wire::Batch,
        wire::BatchRequest,
        wire::Listing,
        wire::TitleDetail,
        wire::Location,
        wire::Status,
        error::ErrorBody,
    )),
    modifiers(&AdminToken)
)]
pub struct ApiDoc;

struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The OpenAPI 3 document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "This API in OpenAPI 3")))]
pub async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the generated document serializes")
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described() {
        let document = ApiDoc::openapi();
        // Every route the metrics know, the catch-all aside.
        for path in crate::metrics::ROUTES
            .into_iter()
            .filter(|route| *route != "unmatched")
        {
            assert!(
                document.paths.paths.contains_key(path),
                "{path} is not described"
            );
        }
    }
}
