//! Operations routes: `/v1/status`, `POST /v1/admin/reload`, `/healthz`, `/readyz`,
//! `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::{Client, versioned, wire};
use crate::privacy::TruncatedIp;
use crate::reload::{self, Source, Trigger};
use crate::snapshot::Snapshot;

/// What is loaded, from where, since when, and how the last reload went.
#[utoipa::path(
    get,
    path = "/v1/status",
    responses((status = 200, description = "What is loaded and how the last reload went", body = wire::Status))
)]
pub async fn get_status(State(state): State<AppState>) -> Response {
    let snapshot = state.snapshot();
    versioned(&snapshot, &status(&state, &snapshot, reload::now()))
}

/// Reloads every source now. Needs the admin token; without one configured the route does
/// not exist.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every source reloaded", body = wire::Status),
        (status = 401, description = "A missing or wrong token", body = crate::http::error::ErrorBody),
        (status = 404, description = "No admin token is configured", body = crate::http::error::ErrorBody),
        (status = 422, description = "A source failed; the last good version is still served", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many failed attempts; retry after a minute", body = crate::http::error::ErrorBody)
    )
)]
pub async fn post_reload(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = &state.settings().admin_token else {
        return Err(ApiError::NotFound);
    };
    let client = client.ip(&state).ok().flatten().map(TruncatedIp::new);
    if state.admin_locked(client) {
        return Err(ApiError::TooManyAttempts);
    }
    // The scheme name is case-insensitive (RFC 9110).
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    // Hashing first makes the comparison take the same time whatever the lengths.
    let matches: bool = Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(token.as_bytes()))
        .into();
    if !matches {
        state.admin_failed(client);
        tracing::warn!("refused an admin request with a missing or wrong token");
        return Err(ApiError::Unauthorized);
    }
    let reloader = state.reloader().clone();
    let outcome = tokio::task::spawn_blocking(move || {
        reloader.reload(&reloader.configured(), Trigger::Admin, reload::now())
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "the reload task failed");
        ApiError::ReloadFailed(vec!["the reload stopped unexpectedly; see the log".into()])
    })?;
    if !outcome.is_ok() {
        let messages = outcome
            .failures
            .iter()
            .flat_map(|(source, messages)| {
                messages
                    .iter()
                    .map(move |m| format!("{}: {m}", source.as_str()))
            })
            .collect();
        return Err(ApiError::ReloadFailed(messages));
    }
    let snapshot = state.snapshot();
    Ok(versioned(
        &snapshot,
        &status(&state, &snapshot, reload::now()),
    ))
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// A catalog and a database are loaded and the service is not shutting down.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, description = "Ready"), (status = 503, description = "Shutting down"))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"ready": false})),
        )
            .into_response();
    }
    Json(serde_json::json!({"ready": true})).into_response()
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().encode(),
    )
        .into_response()
}

/// The status object, built from `snapshot` and the reloader's record.
pub fn status(state: &AppState, snapshot: &Snapshot, now: Timestamp) -> wire::Status {
    let reloads = state.reloader().status();
    let config = state.reloader().config();
    let last_error = |source: Source| {
        reloads.errors.get(&source).map(|error| wire::LastError {
            at: error.at.to_string(),
            messages: error.messages.clone(),
        })
    };
    let catalog = snapshot.catalog();
    let geoip = &snapshot.locator().sources().geoip;
    let build =
        Timestamp::from_second(geoip.info.build_epoch as i64).unwrap_or(Timestamp::UNIX_EPOCH);
    let age_days = (now.as_second() - build.as_second()).div_euclid(86_400);
    let mut geoip_warnings = Vec::new();
    let max_age = i64::from(state.settings().max_age_days);
    if age_days > max_age {
        geoip_warnings.push(format!(
            "the database was built {age_days} days ago, more than geoip.max_age_days ({max_age})"
        ));
    }
    let anonymizer = snapshot.locator().sources().anonymizer.as_ref();
    wire::Status {
        ready: !state.is_draining(),
        catalog: wire::CatalogStatus {
            path: config.catalogs.display().to_string(),
            version: catalog.version().to_owned(),
            files: catalog.n_files(),
            titles: catalog.titles().len(),
            licenses: catalog.n_licenses(),
            loaded_at: snapshot.loaded_at.catalog.to_string(),
            warnings: catalog.warnings().iter().map(ToString::to_string).collect(),
            last_error: last_error(Source::Catalog),
        },
        geoip: wire::GeoipStatus {
            path: geoip.info.path.display().to_string(),
            database_type: geoip.info.database_type.clone(),
            build_date: build.to_string(),
            age_days,
            networks: geoip.info.networks,
            ranges: geoip.info.ranges,
            country_field: geoip.country_field.to_string(),
            has_regions: geoip.has_regions,
            loaded_at: snapshot.loaded_at.geoip.to_string(),
            warnings: geoip_warnings,
            last_error: last_error(Source::Geoip),
        },
        overrides: wire::OverridesStatus {
            path: config
                .geoip
                .overrides
                .as_ref()
                .map(|p| p.display().to_string()),
            entries: snapshot.locator().sources().overrides.entries().len(),
            loaded_at: snapshot.loaded_at.overrides.to_string(),
            last_error: last_error(Source::Overrides),
        },
        anonymizer: wire::AnonymizerStatus {
            path: config
                .geoip
                .anonymizer_database
                .as_ref()
                .map(|p| p.display().to_string()),
            database_type: anonymizer.map(|db| db.info.database_type.clone()),
            build_date: anonymizer.map(|db| {
                Timestamp::from_second(db.info.build_epoch as i64)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .to_string()
            }),
            networks: anonymizer.map(|db| db.info.networks),
            loaded_at: snapshot.loaded_at.anonymizer.map(|at| at.to_string()),
            last_error: last_error(Source::Anonymizer),
        },
        last_reload: reloads.last_reload.map(|reload| wire::LastReload {
            at: reload.at.to_string(),
            trigger: reload.trigger.as_str(),
            result: if reload.ok { "ok" } else { "failed" },
        }),
    }
}
