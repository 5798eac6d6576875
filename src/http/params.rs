//! Query-string parameters: parsed strictly (unknown or repeated parameters are refused, so a
//! typo such as `titel=` is an error rather than a silently different question) and turned
//! into typed values with the spec's error codes.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;

use crate::catalog::{AnonymizerPolicy, Catalog, Platform};
use crate::geoip::CountryCode;
use crate::http::error::ApiError;
use crate::resolve::Query;

/// The longest query string accepted.
pub const MAX_QUERY_LEN: usize = 8 * 1024;

/// The parameters of one request, borrowed from the query string where no escape had to be
/// undone (a handful at most, so a list beats a map).
#[derive(Debug, Default)]
pub struct Params<'q> {
    values: Vec<(Cow<'q, str>, Cow<'q, str>)>,
}

impl<'q> Params<'q> {
    /// Parses `raw`, accepting only the parameters in `allowed`, each at most once.
    pub fn parse(raw: Option<&'q str>, allowed: &[&str]) -> Result<Params<'q>, ApiError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY_LEN {
            return Err(ApiError::InvalidParameter(format!(
                "the query string is longer than {MAX_QUERY_LEN} bytes"
            )));
        }
        let mut values: Vec<(Cow<'q, str>, Cow<'q, str>)> = Vec::with_capacity(allowed.len());
        for (name, value) in pairs(raw) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::InvalidParameter(format!(
                    "unknown parameter `{name}` (this route takes {})",
                    allowed.join(", ")
                )));
            }
            if values.iter().any(|(known, _)| *known == name) {
                return Err(ApiError::InvalidParameter(format!(
                    "`{name}` is given more than once"
                )));
            }
            values.push((name, value));
        }
        Ok(Params { values })
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_ref())
    }

    /// The value of `name`, which must be given and not empty.
    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::MissingParameter(name)),
        }
    }
}

/// The address asked about: `ip` when given (an empty one is invalid), else the client's,
/// worked out only then (so a bad forwarded header does not fail a request that names `ip`).
pub fn ip(
    value: Option<&str>,
    client: impl FnOnce() -> Result<Option<IpAddr>, ApiError>,
) -> Result<IpAddr, ApiError> {
    match value {
        Some(text) => text
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| ApiError::InvalidIp(text.to_owned())),
        None => client()?.ok_or(ApiError::MissingParameter("ip")),
    }
}

/// The question's time, platform and home country, checked in that order, with the service's
/// anonymizer policy.
pub fn query(
    at_value: Option<&str>,
    platform_value: Option<&str>,
    home_value: Option<&str>,
    catalog: &Catalog,
    policy: AnonymizerPolicy,
) -> Result<Query, ApiError> {
    Ok(Query {
        at: at(at_value, crate::reload::now())?,
        platform: platform(platform_value, catalog)?,
        home: home(home_value)?,
        policy,
    })
}

/// `at`: RFC 3339 with an offset; `now` when absent. A `+` offset sent unencoded arrives as
/// a space (`10:00:00 01:00`), as form decoding reads it, and is read as the `+` it was.
pub fn at(value: Option<&str>, now: Timestamp) -> Result<Timestamp, ApiError> {
    match value {
        None => Ok(now),
        Some(text) => text
            .parse::<Timestamp>()
            .or_else(|error| match text.rsplit_once(' ') {
                Some((time, offset)) => format!("{time}+{offset}").parse(),
                None => Err(error),
            })
            .map_err(|_| ApiError::InvalidTime(text.to_owned())),
    }
}

/// `platform`, checked against the catalog's vocabulary.
pub fn platform(value: Option<&str>, catalog: &Catalog) -> Result<Option<Platform>, ApiError> {
    match value {
        None => Ok(None),
        Some(name) => catalog
            .platform(name)
            .map(Some)
            .ok_or_else(|| ApiError::UnknownPlatform(name.to_owned())),
    }
}

/// `home`: an assigned ISO 3166-1 alpha-2 code, in either case.
pub fn home(value: Option<&str>) -> Result<Option<CountryCode>, ApiError> {
    match value {
        None => Ok(None),
        Some(text) => CountryCode::parse(&text.to_ascii_uppercase())
            .filter(|country| crate::iso3166::is_country(country.as_str()))
            .map(Some)
            .ok_or_else(|| ApiError::InvalidCountry(text.to_owned())),
    }
}

/// The name and value pairs of a query string, as `application/x-www-form-urlencoded` reads
/// them. A query with nothing to decode (no `%` and no `+`: nearly every one) is split in
/// place; the others go through `form_urlencoded`.
fn pairs(raw: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
    let encoded = raw.contains(['%', '+']);
    let decoded = encoded.then(|| form_urlencoded::parse(raw.as_bytes()));
    let in_place = (!encoded).then(|| {
        raw.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (Cow::Borrowed(name), Cow::Borrowed(value))
        })
    });
    decoded
        .into_iter()
        .flatten()
        .chain(in_place.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn queries_split_in_place_read_as_form_urlencoded_reads_them(
            raw in "[a-z0-9=&.:-]{0,40}"
        ) {
            let ours: Vec<_> = pairs(&raw).collect();
            let theirs: Vec<_> = form_urlencoded::parse(raw.as_bytes()).collect();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        assert_eq!(
            Params::parse(Some("titel=x"), &["title"])
                .unwrap_err()
                .code(),
            "invalid_parameter"
        );
        assert_eq!(
            Params::parse(Some("title=a&title=b"), &["title"])
                .unwrap_err()
                .code(),
            "invalid_parameter"
        );
        let params = Params::parse(Some("title=night%20harbor"), &["title"]).unwrap();
        assert_eq!(params.get("title"), Some("night harbor"));
    }

    #[test]
    fn an_empty_ip_is_invalid_and_a_missing_one_is_the_client() {
        assert_eq!(ip(Some(""), || Ok(None)).unwrap_err().code(), "invalid_ip");
        assert_eq!(
            ip(None, || Ok(None)).unwrap_err().code(),
            "missing_parameter"
        );
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(ip(None, || Ok(Some(client))), Ok(client));
        let bad_header = || Err(ApiError::InvalidIp("x".into()));
        assert_eq!(
            ip(Some("192.0.2.9"), bad_header),
            Ok("192.0.2.9".parse().unwrap())
        );
    }

    #[test]
    fn times_need_an_offset() {
        let now = Timestamp::UNIX_EPOCH;
        assert!(at(Some("2026-11-23T10:00:00Z"), now).is_ok());
        assert!(at(Some("2026-11-23T10:00:00+01:00"), now).is_ok());
        assert_eq!(
            at(Some("2026-11-23T10:00:00"), now).unwrap_err().code(),
            "invalid_time"
        );
        assert_eq!(at(None, now), Ok(now));
        // `+01:00` sent without `%2B`, as form decoding hands it over.
        assert_eq!(
            at(Some("2026-11-23T10:00:00 01:00"), now),
            at(Some("2026-11-23T09:00:00Z"), now)
        );
        assert_eq!(
            at(Some("2026-11-23T10:00:00 x"), now).unwrap_err().code(),
            "invalid_time"
        );
    }

    #[test]
    fn home_is_an_iso_country() {
        assert_eq!(home(Some("fr")).unwrap().unwrap().as_str(), "FR");
        assert_eq!(home(Some("XX")).unwrap_err().code(), "invalid_country");
    }
}
