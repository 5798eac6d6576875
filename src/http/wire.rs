//! The JSON shapes of SPEC §4: the only place that knows them. `--json` in the CLI uses the
//! same structs, so the two can never disagree.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::Serialize;

use crate::geoip;
use crate::resolve::{self, Decision};

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

/// The answer for one title, without the location (inside batch answers).
#[derive(Debug, Serialize)]
pub struct TitleDecision<'a> {
    /// The title's id.
    pub title: &'a str,
    /// True when the title may stream.
    pub available: bool,
    /// The reason code.
    pub reason: &'static str,
    /// The granting license's label.
    pub license: Option<&'a str>,
    /// When the granting license ends.
    pub available_until: Option<String>,
    /// With `window_not_started`: when a license would grant.
    pub available_from: Option<String>,
    /// True when the rules were applied in the account's home country.
    pub portability: bool,
}

impl<'a> TitleDecision<'a> {
    /// The wire form of `decision` for `title`.
    pub fn new(title: &'a str, decision: &Decision<'a>) -> TitleDecision<'a> {
        TitleDecision {
            title,
            available: decision.is_available(),
            reason: decision.reason.as_str(),
            license: decision.license.map(|license| license.label.as_str()),
            available_until: decision.available_until.map(|at| at.to_string()),
            available_from: decision.available_from.map(|at| at.to_string()),
            portability: decision.portability,
        }
    }
}

/// `GET /v1/availability`: one title's answer with the location and the catalog version.
#[derive(Debug, Serialize)]
pub struct Availability<'a> {
    /// The answer.
    #[serde(flatten)]
    pub decision: TitleDecision<'a>,
    /// The time asked about.
    pub at: String,
    /// Where the device was located (the real location, also under portability).
    pub location: Location,
    /// The catalog the answer came from.
    pub catalog_version: &'a str,
}

/// One entry of a listing.
#[derive(Debug, Serialize)]
pub struct ListedTitle<'a> {
    /// The title's id.
    pub id: &'a str,
    /// The title's name.
    pub name: &'a str,
    /// The granting license's label.
    pub license: Option<&'a str>,
    /// When the granting license ends.
    pub available_until: Option<String>,
}

/// `GET /v1/titles`: the titles available at a location, a page at a time.
#[derive(Debug, Serialize)]
pub struct Listing<'a> {
    /// Where the device was located.
    pub location: Location,
    /// The time asked about.
    pub at: String,
    /// The catalog the answer came from.
    pub catalog_version: &'a str,
    /// This page, sorted by id.
    pub titles: Vec<ListedTitle<'a>>,
    /// Pass as `after` for the next page; null when no title follows.
    pub next_after: Option<&'a str>,
}

impl<'a> Listing<'a> {
    /// The wire form of a listing.
    pub fn new(
        listing: &resolve::Listing<'a>,
        location: Location,
        at: Timestamp,
        catalog_version: &'a str,
    ) -> Listing<'a> {
        Listing {
            location,
            at: at.to_string(),
            catalog_version,
            titles: listing
                .titles
                .iter()
                .map(|(title, decision)| ListedTitle {
                    id: &title.id,
                    name: &title.name,
                    license: decision.license.map(|license| license.label.as_str()),
                    available_until: decision.available_until.map(|at| at.to_string()),
                })
                .collect(),
            next_after: listing.next_after,
        }
    }
}
