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
mod timer;
pub mod titles;
pub mod wire;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceExt;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::privacy::TruncatedIp;
use crate::snapshot::Snapshot;

/// The header naming the catalog an answer came from.
pub const CATALOG_VERSION: HeaderName = HeaderName::from_static("x-catalog-version");
/// How often an idle HTTP/2 connection is pinged, and how long the answer may take.
pub const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The longest shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Every route, with the observing middleware in front of them. `GET /v1/availability` and
/// `GET /v1/titles` do not pass through this router (see `Api`): a layer added here would
/// not apply to them.
pub fn router(state: AppState) -> Api {
    let router = Router::new()
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
        .with_state(state.clone());
    Api {
        router,
        state,
        peer: None,
    }
}

/// The service `serve` runs on each connection and tests drive with `oneshot`: an
/// `Observation` and the in-flight limit around every request, then the router (through
/// `observe`), except for `GET /v1/availability` and `GET /v1/titles` over HTTP/1 — the
/// questions nearly every request asks — which go to their handlers directly, without the
/// router's dispatch and its boxed copies of the route.
#[derive(Debug, Clone)]
pub struct Api {
    router: Router,
    state: AppState,
    /// The connection's peer, when the requests come over one.
    peer: Option<SocketAddr>,
}

impl Api {
    /// The same service for the requests of a connection from `peer`.
    pub fn with_peer(mut self, peer: SocketAddr) -> Api {
        self.peer = Some(peer);
        self
    }

    /// The answer to `request`. Over HTTP/1, `GET /v1/availability` and `GET /v1/titles`
    /// are answered here and now, from the borrowed state: nothing in them waits, and neither
    /// the state nor the service is copied (each copy would write reference counts that both
    /// cores share). hyper polls an HTTP/1 answer on the connection's task anyway, while it
    /// calls the service for every HTTP/2 stream on the connection's task and spawns the
    /// answer: there the work stays in the answer, so that the streams of one connection are
    /// answered side by side and the connection keeps reading frames meanwhile.
    fn respond(&self, mut request: Request) -> Answer {
        let peer = peer_of(request.extensions()).or(self.peer);
        let direct = match request.uri().path() {
            _ if request.method() != axum::http::Method::GET
                || request.version() > axum::http::Version::HTTP_11 =>
            {
                None
            }
            "/v1/availability" => Some(availability::answer as Direct),
            "/v1/titles" => Some(titles::list as Direct),
            _ => None,
        };
        if let Some(direct) = direct {
            let state = &self.state;
            let observation = Observation::start(state, &request, peer);
            let _in_progress = InProgress::enter(state.metrics());
            let response = match state.in_flight().try_enter() {
                None => ApiError::Overloaded.into_response(),
                Some(_place) => {
                    let client = Client::new(peer, request.headers());
                    direct(state, &client, request.uri()).into_response()
                }
            };
            return Answer::Ready(Some(observation.finish(state, response)));
        }
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let (router, state) = (self.router.clone(), self.state.clone());
        Answer::Routed(Box::pin(async move {
            observe(state, request, peer, |request| async move {
                match router.oneshot(request).await {
                    Ok(response) => response,
                }
            })
            .await
        }))
    }
}

/// A route `Api` answers without the router: nothing in it waits.
type Direct = fn(&AppState, &Client, &axum::http::Uri) -> Result<Response, ApiError>;

/// What tests and the fuzz target drive with `oneshot`.
impl<B> tower::Service<axum::http::Request<B>> for Api
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // Routes are always ready; the router's readiness is checked by `oneshot`.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Answer {
        self.respond(request.map(axum::body::Body::new))
    }
}

/// What `serve` runs on each connection: hyper borrows the service for each request, where
/// a tower service would be copied for each.
impl hyper::service::Service<axum::http::Request<hyper::body::Incoming>> for Api {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: axum::http::Request<hyper::body::Incoming>) -> Answer {
        self.respond(request.map(axum::body::Body::new))
    }
}

/// The response `Api` gives: already there, or still being worked out by a route.
pub enum Answer {
    /// Answered while called; taken by the first poll.
    Ready(Option<Response>),
    /// A route's answer to come.
    Routed(std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>),
}

impl std::future::Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Answer::Ready(response) => std::task::Poll::Ready(Ok(response
                .take()
                .expect("an answer polled after completion: hyper and oneshot never do"))),
            Answer::Routed(future) => future.as_mut().poll(context).map(Ok),
        }
    }
}

/// Who is asking: the connection's peer and the `X-Forwarded-For` values, the only part of
/// the headers the handlers read (taken without copying the others).
#[derive(Debug, Clone)]
pub struct Client {
    /// The connection's peer, when the request came over a connection.
    pub peer: Option<SocketAddr>,
    forwarded: Vec<HeaderValue>,
}

impl Client {
    /// The client's address through trusted proxies (see `client_ip`).
    pub fn ip(&self, state: &AppState) -> Result<Option<std::net::IpAddr>, ApiError> {
        client_ip::client_ip(
            self.peer,
            &self.forwarded,
            &state.settings().trusted_proxies,
        )
    }

    fn of(extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> Client {
        Client::new(peer_of(extensions), headers)
    }

    fn new(peer: Option<SocketAddr>, headers: &axum::http::HeaderMap) -> Client {
        Client {
            peer,
            forwarded: headers
                .get_all(client_ip::FORWARDED_FOR)
                .iter()
                .cloned()
                .collect(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Client, Infallible> {
        Ok(Client::of(&parts.extensions, &parts.headers))
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

/// The `X-Catalog-Version` value of `snapshot`, made once per catalog version and thread.
fn version_header(snapshot: &Snapshot) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        if let Some((version, value)) = last.as_ref()
            && version == snapshot.version()
        {
            return value.clone();
        }
        // A version is hex digits, always a valid header value.
        let value = HeaderValue::from_str(snapshot.version())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        *last = Some((snapshot.version().to_owned(), value.clone()));
        value
    })
}

/// `body` as JSON with the `X-Catalog-Version` of the snapshot it was computed from. Written
/// into one buffer sized for a typical answer, so most answers take a single allocation.
pub fn versioned(snapshot: &Snapshot, body: &impl serde::Serialize) -> Response {
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, body)
        .expect("answers are structs of strings, numbers and lists, and a Vec never fails");
    versioned_json(snapshot, bytes)
}

/// `versioned` for an answer already written as JSON.
pub fn versioned_json(snapshot: &Snapshot, bytes: Vec<u8>) -> Response {
    let content_type = HeaderValue::from_static("application/json");
    let mut response = ([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response();
    response
        .headers_mut()
        .insert(CATALOG_VERSION, version_header(snapshot));
    response
}

/// Around every routed request: the in-flight limit, the request timeout, and what
/// `Observation` adds. Headers have hyper's read timeout and bodies their own.
async fn observe<F, A>(
    state: AppState,
    request: Request,
    peer: Option<SocketAddr>,
    answer: F,
) -> Response
where
    F: FnOnce(Request) -> A,
    A: std::future::Future<Output = Response>,
{
    let observation = Observation::start(&state, &request, peer);
    // A request with a body takes its place among those in flight once the body has arrived
    // (in the handler), so that slow uploads cannot hold the places everyone else needs. Only such
    // requests (and the admin reload) can take long: the others compute an answer from the
    // snapshot and return, so the request timeout is theirs alone.
    let has_body = observation.method == axum::http::Method::POST;
    // Counted down when the request ends, also when its client goes away mid-answer and
    // hyper drops this future.
    let _in_progress = InProgress::enter(state.metrics());
    let response = if has_body {
        match tokio::time::timeout(state.settings().request_timeout, answer(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::RequestTimeout.into_response(),
        }
    } else {
        match state.in_flight().try_enter() {
            None => ApiError::Overloaded.into_response(),
            Some(_place) => answer(request).await,
        }
    };
    observation.finish(&state, response)
}

/// What every request leaves behind: `X-Catalog-Version` on every `/v1/` answer (errors
/// included), metrics, and a log line that never holds a full address.
struct Observation {
    started: Instant,
    route: usize,
    is_v1: bool,
    method: axum::http::Method,
    peer: Option<SocketAddr>,
    /// The client's address, worked out only when the request will be logged.
    logged_client: Option<Option<std::net::IpAddr>>,
}

impl Observation {
    /// Taken when the request arrives.
    fn start(state: &AppState, request: &Request, peer: Option<SocketAddr>) -> Observation {
        let logged = tracing::enabled!(target: "geoavail::access", tracing::Level::DEBUG);
        Observation {
            started: Instant::now(),
            route: route_index(request.uri().path()),
            is_v1: request.uri().path().starts_with("/v1/"),
            method: request.method().clone(),
            peer,
            logged_client: logged.then(|| {
                Client::new(peer, request.headers())
                    .ip(state)
                    .ok()
                    .flatten()
            }),
        }
    }

    /// Counts and logs the request, and completes `response`.
    fn finish(self, state: &AppState, mut response: Response) -> Response {
        if self.is_v1 && !response.headers().contains_key(CATALOG_VERSION) {
            let snapshot = state.snapshot();
            response
                .headers_mut()
                .insert(CATALOG_VERSION, version_header(&snapshot));
        }
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        state.metrics().count_request(self.route, status);
        state.metrics().observe_request_duration(elapsed);
        if status >= 500 || self.logged_client.is_some() {
            let (route, method) = (crate::metrics::ROUTES[self.route], self.method);
            let client = self
                .logged_client
                .flatten()
                .or_else(|| self.peer.map(|peer| peer.ip()))
                .map(TruncatedIp::new)
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
            let micros = elapsed.as_micros() as u64;
            if status >= 500 {
                tracing::warn!(target: "geoavail::access", %method, route, status, client, micros, "request failed");
            } else {
                tracing::debug!(target: "geoavail::access", %method, route, status, client, micros, "request");
            }
        }
        response
    }
}

/// A request counted in `geoavail_requests_in_progress` for as long as it lives.
struct InProgress<'a> {
    metrics: &'a crate::metrics::Metrics,
}

impl InProgress<'_> {
    fn enter(metrics: &crate::metrics::Metrics) -> InProgress<'_> {
        metrics.request_started();
        InProgress { metrics }
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.metrics.request_ended();
    }
}

/// The route template of a path, as a position in `metrics::ROUTES`: never an id, never an
/// address.
fn route_index(path: &str) -> usize {
    match path {
        "/v1/availability" => 0,
        "/v1/titles" => 1,
        "/v1/locate" => 3,
        "/v1/status" => 4,
        "/v1/admin/reload" => 5,
        "/healthz" => 6,
        "/readyz" => 7,
        "/metrics" => 8,
        "/openapi.json" => 9,
        _ if path.starts_with("/v1/titles/") => 2,
        _ => 10,
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
    router: Api,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The HTTP/1 timer is each connection's own (see `timer`), set below.
    builder
        .http1()
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
        let service = router.clone().with_peer(peer);
        let (mut builder, watcher) = (builder.clone(), graceful.watcher());
        builder.http1().timer(timer::ConnectionTimer::default());
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
