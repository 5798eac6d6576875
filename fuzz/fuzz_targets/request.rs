//! Requests against the router on the demo data: the first line is a GET request target
//! (path and query string), the rest the body of a POST /v1/availability. Nothing a client
//! sends may crash the process or be answered with a 5xx.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Service {
    router: geoavail::http::Api,
    runtime: tokio::runtime::Runtime,
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut config = geoavail::config::Config {
            catalogs: root.join("catalogs"),
            ..Default::default()
        };
        config.geoip.database = root.join("geoip/demo.mmdb");
        config.geoip.overrides = Some(root.join("geoip/overrides.toml"));
        config.geoip.anonymizer_database = Some(root.join("geoip/demo-anonymous.mmdb"));
        let metrics = Arc::new(geoavail::metrics::Metrics::default());
        let settings = geoavail::http::state::Settings::new(&config, Some("token".into())).unwrap();
        let reloader =
            geoavail::reload::Reloader::start(config, Arc::clone(&metrics), geoavail::reload::now())
                .unwrap();
        let state = geoavail::http::state::AppState::new(Arc::new(reloader), metrics, settings);
        let peer: SocketAddr = "192.0.2.5:1".parse().unwrap();
        Service {
            router: geoavail::http::router(state).with_peer(peer),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let service = service();
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let target = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default().to_vec();
    let requests = [
        Request::get(format!("/{}", target.trim_start_matches('/'))).body(Body::empty()),
        Request::post("/v1/availability").body(Body::from(body)),
    ];
    for request in requests.into_iter().flatten() {
        let response = service
            .runtime
            .block_on(service.router.clone().oneshot(request))
            .unwrap();
        assert!(response.status().as_u16() < 500, "{target}: {}", response.status());
    }
});
