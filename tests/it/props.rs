//! The resolver against `support::oracle` on generated catalogs, locations, times (with the
//! exact window boundaries), platforms and home countries: one title, a batch, and listings.

use std::cell::RefCell;
use std::collections::BTreeSet;

use geoavail::catalog::parse::parse_file;
use geoavail::catalog::validate::validate;
use geoavail::catalog::{AnonymizerPolicy, Catalog, LoadOptions};
use geoavail::geoip::{CountryCode, Location, LocationSource, RegionCode};
use geoavail::resolve::{self, Query, Reason};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::oracle::{self, Asked, MTime, MTitle, MWindowed, Model};

const COUNTRIES: [&str; 7] = ["US", "CA", "DE", "FR", "SE", "NO", "JP"];
const REGIONS: [&str; 6] = ["US-CA", "US-NY", "CA-QC", "CA-ON", "DE-BY", "FR-IDF"];
/// Regions no rule names, for locations.
const OTHER_REGIONS: [&str; 4] = ["US-TX", "CA-BC", "DE-BE", "FR-NAQ"];
const GROUPS: [&str; 4] = ["@WORLD", "@EU", "@NORTH", "@MIX"];
const PLATFORMS: [&str; 3] = ["tv", "web", "mobile"];
const ZONES: [Option<&str>; 4] = [
    None,
    Some("Europe/Paris"),
    Some("America/New_York"),
    Some("territory"),
];

/// Window ends, a week or more apart so that any zone's reading keeps their order.
fn time_points() -> Vec<MTime> {
    vec![
        MTime::Instant("2026-06-01T12:00:00Z".parse().unwrap()),
        MTime::Date("2026-06-08".parse().unwrap()),
        MTime::Instant("2026-06-15T06:30:00Z".parse().unwrap()),
        MTime::Date("2026-06-22".parse().unwrap()),
        MTime::Date("2026-07-01".parse().unwrap()),
        MTime::Instant("2026-07-08T00:00:00Z".parse().unwrap()),
    ]
}

fn territory() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&COUNTRIES[..]),
        2 => prop::sample::select(&REGIONS[..]),
        2 => prop::sample::select(&GROUPS[..]),
    ]
    .prop_map(str::to_owned)
}

fn window_ends() -> impl Strategy<Value = (Option<MTime>, Option<MTime>)> {
    let n = time_points().len();
    (prop::option::of(0..n), prop::option::of(0..n)).prop_map(|(start, end)| {
        let points = time_points();
        match (start, end) {
            (Some(s), Some(e)) if s == e => (Some(points[s]), None),
            (Some(s), Some(e)) => (Some(points[s.min(e)]), Some(points[s.max(e)])),
            (s, e) => (s.map(|i| points[i]), e.map(|i| points[i])),
        }
    })
}

fn windowed(is_license: bool) -> impl Strategy<Value = MWindowed> {
    (
        prop::option::of("[a-z]{3}"),
        prop::collection::vec(territory(), 1..3),
        prop::collection::vec(territory(), 0..2),
        window_ends(),
        prop::sample::select(&ZONES[..]),
        prop::option::of(prop::sample::subsequence(&PLATFORMS[..], 1..=2)),
    )
        .prop_map(
            move |(id, territories, exclude, (start, end), zone, platforms)| MWindowed {
                id: id.filter(|_| is_license),
                territories,
                exclude: if is_license { exclude } else { Vec::new() },
                start,
                end,
                timezone: zone.map(str::to_owned),
                platforms: platforms
                    .filter(|_| is_license)
                    .map(|p| p.into_iter().map(str::to_owned).collect()),
            },
        )
}

fn model() -> impl Strategy<Value = Model> {
    let title = (
        0..2usize,
        prop::sample::select(&[None, Some("allow"), Some("deny")][..]),
        prop::collection::vec(windowed(true), 0..4),
        prop::collection::vec(windowed(false), 0..2),
    );
    prop::collection::vec(title, 1..5).prop_map(|titles| {
        let mut titles: Vec<MTitle> = titles
            .into_iter()
            .enumerate()
            .map(|(n, (file, anonymizer, licenses, blackouts))| MTitle {
                id: format!("title-{n}"),
                file,
                anonymizer,
                licenses,
                blackouts,
            })
            .collect();
        // License ids are labels; keep them unique within a title as people would.
        for title in &mut titles {
            let mut seen = BTreeSet::new();
            for license in &mut title.licenses {
                if let Some(id) = &license.id
                    && !seen.insert(id.clone())
                {
                    license.id = None;
                }
            }
        }
        Model {
            files: vec!["a.toml", "sub/b.toml"],
            groups: vec![
                ("NORTH".into(), vec!["US".into(), "CA".into()]),
                (
                    "MIX".into(),
                    vec!["@NORTH".into(), "FR".into(), "DE-BY".into()],
                ),
            ],
            titles,
        }
    })
}

#[derive(Debug, Clone)]
struct Probe {
    country: Option<&'static str>,
    region: Option<&'static str>,
    anonymizer: bool,
    at: Timestamp,
    platform: Option<&'static str>,
    home: Option<&'static str>,
    allow_anonymizers: bool,
}

/// Times near every window end: whole and half hours up to 14 hours either side (every
/// zone's midnight), and a second before each.
fn probe_time() -> impl Strategy<Value = Timestamp> {
    let n = time_points().len();
    (0..n, -28i64..=28, any::<bool>()).prop_map(|(point, half_hours, just_before)| {
        let base = match time_points()[point] {
            MTime::Instant(at) => at,
            MTime::Date(date) => date
                .at(0, 0, 0, 0)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp(),
        };
        let at = base + SignedDuration::from_mins(30 * half_hours);
        if just_before {
            at - SignedDuration::from_secs(1)
        } else {
            at
        }
    })
}

fn probe() -> impl Strategy<Value = Probe> {
    let place = prop_oneof![
        1 => Just((None, None)),
        6 => (prop::sample::select(&COUNTRIES[..]), 0..3usize, any::<prop::sample::Index>()).prop_map(
            |(country, kind, pick)| {
                let named: Vec<&str> = REGIONS.iter().copied().filter(|r| r.starts_with(country)).collect();
                let other: Vec<&str> = OTHER_REGIONS.iter().copied().filter(|r| r.starts_with(country)).collect();
                let region = match kind {
                    1 if !named.is_empty() => Some(*pick.get(&named)),
                    2 if !other.is_empty() => Some(*pick.get(&other)),
                    _ => None,
                };
                (Some(country), region)
            }
        ),
    ];
    (
        place,
        prop::bool::weighted(0.2),
        probe_time(),
        prop::option::of(prop::sample::select(
            &["tv", "web", "mobile", "console"][..],
        )),
        prop::option::weighted(
            0.3,
            prop::sample::select(&["FR", "DE", "SE", "US", "NO"][..]),
        ),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |((country, region), anonymizer, at, platform, home, allow_anonymizers)| Probe {
                country,
                region,
                anonymizer,
                at,
                platform,
                home,
                allow_anonymizers,
            },
        )
}

fn load(model: &Model) -> Catalog {
    let files: Vec<_> = model
        .render()
        .iter()
        .map(|(path, text)| parse_file(path, text))
        .collect();
    let options = LoadOptions {
        now: "2026-06-01T00:00:00Z".parse().unwrap(),
        geoip_has_regions: None,
    };
    match validate(&files, &options) {
        Ok(catalog) => catalog,
        Err(error) => panic!(
            "generated catalog is valid: {:?}\n{:#?}",
            error.messages(),
            model.render()
        ),
    }
}

fn location(probe: &Probe) -> Location {
    let country = probe.country.and_then(CountryCode::parse);
    Location {
        country,
        region: probe.region.and_then(RegionCode::parse),
        source: if country.is_some() {
            LocationSource::Geoip
        } else {
            LocationSource::None
        },
        anonymizer: probe.anonymizer,
    }
}

fn query(catalog: &Catalog, probe: &Probe) -> Query {
    Query {
        at: probe.at,
        platform: probe
            .platform
            .map(|name| catalog.platform(name).expect("platform in vocabulary")),
        home: probe.home.and_then(CountryCode::parse),
        policy: if probe.allow_anonymizers {
            AnonymizerPolicy::Allow
        } else {
            AnonymizerPolicy::Deny
        },
    }
}

fn asked(probe: &Probe) -> Asked<'static> {
    Asked {
        country: probe.country,
        region: probe.region,
        anonymizer: probe.anonymizer,
        at: probe.at,
        platform: probe.platform,
        home: probe.home,
        policy_allows_anonymizers: probe.allow_anonymizers,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400)
}

#[test]
fn resolver_agrees_with_the_oracle_on_titles_batches_and_listings() {
    let seen = RefCell::new(BTreeSet::new());
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let strategy = (model(), prop::collection::vec(probe(), 24));
    let result = runner.run(&strategy, |(model, probes)| {
        let catalog = load(&model);
        for probe in &probes {
            let location = location(probe);
            let query = query(&catalog, probe);
            let mut expected_listing = Vec::new();
            // A batch: every title, in the model's order, under one location and query.
            for mtitle in &model.titles {
                let title = catalog
                    .title(&mtitle.id)
                    .expect("every model title is loaded");
                let got = resolve::title(&catalog, title, &location, &query);
                let want = oracle::decide(&model, mtitle, &asked(probe));
                prop_assert_eq!(
                    got.reason.as_str(),
                    want.reason,
                    "{:?} {:?}\n{}",
                    probe,
                    mtitle.id,
                    model
                        .render()
                        .iter()
                        .map(|f| f.1.clone())
                        .collect::<String>()
                );
                prop_assert_eq!(
                    got.license.map(|l| l.label().to_owned()),
                    want.license,
                    "{:?}",
                    probe
                );
                prop_assert_eq!(got.available_until, want.available_until, "{:?}", probe);
                prop_assert_eq!(got.available_from, want.available_from, "{:?}", probe);
                prop_assert_eq!(got.portability, want.portability, "{:?}", probe);
                seen.borrow_mut().insert(got.reason);
                if want.reason == "licensed" {
                    expected_listing.push(mtitle.id.clone());
                }
            }
            expected_listing.sort();
            let listing = resolve::available(&catalog, &location, &query, None, usize::MAX);
            let ids: Vec<String> = listing.titles.iter().map(|(t, _)| t.id.clone()).collect();
            prop_assert_eq!(&ids, &expected_listing, "{:?}", probe);
            // Pages of two, followed through `next_after`, give the same list.
            let mut paged = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = resolve::available(&catalog, &location, &query, after.as_deref(), 2);
                paged.extend(page.titles.iter().map(|(t, _)| t.id.clone()));
                match page.next_after {
                    Some(next) => after = Some(next.to_owned()),
                    None => break,
                }
            }
            prop_assert_eq!(&paged, &expected_listing);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let seen = seen.into_inner();
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .filter(|r| !seen.contains(r))
        .map(|r| r.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "the generator never produced: {missing:?}"
    );
}
