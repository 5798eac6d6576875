//! The location index against the `maxminddb` reader on generated databases, overrides against
//! a longest-prefix scan, and damaged database files.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use geoavail::geoip::overrides::Override;
use geoavail::geoip::write::{RecordSize, Value, Writer, record};
use geoavail::geoip::{
    AnonymizerDatabase, CountryCode, GeoipDatabase, GeoipOptions, Location, LocationSource,
    Locator, Overrides, RegionCode, Sources,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use maxminddb::{PathElement, Reader};
use proptest::prelude::*;

use crate::support::repo_file;

const COUNTRIES: [&str; 5] = ["US", "CA", "DE", "JP", "BR"];
const SUBDIVISIONS: [&str; 3] = ["CA", "QC", "BY"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    MaxMind,
    Flat,
}

#[derive(Debug, Clone)]
struct DbSpec {
    layout: Layout,
    ipv4_only: bool,
    record_size: RecordSize,
    aliases: bool,
    networks: Vec<(IpNet, usize, Option<usize>)>,
}

impl DbSpec {
    fn bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new("Test-DB")
            .record_size(self.record_size)
            .ipv4_aliases(self.aliases);
        if self.ipv4_only {
            writer = writer.ipv4_only();
        }
        for (network, country, subdivision) in &self.networks {
            let country = COUNTRIES[*country];
            let value = match self.layout {
                Layout::MaxMind => {
                    record::maxmind(Some(country), subdivision.map(|s| SUBDIVISIONS[s]), None)
                }
                Layout::Flat => record::flat(country),
            };
            if let (true, IpNet::V6(_)) = (self.ipv4_only, network) {
                continue;
            }
            writer.insert(*network, value).unwrap();
        }
        writer.to_bytes().unwrap()
    }
}

/// What the reader says for `ip`, read the way geoavail reads a record, after the one rule
/// geoavail adds: an IPv4-mapped address is the IPv4 address.
fn reader_location(reader: &Reader<Vec<u8>>, layout: Layout, ip: IpAddr) -> Location {
    let Ok(result) = reader.lookup(ip.to_canonical()) else {
        return Location::UNKNOWN; // an IPv6 address in an IPv4-only database
    };
    let path: &[PathElement<'_>] = match layout {
        Layout::MaxMind => &[PathElement::Key("country"), PathElement::Key("iso_code")],
        Layout::Flat => &[PathElement::Key("country_code")],
    };
    let country: Option<String> = result.decode_path(path).unwrap();
    let Some(country) = country
        .as_deref()
        .and_then(CountryCode::parse)
        .filter(|c| geoavail::iso3166::is_country(c.as_str()))
    else {
        return Location::UNKNOWN;
    };
    let subdivision: Option<String> = result
        .decode_path(&[
            PathElement::Key("subdivisions"),
            PathElement::Index(0),
            PathElement::Key("iso_code"),
        ])
        .unwrap();
    Location {
        country: Some(country),
        region: subdivision.and_then(|s| RegionCode::from_parts(country, &s)),
        source: LocationSource::Geoip,
        anonymizer: false,
    }
}

fn ipv4_network() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), prop_oneof![0u8..=32, 8u8..=28, 20u8..=32])
        .prop_map(|(addr, len)| IpNet::V4(Ipv4Net::new(addr.into(), len).unwrap().trunc()))
}

/// IPv6 networks in the places that matter: ordinary space, the IPv4 aliases' ranges,
/// `::/96` and `::ffff:0:0/96`, and anywhere at all.
fn ipv6_network() -> impl Strategy<Value = IpNet> {
    let base = prop_oneof![
        Just(0x2001_0db8u128 << 96),
        Just(0x2002u128 << 112),
        Just(0x2001_0000u128 << 96),
        Just(0u128),
        Just(0xffffu128 << 32),
        any::<u128>(),
    ];
    (base, any::<u128>(), 0u8..=128).prop_map(|(base, noise, len)| {
        let addr = base | (noise >> 40);
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc())
    })
}

fn db_spec() -> impl Strategy<Value = DbSpec> {
    let network = prop_oneof![3 => ipv4_network(), 2 => ipv6_network()];
    (
        prop_oneof![Just(Layout::MaxMind), Just(Layout::Flat)],
        any::<bool>(),
        prop_oneof![
            Just(RecordSize::Bits24),
            Just(RecordSize::Bits28),
            Just(RecordSize::Bits32)
        ],
        any::<bool>(),
        prop::collection::vec(
            (
                network,
                0..COUNTRIES.len(),
                prop::option::of(0..SUBDIVISIONS.len()),
            ),
            0..40,
        ),
    )
        .prop_map(
            |(layout, ipv4_only, record_size, aliases, networks)| DbSpec {
                layout,
                ipv4_only,
                record_size,
                aliases,
                networks,
            },
        )
}

/// Addresses to probe: the edges and insides of the inserted networks, their IPv6 forms
/// (mapped, compatible, 6to4, Teredo), and random ones.
fn probes(networks: &[IpNet], random: &[u128]) -> Vec<IpAddr> {
    let mut probes = Vec::new();
    for network in networks {
        for addr in [network.network(), network.broadcast()] {
            probes.push(addr);
            if let IpAddr::V4(v4) = addr {
                let bits = u32::from(v4);
                probes.push(IpAddr::V6(v4.to_ipv6_mapped()));
                probes.push(IpAddr::V6(Ipv6Addr::from(u128::from(bits))));
                probes.push(IpAddr::V6(Ipv6Addr::from(
                    (0x2002u128 << 112) | (u128::from(bits) << 80),
                )));
                probes.push(IpAddr::V6(Ipv6Addr::from(
                    (0x2001_0000u128 << 96) | (u128::from(bits) << 64),
                )));
                probes.push(IpAddr::V4(Ipv4Addr::from(bits.wrapping_add(1))));
                probes.push(IpAddr::V4(Ipv4Addr::from(bits.wrapping_sub(1))));
            } else if let IpAddr::V6(v6) = addr {
                let bits = u128::from(v6);
                probes.push(IpAddr::V6(Ipv6Addr::from(bits.wrapping_add(1))));
                probes.push(IpAddr::V6(Ipv6Addr::from(bits.wrapping_sub(1))));
            }
        }
    }
    for &bits in random {
        probes.push(IpAddr::V6(Ipv6Addr::from(bits)));
        probes.push(IpAddr::V4(Ipv4Addr::from(bits as u32)));
        probes.push(IpAddr::V6(Ipv4Addr::from(bits as u32).to_ipv6_mapped()));
        // `::/64` beside the mapped and compatible ranges, which the index answers apart.
        probes.push(IpAddr::V6(Ipv6Addr::from(bits >> 64)));
    }
    for edge in [
        "::",
        "::1",
        "::ffff:ffff",
        "::1:0:0",
        "::fffe:ffff:ffff",
        "::1:0:0:0",
    ]
    .into_iter()
    .chain([
        "::ffff:0:0",
        "::ffff:ffff:ffff",
        "::1:ffff:1.2.3.4",
        "::ffff:ffff:ffff:ffff",
    ]) {
        probes.push(edge.parse().unwrap());
    }
    probes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn index_answers_what_the_reader_answers(
        spec in db_spec(),
        random in prop::collection::vec(any::<u128>(), 32),
    ) {
        let bytes = spec.bytes();
        let reader = Reader::from_source(bytes.clone()).unwrap();
        let db = GeoipDatabase::from_bytes(Path::new("gen.mmdb"), bytes, &GeoipOptions::default());
        let networks: Vec<IpNet> = spec.networks.iter().map(|n| n.0).collect();
        let db = match db {
            Ok(db) => db,
            // Refused, naming the file, only when no record has a country to detect: nothing
            // inserted, IPv6 networks left out of an IPv4-only file, or all replaced by aliases.
            Err(error) => {
                prop_assert!(error.to_string().starts_with("gen.mmdb: no record has a country"), "{}", error);
                for ip in probes(&networks, &random) {
                    prop_assert_eq!(reader_location(&reader, spec.layout, ip), Location::UNKNOWN);
                }
                return Ok(());
            }
        };
        // The database's own ranges, and the compiled index a locator answers from.
        let locator = Locator::new(only(db.clone()));
        for ip in probes(&networks, &random) {
            let expected = reader_location(&reader, spec.layout, ip);
            prop_assert_eq!(db.locate(ip), expected, "ranges at {}", ip);
            prop_assert_eq!(locator.locate(ip), expected, "index at {}", ip);
        }
    }
}

/// A locator with `db` alone: no overrides, no anonymizer database.
fn only(db: GeoipDatabase) -> Sources {
    Sources {
        geoip: Arc::new(db),
        overrides: Arc::new(Overrides::empty()),
        anonymizer: None,
        anonymizer_mask: 0,
    }
}

#[derive(Debug, Clone)]
struct OverrideSpec {
    network: IpNet,
    country: Option<usize>,
    anonymizer: Option<bool>,
}

fn override_spec() -> impl Strategy<Value = OverrideSpec> {
    // Networks nest often inside 10.0.0.0/8 and 2001:db8::/32.
    let network = prop_oneof![
        (any::<u32>(), 8u8..=32).prop_map(|(addr, len)| {
            let addr = (10u32 << 24) | (addr >> 8);
            IpNet::V4(Ipv4Net::new(addr.into(), len).unwrap().trunc())
        }),
        (any::<u128>(), 32u8..=64).prop_map(|(addr, len)| {
            let addr = (0x2001_0db8u128 << 96) | (addr >> 96 << 64);
            IpNet::V6(Ipv6Net::new(addr.into(), len).unwrap().trunc())
        }),
    ];
    (
        network,
        prop::option::of(0..COUNTRIES.len()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(network, country, anonymizer)| OverrideSpec {
            network,
            country,
            anonymizer,
        })
}

/// A plain reading of SPEC §1: the longest override containing the address decides the
/// country where it sets one and the flag where it sets one; the databases decide the rest.
fn expected_location(
    overrides: &[Override],
    db: &GeoipDatabase,
    anonymizer_db: &AnonymizerDatabase,
    ip: IpAddr,
) -> Location {
    let canonical = ip.to_canonical();
    let longest = overrides
        .iter()
        .filter(|entry| entry.network.contains(&canonical))
        .max_by_key(|entry| entry.network.prefix_len());
    let mut location = db.locate(ip);
    if let Some(Override {
        country: Some(country),
        region,
        ..
    }) = longest
    {
        location.country = Some(*country);
        location.region = *region;
        location.source = LocationSource::Override;
    }
    location.anonymizer = match longest.and_then(|entry| entry.anonymizer) {
        Some(flag) => flag,
        None => anonymizer_db.flags(ip) != 0,
    };
    location
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn overrides_beat_the_database_by_longest_prefix(
        specs in prop::collection::vec(override_spec(), 0..24),
        random in prop::collection::vec(any::<u32>(), 16),
    ) {
        let mut writer = Writer::new("Test-City");
        writer.insert("10.0.0.0/9".parse().unwrap(), record::maxmind(Some("JP"), None, None)).unwrap();
        writer.insert("2001:db8::/33".parse().unwrap(), record::maxmind(Some("BR"), None, None)).unwrap();
        let db = GeoipDatabase::from_bytes(Path::new("db"), writer.to_bytes().unwrap(), &GeoipOptions::default()).unwrap();
        let mut anonymous = Writer::new("Test-Anonymous-IP");
        anonymous.insert("10.128.0.0/9".parse().unwrap(), record::anonymous_ip(&["is_public_proxy"])).unwrap();
        let anonymizer_db = AnonymizerDatabase::from_bytes(Path::new("anon"), anonymous.to_bytes().unwrap()).unwrap();

        let mut entries: Vec<Override> = Vec::new();
        for spec in specs {
            if entries.iter().any(|entry| entry.network == spec.network) {
                continue;
            }
            let country = spec.country.map(|c| CountryCode::parse(COUNTRIES[c]).unwrap());
            if country.is_none() && spec.anonymizer.is_none() {
                continue;
            }
            entries.push(Override { network: spec.network, country, region: None, anonymizer: spec.anonymizer });
        }
        let locator = Locator::new(Sources {
            geoip: Arc::new(db.clone()),
            overrides: Arc::new(Overrides::new(entries.clone())),
            anonymizer: Some(Arc::new(anonymizer_db.clone())),
            anonymizer_mask: u8::MAX,
        });
        let networks: Vec<IpNet> = entries.iter().map(|entry| entry.network).collect();
        let random: Vec<u128> = random.iter().map(|r| (10u128 << 24) | u128::from(r >> 8)).collect();
        for ip in probes(&networks, &random) {
            prop_assert_eq!(locator.locate(ip), expected_location(&entries, &db, &anonymizer_db, ip), "at {}", ip);
        }
    }
}

/// Loading must end with an error naming the file, quickly, whatever the bytes.
fn assert_refused(bytes: Vec<u8>) {
    let started = Instant::now();
    let error =
        GeoipDatabase::from_bytes(Path::new("broken.mmdb"), bytes, &GeoipOptions::default())
            .expect_err("a damaged database is refused");
    assert!(error.to_string().starts_with("broken.mmdb: "), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

fn demo_bytes() -> Vec<u8> {
    std::fs::read(repo_file("geoip/demo.mmdb")).unwrap()
}

#[test]
fn empty_and_truncated_databases_are_refused() {
    let bytes = demo_bytes();
    assert_refused(Vec::new());
    // Cut inside the search tree, the data section and the metadata.
    for len in (0..bytes.len() - 1).step_by(97) {
        let result = GeoipDatabase::from_bytes(
            Path::new("broken.mmdb"),
            bytes[..len].to_vec(),
            &GeoipOptions::default(),
        );
        if let Err(error) = result {
            assert!(error.to_string().starts_with("broken.mmdb: "), "{error}");
        }
    }
    assert_refused(bytes[..bytes.len() / 2].to_vec());
}

#[test]
fn a_missing_file_is_named() {
    let error = GeoipDatabase::load(Path::new("/nonexistent/geo.mmdb"), &GeoipOptions::default())
        .unwrap_err();
    assert!(
        error.to_string().starts_with("/nonexistent/geo.mmdb: "),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let error = GeoipDatabase::load(dir.path(), &GeoipOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&dir.path().display().to_string()),
        "{error}"
    );
}

/// A database with a chain of 128 nodes down to one IPv6 address, 24-bit records.
fn chain_database() -> Vec<u8> {
    let mut writer = Writer::new("Test").record_size(RecordSize::Bits24);
    writer
        .insert("2001:db8::1/128".parse().unwrap(), record::flat("FR"))
        .unwrap();
    writer.to_bytes().unwrap()
}

fn set_record(bytes: &mut [u8], node: usize, side: usize, value: u32) {
    let at = node * 6 + side * 3;
    bytes[at..at + 3].copy_from_slice(&value.to_be_bytes()[1..]);
}

#[test]
fn a_search_tree_with_a_cycle_is_refused() {
    let mut bytes = chain_database();
    // Node 5 leads back to node 2.
    set_record(&mut bytes, 5, 0, 2);
    set_record(&mut bytes, 5, 1, 2);
    assert_refused(bytes);
}

#[test]
fn a_search_tree_whose_paths_multiply_is_refused() {
    let mut bytes = chain_database();
    // Every node points both ways at the next: 2^127 paths from 128 nodes.
    for node in 0..127 {
        set_record(&mut bytes, node, 0, node as u32 + 1);
        set_record(&mut bytes, node, 1, node as u32 + 1);
    }
    assert_refused(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn damaged_bytes_never_panic_or_hang(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = demo_bytes();
        for (at, value) in flips {
            let idx = at.index(bytes.len());
            bytes[idx] = value;
        }
        let started = Instant::now();
        let _ = GeoipDatabase::from_bytes(Path::new("flipped.mmdb"), bytes.clone(), &GeoipOptions::default());
        let _ = AnonymizerDatabase::from_bytes(Path::new("flipped.mmdb"), bytes);
        prop_assert!(started.elapsed() < Duration::from_secs(30));
    }
}

#[test]
fn the_demo_databases_are_built_from_their_source() {
    let source = std::fs::read_to_string(repo_file("geoip/demo-networks.toml")).unwrap();
    let built = geoavail::geoip::write::from_source(&source).unwrap();
    assert!(
        built.geoip == demo_bytes(),
        "geoip/demo.mmdb is stale: cargo run --example build-demo-geoip"
    );
    let anonymous = std::fs::read(repo_file("geoip/demo-anonymous.mmdb")).unwrap();
    assert!(
        built.anonymizer == anonymous,
        "geoip/demo-anonymous.mmdb is stale: cargo run --example build-demo-geoip"
    );
}

#[test]
fn an_anonymizer_database_that_is_not_one_is_refused() {
    let error = AnonymizerDatabase::load(&repo_file("geoip/demo.mmdb")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is this an Anonymous IP database?"),
        "{error}"
    );
}

#[test]
fn values_of_unexpected_types_are_refused_not_panicked_on() {
    let mut writer = Writer::new("Test");
    writer
        .insert(
            "192.0.2.0/24".parse().unwrap(),
            Value::map([("country_code", Value::U32(7))]),
        )
        .unwrap();
    let options = GeoipOptions {
        country_field: geoavail::geoip::load::CountryField::parse("country_code"),
        ..GeoipOptions::default()
    };
    let error =
        GeoipDatabase::from_bytes(Path::new("odd.mmdb"), writer.to_bytes().unwrap(), &options)
            .unwrap_err();
    assert!(error.to_string().starts_with("odd.mmdb: "), "{error}");
}

/// With `GEOAVAIL_TEST_MMDB=/path/to/real.mmdb`, compares the index with the reader on that
/// file for a million random addresses (IPv4, IPv6 inside 2000::/3, IPv4-mapped). Without it,
/// there is nothing to compare and the test checks the demo database instead.
#[test]
fn a_real_database_agrees_with_the_reader() {
    let path = std::env::var_os("GEOAVAIL_TEST_MMDB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_file("geoip/demo.mmdb"));
    let bytes = std::fs::read(&path).unwrap();
    let reader = Reader::from_source(bytes.clone()).unwrap();
    let db = GeoipDatabase::from_bytes(&path, bytes, &GeoipOptions::default()).unwrap();
    let locator = Locator::new(only(db.clone()));
    let layout = if db.country_field.to_string() == "country_code" {
        Layout::Flat
    } else {
        Layout::MaxMind
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: reproducible addresses without another dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for _ in 0..1_000_000 {
        let v4 = Ipv4Addr::from(next() as u32);
        let v6 =
            Ipv6Addr::from((0x2u128 << 125) | (u128::from(next()) << 64 >> 3) | u128::from(next()));
        for ip in [
            IpAddr::V4(v4),
            IpAddr::V6(v6),
            IpAddr::V6(v4.to_ipv6_mapped()),
        ] {
            let mut expected = reader_location(&reader, layout, ip);
            // The reader's region for a flat database is absent; for MaxMind it is as read.
            if layout == Layout::Flat {
                expected.region = None;
            }
            assert_eq!(db.locate(ip), expected, "ranges at {ip}");
            assert_eq!(locator.locate(ip), expected, "index at {ip}");
        }
    }
}
