//! Arbitrary bytes into every entry point that reads input: catalog files, overrides, the
//! config file, databases, query strings and batch bodies. Nothing may panic; everything ends
//! in a value or an error. (The fuzz targets of the hardening work drive the same entry points
//! for longer.)

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;

use crate::support::{demo_config, service};

/// Text that is mostly TOML-shaped, with arbitrary bytes mixed in.
fn tomlish() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("[[titles]]\n".to_owned()),
        Just("[[titles.licenses]]\n".to_owned()),
        Just("[[titles.blackouts]]\n".to_owned()),
        Just("[groups]\n".to_owned()),
        Just("[[override]]\n".to_owned()),
        Just("id = \"t\"\nname = \"T\"\n".to_owned()),
        Just("territories = [\"US\", \"@EU\", \"US-CA\", \"@A\"]\n".to_owned()),
        Just("A = [\"@A\"]\n".to_owned()),
        Just(
            "start = 2026-01-01\nend = 2025-01-01T00:00:00Z\ntimezone = \"territory\"\n".to_owned()
        ),
        Just("network = \"10.0.0.0/8\"\ncountry = \"US\"\n".to_owned()),
        Just("platforms = []\n".to_owned()),
        "[ -~\n]{0,40}",
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn catalog_files_never_panic(text in tomlish()) {
        let file = geoavail::catalog::parse::parse_file("a.toml", &text);
        let options = geoavail::catalog::LoadOptions {
            now: "2026-11-23T00:00:00Z".parse().unwrap(),
            geoip_has_regions: Some(false),
        };
        let _ = geoavail::catalog::validate::validate(&[file], &options);
    }

    #[test]
    fn overrides_never_panic(text in tomlish()) {
        let _ = geoavail::geoip::Overrides::parse("overrides.toml", &text);
    }

    #[test]
    fn config_files_never_panic(text in tomlish()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geoavail.toml");
        std::fs::write(&path, text).unwrap();
        let _ = geoavail::config::Config::from_sources(Some(&path), Vec::new());
    }

    #[test]
    fn databases_of_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let path = std::path::Path::new("fuzz.mmdb");
        let _ = geoavail::geoip::GeoipDatabase::from_bytes(path, bytes.clone(), &Default::default());
        let _ = geoavail::geoip::AnonymizerDatabase::from_bytes(path, bytes);
    }
}

#[test]
fn requests_never_panic_or_fail_the_server() {
    let (router, _) = service(demo_config(), Some("t"));
    let router = router.with_peer("192.0.2.5:1".parse::<SocketAddr>().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let strategy = (
        prop::sample::select(
            &[
                "/v1/availability",
                "/v1/titles",
                "/v1/titles/ironwood",
                "/v1/locate",
                "/v1/status",
            ][..],
        ),
        "[ -~]{0,80}",
        prop::collection::vec(any::<u8>(), 0..300),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    runner
        .run(&strategy, |(path, query, body)| {
            let get = Request::get(format!(
                "{path}?{}",
                query.replace(' ', "%20").replace('#', "%23")
            ))
            .body(Body::empty());
            let post = Request::post("/v1/availability").body(Body::from(body));
            for request in [get, post].into_iter().flatten() {
                let response = runtime.block_on(router.clone().oneshot(request)).unwrap();
                prop_assert!(
                    response.status().as_u16() < 500,
                    "{path}?{query}: {}",
                    response.status()
                );
            }
            Ok(())
        })
        .unwrap();
}
