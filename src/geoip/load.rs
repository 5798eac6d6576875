//! MaxMind DB files -> `AddressRanges`: every network walked once with the `maxminddb`
//! reader, each distinct record decoded once, the result flattened into sorted ranges.
//!
//! Also detects which field holds the country. The reader is dropped when loading ends:
//! requests never decode a database.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::Ipv6Net;
use maxminddb::{LookupResult, MaxMindDbError, PathElement, Reader, WithinOptions};
use rustc_hash::FxHashMap;

use crate::diagnostic::Diagnostic;
use crate::geoip::index::{AddressRanges, Ranges};
use crate::geoip::{AnonymizerFlag, CountryCode, Location, LocationSource, RegionCode};

/// Why a source could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a usable MaxMind DB.
    #[error("{}: not a usable MaxMind DB file: {source}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: MaxMindDbError,
    },
    /// A MaxMind DB whose content geoavail cannot use.
    #[error("{}: {message}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong, lower case.
        message: String,
    },
    /// A hand-edited file with problems, each with its position.
    #[error("{}: {} problem(s)", path.display(), diagnostics.len())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
}

impl LoadError {
    /// One line per problem, as `/v1/status` and the CLI show them.
    pub fn messages(&self) -> Vec<String> {
        match self {
            LoadError::Invalid { diagnostics, .. } => {
                diagnostics.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// Where a database keeps the country code of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryField(Vec<String>);

impl CountryField {
    /// A dotted path such as `country.iso_code`; numeric parts index arrays.
    pub fn parse(dotted: &str) -> Option<CountryField> {
        let parts: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        parts
            .iter()
            .all(|part| !part.is_empty())
            .then_some(CountryField(parts))
    }

    /// `country.iso_code`, MaxMind's layout (also DB-IP's).
    pub fn maxmind() -> CountryField {
        CountryField(vec!["country".into(), "iso_code".into()])
    }

    /// `country_code`, the flat layout of ip-location-db and IPinfo.
    pub fn flat() -> CountryField {
        CountryField(vec!["country_code".into()])
    }

    fn path(&self) -> Vec<PathElement<'_>> {
        self.0
            .iter()
            .map(|part| match part.parse::<usize>() {
                Ok(idx) => PathElement::Index(idx),
                Err(_) => PathElement::Key(part),
            })
            .collect()
    }
}

impl std::fmt::Display for CountryField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// How to read a GeoIP database (`[geoip]` settings).
#[derive(Debug, Clone, Default)]
pub struct GeoipOptions {
    /// The country field; detected from the records when `None`.
    pub country_field: Option<CountryField>,
    /// Locate networks that only have a `registered_country` there.
    pub use_registered_country: bool,
}

/// What `/v1/status` and `/metrics` tell about a loaded database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// The file it came from.
    pub path: PathBuf,
    /// `database_type` from the metadata, such as `GeoLite2-City`.
    pub database_type: String,
    /// `build_epoch` from the metadata, seconds since the Unix epoch.
    pub build_epoch: u64,
    /// 4 or 6.
    pub ip_version: u16,
    /// Nodes in the search tree.
    pub node_count: u32,
    /// Networks with a record, as walked (IPv4 aliases count again).
    pub networks: usize,
    /// Ranges in the index after merging neighbours with equal answers.
    pub ranges: usize,
}

/// A GeoIP database turned into an index.
#[derive(Debug, Clone)]
pub struct GeoipDatabase {
    /// About the file.
    pub info: DatabaseInfo,
    /// The field the countries were read from.
    pub country_field: CountryField,
    /// True when some record carries a region (`subdivisions[0].iso_code`).
    pub has_regions: bool,
    /// `locations[0]` is the unknown location; the ranges hold positions in this table.
    locations: Vec<Location>,
    ranges: AddressRanges,
}

impl GeoipDatabase {
    /// Reads and indexes the database at `path`.
    pub fn load(path: &Path, options: &GeoipOptions) -> Result<GeoipDatabase, LoadError> {
        let bytes = read(path)?;
        GeoipDatabase::from_bytes(path, bytes, options)
    }

    /// Indexes a database already in memory; `path` only names it in messages.
    pub fn from_bytes(
        path: &Path,
        bytes: Vec<u8>,
        options: &GeoipOptions,
    ) -> Result<GeoipDatabase, LoadError> {
        let reader = open(path, bytes)?;
        let country_field = match &options.country_field {
            Some(field) => field.clone(),
            None => detect_country_field(&reader)
                .map_err(|source| database_error(path, source))?
                .ok_or_else(|| LoadError::Content {
                    path: path.to_owned(),
                    message: "no record has a country (looked for `country.iso_code`, \
                              `registered_country.iso_code` and `country_code`); \
                              set geoip.country_field"
                        .into(),
                })?,
        };
        let country_path = country_field.path();
        let mut locations = vec![Location::UNKNOWN];
        let mut location_ids: FxHashMap<Location, u32> = FxHashMap::default();
        location_ids.insert(Location::UNKNOWN, 0);
        let walked = walk(&reader, |result| {
            let location = read_location(result, &country_path, options.use_registered_country)?;
            let next_id = locations.len() as u32;
            if next_id > crate::geoip::index::MAX_VALUE {
                return Err(MaxMindDbError::invalid_database(
                    "the database has more distinct locations than an index can hold",
                ));
            }
            let id = *location_ids.entry(location).or_insert(next_id);
            if id == next_id {
                locations.push(location);
            }
            Ok(id)
        })
        .map_err(|source| database_error(path, source))?;
        let has_regions = locations.iter().any(|location| location.region.is_some());
        Ok(GeoipDatabase {
            info: info(path, &reader, &walked),
            country_field,
            has_regions,
            locations,
            ranges: walked.ranges,
        })
    }

    /// The database's answer for `ip` (never an override, never the anonymizer flag), by
    /// binary search: requests go through the `Locator`'s compiled index instead.
    pub fn locate(&self, ip: IpAddr) -> Location {
        self.locations[self.ranges.get(ip) as usize]
    }

    /// Every address mapped to a position in [`GeoipDatabase::locations`].
    pub fn ranges(&self) -> &AddressRanges {
        &self.ranges
    }

    /// The distinct locations of the database; the first is the unknown location.
    pub fn locations(&self) -> &[Location] {
        &self.locations
    }
}

/// An anonymizer database (MaxMind Anonymous IP layout) turned into an index of flag bits.
#[derive(Debug, Clone)]
pub struct AnonymizerDatabase {
    /// About the file.
    pub info: DatabaseInfo,
    /// Flag bits (see [`AnonymizerFlag::bit`]) for every address.
    ranges: AddressRanges,
}

impl AnonymizerDatabase {
    /// Reads and indexes the database at `path`.
    pub fn load(path: &Path) -> Result<AnonymizerDatabase, LoadError> {
        let bytes = read(path)?;
        AnonymizerDatabase::from_bytes(path, bytes)
    }

    /// Indexes a database already in memory; `path` only names it in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<AnonymizerDatabase, LoadError> {
        let reader = open(path, bytes)?;
        let mut any_flag_field = false;
        let walked = walk(&reader, |result| {
            let mut bits = 0;
            for flag in AnonymizerFlag::ALL {
                let value: Option<bool> = result.decode_path(&[PathElement::Key(flag.as_str())])?;
                any_flag_field |= value.is_some();
                if value == Some(true) {
                    bits |= flag.bit();
                }
            }
            Ok(u32::from(bits))
        })
        .map_err(|source| database_error(path, source))?;
        if !any_flag_field && walked.networks > 0 {
            return Err(LoadError::Content {
                path: path.to_owned(),
                message: "no record has an anonymizer flag such as `is_anonymous_vpn`; \
                          is this an Anonymous IP database?"
                    .into(),
            });
        }
        Ok(AnonymizerDatabase {
            info: info(path, &reader, &walked),
            ranges: walked.ranges,
        })
    }

    /// The flag bits set for `ip` (see [`AnonymizerFlag::bit`]), by binary search.
    pub fn flags(&self, ip: IpAddr) -> u8 {
        // Every value in the ranges came from a `u8` of flag bits.
        self.ranges.get(ip) as u8
    }

    /// Every address mapped to its flag bits.
    pub fn ranges(&self) -> &AddressRanges {
        &self.ranges
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

fn open(path: &Path, bytes: Vec<u8>) -> Result<Reader<Vec<u8>>, LoadError> {
    Reader::from_source(bytes).map_err(|source| database_error(path, source))
}

fn database_error(path: &Path, source: MaxMindDbError) -> LoadError {
    LoadError::Database {
        path: path.to_owned(),
        source,
    }
}

fn info(path: &Path, reader: &Reader<Vec<u8>>, walked: &Walked) -> DatabaseInfo {
    let metadata = reader.metadata();
    DatabaseInfo {
        path: path.to_owned(),
        database_type: metadata.database_type.clone(),
        build_epoch: metadata.build_epoch,
        ip_version: metadata.ip_version,
        node_count: metadata.node_count,
        networks: walked.networks,
        ranges: walked.ranges.len(),
    }
}

/// How many records to look at before giving up on finding a country field.
const DETECTION_SAMPLE: usize = 10_000;

/// The first layout seen among the first networks with data: MaxMind's `country.iso_code`
/// (also implied by `registered_country`) or the flat `country_code`.
fn detect_country_field(reader: &Reader<Vec<u8>>) -> Result<Option<CountryField>, MaxMindDbError> {
    let maxmind_paths: [&[PathElement<'_>]; 2] = [
        &[PathElement::Key("country"), PathElement::Key("iso_code")],
        &[
            PathElement::Key("registered_country"),
            PathElement::Key("iso_code"),
        ],
    ];
    let flat_path = [PathElement::Key("country_code")];
    for result in reader
        .networks(WithinOptions::default())?
        .take(DETECTION_SAMPLE)
    {
        let result = result?;
        for path in maxmind_paths {
            if result.decode_path::<String>(path)?.is_some() {
                return Ok(Some(CountryField::maxmind()));
            }
        }
        if result.decode_path::<String>(&flat_path)?.is_some() {
            return Ok(Some(CountryField::flat()));
        }
    }
    Ok(None)
}

fn read_location(
    result: &LookupResult<'_, Vec<u8>>,
    country_path: &[PathElement<'_>],
    use_registered_country: bool,
) -> Result<Location, MaxMindDbError> {
    let country: Option<String> = result.decode_path(country_path)?;
    let (country, source) = match country.as_deref().and_then(normalize_country) {
        Some(country) => (Some(country), LocationSource::Geoip),
        None if use_registered_country => {
            let registered: Option<String> = result.decode_path(&[
                PathElement::Key("registered_country"),
                PathElement::Key("iso_code"),
            ])?;
            match registered.as_deref().and_then(normalize_country) {
                Some(country) => (Some(country), LocationSource::RegisteredCountry),
                None => (None, LocationSource::None),
            }
        }
        None => (None, LocationSource::None),
    };
    // A region only means something inside the country it was read with.
    let region = match (country, source) {
        (Some(country), LocationSource::Geoip) => {
            let subdivision: Option<String> = result.decode_path(&[
                PathElement::Key("subdivisions"),
                PathElement::Index(0),
                PathElement::Key("iso_code"),
            ])?;
            subdivision.and_then(|code| RegionCode::from_parts(country, &code.to_ascii_uppercase()))
        }
        _ => None,
    };
    Ok(Location {
        country,
        region,
        source,
        anonymizer: false,
    })
}

/// Databases differ in case. A code that is not an assigned ISO 3166-1 country (`ZZ`, the old
/// `EU` and `AP` pseudo-countries, an empty string) means no country: a location nobody can
/// name must not count as "a known country" for `@WORLD`.
fn normalize_country(code: &str) -> Option<CountryCode> {
    CountryCode::parse(&code.trim().to_ascii_uppercase())
        .filter(|country| crate::iso3166::is_country(country.as_str()))
}

/// The ranges and what walking the tree counted.
struct Walked {
    ranges: AddressRanges,
    networks: usize,
}

/// Walks every network of the database once, calling `value_of` once per distinct record
/// (records are shared by offset), and builds ranges that answer exactly what
/// `reader.lookup` answers for every address. Addresses without data get `V::default()`.
///
/// The IPv4 and IPv6 trees are walked at the same time, one on each core; each walk numbers
/// the records it meets, and `value_of` then reads each record once, in the order the IPv4
/// walk and then the IPv6 walk first met them, so that the result is the same every time.
fn walk<F>(reader: &Reader<Vec<u8>>, mut value_of: F) -> Result<Walked, MaxMindDbError>
where
    F: FnMut(&LookupResult<'_, Vec<u8>>) -> Result<u32, MaxMindDbError>,
{
    let metadata = reader.metadata();
    // A damaged tree can share nodes so that a walk never ends in practice (every level
    // doubling the paths). A sound tree of n nodes has n + 1 leaves, and the IPv4 aliases of an
    // IPv6 database (`::ffff:0:0/96`, Teredo, 6to4) walk the IPv4 subtree a few times more.
    let budget = (metadata.node_count as usize + 1)
        .saturating_mul(8)
        .saturating_add(1024);
    let is_v6 = metadata.ip_version == 6;
    let (v4, v6) = crate::parallel::join(
        || walk_v4(reader, budget),
        || match is_v6 {
            true => walk_v6(reader, budget),
            false => Ok(Walk::new(budget)),
        },
    );
    let (mut v4, mut v6) = (v4?, v6?);
    // Each walk's record numbers, as values.
    let mut values: FxHashMap<usize, u32> = FxHashMap::default();
    let mut value_of_record = |record: &Record| -> Result<u32, MaxMindDbError> {
        if let Some(value) = values.get(&record.offset) {
            return Ok(*value);
        }
        let value = value_of(&reader.lookup(record.address)?)?;
        values.insert(record.offset, value);
        Ok(value)
    };
    let v4_values = v4
        .records
        .iter()
        .map(&mut value_of_record)
        .collect::<Result<Vec<u32>, _>>()?;
    let v6_values = v6
        .records
        .iter()
        .map(&mut value_of_record)
        .collect::<Result<Vec<u32>, _>>()?;
    for block in &mut v4.blocks {
        block.2 = v4_values[block.2 as usize];
    }
    for block in &mut v6.blocks {
        block.2 = v6_values[block.2 as usize];
    }
    let networks = v4.networks + v6.networks;
    let (v4_ranges, v6_ranges) = crate::parallel::join(
        || Ranges::from_blocks(v4.blocks, 0),
        || Ranges::from_blocks(v6.blocks, 0),
    );
    Ok(Walked {
        ranges: AddressRanges {
            v4: v4_ranges,
            v6: v6_ranges,
            v4_under_v6: is_v6,
        },
        networks,
    })
}

/// Every IPv4 network, as blocks numbered by record.
fn walk_v4(reader: &Reader<Vec<u8>>, budget: usize) -> Result<Walk<u32>, MaxMindDbError> {
    let mut walk = Walk::new(budget);
    let ipv4_all = ipnetwork::IpNetwork::V4(ipnetwork::Ipv4Network::new(0.into(), 0).expect("/0"));
    for result in reader.within(ipv4_all, everything())? {
        let result = result?;
        let network = result.network()?;
        let Some(record) = walk.record(&result, network.network())? else {
            continue;
        };
        let (first, last) = match network {
            ipnetwork::IpNetwork::V4(net) => (u32::from(net.network()), u32::from(net.broadcast())),
            // An IPv6 tree that ends above `::/96` answers every IPv4 address alike.
            ipnetwork::IpNetwork::V6(_) => (0, u32::MAX),
        };
        walk.blocks.push((first, last, record));
    }
    Ok(walk)
}

/// Every IPv6 network outside the IPv4 space, as blocks numbered by record.
fn walk_v6(reader: &Reader<Vec<u8>>, budget: usize) -> Result<Walk<u128>, MaxMindDbError> {
    let mut walk = Walk::new(budget);
    // `::/96` is answered from the IPv4 tree (the reader does the same) and `::ffff:0:0/96`
    // always reads as IPv4, so neither is walked again here.
    for part in ipv6_space_outside(&["::/96", "::ffff:0:0/96"]) {
        let cidr = ipnetwork::IpNetwork::V6(
            ipnetwork::Ipv6Network::new(part.network(), part.prefix_len())
                .expect("prefix lengths come from ipnet"),
        );
        let (part_first, part_last) = (u128::from(part.network()), u128::from(part.broadcast()));
        for result in reader.within(cidr, everything())? {
            let result = result?;
            let network = result.network()?;
            let Some(record) = walk.record(&result, network.network())? else {
                continue;
            };
            let ipnetwork::IpNetwork::V6(net) = network else {
                continue;
            };
            // A leaf above the part (the tree ended early) answers for the part only.
            let first = u128::from(net.network()).max(part_first);
            let last = u128::from(net.broadcast()).min(part_last);
            walk.blocks.push((first, last, record));
        }
    }
    Ok(walk)
}

/// Every network, aliases and networks without data included.
fn everything() -> WithinOptions {
    WithinOptions::default()
        .include_aliased_networks()
        .include_networks_without_data()
}

/// A record met by a walk: where it is, and an address that finds it.
struct Record {
    offset: usize,
    address: IpAddr,
}

/// The state of one walk: what is left of the budget, the records met and the blocks, each
/// with the number of its record.
struct Walk<K> {
    budget: usize,
    networks: usize,
    /// Record numbers by offset: asked once per network, so the hash is a cheap one.
    numbers: FxHashMap<usize, u32>,
    records: Vec<Record>,
    blocks: Vec<(K, K, u32)>,
}

impl<K> Walk<K> {
    fn new(budget: usize) -> Walk<K> {
        Walk {
            budget,
            networks: 0,
            numbers: FxHashMap::default(),
            records: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// The number of a walked network's record (met at `address`), or `None` for a network
    /// without data.
    fn record(
        &mut self,
        result: &LookupResult<'_, Vec<u8>>,
        address: IpAddr,
    ) -> Result<Option<u32>, MaxMindDbError> {
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            MaxMindDbError::invalid_database(
                "the search tree has far more networks than nodes: it is damaged",
            )
        })?;
        let Some(offset) = result.offset() else {
            return Ok(None);
        };
        self.networks += 1;
        let next = self.records.len() as u32;
        let number = *self.numbers.entry(offset).or_insert(next);
        if number == next {
            self.records.push(Record { offset, address });
        }
        Ok(Some(number))
    }
}

/// CIDR blocks covering the IPv6 space except `excluded`.
fn ipv6_space_outside(excluded: &[&str]) -> Vec<Ipv6Net> {
    let excluded: Vec<Ipv6Net> = excluded
        .iter()
        .map(|net| net.parse().expect("excluded networks are valid literals"))
        .collect();
    let mut parts = Vec::new();
    let mut pending = vec![Ipv6Net::default()];
    while let Some(net) = pending.pop() {
        if excluded.iter().any(|ex| ex.contains(&net)) {
            continue;
        }
        if excluded.iter().any(|ex| net.contains(ex)) {
            let halves = net
                .subnets(net.prefix_len() + 1)
                .expect("an excluded net is smaller");
            pending.extend(halves);
        } else {
            parts.push(net);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geoip::write::{Writer, record};

    fn load(writer: &Writer, options: &GeoipOptions) -> GeoipDatabase {
        let bytes = writer.to_bytes().unwrap();
        GeoipDatabase::from_bytes(Path::new("test.mmdb"), bytes, options).unwrap()
    }

    fn country(db: &GeoipDatabase, ip: &str) -> Option<String> {
        db.locate(ip.parse().unwrap())
            .country
            .map(|c| c.to_string())
    }

    #[test]
    fn the_space_outside_two_networks_is_covered_exactly_once() {
        let parts = ipv6_space_outside(&["::/96", "::ffff:0:0/96"]);
        let total: f64 = parts
            .iter()
            .map(|p| 2f64.powi(128 - p.prefix_len() as i32))
            .sum();
        assert_eq!(total, 2f64.powi(128) - 2.0 * 2f64.powi(32));
        assert!(
            parts
                .iter()
                .all(|p| !p.contains(&"::1.2.3.4".parse::<std::net::Ipv6Addr>().unwrap()))
        );
    }

    #[test]
    fn detects_the_maxmind_layout() {
        let mut writer = Writer::new("GeoIP2-City");
        writer
            .insert(
                "192.0.2.0/24".parse().unwrap(),
                record::maxmind(Some("US"), Some("CA"), None),
            )
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(db.country_field, CountryField::maxmind());
        let location = db.locate("192.0.2.1".parse().unwrap());
        assert_eq!(location.region.unwrap().as_str(), "US-CA");
        assert!(db.has_regions);
    }

    #[test]
    fn detects_the_flat_layout() {
        let mut writer = Writer::new("ip-location-db");
        writer
            .insert("2001:db8::/32".parse().unwrap(), record::flat("jp"))
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(db.country_field, CountryField::flat());
        assert_eq!(country(&db, "2001:db8::1").as_deref(), Some("JP"));
        assert!(!db.has_regions);
    }

    #[test]
    fn a_database_without_countries_is_refused() {
        let mut writer = Writer::new("ASN");
        writer
            .insert(
                "192.0.2.0/24".parse().unwrap(),
                crate::geoip::write::Value::map([("asn", crate::geoip::write::Value::U32(64500))]),
            )
            .unwrap();
        let error = GeoipDatabase::from_bytes(
            Path::new("asn.mmdb"),
            writer.to_bytes().unwrap(),
            &GeoipOptions::default(),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("asn.mmdb: no record has a country"),
            "{error}"
        );
    }

    #[test]
    fn registered_country_only_when_asked() {
        let mut writer = Writer::new("GeoIP2-Country");
        writer
            .insert(
                "192.0.2.0/24".parse().unwrap(),
                record::maxmind(None, None, Some("JP")),
            )
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(db.locate("192.0.2.1".parse().unwrap()), Location::UNKNOWN);
        let options = GeoipOptions {
            use_registered_country: true,
            ..GeoipOptions::default()
        };
        let location = load(&writer, &options).locate("192.0.2.1".parse().unwrap());
        assert_eq!(location.country.unwrap().as_str(), "JP");
        assert_eq!(location.source, LocationSource::RegisteredCountry);
    }

    #[test]
    fn codes_that_are_not_countries_are_unknown_locations() {
        let mut writer = Writer::new("Test");
        writer
            .insert("192.0.2.0/25".parse().unwrap(), record::flat("ZZ"))
            .unwrap();
        writer
            .insert("192.0.2.128/25".parse().unwrap(), record::flat("EU"))
            .unwrap();
        writer
            .insert("198.51.100.0/24".parse().unwrap(), record::flat("fr"))
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(db.locate("192.0.2.1".parse().unwrap()), Location::UNKNOWN);
        assert_eq!(db.locate("192.0.2.200".parse().unwrap()), Location::UNKNOWN);
        assert_eq!(country(&db, "198.51.100.1").as_deref(), Some("FR"));
    }

    #[test]
    fn ipv4_only_databases_answer_nothing_for_ipv6() {
        let mut writer = Writer::new("v4").ipv4_only();
        writer
            .insert("192.0.2.0/24".parse().unwrap(), record::flat("FR"))
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(country(&db, "192.0.2.1").as_deref(), Some("FR"));
        assert_eq!(country(&db, "::ffff:192.0.2.1").as_deref(), Some("FR"));
        assert_eq!(country(&db, "::192.0.2.1"), None);
    }

    #[test]
    fn ipv4_mapped_reads_ipv4_even_without_the_alias() {
        let mut writer = Writer::new("no-alias");
        writer
            .insert("192.0.2.0/24".parse().unwrap(), record::flat("FR"))
            .unwrap();
        let db = load(&writer, &GeoipOptions::default());
        assert_eq!(country(&db, "::ffff:192.0.2.1").as_deref(), Some("FR"));
        assert_eq!(country(&db, "::192.0.2.1").as_deref(), Some("FR"));
        assert_eq!(country(&db, "2002:c000:0201::"), None);
    }

    #[test]
    fn a_configured_country_field_is_used() {
        let mut writer = Writer::new("custom");
        let value = crate::geoip::write::Value::map([(
            "geo",
            crate::geoip::write::Value::map([("cc", crate::geoip::write::Value::str("DE"))]),
        )]);
        writer
            .insert("192.0.2.0/24".parse().unwrap(), value)
            .unwrap();
        let options = GeoipOptions {
            country_field: CountryField::parse("geo.cc"),
            ..GeoipOptions::default()
        };
        assert_eq!(
            country(&load(&writer, &options), "192.0.2.1").as_deref(),
            Some("DE")
        );
    }

    #[test]
    fn empty_and_garbage_files_are_refused_with_their_name() {
        for bytes in [Vec::new(), b"not a database".to_vec(), vec![0; 4096]] {
            let error =
                GeoipDatabase::from_bytes(Path::new("bad.mmdb"), bytes, &GeoipOptions::default())
                    .unwrap_err();
            assert!(error.to_string().starts_with("bad.mmdb: "), "{error}");
        }
    }
}
