//! The HTTP service: `router(state)` builds every route of SPEC §4, `serve` runs it on a
//! listener until a shutdown signal, then finishes the requests in flight.
//!
//! Knows JSON (through `wire`) and HTTP; asks `resolve` for decisions and never reads files.

pub mod admin;
pub mod availability;
pub mod client_ip;
pub mod error;
pub mod locate;
pub mod openapi;
pub mod params;
pub mod state;
pub mod titles;
pub mod wire;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::metrics::RequestLabels;
use crate::privacy::TruncatedIp;
use crate::snapshot::Snapshot;

/// The header naming the catalog an answer came from.
pub const CATALOG_VERSION: HeaderName = HeaderName::from_static("x-catalog-version");
/// How often an idle HTTP/2 connection is pinged, and how long the answer may take.
pub const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The longest shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Every route, with the observing middleware around them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/availability",
            get(availability::get_availability).post(availability::post_availability),
        )
        .route("/v1/titles", get(titles::list_titles))
        .route("/v1/titles/{id}", get(titles::get_title))
        .route("/v1/locate", get(locate::locate))
        .route("/v1/status", get(admin::get_status))
        .route("/v1/admin/reload", post(admin::post_reload))
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The connection's peer address, when the request came over a connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Infallible> {
        Ok(Peer(peer_of(&parts.extensions)))
    }
}

/// The peer recorded by `serve` (or by a test's `MockConnectInfo`).
fn peer_of(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
        .or_else(|| {
            extensions
                .get::<axum::extract::connect_info::MockConnectInfo<SocketAddr>>()
                .map(|mock| mock.0)
        })
}

/// `body` with the `X-Catalog-Version` of the snapshot it was computed from.
pub fn versioned(snapshot: &Snapshot, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(snapshot.version()) {
        response.headers_mut().insert(CATALOG_VERSION, value);
    }
    response
}

/// Around every request: the in-flight limit, the request timeout, `X-Catalog-Version` on
/// every `/v1/` answer (errors included), metrics, and a log line that never holds a full
/// address. Headers have hyper's read timeout and bodies their own.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    // The client as the handlers see it (through trusted proxies), truncated at once; worked
    // out only when the access log is on, and otherwise the peer, for failures.
    let peer = peer_of(request.extensions());
    let client = if tracing::enabled!(target: "geoavail::access", tracing::Level::DEBUG) {
        state.client_ip(peer, request.headers()).ok().flatten()
    } else {
        peer.map(|peer| peer.ip())
    }
    .map(TruncatedIp::new);
    let is_v1 = request.uri().path().starts_with("/v1/");
    // A request with a body takes its in-flight permit once the body has arrived (in the
    // handler), so that slow uploads cannot hold the permits everyone else needs.
    let has_body = request.method() == axum::http::Method::POST;
    state.metrics().requests_in_progress.inc();
    let answer = async {
        if has_body {
            next.run(request).await
        } else {
            match state.in_flight().clone().try_acquire_owned() {
                Err(_) => ApiError::Overloaded.into_response(),
                Ok(_permit) => next.run(request).await,
            }
        }
    };
    let mut response = match tokio::time::timeout(state.settings().request_timeout, answer).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout.into_response(),
    };
    if is_v1 && !response.headers().contains_key(CATALOG_VERSION) {
        let snapshot = state.snapshot();
        if let Ok(value) = HeaderValue::from_str(snapshot.version()) {
            response.headers_mut().insert(CATALOG_VERSION, value);
        }
    }
    state.metrics().requests_in_progress.dec();
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics()
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
    state
        .metrics()
        .request_duration
        .observe(elapsed.as_secs_f64());
    let client = client
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "-".into());
    if status >= 500 {
        tracing::warn!(target: "geoavail::access", %method, route, status, client, micros = elapsed.as_micros() as u64, "request failed");
    } else {
        tracing::debug!(target: "geoavail::access", %method, route, status, client, micros = elapsed.as_micros() as u64, "request");
    }
    response
}

/// The route template of a path, for metrics labels: never an id, never an address.
fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/availability" => "/v1/availability",
        "/v1/titles" => "/v1/titles",
        "/v1/locate" => "/v1/locate",
        "/v1/status" => "/v1/status",
        "/v1/admin/reload" => "/v1/admin/reload",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/openapi.json" => "/openapi.json",
        _ if path.starts_with("/v1/titles/") => "/v1/titles/{id}",
        _ => "unmatched",
    }
}

/// What `serve` allows each connection (`[http]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; beyond, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// The longest a client may take to send its request headers (and, on a kept-alive
    /// connection, to start its next request).
    pub header_timeout: Duration,
}

impl ConnectionLimits {
    /// From the configuration.
    pub fn new(config: &crate::config::HttpConfig) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: config.max_connections.max(1),
            header_timeout: Duration::from_millis(config.header_timeout_ms),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits (up
/// to `SHUTDOWN_GRACE`) for the requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEP_ALIVE)
        .keep_alive_timeout(HTTP2_KEEP_ALIVE)
        .max_concurrent_streams(256);
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = std::sync::Arc::clone(&connections).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            TowerToHyperService::new(router.clone().layer(axum::Extension(ConnectInfo(peer))));
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // hyper times out headers once they start; a client that connects and sends
            // nothing would hold its slot for ever, so the first byte has the same limit.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1))
            ) {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = watcher.watch(connection.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("requests still in flight after the shutdown grace period; stopping anyway");
        }
    }
    Ok(())
}
