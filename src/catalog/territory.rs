//! Territories: ISO 3166 codes, groups (`@WORLD`, `@EU` and the catalog's own), and the
//! expanded sets that licenses, exclusions and blackouts match locations against.
//!
//! Knows no files and no time; group definitions arrive already parsed.

use std::collections::HashMap;

use crate::geoip::{CountryCode, RegionCode};
use crate::iso3166;

/// The EU member states, for `@EU` and portability (EU Regulation 2017/1128). Membership is
/// a treaty fact, not ISO 3166 data, so no ISO crate carries it.
pub const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// True for an EU member state.
pub fn is_eu(country: CountryCode) -> bool {
    EU_MEMBERS.contains(&country.as_str())
}

/// A set of two-letter codes as a bitmap over `AA..ZZ`: membership is one load and a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CountrySet([u64; 11]);

impl CountrySet {
    /// Adds `country`.
    pub fn insert(&mut self, country: CountryCode) {
        let slot = slot(country);
        self.0[slot / 64] |= 1 << (slot % 64);
    }

    /// True when `country` is in the set.
    #[inline]
    pub fn contains(&self, country: CountryCode) -> bool {
        let slot = slot(country);
        self.0[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// True when nothing is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|word| *word == 0)
    }

    /// The members in code order.
    pub fn iter(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.0.iter().enumerate().flat_map(|(n, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                let bit = rest.trailing_zeros() as usize;
                (bit < 64).then(|| {
                    rest &= rest - 1;
                    from_slot(n * 64 + bit)
                })
            })
        })
    }

    fn union_with(&mut self, other: &CountrySet) {
        for (word, other) in self.0.iter_mut().zip(other.0) {
            *word |= other;
        }
    }
}

#[inline]
fn slot(country: CountryCode) -> usize {
    country.slot()
}

/// How a set of territories matches a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// The location is inside.
    Yes,
    /// The location is outside.
    No,
    /// Only a region-level territory of the location's country could match, and the region is
    /// unknown: a known region could change the answer.
    IfRegionKnown,
}

/// The places a license, exclusion or blackout names, with groups expanded. Compact, because
/// answering touches every territory set of a title: a few countries sit inline (one cache
/// line), longer lists use a bitmap, and regions (rare) live behind a pointer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Territories {
    /// `@WORLD`: every known country.
    pub world: bool,
    countries: Countries,
    /// `None` when no region is named, the common case.
    regions: Option<Box<Regions>>,
}

/// Up to this many countries are kept inline.
const FEW: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Countries {
    /// `slots[..len]`, sorted, as `slot` numbers.
    Few {
        len: u8,
        slots: [u16; FEW],
    },
    Many(Box<CountrySet>),
}

impl Default for Countries {
    fn default() -> Countries {
        Countries::Few {
            len: 0,
            slots: [0; FEW],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Regions {
    /// Sorted, without duplicates.
    codes: Vec<RegionCode>,
    /// The countries of `codes`.
    countries: CountrySet,
}

impl Territories {
    /// How the territories match a location in `country`, with `region` when known.
    #[inline]
    pub fn matches(&self, country: CountryCode, region: Option<RegionCode>) -> Match {
        if self.world || self.countries.contains(country) {
            return Match::Yes;
        }
        let Some(regions) = &self.regions else {
            return Match::No;
        };
        if !regions.countries.contains(country) {
            return Match::No;
        }
        match region {
            Some(region) if regions.codes.binary_search(&region).is_ok() => Match::Yes,
            Some(_) => Match::No,
            None => Match::IfRegionKnown,
        }
    }

    /// True when nothing is named.
    pub fn is_empty(&self) -> bool {
        !self.world && self.countries.is_empty() && self.regions.is_none()
    }

    /// Countries named whole (not through `@WORLD`), in code order.
    pub fn countries(&self) -> impl Iterator<Item = CountryCode> + '_ {
        let (few, many) = match &self.countries {
            Countries::Few { len, slots } => (&slots[..usize::from(*len)], None),
            Countries::Many(set) => (&[][..], Some(set.iter())),
        };
        few.iter()
            .map(|&slot| from_slot(usize::from(slot)))
            .chain(many.into_iter().flatten())
    }

    /// Regions named.
    pub fn regions(&self) -> &[RegionCode] {
        self.regions.as_ref().map_or(&[], |regions| &regions.codes)
    }

    /// True when some region of `country` is named.
    pub fn names_a_region_of(&self, country: CountryCode) -> bool {
        self.regions
            .as_ref()
            .is_some_and(|regions| regions.countries.contains(country))
    }

    /// True when any region is named.
    pub fn has_regions(&self) -> bool {
        self.regions.is_some()
    }
}

impl Countries {
    #[inline]
    fn contains(&self, country: CountryCode) -> bool {
        match self {
            Countries::Few { len, slots } => {
                let wanted = slot(country) as u16;
                slots[..usize::from(*len)].contains(&wanted)
            }
            Countries::Many(set) => set.contains(country),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Countries::Few { len, .. } => *len == 0,
            Countries::Many(set) => set.is_empty(),
        }
    }
}

/// Territories while groups are expanded: plain sets, unioned freely, then made compact.
#[derive(Debug, Clone, Default)]
struct Draft {
    world: bool,
    countries: CountrySet,
    regions: Vec<RegionCode>,
    region_countries: CountrySet,
}

impl Draft {
    fn add(&mut self, other: &Draft) {
        self.world |= other.world;
        self.countries.union_with(&other.countries);
        self.region_countries.union_with(&other.region_countries);
        for region in &other.regions {
            if let Err(at) = self.regions.binary_search(region) {
                self.regions.insert(at, *region);
            }
        }
    }

    fn add_country(&mut self, country: CountryCode) {
        self.countries.insert(country);
    }

    fn add_region(&mut self, region: RegionCode) {
        self.region_countries.insert(region.country());
        if let Err(at) = self.regions.binary_search(&region) {
            self.regions.insert(at, region);
        }
    }

    fn finish(self) -> Territories {
        let slots: Vec<u16> = self.countries.iter().map(|c| slot(c) as u16).collect();
        let countries = if slots.len() <= FEW {
            let mut inline = [0; FEW];
            inline[..slots.len()].copy_from_slice(&slots);
            Countries::Few {
                len: slots.len() as u8,
                slots: inline,
            }
        } else {
            Countries::Many(Box::new(self.countries))
        };
        let regions = (!self.regions.is_empty()).then(|| {
            Box::new(Regions {
                codes: self.regions,
                countries: self.region_countries,
            })
        });
        Territories {
            world: self.world,
            countries,
            regions,
        }
    }
}

/// The country of a [`CountryCode::slot`] number.
pub(crate) fn from_slot(slot: usize) -> CountryCode {
    CountryCode::from_slot(slot)
}

/// One written territory, checked but not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Territory {
    /// `US`.
    Country(CountryCode),
    /// `US-CA`.
    Region(RegionCode),
    /// `@NAME`, without the `@`.
    Group(String),
}

impl Territory {
    /// Reads `US`, `US-CA` or `@NAME`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Territory, String> {
        if let Some(name) = text.strip_prefix('@') {
            return if is_group_name(name) {
                Ok(Territory::Group(name.to_owned()))
            } else {
                Err(format!(
                    "`{text}` is not a group name (upper case letters, digits and `_`)"
                ))
            };
        }
        // Only for a message: most codes are well written, and a catalog has millions.
        let hint = || {
            let upper = text.to_ascii_uppercase();
            if upper != text && known_code(&upper) {
                format!(" (codes are upper case: `{upper}`)")
            } else {
                String::new()
            }
        };
        if text.contains('-') {
            if let Some(country) = iso3166::country_of_subdivision(text) {
                return Err(format!(
                    "`{text}` is also the country `{country}`, and GeoIP databases locate it as \
                     `{country}`: name `{country}` instead"
                ));
            }
            match RegionCode::parse(text) {
                Some(region) if iso3166::is_subdivision(text) => Ok(Territory::Region(region)),
                _ => Err(format!("unknown ISO 3166-2 region code `{text}`{}", hint())),
            }
        } else {
            match CountryCode::parse(text) {
                Some(country) if iso3166::is_country(text) => Ok(Territory::Country(country)),
                _ => Err(format!(
                    "unknown ISO 3166-1 country code `{text}`{}",
                    hint()
                )),
            }
        }
    }
}

fn known_code(code: &str) -> bool {
    iso3166::is_country(code) || iso3166::is_subdivision(code)
}

/// True for a name usable after `@`.
pub fn is_group_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Why a group could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// `@NAME` names no group.
    Unknown(String),
    /// The groups refer to each other in a circle; the path, starting and ending with the same.
    Cycle(Vec<String>),
}

/// Group definitions, expanded on demand and remembered.
#[derive(Debug, Default, Clone)]
pub struct Groups {
    definitions: HashMap<String, Vec<Territory>>,
    expanded: HashMap<String, Result<Draft, GroupError>>,
}

impl Groups {
    /// The catalog's groups; `WORLD` and `EU` are built in and must not be among them.
    pub fn new(definitions: HashMap<String, Vec<Territory>>) -> Groups {
        Groups {
            definitions,
            expanded: HashMap::new(),
        }
    }

    /// True for a built-in group name.
    pub fn is_builtin(name: &str) -> bool {
        name == "WORLD" || name == "EU"
    }

    /// Expands written territories into a set; the first group problem met is the error.
    pub fn expand(&mut self, written: &[Territory]) -> Result<Territories, GroupError> {
        let mut territories = Draft::default();
        for territory in written {
            match territory {
                Territory::Country(country) => territories.add_country(*country),
                Territory::Region(region) => territories.add_region(*region),
                Territory::Group(name) => {
                    let group = self.group(name, &mut Vec::new())?;
                    territories.add(&group);
                }
            }
        }
        Ok(territories.finish())
    }

    /// The expansion of `@name`; `path` holds the groups being expanded around it.
    fn group(&mut self, name: &str, path: &mut Vec<String>) -> Result<Draft, GroupError> {
        if let Some(done) = self.expanded.get(name) {
            return done.clone();
        }
        if path.iter().any(|outer| outer == name) {
            let start = path.iter().position(|outer| outer == name).unwrap_or(0);
            let mut cycle = path[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(GroupError::Cycle(cycle));
        }
        let result = match name {
            "WORLD" => Ok(Draft {
                world: true,
                ..Draft::default()
            }),
            "EU" => {
                let mut eu = Draft::default();
                for code in EU_MEMBERS {
                    eu.add_country(CountryCode::parse(code).expect("EU codes are well-formed"));
                }
                Ok(eu)
            }
            _ => {
                let Some(members) = self.definitions.get(name).cloned() else {
                    return Err(GroupError::Unknown(name.to_owned()));
                };
                path.push(name.to_owned());
                let mut territories = Draft::default();
                let mut result = Ok(());
                for member in &members {
                    match member {
                        Territory::Country(country) => territories.add_country(*country),
                        Territory::Region(region) => territories.add_region(*region),
                        Territory::Group(inner) => match self.group(inner, path) {
                            Ok(group) => territories.add(&group),
                            Err(error) => {
                                result = Err(error);
                                break;
                            }
                        },
                    }
                }
                path.pop();
                result.map(|()| territories)
            }
        };
        // A cycle is only remembered by the group that closes it, so each group on it reports.
        if !matches!(&result, Err(GroupError::Cycle(_))) {
            self.expanded.insert(name.to_owned(), result.clone());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> CountryCode {
        CountryCode::parse(code).unwrap()
    }

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap()
    }

    fn territories(written: &[&str], groups: &[(&str, &[&str])]) -> Territories {
        let definitions = groups
            .iter()
            .map(|(name, members)| {
                let members = members
                    .iter()
                    .map(|m| Territory::parse(m).unwrap())
                    .collect();
                (name.to_string(), members)
            })
            .collect();
        let written: Vec<Territory> = written
            .iter()
            .map(|w| Territory::parse(w).unwrap())
            .collect();
        Groups::new(definitions).expand(&written).unwrap()
    }

    #[test]
    fn a_country_matches_every_location_in_it() {
        let us = territories(&["US"], &[]);
        assert_eq!(us.matches(country("US"), None), Match::Yes);
        assert_eq!(us.matches(country("US"), Some(region("US-CA"))), Match::Yes);
        assert_eq!(us.matches(country("CA"), None), Match::No);
    }

    #[test]
    fn a_region_matches_only_where_the_region_is_known() {
        let california = territories(&["US-CA"], &[]);
        assert_eq!(
            california.matches(country("US"), Some(region("US-CA"))),
            Match::Yes
        );
        assert_eq!(
            california.matches(country("US"), Some(region("US-NY"))),
            Match::No
        );
        assert_eq!(
            california.matches(country("US"), None),
            Match::IfRegionKnown
        );
        assert_eq!(california.matches(country("CA"), None), Match::No);
    }

    #[test]
    fn world_matches_every_known_country() {
        let world = territories(&["@WORLD"], &[]);
        assert_eq!(world.matches(country("ZZ"), None), Match::Yes);
        assert!(world.world);
    }

    #[test]
    fn eu_is_the_member_states() {
        let eu = territories(&["@EU"], &[]);
        assert_eq!(eu.matches(country("FR"), None), Match::Yes);
        assert_eq!(eu.matches(country("NO"), None), Match::No);
        assert_eq!(eu.countries().count(), 27);
    }

    #[test]
    fn groups_may_name_groups() {
        let nested = territories(
            &["@CORE"],
            &[
                ("NORDICS", &["DK", "SE"]),
                ("CORE", &["@NORDICS", "FR", "US-CA"]),
            ],
        );
        assert_eq!(nested.matches(country("SE"), None), Match::Yes);
        assert_eq!(
            nested.matches(country("US"), Some(region("US-CA"))),
            Match::Yes
        );
    }

    #[test]
    fn group_cycles_are_errors_naming_the_path() {
        let definitions = HashMap::from([
            ("A".to_string(), vec![Territory::Group("B".into())]),
            ("B".to_string(), vec![Territory::Group("A".into())]),
        ]);
        let mut groups = Groups::new(definitions);
        assert_eq!(
            groups.expand(&[Territory::Group("A".into())]),
            Err(GroupError::Cycle(vec!["A".into(), "B".into(), "A".into()]))
        );
    }

    #[test]
    fn unknown_groups_are_errors() {
        let mut groups = Groups::default();
        assert_eq!(
            groups.expand(&[Territory::Group("NOPE".into())]),
            Err(GroupError::Unknown("NOPE".into()))
        );
    }

    #[test]
    fn codes_are_checked_against_iso_3166() {
        assert_eq!(
            Territory::parse("US"),
            Ok(Territory::Country(country("US")))
        );
        assert_eq!(
            Territory::parse("CA-QC"),
            Ok(Territory::Region(region("CA-QC")))
        );
        assert_eq!(
            Territory::parse("XX"),
            Err("unknown ISO 3166-1 country code `XX`".into())
        );
        assert_eq!(
            Territory::parse("us"),
            Err("unknown ISO 3166-1 country code `us` (codes are upper case: `US`)".into())
        );
        assert_eq!(
            Territory::parse("US-XX"),
            Err("unknown ISO 3166-2 region code `US-XX`".into())
        );
        assert!(Territory::parse("@nordics").is_err());
        assert_eq!(
            Territory::parse("US-PR"),
            Err("`US-PR` is also the country `PR`, and GeoIP databases locate it as `PR`: name `PR` instead".into())
        );
        // An exclusion of one of these would never match, and grant where it should deny.
        for (code, country) in [("CN-TW", "TW"), ("CN-HK", "HK"), ("FI-01", "AX")] {
            let message = Territory::parse(code).expect_err(code);
            assert!(
                message.contains(&format!("name `{country}` instead")),
                "{message}"
            );
        }
    }
}
