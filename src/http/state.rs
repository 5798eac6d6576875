//! `AppState`: a cheap clone of shared handles (the snapshot, the reloader, the metrics, the
//! settings) that every handler receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::IpNet;

use crate::catalog::AnonymizerPolicy;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::privacy::TruncatedIp;
use crate::reload::Reloader;
use crate::snapshot::Snapshot;

/// Settings the handlers need, fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The admin token; `None` hides the admin route.
    pub admin_token: Option<String>,
    /// `policy.anonymizer`.
    pub policy: AnonymizerPolicy,
    /// `/v1/status` warns when the database is older.
    pub max_age_days: u32,
    /// Requests served at once; more are refused with 503 rather than queued.
    pub max_in_flight: usize,
    /// The longest a client may take to send a request body.
    pub body_timeout: Duration,
    /// The longest any request may take before it is answered with 503 `timeout`.
    pub request_timeout: Duration,
}

impl Settings {
    /// From the configuration and the admin token (`GEOAVAIL_ADMIN_TOKEN`, else the token
    /// file's first line).
    pub fn new(config: &Config, env_token: Option<String>) -> std::io::Result<Settings> {
        let admin_token = match env_token.filter(|token| !token.is_empty()) {
            Some(token) => Some(token),
            None => match &config.admin.token_file {
                Some(path) => {
                    Some(std::fs::read_to_string(path)?.trim().to_owned()).filter(|t| !t.is_empty())
                }
                None => None,
            },
        };
        Ok(Settings {
            trusted_proxies: config.http.trusted_proxies.clone(),
            admin_token,
            policy: config.policy.anonymizer,
            max_age_days: config.geoip.max_age_days,
            max_in_flight: config.http.max_in_flight,
            body_timeout: Duration::from_millis(config.http.body_timeout_ms),
            request_timeout: Duration::from_millis(config.http.request_timeout_ms),
        })
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshots: Arc<ArcSwap<Snapshot>>,
    reloader: Arc<Reloader>,
    metrics: Arc<Metrics>,
    settings: Settings,
    in_flight: InFlight,
    draining: AtomicBool,
    /// Failed admin attempts per client network in the current window: (window start,
    /// failures). Keyed by the truncated address, never the full one.
    admin_failures: Mutex<HashMap<Option<TruncatedIp>, (Instant, u32)>>,
}

/// Failed admin attempts allowed per window before every attempt is refused until it ends.
pub const ADMIN_FAILURES_PER_WINDOW: u32 = 10;
/// The admin rate-limit window.
pub const ADMIN_WINDOW: Duration = Duration::from_secs(60);

impl AppState {
    /// The state of a service around `reloader`.
    pub fn new(reloader: Arc<Reloader>, metrics: Arc<Metrics>, settings: Settings) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                snapshots: reloader.shared(),
                in_flight: InFlight::new(settings.max_in_flight),
                reloader,
                metrics,
                settings,
                draining: AtomicBool::new(false),
                admin_failures: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The snapshot to answer one request with; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshots.load_full()
    }

    /// The same, for a request answered without waiting on anything: borrowed, so that
    /// threads answering at once do not all write the snapshot's reference count.
    pub fn snapshot_guard(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.inner.snapshots.load()
    }

    /// The reloader.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.inner.reloader
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The requests in flight, against `http.max_in_flight`.
    pub fn in_flight(&self) -> &InFlight {
        &self.inner.in_flight
    }

    /// Marks the service as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// True while `client`'s network has used up its failed admin attempts for the current
    /// window: guessing the token is limited to a few tries a minute, right or wrong, and
    /// one network's guesses do not lock out another.
    pub fn admin_locked(&self, client: Option<TruncatedIp>) -> bool {
        let mut failures = self.lock_failures();
        failures.retain(|_, (since, _)| since.elapsed() < ADMIN_WINDOW);
        failures
            .get(&client)
            .is_some_and(|(_, count)| *count >= ADMIN_FAILURES_PER_WINDOW)
    }

    /// Counts one failed admin attempt from `client`'s network.
    pub fn admin_failed(&self, client: Option<TruncatedIp>) {
        let mut failures = self.lock_failures();
        failures.retain(|_, (since, _)| since.elapsed() < ADMIN_WINDOW);
        // Bounded: beyond this many networks at once, the oldest windows are forgotten.
        if failures.len() >= 4096 {
            failures.clear();
        }
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        entry.1 = entry.1.saturating_add(1);
    }

    fn lock_failures(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Option<TruncatedIp>, (Instant, u32)>> {
        self.inner
            .admin_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A count of the requests in flight with a ceiling. Requests never wait for a place (one
/// over the ceiling is answered `503 overloaded` at once), so a count is all it takes.
///
/// On a cache line of its own: every request writes it, and the state beside it is read by
/// every request on every core.
#[derive(Debug)]
#[repr(align(128))]
pub struct InFlight {
    count: AtomicUsize,
    max: usize,
}

/// A request's place among those in flight, given back when dropped.
#[derive(Debug)]
pub struct InFlightPlace<'a> {
    count: &'a AtomicUsize,
}

impl InFlight {
    fn new(max: usize) -> InFlight {
        InFlight {
            count: AtomicUsize::new(0),
            max,
        }
    }

    /// A place, or `None` when `max` requests are in flight.
    pub fn try_enter(&self) -> Option<InFlightPlace<'_>> {
        // Counted only when under the ceiling: a request turned away never holds a place,
        // even for an instant, so it cannot make another be turned away below the limit.
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        Some(InFlightPlace { count: &self.count })
    }
}

impl Drop for InFlightPlace<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_up_to_the_ceiling_and_back_when_dropped() {
        let in_flight = InFlight::new(2);
        let first = in_flight.try_enter().expect("one of two");
        let second = in_flight.try_enter().expect("two of two");
        assert!(in_flight.try_enter().is_none());
        drop(first);
        let third = in_flight
            .try_enter()
            .expect("a place given back is free again");
        assert!(in_flight.try_enter().is_none());
        drop((second, third));
        assert_eq!(in_flight.count.load(Ordering::Relaxed), 0);
    }
}
