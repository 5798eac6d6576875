//! Synthetic data of realistic shape for benchmarks and load tests, deterministic by seed:
//! catalogs of N titles over M files (several licenses per title, groups, exclusions, regions,
//! windows in every kind of time, blackouts, platforms) and GeoIP databases of real size.

#![allow(dead_code)]

use std::path::Path;

use geoavail::geoip::write::{RecordSize, Writer, record};
use ipnet::{IpNet, Ipv4Net, Ipv6Subnets};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const COUNTRIES: [&str; 40] = [
    "US", "CA", "MX", "BR", "AR", "GB", "IE", "FR", "DE", "AT", "CH", "IT", "ES", "PT", "NL", "BE",
    "LU", "DK", "SE", "NO", "FI", "IS", "PL", "CZ", "HU", "RO", "GR", "TR", "JP", "KR", "IN", "AU",
    "NZ", "SG", "ZA", "EG", "NG", "KE", "AE", "IL",
];
const REGIONS: [&str; 12] = [
    "US-CA", "US-NY", "US-TX", "CA-QC", "CA-ON", "DE-BY", "FR-IDF", "GB-ENG", "GB-SCT", "AU-NSW",
    "ES-CT", "IT-25",
];
const GROUPS: [&str; 5] = ["@EU", "@WORLD", "@NORDICS", "@DACH", "@AMERICAS"];
const PLATFORMS: [&str; 5] = ["tv", "web", "mobile", "tablet", "console"];
const ZONES: [&str; 4] = [
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
];

/// The catalog files: (path relative to the catalog folder, text).
pub(crate) fn catalog_files(titles: usize, files: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out: Vec<(String, String)> = (0..files)
        .map(|n| {
            (
                format!("studio-{:02}/part-{n:04}.toml", n % 20),
                String::new(),
            )
        })
        .collect();
    out[0].1.push_str(
        "[groups]\nNORDICS = [\"DK\", \"FI\", \"IS\", \"NO\", \"SE\"]\nDACH = [\"DE\", \"AT\", \"CH\"]\n\
         AMERICAS = [\"US\", \"CA\", \"MX\", \"BR\", \"AR\"]\n\n",
    );
    for n in 0..titles {
        let text = &mut out[n % files].1;
        text.push_str(&format!(
            "[[titles]]\nid = \"title-{n:06}\"\nname = \"Title {n}\"\n"
        ));
        if rng.random_bool(0.03) {
            text.push_str("anonymizer = \"allow\"\n");
        }
        for license in 0..rng.random_range(1..=4usize) {
            text.push_str("[[titles.licenses]]\n");
            if rng.random_bool(0.7) {
                text.push_str(&format!("id = \"lic-{n}-{license}\"\n"));
            }
            text.push_str(&format!("territories = {}\n", territories(&mut rng)));
            if rng.random_bool(0.1) {
                let excluded = if rng.random_bool(0.5) {
                    REGIONS[rng.random_range(0..REGIONS.len())]
                } else {
                    COUNTRIES[rng.random_range(0..COUNTRIES.len())]
                };
                text.push_str(&format!("exclude = [\"{excluded}\"]\n"));
            }
            window(&mut rng, text);
            if rng.random_bool(0.3) {
                let first = rng.random_range(0..PLATFORMS.len() - 1);
                text.push_str(&format!(
                    "platforms = [\"{}\", \"{}\"]\n",
                    PLATFORMS[first],
                    PLATFORMS[first + 1]
                ));
            }
        }
        if rng.random_bool(0.05) {
            let month = rng.random_range(1..=12);
            text.push_str(&format!(
                "[[titles.blackouts]]\nterritories = [\"{}\"]\nstart = 2027-{month:02}-01T18:00:00Z\nend = 2027-{month:02}-01T22:00:00Z\nreason = \"broadcast exclusivity\"\n",
                REGIONS[rng.random_range(0..REGIONS.len())],
            ));
        }
        text.push('\n');
    }
    out
}

fn territories(rng: &mut StdRng) -> String {
    let mut picked = Vec::new();
    match rng.random_range(0..100) {
        0..10 => picked.push("@WORLD".to_owned()),
        10..25 => picked.push(GROUPS[rng.random_range(0..GROUPS.len())].to_owned()),
        25..30 => picked.push(REGIONS[rng.random_range(0..REGIONS.len())].to_owned()),
        _ => {
            for _ in 0..rng.random_range(1..=8) {
                picked.push(COUNTRIES[rng.random_range(0..COUNTRIES.len())].to_owned());
            }
        }
    }
    picked.sort();
    picked.dedup();
    let quoted: Vec<String> = picked.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn window(rng: &mut StdRng, text: &mut String) {
    let start_year = rng.random_range(2020..=2027);
    let end_year = start_year + rng.random_range(1..=6);
    let (month, day) = (rng.random_range(1..=12), rng.random_range(1..=28));
    match rng.random_range(0..10) {
        0 => {}
        1..=5 => text.push_str(&format!(
            "start = {start_year}-{month:02}-{day:02}T00:00:00Z\nend = {end_year}-{month:02}-01T00:00:00Z\n"
        )),
        6..=7 => text.push_str(&format!(
            "start = {start_year}-{month:02}-{day:02}\nend = {end_year}-01-01\ntimezone = \"territory\"\n"
        )),
        _ => text.push_str(&format!(
            "start = {start_year}-{month:02}-{day:02}\ntimezone = \"{}\"\n",
            ZONES[rng.random_range(0..ZONES.len())]
        )),
    }
}

/// Writes the catalog files under `dir`.
pub(crate) fn write_catalog(
    dir: &Path,
    titles: usize,
    files: usize,
    seed: u64,
) -> std::io::Result<()> {
    for (path, text) in catalog_files(titles, files, seed) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("files are in folders"))?;
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Where the registries allocate IPv6 space, as real databases have it: the first /20 block
/// of each run (its top 20 bits) and how many /20 blocks the run's allocations fill, from the
/// bottom of the registry's block up. 692 blocks, against the 764 of 131,072 in 2000::/3
/// that hold networks in ip-location-db's country database; the rest of 2000::/3 holds none.
const ALLOCATED: [(u32, u32); 8] = [
    (0x20010, 16),  // 2001::/16, the first allocations of every registry
    (0x20030, 4),   // 2003::/18
    (0x24000, 128), // APNIC, 2400::/12
    (0x26000, 128), // ARIN, 2600::/12
    (0x28000, 64),  // LACNIC, 2800::/12
    (0x2a000, 256), // RIPE NCC, 2a00::/12
    (0x2a100, 64),  // RIPE NCC, 2a10::/12
    (0x2c000, 32),  // AFRINIC, 2c00::/12
];

/// A country database (flat layout, as ip-location-db's) from `v4` IPv4 networks and `v6` IPv6
/// ranges drawn (an IPv6 range that starts inside an earlier one is dropped, each kept one is
/// written as the one or two networks that cover it), prefix lengths mixed as in real
/// allocations, IPv6 where the registries allocate.
pub(crate) fn mmdb(v4: usize, v6: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writer = Writer::new("synthetic-country").record_size(RecordSize::Bits32);
    let country = |rng: &mut StdRng| record::flat(COUNTRIES[rng.random_range(0..COUNTRIES.len())]);
    for _ in 0..v4 {
        let len = match rng.random_range(0..100) {
            0..5 => rng.random_range(8..=16),
            5..40 => rng.random_range(17..=22),
            _ => rng.random_range(23..=24),
        };
        let addr: u32 = rng.random_range(0x0100_0000..0xe000_0000);
        let network = IpNet::V4(
            Ipv4Net::new(addr.into(), len)
                .expect("valid length")
                .trunc(),
        );
        let value = country(&mut rng);
        writer.insert(network, value).expect("IPv6 database");
    }
    let allocated =
        WeightedIndex::new(ALLOCATED.map(|(_, blocks)| blocks)).expect("positive weights");
    let mut v6_ranges: Vec<(u128, u128)> = (0..v6)
        .map(|_| {
            // As ip-location-db's: one in a thousand wider than /29, a tenth /29 to /32,
            // the rest down to /64; some two or three such blocks long.
            let len = match rng.random_range(0..1000) {
                0..1 => rng.random_range(19..=28),
                1..100 => rng.random_range(29..=32),
                100..450 => rng.random_range(33..=48),
                _ => rng.random_range(49..=64),
            };
            let (first, blocks) = ALLOCATED[allocated.sample(&mut rng)];
            // Registries hand out /32s from the bottom of a block up, their holders /48s from
            // the bottom of their /32 and /64s from the bottom of their /48: only the first
            // of each are taken.
            let block = u128::from(first + rng.random_range(0..blocks)) << 108;
            let holder = rng.random_range(0..1024u128) << 96;
            let site = rng.random_range(0..256u128) << 80;
            let subnet = rng.random_range(0..256u128) << 64;
            let size = 1u128 << (128 - len);
            let start = (block | holder | site | subnet) & !(size - 1);
            (start, start + size * rng.random_range(1..=3) - 1)
        })
        .collect();
    // Ranges of the registries' data do not overlap: in address order, each that starts
    // inside the one kept before it is dropped.
    v6_ranges.sort_unstable();
    let mut last_end = None;
    for (start, end) in v6_ranges {
        if last_end.is_some_and(|last_end| start <= last_end) {
            continue;
        }
        last_end = Some(end);
        let value = country(&mut rng);
        for network in Ipv6Subnets::new(start.into(), end.into(), 0) {
            writer
                .insert(IpNet::V6(network), value.clone())
                .expect("IPv6 database");
        }
    }
    writer.to_bytes().expect("32-bit records address any size")
}
