//! The JSON shapes of SPEC §4: the only place that knows them. `--json` in the CLI uses the
//! same structs, so the two can never disagree.

use std::net::IpAddr;

use serde::Serialize;

use crate::geoip;

/// A location as answered by `/v1/locate` and inside availability answers.
#[derive(Debug, Serialize)]
pub struct Location {
    /// The address asked about.
    pub ip: IpAddr,
    /// ISO 3166-1 alpha-2, or null when unknown.
    pub country: Option<String>,
    /// ISO 3166-2 such as `US-CA`, or null.
    pub region: Option<String>,
    /// `geoip`, `registered_country`, `override` or `none`.
    pub source: &'static str,
    /// True when an anonymizer source flags the address.
    pub anonymizer: bool,
}

impl Location {
    /// The wire form of `location` for `ip`.
    pub fn new(ip: IpAddr, location: &geoip::Location) -> Location {
        Location {
            ip,
            country: location.country.map(|country| country.to_string()),
            region: location.region.map(|region| region.to_string()),
            source: location.source.as_str(),
            anonymizer: location.anonymizer,
        }
    }
}
