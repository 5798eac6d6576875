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

/// The ISO 3166-1 country a subdivision also is, such as `PR` for `US-PR`: GeoIP databases
/// locate such places as that country, never as the subdivision. Found in the ISO data by an
/// overseas, outlying or special territory whose name is a country's name.
pub fn country_of_subdivision(code: &str) -> Option<&'static str> {
    static ALSO_COUNTRIES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    ALSO_COUNTRIES
        .get_or_init(|| {
            let countries: HashMap<String, &'static str> = rust_iso3166::ALL
                .iter()
                .map(|country| (normalize(country.name), country.alpha2))
                .collect();
            rust_iso3166::iso3166_2::SUBDIVISION_COUNTRY_MAP
                .values()
                .flat_map(|subdivisions| subdivisions.iter())
                .filter(|subdivision| {
                    ["Outlying", "Overseas", "Country", "Special administrative"]
                        .iter()
                        .any(|word| subdivision.subdivision_type.contains(word))
                })
                .filter_map(|subdivision| {
                    let country = countries.get(&normalize(subdivision.name))?;
                    Some((subdivision.code, *country))
                })
                .collect()
        })
        .get(code)
        .copied()
}

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
        assert_eq!(country_of_subdivision("US-PR"), Some("PR"));
        assert_eq!(country_of_subdivision("NL-AW"), Some("AW"));
        assert_eq!(country_of_subdivision("FR-971"), Some("GP"));
        assert_eq!(country_of_subdivision("US-GA"), None);
        assert_eq!(country_of_subdivision("BE-WLX"), None);
        assert_eq!(country_of_subdivision("US-CA"), None);
    }
}
