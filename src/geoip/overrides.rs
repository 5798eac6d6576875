//! `overrides.toml`: CIDR networks placed in a country (and region) or flagged as anonymizers,
//! winning over the database by longest prefix. Office networks, QA ranges, known corrections.
//!
//! Every problem in the file is reported at once, like catalog problems. Locating an address
//! is one binary search over ranges flattened at load time.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::geoip::index::{AddressRanges, Ranges};
use crate::geoip::{CountryCode, LoadError, RegionCode};
use crate::iso3166;
use crate::toml_source::{Table, TomlSource};

/// One `[[override]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The network it covers.
    pub network: IpNet,
    /// Replaces the database's country (and region) when set.
    pub country: Option<CountryCode>,
    /// Only set together with `country`, and inside it.
    pub region: Option<RegionCode>,
    /// Sets the anonymizer flag when present; when absent the anonymizer database decides.
    pub anonymizer: Option<bool>,
}

/// The loaded overrides.
#[derive(Debug, Clone)]
pub struct Overrides {
    entries: Vec<Override>,
    /// 0 where no override applies, else 1 + the index of the longest matching entry. An
    /// IPv4 override never covers `::a.b.c.d`: only IPv4-mapped addresses read as IPv4.
    ranges: AddressRanges,
}

impl Overrides {
    /// No overrides at all.
    pub fn empty() -> Overrides {
        Overrides {
            entries: Vec::new(),
            ranges: AddressRanges::uniform(0),
        }
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Overrides, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Overrides::parse(&path.display().to_string(), &text).map_err(|diagnostics| {
            LoadError::Invalid {
                path: path.to_owned(),
                diagnostics,
            }
        })
    }

    /// Validates overrides `text`, shown as `path` in messages; every error at once.
    pub fn parse(path: &str, text: &str) -> Result<Overrides, Vec<Diagnostic>> {
        let mut source = TomlSource::new(path, text);
        let document = source.parse();
        let root = Table::root(&document);
        source.check_keys(&root, &["override"]);
        let mut entries: Vec<Spanned<Override>> = Vec::new();
        for table in source.tables(&root, "override") {
            let Some(entry) = read_override(&mut source, &table) else {
                continue;
            };
            if let Some(earlier) = entries
                .iter()
                .find(|earlier| earlier.get_ref().network == entry.get_ref().network)
            {
                let (line, _) = crate::diagnostic::line_column(text, earlier.span().start);
                source.error(
                    entry.span(),
                    format!(
                        "network {} is already overridden at line {line}",
                        entry.get_ref().network
                    ),
                );
                continue;
            }
            entries.push(entry);
        }
        if source.has_errors() {
            return Err(source.finish());
        }
        Ok(Overrides::new(
            entries.into_iter().map(Spanned::into_inner).collect(),
        ))
    }

    /// Builds the lookup table for validated entries with distinct networks.
    pub fn new(entries: Vec<Override>) -> Overrides {
        let mut v4_blocks = Vec::new();
        let mut v6_blocks = Vec::new();
        for (idx, entry) in entries.iter().enumerate() {
            let handle = idx as u32 + 1;
            match entry.network {
                IpNet::V4(net) => {
                    v4_blocks.push((net.network().into(), net.broadcast().into(), handle))
                }
                IpNet::V6(net) => {
                    v6_blocks.push((net.network().into(), net.broadcast().into(), handle))
                }
            }
        }
        let ranges = AddressRanges {
            v4: Ranges::from_blocks(v4_blocks, 0),
            v6: Ranges::from_blocks(v6_blocks, 0),
            v4_under_v6: false,
        };
        Overrides { entries, ranges }
    }

    /// The longest override containing `ip`, if any, by binary search.
    pub fn get(&self, ip: IpAddr) -> Option<&Override> {
        self.entry(self.ranges.get(ip))
    }

    /// The entry a handle of [`Overrides::ranges`] stands for.
    pub fn entry(&self, handle: u32) -> Option<&Override> {
        match handle {
            0 => None,
            handle => self.entries.get(handle as usize - 1),
        }
    }

    /// Every address mapped to 0 (no override) or 1 + the position of its longest override.
    pub fn ranges(&self) -> &AddressRanges {
        &self.ranges
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[Override] {
        &self.entries
    }
}

fn read_override(source: &mut TomlSource<'_>, table: &Table<'_, '_>) -> Option<Spanned<Override>> {
    source.check_keys(table, &["network", "country", "region", "anonymizer"]);
    let network = source
        .required::<String>(table, "network")
        .and_then(|network| parse_network(source, &network));
    let country = source
        .optional::<String>(table, "country")
        .and_then(|country| match CountryCode::parse(country.get_ref()) {
            Some(code) if iso3166::is_country(code.as_str()) => Some(code),
            _ => {
                source.error(
                    country.span(),
                    format!("unknown country code `{}`", country.get_ref()),
                );
                None
            }
        });
    let region = source.optional::<String>(table, "region");
    let anonymizer = source.optional::<bool>(table, "anonymizer");
    let region = region.and_then(|region| {
        let code = region.get_ref();
        if !table.has("country") {
            source.error(region.span(), "`region` needs a `country` beside it");
            return None;
        }
        let parsed = RegionCode::parse(code).filter(|_| iso3166::is_subdivision(code));
        let Some(parsed) = parsed else {
            source.error(region.span(), format!("unknown region code `{code}`"));
            return None;
        };
        if let Some(country) = country
            && parsed.country() != country
        {
            source.error(
                region.span(),
                format!("region `{code}` is not in country `{country}`"),
            );
            return None;
        }
        Some(parsed)
    });
    if !table.has("country") && !table.has("anonymizer") {
        source.error(
            table.span.clone(),
            "override sets neither `country` nor `anonymizer`",
        );
    }
    let entry = Override {
        network: network?,
        country,
        region,
        anonymizer: anonymizer.map(Spanned::into_inner),
    };
    Some(Spanned::new(table.span.clone(), entry))
}

fn parse_network(source: &mut TomlSource<'_>, text: &Spanned<String>) -> Option<IpNet> {
    let raw = text.get_ref().trim();
    let network = match raw.parse::<IpNet>() {
        Ok(network) => network,
        // A bare address is the network of that one address.
        Err(_) => match raw.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                source.error(
                    text.span(),
                    format!("`{raw}` is not a network such as 10.1.0.0/16 or 2001:db8::/32"),
                );
                return None;
            }
        },
    };
    if network.trunc() != network {
        source.error(
            text.span(),
            format!(
                "`{raw}` has host bits set; the network is {}",
                network.trunc()
            ),
        );
        return None;
    }
    if let IpNet::V6(v6) = network
        && v6.prefix_len() >= 96
        && v6.network().to_ipv4_mapped().is_some()
    {
        source.error(
            text.span(),
            format!("write IPv4-mapped `{raw}` as the IPv4 network it carries"),
        );
        return None;
    }
    Some(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match Overrides::parse("overrides.toml", text) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
        }
    }

    fn located(text: &str, ip: &str) -> Option<Override> {
        let overrides = Overrides::parse("overrides.toml", text).expect("valid overrides");
        overrides.get(ip.parse().unwrap()).cloned()
    }

    const NESTED: &str = r#"
[[override]]
network = "10.0.0.0/8"
country = "US"
[[override]]
network = "10.1.0.0/16"
country = "CA"
region = "CA-QC"
[[override]]
network = "10.1.2.0/24"
anonymizer = true
"#;

    #[test]
    fn longest_prefix_wins() {
        let at = |ip| located(NESTED, ip).map(|o| o.network.to_string());
        assert_eq!(at("10.9.9.9").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at("10.1.9.9").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(at("10.1.2.3").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(at("11.0.0.1"), None);
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_overrides() {
        assert!(located(NESTED, "::ffff:10.1.2.3").is_some());
    }

    #[test]
    fn a_bare_address_is_a_single_address_network() {
        let text = "[[override]]\nnetwork = \"2001:db8::7\"\ncountry = \"FR\"\n";
        assert!(located(text, "2001:db8::7").is_some());
        assert!(located(text, "2001:db8::8").is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let text = r#"[[override]]
network = "10.1.2.3/16"
country = "XX"
[[override]]
network = "nope"
region = "US-CA"
[[override]]
network = "10.2.0.0/16"
country = "US"
region = "CA-QC"
contry = "US"
[[override]]
network = "10.3.0.0/16"
[[override]]
network = "::ffff:10.0.0.0/104"
anonymizer = true
"#;
        assert_eq!(
            errors(text),
            [
                "overrides.toml:2:11: `10.1.2.3/16` has host bits set; the network is 10.1.0.0/16",
                "overrides.toml:3:11: unknown country code `XX`",
                "overrides.toml:4:1: override sets neither `country` nor `anonymizer`",
                "overrides.toml:5:11: `nope` is not a network such as 10.1.0.0/16 or 2001:db8::/32",
                "overrides.toml:6:10: `region` needs a `country` beside it",
                "overrides.toml:10:10: region `CA-QC` is not in country `US`",
                "overrides.toml:11:1: unknown key `contry`; did you mean `country`?",
                "overrides.toml:12:1: override sets neither `country` nor `anonymizer`",
                "overrides.toml:15:11: write IPv4-mapped `::ffff:10.0.0.0/104` as the IPv4 network it carries",
            ]
        );
    }

    #[test]
    fn a_network_listed_twice_names_the_first_line() {
        let text = "[[override]]\nnetwork = \"10.0.0.0/8\"\ncountry = \"US\"\n\
                    [[override]]\nnetwork = \"10.0.0.0/8\"\ncountry = \"CA\"\n";
        assert_eq!(
            errors(text),
            ["overrides.toml:4:1: network 10.0.0.0/8 is already overridden at line 1"]
        );
    }

    #[test]
    fn syntax_errors_are_positioned() {
        let found = errors("[[override]]\nnetwork = \"10.0.0.0/8\nanonymizer = true\n");
        assert!(found[0].starts_with("overrides.toml:2:"), "{found:?}");
    }

    #[test]
    fn an_empty_file_overrides_nothing() {
        let overrides = Overrides::parse("overrides.toml", "").unwrap();
        assert!(overrides.entries().is_empty());
        assert!(overrides.get("10.0.0.1".parse().unwrap()).is_none());
    }
}
