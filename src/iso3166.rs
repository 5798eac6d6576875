//! ISO 3166 country and subdivision codes, from the `rust_iso3166` crate's data.
//!
//! The only module that knows which crate holds the lists; everything else asks here.

use std::collections::HashMap;
use std::sync::OnceLock;

/// True for an assigned ISO 3166-1 alpha-2 code such as `US`.
pub fn is_country(code: &str) -> bool {
    rust_iso3166::from_alpha2(code).is_some()
}

/// Every assigned ISO 3166-1 alpha-2 code.
pub fn countries() -> impl Iterator<Item = &'static str> {
    rust_iso3166::ALL_ALPHA2.iter().copied()
}

/// True for an ISO 3166-2 subdivision code such as `US-CA`.
pub fn is_subdivision(code: &str) -> bool {
    rust_iso3166::iso3166_2::from_code(code).is_some()
}

/// Every ISO 3166-2 subdivision code of `country` (empty for a country without any).
pub fn subdivisions(country: &str) -> impl Iterator<Item = &'static str> {
    rust_iso3166::iso3166_2::SUBDIVISION_COUNTRY_MAP
        .get(country)
        .copied()
        .unwrap_or_default()
        .iter()
        .map(|subdivision| subdivision.code)
}

/// The ISO 3166-1 country a subdivision also is, such as `PR` for `US-PR` or `TW` for
/// `CN-TW`: GeoIP databases locate such places as that country, never as the subdivision, so
/// a rule naming the subdivision would never match (a wrong "yes" in an exclusion or a
/// blackout).
///
/// Found in the ISO data where it says so: an outlying area, overseas collectivity or
/// territory, constituent country or special administrative region whose own code part is
/// an assigned country code (`US-PR`, `FR-NC`, `NL-SX`, `CN-HK`) or whose name is a
/// country's name (`FR-971` Guadeloupe). The data does not say it for the rest of the
/// subdivisions ISO 3166-2 notes as also in ISO 3166-1 (a province, a region, arctic regions,
/// special municipalities, and names in the local language such as `Guyane (française)`), so
/// those are named in [`ALSO_COUNTRIES_BY_NOTE`]; a test holds every entry to the crate's
/// lists.
pub fn country_of_subdivision(code: &str) -> Option<&'static str> {
    static ALSO_COUNTRIES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    ALSO_COUNTRIES
        .get_or_init(|| {
            let countries: HashMap<String, &'static str> = rust_iso3166::ALL
                .iter()
                .map(|country| (normalize(country.name), country.alpha2))
                .collect();
            let by_data = rust_iso3166::iso3166_2::SUBDIVISION_COUNTRY_MAP
                .values()
                .flat_map(|subdivisions| subdivisions.iter())
                .filter(|subdivision| {
                    ["Outlying", "Overseas", "Country", "Special administrative"]
                        .iter()
                        .any(|word| subdivision.subdivision_type.contains(word))
                })
                .filter_map(|subdivision| {
                    let country = match rust_iso3166::from_alpha2(subdivision.region_code) {
                        Some(country) => country.alpha2,
                        None => countries.get(&normalize(subdivision.name))?,
                    };
                    Some((subdivision.code, country))
                });
            by_data.chain(ALSO_COUNTRIES_BY_NOTE).collect()
        })
        .get(code)
        .copied()
}

/// Subdivisions that ISO 3166-2 notes as also in ISO 3166-1 where the crate's data does not
/// show it (see [`country_of_subdivision`]).
const ALSO_COUNTRIES_BY_NOTE: [(&str, &str); 9] = [
    ("CN-TW", "TW"),
    ("FI-01", "AX"),
    ("FR-973", "GF"),
    ("FR-974", "RE"),
    ("NL-BQ1", "BQ"),
    ("NL-BQ2", "BQ"),
    ("NL-BQ3", "BQ"),
    ("NO-21", "SJ"),
    ("NO-22", "SJ"),
];

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_countries_and_their_subdivisions() {
        assert!(is_country("US"));
        assert!(!is_country("XX"));
        assert!(is_subdivision("US-CA"));
        assert!(is_subdivision("CA-QC"));
        assert!(!is_subdivision("US-XX"));
        assert!(subdivisions("CA").any(|code| code == "CA-QC"));
        assert_eq!(subdivisions("XX").count(), 0);
    }

    #[test]
    fn finds_subdivisions_that_are_also_countries() {
        // Every subdivision ISO 3166-2 notes as also in ISO 3166-1 (Clipperton, `FR-CP`, has
        // no assigned country code).
        let also = [
            ("CN-HK", "HK"),
            ("CN-MO", "MO"),
            ("CN-TW", "TW"),
            ("FI-01", "AX"),
            ("FR-971", "GP"),
            ("FR-972", "MQ"),
            ("FR-973", "GF"),
            ("FR-974", "RE"),
            ("FR-976", "YT"),
            ("FR-BL", "BL"),
            ("FR-MF", "MF"),
            ("FR-NC", "NC"),
            ("FR-PF", "PF"),
            ("FR-PM", "PM"),
            ("FR-TF", "TF"),
            ("FR-WF", "WF"),
            ("NL-AW", "AW"),
            ("NL-CW", "CW"),
            ("NL-SX", "SX"),
            ("NL-BQ1", "BQ"),
            ("NL-BQ2", "BQ"),
            ("NL-BQ3", "BQ"),
            ("NO-21", "SJ"),
            ("NO-22", "SJ"),
            ("US-AS", "AS"),
            ("US-GU", "GU"),
            ("US-MP", "MP"),
            ("US-PR", "PR"),
            ("US-UM", "UM"),
            ("US-VI", "VI"),
        ];
        for (subdivision, country) in also {
            assert!(is_subdivision(subdivision), "{subdivision}");
            assert!(is_country(country), "{country}");
            assert_eq!(
                country_of_subdivision(subdivision),
                Some(country),
                "{subdivision}"
            );
        }
        let found = rust_iso3166::iso3166_2::SUBDIVISION_COUNTRY_MAP
            .values()
            .flat_map(|subdivisions| subdivisions.iter())
            .filter(|subdivision| country_of_subdivision(subdivision.code).is_some())
            .count();
        assert_eq!(
            found,
            also.len(),
            "no other subdivision is taken for a country"
        );
        // Codes whose own part is a country's code by chance: a state, a province, a dependency.
        for code in ["US-GA", "US-CA", "ES-CN", "MU-CC", "BE-WLX", "FR-CP"] {
            assert_eq!(country_of_subdivision(code), None, "{code}");
        }
    }
}
