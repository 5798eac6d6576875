//! Loading a catalog of real size, and reloading it after one file changed.
//!
//!     cargo bench --bench catalog

#[path = "support/synthetic.rs"]
mod synthetic;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use geoavail::catalog::{Catalog, LoadOptions};
use geoavail::reload::{Reloader, Source, Trigger};

const TITLES: usize = 100_000;
const FILES: usize = 1_000;

fn options() -> LoadOptions {
    LoadOptions {
        now: "2026-11-23T00:00:00Z".parse().unwrap(),
        geoip_has_regions: None,
    }
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    synthetic::write_catalog(dir.path(), TITLES, FILES, 11).unwrap();
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function("load+validate+index/100000 titles in 1000 files", |b| {
        b.iter(|| Catalog::load(dir.path(), &options()).expect("valid"))
    });

    // The service's path: a reloader over the same folder, then one file edited.
    let mut config = geoavail::config::Config {
        catalogs: dir.path().to_owned(),
        ..Default::default()
    };
    config.geoip.database =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/demo.mmdb");
    let reloader = Reloader::start(
        config,
        Arc::new(geoavail::metrics::Metrics::default()),
        options().now,
    )
    .unwrap();
    let edited = dir.path().join("studio-07/part-0007.toml");
    let original = std::fs::read_to_string(&edited).unwrap();
    let mut flip = false;
    group.bench_function("reload after one changed file/100000 titles", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                flip = !flip;
                let text = if flip {
                    original.replace("name = \"Title 7\"", "name = \"Title 7 (restored)\"")
                } else {
                    original.clone()
                };
                std::fs::write(&edited, text).unwrap();
                let started = Instant::now();
                let outcome = reloader.reload(
                    &BTreeSet::from([Source::Catalog]),
                    Trigger::Watch,
                    options().now,
                );
                total += started.elapsed();
                assert!(outcome.is_ok());
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    targets = load
}
criterion_main!(benches);
