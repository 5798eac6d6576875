//! Writing MaxMind DB files: the demo database and every test fixture come from here.
//!
//! The format is small enough to write directly (a binary search tree, a data section of typed
//! values, a metadata map), and owning the writer lets fixtures cover what third-party writers
//! rarely offer: every record size, IPv4-only trees, the IPv4 aliases real databases carry, and
//! deliberately damaged files. Reading is never done here; the `maxminddb` reader checks the
//! output in the tests below.

use std::collections::{BTreeMap, HashMap};

use ipnet::{IpNet, Ipv6Net};

/// A value in the data section. Only the types geoavail's fixtures need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UTF-8 string.
    Str(String),
    /// An unsigned 16-bit integer.
    U16(u16),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// A boolean.
    Bool(bool),
    /// A double-precision float.
    Double(f64),
    /// An array.
    Array(Vec<Value>),
    /// A map with string keys, written in key order.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string.
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

/// The layouts of record that geoavail reads, built the way the real databases build them.
pub mod record {
    use super::Value;

    /// MaxMind GeoIP2 Country/City layout: `country.iso_code`, optional `subdivisions[0]`
    /// (the code after the dash, as MaxMind stores it) and `registered_country`.
    pub fn maxmind(
        country: Option<&str>,
        subdivision: Option<&str>,
        registered_country: Option<&str>,
    ) -> Value {
        let mut entries = Vec::new();
        if let Some(country) = country {
            entries.push(("country", iso_map(country)));
        }
        if let Some(registered) = registered_country {
            entries.push(("registered_country", iso_map(registered)));
        }
        if let Some(subdivision) = subdivision {
            entries.push((
                "subdivisions",
                Value::Array(vec![Value::map([("iso_code", Value::str(subdivision))])]),
            ));
        }
        Value::map(entries)
    }

    /// The flat layout of ip-location-db and IPinfo: `{"country_code": "FR"}`.
    pub fn flat(country_code: &str) -> Value {
        Value::map([("country_code", Value::str(country_code))])
    }

    /// MaxMind Anonymous IP layout: each named flag set to true.
    pub fn anonymous_ip(flags: &[&str]) -> Value {
        Value::map(flags.iter().map(|flag| (*flag, Value::Bool(true))))
    }

    fn iso_map(code: &str) -> Value {
        Value::map([
            ("iso_code", Value::str(code)),
            ("geoname_id", Value::U32(1)),
            ("names", Value::map([("en", Value::str(code))])),
        ])
    }
}

/// Bits per search-tree record; decides how many nodes and how much data a file can address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSize {
    /// 24-bit records, 6 bytes per node.
    Bits24,
    /// 28-bit records, 7 bytes per node (MaxMind's usual choice).
    Bits28,
    /// 32-bit records, 8 bytes per node.
    Bits32,
}

impl RecordSize {
    fn bits(self) -> u32 {
        match self {
            RecordSize::Bits24 => 24,
            RecordSize::Bits28 => 28,
            RecordSize::Bits32 => 32,
        }
    }
}

/// Why a database could not be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// An IPv6 network was inserted into an IPv4-only database.
    #[error("cannot insert IPv6 network {0} into an IPv4-only database")]
    Ipv6InIpv4Database(IpNet),
    /// The tree or data section needs more than the record size can address.
    #[error("{0}-bit records cannot address this database; use a larger record size")]
    RecordTooSmall(u32),
    /// A string, map or array is larger than the format allows.
    #[error("a value is larger than the MaxMind DB format allows")]
    ValueTooLarge,
}

/// Where a tree record leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a MaxMind DB file in memory. Later inserts win where networks overlap.
#[derive(Debug, Clone)]
pub struct Writer {
    database_type: String,
    ip_version: u16,
    record_size: RecordSize,
    build_epoch: u64,
    ipv4_aliases: bool,
    /// Node 0 is the root; a node's records point at other nodes, data or nothing.
    nodes: Vec<[Record; 2]>,
    values: Vec<Value>,
}

impl Writer {
    /// An IPv6 database (IPv4 networks live under `::/96`) with 28-bit records and no aliases.
    pub fn new(database_type: &str) -> Writer {
        Writer {
            database_type: database_type.to_owned(),
            ip_version: 6,
            record_size: RecordSize::Bits28,
            build_epoch: 0,
            ipv4_aliases: false,
            nodes: vec![[Record::Empty; 2]],
            values: Vec::new(),
        }
    }

    /// Makes the database IPv4-only (`ip_version` 4). Call before inserting.
    pub fn ipv4_only(mut self) -> Writer {
        self.ip_version = 4;
        self
    }

    /// Sets the record size.
    pub fn record_size(mut self, record_size: RecordSize) -> Writer {
        self.record_size = record_size;
        self
    }

    /// Sets the build time stored in the metadata, in seconds since the Unix epoch.
    pub fn build_epoch(mut self, build_epoch: u64) -> Writer {
        self.build_epoch = build_epoch;
        self
    }

    /// Points `::ffff:0:0/96` (IPv4-mapped), `2001::/32` (Teredo) and `2002::/16` (6to4) at the
    /// IPv4 subtree, as MaxMind's own databases do. Only meaningful for IPv6 databases.
    pub fn ipv4_aliases(mut self, enabled: bool) -> Writer {
        self.ipv4_aliases = enabled;
        self
    }

    /// Maps every address of `network` to `value`, replacing what earlier inserts said there.
    pub fn insert(&mut self, network: IpNet, value: Value) -> Result<(), WriteError> {
        let (bits, prefix_len) = match network.trunc() {
            IpNet::V4(v4) if self.ip_version == 4 => {
                (u128::from(u32::from(v4.addr())) << 96, v4.prefix_len())
            }
            IpNet::V4(v4) => (u128::from(u32::from(v4.addr())), v4.prefix_len() + 96),
            IpNet::V6(_) if self.ip_version == 4 => {
                return Err(WriteError::Ipv6InIpv4Database(network));
            }
            IpNet::V6(v6) => (u128::from(v6.addr()), v6.prefix_len()),
        };
        let value_idx = self.values.len();
        self.values.push(value);
        self.set(bits, prefix_len, Record::Data(value_idx));
        Ok(())
    }

    /// The finished file: search tree, separator, data section, metadata.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut writer = self.clone();
        if writer.ipv4_aliases && writer.ip_version == 6 {
            writer.add_ipv4_aliases();
        }
        writer.encode()
    }

    fn add_ipv4_aliases(&mut self) {
        let ipv4_root = self.descend(0, 96);
        for alias in ["::ffff:0:0/96", "2001::/32", "2002::/16"] {
            let alias: Ipv6Net = alias.parse().expect("alias networks are valid literals");
            self.set(u128::from(alias.addr()), alias.prefix_len(), ipv4_root);
        }
    }

    /// Walks from the root along `bits` to depth `prefix_len`, splitting leaves on the way,
    /// and sets the record found there. The replaced subtree becomes unreachable.
    fn set(&mut self, bits: u128, prefix_len: u8, record: Record) {
        let mut node = 0;
        for depth in 0..prefix_len {
            let bit = bit_at(bits, depth);
            if depth + 1 == prefix_len {
                self.nodes[node][bit] = record;
                return;
            }
            node = self.split(node, bit);
        }
        // A /0 network replaces the whole tree.
        self.nodes[0] = [record; 2];
    }

    /// The record reached from the root along `bits` zero bits (only used for `::/96`).
    fn descend(&mut self, bits: u128, depth: u8) -> Record {
        let mut node = 0;
        for d in 0..depth - 1 {
            node = self.split(node, bit_at(bits, d));
        }
        self.nodes[node][bit_at(bits, depth - 1)]
    }

    /// Makes the `bit` child of `node` an inner node, copying a leaf into both halves.
    fn split(&mut self, node: usize, bit: usize) -> usize {
        match self.nodes[node][bit] {
            Record::Node(child) => child,
            leaf => {
                let child = self.nodes.len();
                self.nodes.push([leaf; 2]);
                self.nodes[node][bit] = Record::Node(child);
                child
            }
        }
    }

    fn encode(&self) -> Result<Vec<u8>, WriteError> {
        // The data section holds each distinct value once; the tree points at those offsets.
        let mut data = Vec::new();
        let mut offset_of_encoding: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut value_offsets = Vec::with_capacity(self.values.len());
        for value in &self.values {
            let mut encoded = Vec::new();
            encode_value(value, &mut encoded)?;
            let offset = *offset_of_encoding
                .entry(encoded)
                .or_insert_with_key(|encoded| {
                    let offset = data.len();
                    data.extend_from_slice(encoded);
                    offset
                });
            value_offsets.push(offset);
        }

        let node_count = self.nodes.len();
        let max_record = (1u64 << self.record_size.bits()) - 1;
        let to_number = |record: Record| -> Result<u32, WriteError> {
            let number = match record {
                Record::Node(idx) => idx as u64,
                Record::Empty => node_count as u64,
                Record::Data(idx) => (node_count + 16 + value_offsets[idx]) as u64,
            };
            if number > max_record {
                return Err(WriteError::RecordTooSmall(self.record_size.bits()));
            }
            Ok(number as u32)
        };

        let mut out = Vec::new();
        for [left, right] in &self.nodes {
            let (left, right) = (to_number(*left)?, to_number(*right)?);
            match self.record_size {
                RecordSize::Bits24 => {
                    out.extend_from_slice(&left.to_be_bytes()[1..]);
                    out.extend_from_slice(&right.to_be_bytes()[1..]);
                }
                RecordSize::Bits28 => {
                    out.extend_from_slice(&left.to_be_bytes()[1..]);
                    out.push((((left >> 24) & 0x0f) << 4) as u8 | ((right >> 24) & 0x0f) as u8);
                    out.extend_from_slice(&right.to_be_bytes()[1..]);
                }
                RecordSize::Bits32 => {
                    out.extend_from_slice(&left.to_be_bytes());
                    out.extend_from_slice(&right.to_be_bytes());
                }
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(METADATA_MARKER);
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(self.build_epoch)),
            ("database_type", Value::Str(self.database_type.clone())),
            (
                "description",
                Value::map([("en", Value::str("written by geoavail"))]),
            ),
            ("ip_version", Value::U16(self.ip_version)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(node_count as u32)),
            ("record_size", Value::U16(self.record_size.bits() as u16)),
        ]);
        encode_value(&metadata, &mut out)?;
        Ok(out)
    }
}

/// The two databases described by a readable source file such as `geoip/demo-networks.toml`.
#[derive(Debug)]
pub struct SourceDatabases {
    /// GeoIP2-City layout: country, region, registered country.
    pub geoip: Vec<u8>,
    /// Anonymous IP layout: the networks that carry anonymizer flags.
    pub anonymizer: Vec<u8>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    build_epoch: u64,
    network: Vec<SourceNetwork>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceNetwork {
    network: IpNet,
    country: Option<String>,
    region: Option<String>,
    registered_country: Option<String>,
    #[serde(default)]
    anonymizer: Vec<crate::geoip::AnonymizerFlag>,
}

/// Builds the databases a source file describes. Deterministic: the same text gives the same
/// bytes, so the committed demo database can be checked against its source.
pub fn from_source(text: &str) -> Result<SourceDatabases, String> {
    let source: Source = toml::from_str(text).map_err(|error| error.to_string())?;
    let mut geoip = Writer::new("GeoIP2-City")
        .build_epoch(source.build_epoch)
        .ipv4_aliases(true);
    let mut anonymizer = Writer::new("GeoIP2-Anonymous-IP").build_epoch(source.build_epoch);
    for entry in &source.network {
        // Regions are written as MaxMind does: the part after the country and the dash.
        let subdivision = match (&entry.country, &entry.region) {
            (Some(country), Some(region)) => {
                Some(region.strip_prefix(&format!("{country}-")).ok_or_else(|| {
                    format!("{}: region {region} is not in {country}", entry.network)
                })?)
            }
            (None, Some(region)) => {
                return Err(format!(
                    "{}: region {region} without a country",
                    entry.network
                ));
            }
            _ => None,
        };
        if entry.country.is_some() || entry.registered_country.is_some() {
            let value = record::maxmind(
                entry.country.as_deref(),
                subdivision,
                entry.registered_country.as_deref(),
            );
            geoip
                .insert(entry.network, value)
                .map_err(|e| e.to_string())?;
        }
        if !entry.anonymizer.is_empty() {
            let flags: Vec<&str> = entry.anonymizer.iter().map(|flag| flag.as_str()).collect();
            anonymizer
                .insert(entry.network, record::anonymous_ip(&flags))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(SourceDatabases {
        geoip: geoip.to_bytes().map_err(|e| e.to_string())?,
        anonymizer: anonymizer.to_bytes().map_err(|e| e.to_string())?,
    })
}

/// Marks the start of the metadata section, as the format defines it.
pub const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

fn bit_at(bits: u128, depth: u8) -> usize {
    ((bits >> (127 - depth)) & 1) as usize
}

fn encode_value(value: &Value, out: &mut Vec<u8>) -> Result<(), WriteError> {
    match value {
        Value::Str(s) => {
            encode_header(2, s.len(), out)?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            encode_header(3, 8, out)?;
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => encode_uint(5, u64::from(*n), out)?,
        Value::U32(n) => encode_uint(6, u64::from(*n), out)?,
        Value::Map(entries) => {
            encode_header(7, entries.len(), out)?;
            for (key, value) in entries {
                encode_header(2, key.len(), out)?;
                out.extend_from_slice(key.as_bytes());
                encode_value(value, out)?;
            }
        }
        Value::U64(n) => encode_uint(9, *n, out)?,
        Value::Array(items) => {
            encode_header(11, items.len(), out)?;
            for item in items {
                encode_value(item, out)?;
            }
        }
        Value::Bool(b) => encode_header(14, usize::from(*b), out)?,
    }
    Ok(())
}

/// Unsigned integers are stored big-endian in as few bytes as they need.
fn encode_uint(type_num: u8, n: u64, out: &mut Vec<u8>) -> Result<(), WriteError> {
    let bytes = n.to_be_bytes();
    let skip = (n.leading_zeros() / 8) as usize;
    encode_header(type_num, 8 - skip, out)?;
    out.extend_from_slice(&bytes[skip..]);
    Ok(())
}

/// The control byte (type in the top three bits, types above 7 "extended" into a second byte)
/// followed by the size, which grows into one to three extra bytes past 28.
fn encode_header(type_num: u8, size: usize, out: &mut Vec<u8>) -> Result<(), WriteError> {
    let type_bits = if type_num <= 7 { type_num << 5 } else { 0 };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        65_821..16_843_037 => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
        _ => return Err(WriteError::ValueTooLarge),
    };
    out.push(type_bits | size_bits);
    if type_num > 7 {
        out.push(type_num - 7);
    }
    out.extend_from_slice(&extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use maxminddb::{PathElement, Reader};

    use super::*;

    fn country_at(bytes: &[u8], ip: &str) -> Option<String> {
        let reader = Reader::from_source(bytes).expect("written database opens");
        let result = reader.lookup(ip.parse::<IpAddr>().unwrap()).unwrap();
        result
            .decode_path(&[PathElement::Key("country_code")])
            .unwrap()
    }

    fn flat_db(record_size: RecordSize, networks: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = Writer::new("Test-Country").record_size(record_size);
        for (network, country) in networks {
            writer
                .insert(network.parse().unwrap(), record::flat(country))
                .unwrap();
        }
        writer.to_bytes().unwrap()
    }

    #[test]
    fn every_record_size_reads_back() {
        for size in [RecordSize::Bits24, RecordSize::Bits28, RecordSize::Bits32] {
            let bytes = flat_db(size, &[("192.0.2.0/24", "FR"), ("2001:db8::/32", "JP")]);
            assert_eq!(country_at(&bytes, "192.0.2.9").as_deref(), Some("FR"));
            assert_eq!(country_at(&bytes, "2001:db8::1").as_deref(), Some("JP"));
            assert_eq!(country_at(&bytes, "198.51.100.1"), None);
            Reader::from_source(&bytes[..]).unwrap().verify().unwrap();
        }
    }

    #[test]
    fn later_insert_wins_inside_an_earlier_network() {
        let bytes = flat_db(
            RecordSize::Bits28,
            &[("10.0.0.0/8", "US"), ("10.1.0.0/16", "CA")],
        );
        assert_eq!(country_at(&bytes, "10.1.2.3").as_deref(), Some("CA"));
        assert_eq!(country_at(&bytes, "10.2.0.1").as_deref(), Some("US"));
    }

    #[test]
    fn ipv4_aliases_reach_the_ipv4_subtree() {
        let mut writer = Writer::new("Test").ipv4_aliases(true);
        writer
            .insert("192.0.2.0/24".parse().unwrap(), record::flat("FR"))
            .unwrap();
        let bytes = writer.to_bytes().unwrap();
        assert_eq!(
            country_at(&bytes, "::ffff:192.0.2.1").as_deref(),
            Some("FR")
        );
        assert_eq!(
            country_at(&bytes, "2002:c000:0201::").as_deref(),
            Some("FR")
        );
        assert_eq!(country_at(&bytes, "::192.0.2.1").as_deref(), Some("FR"));
    }

    #[test]
    fn ipv4_only_database_refuses_ipv6_networks() {
        let mut writer = Writer::new("Test").ipv4_only();
        let network: IpNet = "2001:db8::/32".parse().unwrap();
        assert_eq!(
            writer.insert(network, record::flat("FR")),
            Err(WriteError::Ipv6InIpv4Database(network))
        );
    }

    #[test]
    fn long_strings_and_large_integers_round_trip() {
        let long = "x".repeat(70_000);
        let mut writer = Writer::new("Test");
        let value = Value::map([
            ("country_code", Value::Str(long.clone())),
            ("n", Value::U64(u64::MAX)),
            ("zero", Value::U32(0)),
        ]);
        writer.insert("0.0.0.0/0".parse().unwrap(), value).unwrap();
        let bytes = writer.to_bytes().unwrap();
        assert_eq!(country_at(&bytes, "1.2.3.4"), Some(long));
        let reader = Reader::from_source(&bytes[..]).unwrap();
        let n: Option<u64> = reader
            .lookup("1.2.3.4".parse().unwrap())
            .unwrap()
            .decode_path(&[PathElement::Key("n")])
            .unwrap();
        assert_eq!(n, Some(u64::MAX));
    }

    #[test]
    fn build_epoch_and_type_reach_the_metadata() {
        let bytes = Writer::new("GeoIP2-City")
            .build_epoch(1_700_000_000)
            .to_bytes()
            .unwrap();
        let reader = Reader::from_source(&bytes[..]).unwrap();
        assert_eq!(reader.metadata().database_type, "GeoIP2-City");
        assert_eq!(reader.metadata().build_epoch, 1_700_000_000);
    }
}
