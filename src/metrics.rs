//! The Prometheus metrics of SPEC §4. No label ever carries an address or a title: routes are
//! the route templates, statuses are numbers, sources are the four source names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

/// The route templates: the only values the `route` label takes.
pub const ROUTES: [&str; 11] = [
    "/v1/availability",
    "/v1/titles",
    "/v1/titles/{id}",
    "/v1/locate",
    "/v1/status",
    "/v1/admin/reload",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "unmatched",
];

/// Statuses whose counters are kept at hand for every route: counting a request is then one
/// atomic add, not a look-up under a lock.
const HANDY_STATUSES: [u16; 12] = [200, 400, 401, 404, 405, 408, 413, 422, 429, 500, 503, 504];

/// Labels of `geoavail_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template, such as `/v1/titles/{id}`.
    pub route: &'static str,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels of `geoavail_reloads_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `catalog`, `geoip`, `overrides` or `anonymizer`.
    pub source: String,
    /// `ok` or `failed`.
    pub result: String,
}

/// Every metric geoavail exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// `requests`' counters for each route and handy status, filled on first use.
    handy: Box<[[OnceLock<Counter>; HANDY_STATUSES.len()]; ROUTES.len()]>,
    /// Request latency.
    pub request_duration: Histogram,
    /// Requests being answered now (bodies still arriving included).
    pub requests_in_progress: Gauge,
    /// Reloads by source and result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Titles in the served catalog.
    pub catalog_titles: Gauge,
    /// Networks in the served GeoIP database.
    pub geoip_networks: Gauge,
    /// The served GeoIP database's build time.
    pub geoip_build_timestamp: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "geoavail_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        // 10 µs to about 20 s: lookups are microseconds, slow clients are seconds.
        let request_duration = Histogram::new(exponential_buckets(0.00001, 2.0, 22));
        registry.register(
            "geoavail_request_duration_seconds",
            "HTTP request latency",
            request_duration.clone(),
        );
        let requests_in_progress = Gauge::default();
        registry.register(
            "geoavail_requests_in_progress",
            "Requests being answered now",
            requests_in_progress.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "geoavail_reloads",
            "Reloads by source and result",
            reloads.clone(),
        );
        let catalog_titles = Gauge::default();
        registry.register(
            "geoavail_catalog_titles",
            "Titles in the served catalog",
            catalog_titles.clone(),
        );
        let geoip_networks = Gauge::default();
        registry.register(
            "geoavail_geoip_networks",
            "Networks in the served GeoIP database",
            geoip_networks.clone(),
        );
        let geoip_build_timestamp = Gauge::default();
        registry.register(
            "geoavail_geoip_build_timestamp_seconds",
            "Build time of the served GeoIP database",
            geoip_build_timestamp.clone(),
        );
        Metrics {
            registry,
            requests,
            handy: Box::new(std::array::from_fn(|_| {
                std::array::from_fn(|_| OnceLock::new())
            })),
            request_duration,
            requests_in_progress,
            reloads,
            catalog_titles,
            geoip_networks,
            geoip_build_timestamp,
        }
    }
}

impl Metrics {
    /// Counts one request to `ROUTES[route]` answered with `status`.
    #[inline]
    pub fn count_request(&self, route: usize, status: u16) {
        let labels = || RequestLabels {
            route: ROUTES[route],
            status,
        };
        match HANDY_STATUSES.iter().position(|&handy| handy == status) {
            Some(slot) => self.handy[route][slot]
                .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                .inc(),
            None => self.requests.get_or_create(&labels()).inc(),
        };
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Counts one reload of `source`.
    pub fn reloaded(&self, source: &str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads
            .get_or_create(&ReloadLabels {
                source: source.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }
}
