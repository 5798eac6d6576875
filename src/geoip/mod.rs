//! Where is this address? `Location` and the `Locator` that answers it from three sources:
//! the overrides file, the GeoIP database index and the optional anonymizer database.
//!
//! The rest of geoavail sees only this module's types. Loading reads files and folds the
//! sources into one compiled index; locating never reads a file, never allocates and never
//! reads the clock.

pub mod index;
pub mod load;
pub mod overrides;
pub mod write;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use load::{AnonymizerDatabase, GeoipDatabase, GeoipOptions, LoadError};
pub use overrides::Overrides;

use rustc_hash::FxHashMap;

use crate::geoip::index::{AddressRanges, Ranges, Trie};

/// An ISO 3166-1 alpha-2 shaped code: two ASCII capital letters. Whether the code is assigned
/// is checked where it matters (catalogs, overrides), not here: databases are taken as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Two ASCII letters, upper case.
    pub fn parse(code: &str) -> Option<CountryCode> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
                Some(CountryCode([a, b]))
            }
            _ => None,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("built from ASCII letters only")
    }

    /// The two letters' position in `AA..ZZ` (0..676), for tables indexed by country.
    #[inline]
    pub fn slot(self) -> usize {
        usize::from(self.0[0] - b'A') * 26 + usize::from(self.0[1] - b'A')
    }

    /// The code at `slot` (below 676), the inverse of [`CountryCode::slot`].
    #[inline]
    pub fn from_slot(slot: usize) -> CountryCode {
        debug_assert!(slot < 26 * 26, "slots are below 676");
        CountryCode([b'A' + (slot / 26 % 26) as u8, b'A' + (slot % 26) as u8])
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// An ISO 3166-2 shaped code, `US-CA`: a country code, a dash, one to six ASCII capital
/// letters or digits. Held inline so a `Location` stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode {
    bytes: [u8; RegionCode::MAX_LEN],
    len: u8,
}

impl RegionCode {
    const MAX_LEN: usize = 9;

    /// A full code such as `US-CA`.
    pub fn parse(code: &str) -> Option<RegionCode> {
        let (country, subdivision) = code.split_once('-')?;
        RegionCode::from_parts(CountryCode::parse(country)?, subdivision)
    }

    /// The code for `subdivision` (as MaxMind stores it, `CA`) within `country`.
    pub fn from_parts(country: CountryCode, subdivision: &str) -> Option<RegionCode> {
        let valid = (1..=6).contains(&subdivision.len())
            && subdivision
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return None;
        }
        let mut bytes = [0; RegionCode::MAX_LEN];
        bytes[..2].copy_from_slice(&country.0);
        bytes[2] = b'-';
        bytes[3..3 + subdivision.len()].copy_from_slice(subdivision.as_bytes());
        Some(RegionCode {
            bytes,
            len: 3 + subdivision.len() as u8,
        })
    }

    /// The country the region belongs to.
    pub fn country(&self) -> CountryCode {
        CountryCode([self.bytes[0], self.bytes[1]])
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)])
            .expect("built from ASCII letters, digits and a dash only")
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Which source placed an address in its country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocationSource {
    /// The database's `country` (or flat country field).
    Geoip,
    /// The database's `registered_country`, used because `geoip.use_registered_country` is on.
    RegisteredCountry,
    /// An override that sets the country.
    Override,
    /// Nothing located the address.
    None,
}

impl LocationSource {
    /// The word used on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            LocationSource::Geoip => "geoip",
            LocationSource::RegisteredCountry => "registered_country",
            LocationSource::Override => "override",
            LocationSource::None => "none",
        }
    }
}

/// Where an address is, as far as geoavail can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// `None` is an unknown location.
    pub country: Option<CountryCode>,
    /// Only ever set together with `country`, and always inside it.
    pub region: Option<RegionCode>,
    /// Which source gave `country`; `None` exactly when `country` is `None`.
    pub source: LocationSource,
    /// True when an anonymizer source flags the address (VPN, proxy, Tor, hosting...).
    pub anonymizer: bool,
}

impl Location {
    /// An address no source located.
    pub const UNKNOWN: Location = Location {
        country: None,
        region: None,
        source: LocationSource::None,
        anonymizer: false,
    };
}

/// The anonymizer flags of MaxMind's Anonymous IP layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymizerFlag {
    /// `is_anonymous`: any of the others.
    IsAnonymous,
    /// `is_anonymous_vpn`.
    IsAnonymousVpn,
    /// `is_hosting_provider`.
    IsHostingProvider,
    /// `is_public_proxy`.
    IsPublicProxy,
    /// `is_tor_exit_node`.
    IsTorExitNode,
    /// `is_residential_proxy`.
    IsResidentialProxy,
}

impl AnonymizerFlag {
    /// Every flag, in the order of their bits.
    pub const ALL: [AnonymizerFlag; 6] = [
        AnonymizerFlag::IsAnonymous,
        AnonymizerFlag::IsAnonymousVpn,
        AnonymizerFlag::IsHostingProvider,
        AnonymizerFlag::IsPublicProxy,
        AnonymizerFlag::IsTorExitNode,
        AnonymizerFlag::IsResidentialProxy,
    ];

    /// The database field name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnonymizerFlag::IsAnonymous => "is_anonymous",
            AnonymizerFlag::IsAnonymousVpn => "is_anonymous_vpn",
            AnonymizerFlag::IsHostingProvider => "is_hosting_provider",
            AnonymizerFlag::IsPublicProxy => "is_public_proxy",
            AnonymizerFlag::IsTorExitNode => "is_tor_exit_node",
            AnonymizerFlag::IsResidentialProxy => "is_residential_proxy",
        }
    }

    /// This flag's bit in an anonymizer index value.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The bits of `flags` together.
    pub fn mask(flags: &[AnonymizerFlag]) -> u8 {
        flags.iter().fold(0, |mask, flag| mask | flag.bit())
    }
}

/// The three location sources. Each is shared, so a reload of one keeps the others without
/// copying them.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The GeoIP database.
    pub geoip: Arc<GeoipDatabase>,
    /// The overrides file; empty when none is configured.
    pub overrides: Arc<Overrides>,
    /// The anonymizer database, when one is configured.
    pub anonymizer: Option<Arc<AnonymizerDatabase>>,
    /// Which anonymizer flags count (`geoip.anonymizer_flags`), as bits.
    pub anonymizer_mask: u8,
}

impl Sources {
    /// Loads every configured source; the first that fails is the error, naming its file.
    pub fn load(config: &crate::config::GeoipConfig) -> Result<Sources, LoadError> {
        let started = std::time::Instant::now();
        let geoip = GeoipDatabase::load(&config.database, &config.options())?;
        tracing::info!(
            path = %config.database.display(),
            database_type = %geoip.info.database_type,
            networks = geoip.info.networks,
            ranges = geoip.info.ranges,
            country_field = %geoip.country_field,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "read the GeoIP database"
        );
        let overrides = match &config.overrides {
            Some(path) => Overrides::load(path)?,
            None => Overrides::empty(),
        };
        let anonymizer = match &config.anonymizer_database {
            Some(path) => Some(Arc::new(AnonymizerDatabase::load(path)?)),
            None => None,
        };
        Ok(Sources {
            geoip: Arc::new(geoip),
            overrides: Arc::new(overrides),
            anonymizer,
            anonymizer_mask: config.anonymizer_mask(),
        })
    }

    /// Where `ip` is, asking each source in turn (binary searches): the longest matching
    /// override first, then the database; the anonymizer flag from an override that sets it,
    /// else from the anonymizer database.
    pub fn locate(&self, ip: IpAddr) -> Location {
        let flags = self
            .anonymizer
            .as_ref()
            .map_or(0, |db| u32::from(db.flags(ip)));
        self.combine(
            self.geoip.ranges().get(ip),
            self.overrides.ranges().get(ip),
            flags,
        )
    }

    /// The location for a database location, an override handle and anonymizer flag bits.
    fn combine(&self, geoip: u32, override_handle: u32, flags: u32) -> Location {
        let mut location = self.geoip.locations()[geoip as usize];
        let entry = self.overrides.entry(override_handle);
        if let Some(entry) = entry
            && let Some(country) = entry.country
        {
            location.country = Some(country);
            location.region = entry.region;
            location.source = LocationSource::Override;
        }
        location.anonymizer = match entry.and_then(|entry| entry.anonymizer) {
            Some(flag) => flag,
            None => flags & u32::from(self.anonymizer_mask) != 0,
        };
        location
    }
}

/// Answers `locate`: the sources folded into one compiled index of final answers, so that a
/// lookup is one trie walk whatever is configured.
#[derive(Debug, Clone)]
pub struct Locator {
    sources: Sources,
    /// Shared: snapshots are cloned on every reload.
    folded: Arc<Folded>,
}

/// Every address mapped to a position in `locations`.
#[derive(Debug)]
struct Folded {
    v4: Trie<u32>,
    v6: Trie<u128>,
    locations: Vec<Location>,
}

impl Locator {
    /// Folds the sources together and compiles the result.
    pub fn new(sources: Sources) -> Locator {
        let started = std::time::Instant::now();
        let mut locations = Vec::new();
        let mut positions: FxHashMap<Location, u32> = FxHashMap::default();
        // Neighbouring ranges mostly differ in one layer, and a few combinations repeat often.
        let mut combined: FxHashMap<[u32; 3], u32> = FxHashMap::default();
        let mut position_of = |layers: [u32; 3]| {
            *combined.entry(layers).or_insert_with(|| {
                let [geoip, override_handle, flags] = layers;
                let location = sources.combine(geoip, override_handle, flags);
                *positions.entry(location).or_insert_with(|| {
                    locations.push(location);
                    // At most one location per range of the database, far below the limit.
                    (locations.len() - 1) as u32
                })
            })
        };
        let no_flags = AddressRanges::uniform(0);
        let flags = sources
            .anonymizer
            .as_ref()
            .map_or(&no_flags, |db| db.ranges());
        let (geoip, overrides) = (sources.geoip.ranges(), sources.overrides.ranges());
        let v4 = Ranges::fold([&geoip.v4, &overrides.v4, &flags.v4], &mut position_of);
        let v6 = Ranges::fold([&geoip.v6, &overrides.v6, &flags.v6], &mut position_of);
        // The two families' tries on the two cores.
        let (v4_trie, v6_trie) = crate::parallel::join(|| Trie::new(&v4), || Trie::new(&v6));
        let folded = Folded {
            v4: v4_trie,
            v6: v6_trie,
            locations,
        };
        tracing::debug!(
            ranges = v4.len() + v6.len(),
            locations = folded.locations.len(),
            bytes = folded.v4.heap_bytes() + folded.v6.heap_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compiled the location index"
        );
        Locator {
            sources,
            folded: Arc::new(folded),
        }
    }

    /// Loads every configured source and compiles them.
    pub fn load(config: &crate::config::GeoipConfig) -> Result<Locator, LoadError> {
        Sources::load(config).map(Locator::new)
    }

    /// What the index was compiled from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Where `ip` is; always the answer of [`Sources::locate`]. Never allocates, never reads
    /// a file or the clock.
    #[inline(always)]
    pub fn locate(&self, ip: IpAddr) -> Location {
        let position = match ip {
            IpAddr::V4(v4) => self.folded.v4.get(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                // One test keeps the addresses that need more than the trie, all in `::/64`,
                // off the path every other IPv6 lookup takes.
                if bits >> 64 == 0 {
                    return self.locate_in_lowest_64(v6);
                }
                self.folded.v6.get(bits)
            }
        };
        self.folded.locations[position as usize]
    }

    /// `locate` in `::/64`: an IPv4-mapped address (`::ffff:a.b.c.d`) is the IPv4 address it
    /// carries; `::a.b.c.d` (and `::`, `::1`) the database may read as IPv4 while overrides
    /// never do, so it is asked of each source in turn.
    #[cold]
    #[inline(never)]
    fn locate_in_lowest_64(&self, v6: std::net::Ipv6Addr) -> Location {
        let bits = u128::from(v6);
        let position = if let Some(v4) = v6.to_ipv4_mapped() {
            self.folded.v4.get(u32::from(v4))
        } else if bits >> 32 == 0 {
            return self.sources.locate(IpAddr::V6(v6));
        } else {
            self.folded.v6.get(bits)
        };
        self.folded.locations[position as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_two_capital_letters() {
        assert_eq!(CountryCode::parse("US").unwrap().as_str(), "US");
        assert!(CountryCode::parse("us").is_none());
        assert!(CountryCode::parse("USA").is_none());
        assert!(CountryCode::parse("U").is_none());
        assert!(CountryCode::parse("Ü1").is_none());
    }

    #[test]
    fn region_codes_carry_their_country() {
        let region = RegionCode::parse("US-CA").unwrap();
        assert_eq!(region.as_str(), "US-CA");
        assert_eq!(region.country().as_str(), "US");
        assert_eq!(RegionCode::parse("FR-75C").unwrap().as_str(), "FR-75C");
        assert!(RegionCode::parse("US-").is_none());
        assert!(RegionCode::parse("US-ca").is_none());
        assert!(RegionCode::parse("USCA").is_none());
        assert!(RegionCode::parse("US-TOOLONG").is_none());
    }

    #[test]
    fn anonymizer_flags_have_distinct_bits() {
        let all = AnonymizerFlag::mask(&AnonymizerFlag::ALL);
        assert_eq!(all.count_ones(), 6);
    }
}
