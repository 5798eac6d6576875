//! The Prometheus metrics of SPEC §4. No label ever carries an address or a title: routes are
//! the route templates, statuses are numbers, sources are the four source names.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

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

/// Statuses counted in the shards for every route: counting a request is then one atomic add
/// on the thread's own cache line, not a look-up under a lock.
const HANDY_STATUSES: [u16; 12] = [200, 400, 401, 404, 405, 408, 413, 422, 429, 500, 503, 504];

/// Latency buckets: 10 µs to about 20 s (lookups are microseconds, slow clients seconds).
const BUCKETS: usize = 22;

/// Shards of the metrics every request updates. A thread adds into its own shard and a
/// scrape adds the shards up: shared counters, which both cores write on every request (and
/// a histogram behind a lock), cost about 3 % of a request's CPU time.
const SHARDS: usize = 8;

/// One thread's share of the request metrics, on cache lines of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    /// By route and handy status.
    requests: [[AtomicU64; HANDY_STATUSES.len()]; ROUTES.len()],
    /// Requests started less requests ended here (a request may end on another thread, so
    /// one shard can be negative; the sum is right).
    in_progress: AtomicI64,
    /// Latencies by bucket, the last one unbounded, and their sum in nanoseconds.
    latencies: [AtomicU64; BUCKETS + 1],
    latency_nanos: AtomicU64,
}

/// The request metrics, sharded.
#[derive(Debug)]
struct Shards {
    shards: Box<[Shard; SHARDS]>,
    /// The buckets' upper bounds, in seconds.
    bounds: Vec<f64>,
}

impl Shards {
    fn new() -> Shards {
        Shards {
            shards: Box::default(),
            bounds: exponential_buckets(0.00001, 2.0, BUCKETS as u16).collect(),
        }
    }

    /// The calling thread's shard.
    #[inline]
    fn mine(&self) -> &Shard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        &self.shards[SHARD.with(|shard| *shard)]
    }

    /// Requests started less requests ended, over all shards.
    fn in_progress(&self) -> i64 {
        self.sum(|shard| shard.in_progress.load(Ordering::Relaxed))
    }

    fn sum<T: std::iter::Sum>(&self, each: impl Fn(&Shard) -> T) -> T {
        self.shards.iter().map(each).sum()
    }
}

/// `geoavail_requests_total`: the handy statuses from the shards, the others from a family.
#[derive(Debug)]
struct RequestsTotal {
    shards: Arc<Shards>,
    others: Family<RequestLabels, Counter>,
}

impl EncodeMetric for RequestsTotal {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (route, name) in ROUTES.iter().enumerate() {
            for (slot, &status) in HANDY_STATUSES.iter().enumerate() {
                let count = self
                    .shards
                    .sum(|shard| shard.requests[route][slot].load(Ordering::Relaxed));
                if count > 0 {
                    let labels = RequestLabels {
                        route: name,
                        status,
                    };
                    encoder
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
                }
            }
        }
        self.others.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// `geoavail_request_duration_seconds`.
#[derive(Debug)]
struct RequestDuration(Arc<Shards>);

impl EncodeMetric for RequestDuration {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let shards = &self.0;
        let counts: Vec<u64> = (0..=BUCKETS)
            .map(|bucket| shards.sum(|shard| shard.latencies[bucket].load(Ordering::Relaxed)))
            .collect();
        let buckets: Vec<(f64, u64)> = shards
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(counts.iter().copied())
            .collect();
        let nanos = shards.sum(|shard| shard.latency_nanos.load(Ordering::Relaxed));
        let sum = Duration::from_nanos(nanos).as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `geoavail_requests_in_progress`.
#[derive(Debug)]
struct InProgress(Arc<Shards>);

impl EncodeMetric for InProgress {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.in_progress())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

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

/// Labels of `geoavail_geoip_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GeoipLabels {
    /// The database's own `database_type`, such as `GeoIP2-Country`.
    pub database_type: String,
}

/// Every metric geoavail exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status, latencies, and requests in progress, by thread.
    shards: Arc<Shards>,
    /// Requests with a status the shards do not keep.
    other_requests: Family<RequestLabels, Counter>,
    /// Reloads by source and result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Titles in the served catalog.
    pub catalog_titles: Gauge,
    /// Networks in the served GeoIP database.
    pub geoip_networks: Gauge,
    /// The served GeoIP database's build time.
    pub geoip_build_timestamp: Gauge,
    /// 1, labelled with the served GeoIP database's type.
    pub geoip_info: Family<GeoipLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let shards = Arc::new(Shards::new());
        let other_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "geoavail_requests",
            "HTTP requests by route and status",
            RequestsTotal {
                shards: Arc::clone(&shards),
                others: other_requests.clone(),
            },
        );
        registry.register(
            "geoavail_request_duration_seconds",
            "HTTP request latency",
            RequestDuration(Arc::clone(&shards)),
        );
        registry.register(
            "geoavail_requests_in_progress",
            "Requests being answered now",
            InProgress(Arc::clone(&shards)),
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
        let geoip_info = Family::<GeoipLabels, Gauge>::default();
        registry.register(
            "geoavail_geoip_info",
            "The served GeoIP database, by type",
            geoip_info.clone(),
        );
        Metrics {
            registry,
            shards,
            other_requests,
            reloads,
            catalog_titles,
            geoip_networks,
            geoip_build_timestamp,
            geoip_info,
        }
    }
}

impl Metrics {
    /// Counts one request to `ROUTES[route]` answered with `status`.
    #[inline]
    pub fn count_request(&self, route: usize, status: u16) {
        match HANDY_STATUSES.iter().position(|&handy| handy == status) {
            Some(slot) => {
                self.shards.mine().requests[route][slot].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let labels = RequestLabels {
                    route: ROUTES[route],
                    status,
                };
                self.other_requests.get_or_create(&labels).inc();
            }
        }
    }

    /// Records how long a request took.
    #[inline]
    pub fn observe_request_duration(&self, elapsed: Duration) {
        let shards = &self.shards;
        let bucket = shards
            .bounds
            .partition_point(|&bound| bound < elapsed.as_secs_f64());
        let shard = shards.mine();
        shard.latencies[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.latency_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// A request has started.
    #[inline]
    pub fn request_started(&self) {
        self.shards
            .mine()
            .in_progress
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request has ended.
    #[inline]
    pub fn request_ended(&self) {
        self.shards
            .mine()
            .in_progress
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Requests being answered now.
    pub fn requests_in_progress(&self) -> i64 {
        self.shards.in_progress()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'t>(text: &'t str, start: &str) -> &'t str {
        text.lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
    }

    #[test]
    fn requests_counted_on_many_threads_add_up() {
        let metrics = Metrics::default();
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        metrics.request_started();
                        metrics.count_request(0, 200);
                        metrics.observe_request_duration(Duration::from_micros(30));
                        metrics.request_ended();
                    }
                });
            }
        });
        metrics.count_request(3, 418);
        metrics.request_started();
        let text = metrics.encode();
        assert_eq!(
            line(
                &text,
                "geoavail_requests_total{route=\"/v1/availability\",status=\"200\"}"
            ),
            "geoavail_requests_total{route=\"/v1/availability\",status=\"200\"} 12000"
        );
        assert!(text.contains("geoavail_requests_total{route=\"/v1/locate\",status=\"418\"} 1"));
        assert!(
            !text.contains("status=\"404\""),
            "statuses never seen are not listed"
        );
        assert_eq!(
            line(&text, "geoavail_request_duration_seconds_count"),
            "geoavail_request_duration_seconds_count 12000"
        );
        // 30 µs lies above the 20 µs bound and at or below the 40 µs one.
        assert!(text.contains("geoavail_request_duration_seconds_bucket{le=\"0.00002\"} 0"));
        assert!(text.contains("geoavail_request_duration_seconds_bucket{le=\"0.00004\"} 12000"));
        assert!(text.contains("geoavail_request_duration_seconds_bucket{le=\"+Inf\"} 12000"));
        assert_eq!(
            line(&text, "geoavail_request_duration_seconds_sum"),
            "geoavail_request_duration_seconds_sum 0.36"
        );
        assert_eq!(metrics.requests_in_progress(), 1);
        assert_eq!(
            line(&text, "geoavail_requests_in_progress"),
            "geoavail_requests_in_progress 1"
        );
    }
}
