//! Locating and deciding, side by side with the `maxminddb` reader on the same addresses.
//!
//!     cargo bench --bench lookup
//!     GEOAVAIL_BENCH_MMDB=/path/to/country.mmdb cargo bench --bench lookup
//!
//! Without `GEOAVAIL_BENCH_MMDB` a synthetic database of 550k networks is generated (and kept
//! under target/ for the next run). Each group ends with a `ratio` line: medians of the two
//! implementations timed in alternation on the same inputs.

#![allow(clippy::print_stdout)]

#[path = "support/measure.rs"]
mod measure;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use geoavail::catalog::{AnonymizerPolicy, Catalog, LoadOptions};
use geoavail::geoip::{GeoipDatabase, GeoipOptions, Locator, Overrides, Sources};
use geoavail::resolve::{self, Query};
use maxminddb::{PathElement, Reader};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

fn database() -> (PathBuf, Vec<u8>) {
    if let Some(path) = std::env::var_os("GEOAVAIL_BENCH_MMDB") {
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path).expect("GEOAVAIL_BENCH_MMDB is readable");
        return (path, bytes);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data/synthetic-550k-registries.mmdb");
    if let Ok(bytes) = std::fs::read(&path) {
        return (path, bytes);
    }
    let bytes = synthetic::mmdb(400_000, 1_000_000, 7);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

struct Fixture {
    reader: Reader<Vec<u8>>,
    locator: Locator,
    country: Vec<PathElement<'static>>,
    v4: Vec<IpAddr>,
    v6: Vec<IpAddr>,
    /// IPv6 addresses inside the database's own networks, as a device's address is: most
    /// random addresses of 2000::/3 lie where no network is allocated, which both readers
    /// answer near the top of their trees.
    v6_allocated: Vec<IpAddr>,
}

fn fixture() -> Fixture {
    let (path, bytes) = database();
    let reader = Reader::from_source(bytes.clone()).unwrap();
    let database = GeoipDatabase::from_bytes(&path, bytes, &GeoipOptions::default()).unwrap();
    let country = if database.country_field.to_string() == "country_code" {
        vec![PathElement::Key("country_code")]
    } else {
        vec![PathElement::Key("country"), PathElement::Key("iso_code")]
    };
    println!(
        "database: {} ({}), {} networks, {} ranges",
        path.display(),
        database.info.database_type,
        database.info.networks,
        database.info.ranges
    );
    let locator = Locator::new(Sources {
        geoip: Arc::new(database),
        overrides: Arc::new(Overrides::empty()),
        anonymizer: None,
        anonymizer_mask: 0,
    });
    let mut rng = StdRng::seed_from_u64(42);
    let v4 = (0..1_000_000)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.random::<u32>())))
        .collect();
    // Inside 2000::/3, where real allocations are, or nearly every address misses.
    let v6 = (0..200_000)
        .map(|_| {
            IpAddr::V6(Ipv6Addr::from(
                (0x1u128 << 125) | (rng.random::<u128>() >> 3),
            ))
        })
        .collect();
    let networks: Vec<(u128, u8)> = reader
        .within("2000::/3".parse().unwrap(), Default::default())
        .unwrap()
        .filter_map(|found| match found.ok()?.network().ok()? {
            ipnetwork::IpNetwork::V6(network) => {
                Some((u128::from(network.network()), network.prefix()))
            }
            ipnetwork::IpNetwork::V4(_) => None,
        })
        .collect();
    let v6_allocated = (0..200_000)
        .map(|_| {
            let (first, prefix) = networks[rng.random_range(0..networks.len())];
            let host = rng
                .random::<u128>()
                .checked_shr(u32::from(prefix))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(first | host))
        })
        .collect();
    Fixture {
        reader,
        locator,
        country,
        v4,
        v6,
        v6_allocated,
    }
}

fn raw_lookup(fixture: &Fixture, ip: IpAddr) -> Option<String> {
    fixture
        .reader
        .lookup(ip)
        .ok()
        .and_then(|result| result.decode_path(&fixture.country).ok().flatten())
}

fn locate(c: &mut Criterion) {
    let fixture = fixture();
    let mut group = c.benchmark_group("locate");
    for (family, addresses) in [
        ("ipv4", &fixture.v4),
        ("ipv6", &fixture.v6),
        ("ipv6-allocated", &fixture.v6_allocated),
    ] {
        let mut i = 0;
        group.bench_function(format!("{family}/geoavail"), |b| {
            b.iter(|| {
                black_box(
                    fixture
                        .locator
                        .locate(black_box(*measure::cycle(addresses, &mut i))),
                )
            })
        });
        let mut i = 0;
        group.bench_function(format!("{family}/maxminddb"), |b| {
            b.iter(|| {
                black_box(raw_lookup(
                    &fixture,
                    black_box(*measure::cycle(addresses, &mut i)),
                ))
            })
        });
        let (ours, theirs) = measure::alternate(
            addresses,
            11,
            |ip| {
                black_box(fixture.locator.locate(*ip));
            },
            |ip| {
                black_box(raw_lookup(&fixture, *ip));
            },
        );
        measure::report(
            &format!("locate {family}"),
            ours,
            "maxminddb lookup+decode_path",
            theirs,
        );
    }
    group.finish();
}

fn catalog(titles: usize) -> Catalog {
    let files: Vec<_> = synthetic::catalog_files(titles, (titles / 100).max(1), 11)
        .iter()
        .map(|(path, text)| geoavail::catalog::parse::parse_file(path, text))
        .collect();
    let options = LoadOptions {
        now: "2026-11-23T00:00:00Z".parse().unwrap(),
        geoip_has_regions: None,
    };
    geoavail::catalog::validate::validate(&files, &options)
        .unwrap_or_else(|e| panic!("{:?}", &e.messages()[..e.messages().len().min(5)]))
}

fn query() -> Query {
    Query {
        at: "2026-11-23T12:00:00Z".parse().unwrap(),
        platform: None,
        home: None,
        policy: AnonymizerPolicy::Deny,
    }
}

fn decision(c: &mut Criterion) {
    let fixture = fixture();
    let mut group = c.benchmark_group("decision");
    for titles in [1_000, 10_000, 100_000] {
        let catalog = catalog(titles);
        let mut rng = StdRng::seed_from_u64(5);
        let asks: Vec<(String, IpAddr)> = (0..200_000)
            .map(|n| {
                (
                    format!("title-{:06}", rng.random_range(0..titles)),
                    fixture.v4[n],
                )
            })
            .collect();
        let query = query();
        let decide = |(id, ip): &(String, IpAddr)| {
            let title = catalog.title(id).expect("the title exists");
            let location = fixture.locator.locate(*ip);
            resolve::title(&catalog, title, &location, &query).is_available()
        };
        let mut i = 0;
        group.bench_function(format!("{titles}/geoavail"), |b| {
            b.iter(|| black_box(decide(black_box(measure::cycle(&asks, &mut i)))))
        });
        // Uniformly drawn titles (the target's figure), and for information beside it a mix
        // skewed as real traffic is: each title's share falling as 1/rank, the popular
        // titles spread over the catalog's id order.
        let mut by_rank: Vec<usize> = (0..titles).collect();
        by_rank.shuffle(&mut rng);
        let shares = WeightedIndex::new((1..=titles).map(|rank| 1.0 / rank as f64)).unwrap();
        let skewed: Vec<(String, IpAddr)> = (0..200_000)
            .map(|n| {
                let title = by_rank[shares.sample(&mut rng)];
                (format!("title-{title:06}"), fixture.v4[n])
            })
            .collect();
        for (mix, asks) in [("", &asks), (", titles drawn by 1/rank", &skewed)] {
            let (ours, theirs) = measure::alternate(
                asks,
                11,
                |ask| {
                    black_box(decide(ask));
                },
                |(_, ip)| {
                    black_box(raw_lookup(&fixture, *ip));
                },
            );
            measure::report(
                &format!("decision (title + locate + resolve) at {titles} titles{mix}"),
                ours,
                "maxminddb lookup+decode_path alone",
                theirs,
            );
        }
    }
    group.finish();
}

fn listing(c: &mut Criterion) {
    let catalog = catalog(100_000);
    let query = query();
    let mut group = c.benchmark_group("listing");
    group.sample_size(20);
    for country in ["US", "FR", "JP"] {
        let location = geoavail::geoip::Location {
            country: geoavail::geoip::CountryCode::parse(country),
            region: None,
            source: geoavail::geoip::LocationSource::Geoip,
            anonymizer: false,
        };
        let returned = resolve::available(&catalog, &location, &query, None, usize::MAX)
            .titles
            .len();
        group.bench_function(format!("100000/{country}"), |b| {
            b.iter(|| {
                black_box(
                    resolve::available(&catalog, black_box(&location), &query, None, usize::MAX)
                        .titles
                        .len(),
                )
            })
        });
        let mut samples = Vec::new();
        for _ in 0..21 {
            let started = std::time::Instant::now();
            black_box(resolve::available(
                &catalog,
                &location,
                &query,
                None,
                usize::MAX,
            ));
            samples.push(started.elapsed().as_nanos() as f64);
        }
        let per_title = measure::median(samples) / returned as f64;
        println!(
            "listing at 100000 titles in {country}: {returned} returned, {per_title:.1} ns per returned title"
        );
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = locate, decision, listing
}
criterion_main!(benches);
