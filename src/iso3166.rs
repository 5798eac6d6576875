//! ISO 3166 country and subdivision codes, from the `rust_iso3166` crate's data.
//!
//! The only module that knows which crate holds the lists; everything else asks here.

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
}
