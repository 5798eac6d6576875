//! The JSON shapes of SPEC §4: the only place that knows them. `--json` in the CLI uses the
//! same structs, so the two can never disagree. The answers to availability, batch and
//! listing requests are also written by `to_json`, without serde; tests hold its bytes to
//! `Serialize`'s.

use std::net::IpAddr;

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;
use serde::Serialize;

use crate::catalog::WrittenList;
use crate::geoip;
use crate::resolve::{self, Decision};

/// An instant on the wire: RFC 3339 in UTC, written straight into the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub Timestamp);

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A location as answered by `/v1/locate` and inside availability answers.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Location<'a> {
    /// The address asked about.
    #[schema(value_type = String, example = "203.0.113.7")]
    pub ip: IpAddr,
    /// ISO 3166-1 alpha-2, or null when unknown.
    pub country: Option<&'a str>,
    /// ISO 3166-2 such as `US-CA`, or null.
    pub region: Option<&'a str>,
    /// `geoip`, `registered_country`, `override` or `none`.
    pub source: &'static str,
    /// True when an anonymizer source flags the address.
    pub anonymizer: bool,
}

impl<'a> Location<'a> {
    /// The wire form of `location` for `ip`.
    pub fn new(ip: IpAddr, location: &'a geoip::Location) -> Location<'a> {
        Location {
            ip,
            country: location.country.as_ref().map(|country| country.as_str()),
            region: location.region.as_ref().map(|region| region.as_str()),
            source: location.source.as_str(),
            anonymizer: location.anonymizer,
        }
    }
}

/// The answer for one title, without the location (inside batch answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Option<String>)]
    pub available_until: Option<Instant>,
    /// With `window_not_started`: when a license would grant.
    #[schema(value_type = Option<String>)]
    pub available_from: Option<Instant>,
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
            license: decision.license.map(|license| license.get().label()),
            available_until: decision.available_until.map(Instant),
            available_from: decision.available_from.map(Instant),
            portability: decision.portability,
        }
    }
}

/// `GET /v1/availability`: one title's answer with the location and the catalog version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Availability<'a> {
    /// The answer.
    #[serde(flatten)]
    pub decision: TitleDecision<'a>,
    /// The time asked about.
    #[schema(value_type = String)]
    pub at: Instant,
    /// Where the device was located (the real location, also under portability).
    pub location: Location<'a>,
    /// The catalog the answer came from.
    pub catalog_version: &'a str,
}

impl Availability<'_> {
    /// The answer as JSON, byte for byte what `Serialize` writes (a test holds the two
    /// together). Every playback request gets one, and serde's way (the map that `flatten`
    /// builds, each field name escaped on every answer) was about a twentieth of a request's
    /// CPU time; here field names are literals and only values are escaped.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = Json(Vec::with_capacity(512));
        json.raw("{");
        self.decision.write_fields(&mut json);
        json.raw(",\"at\":");
        json.instant(Some(self.at));
        json.raw(",\"location\":");
        self.location.write(&mut json);
        json.raw(",\"catalog_version\":");
        json.string(self.catalog_version);
        json.raw("}");
        json.0
    }
}

impl Batch<'_> {
    /// The answer as JSON, byte for byte what `Serialize` writes (see `Availability::to_json`).
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = Json(Vec::with_capacity(256 + 192 * self.results.len()));
        json.head(&self.location, self.at, self.catalog_version);
        json.raw(",\"results\":[");
        for (n, result) in self.results.iter().enumerate() {
            if n > 0 {
                json.raw(",");
            }
            match result {
                BatchResult::Decision(decision) => {
                    json.raw("{");
                    decision.write_fields(&mut json);
                    json.raw("}");
                }
                BatchResult::Error { title, error } => {
                    json.raw("{\"title\":");
                    json.string(title);
                    json.raw(",\"error\":{\"code\":");
                    json.string(error.code);
                    json.raw(",\"message\":");
                    json.string(&error.message);
                    json.raw("}}");
                }
            }
        }
        json.raw("]}");
        json.0
    }
}

impl Listing<'_> {
    /// The answer as JSON, byte for byte what `Serialize` writes (see `Availability::to_json`):
    /// a page holds up to 10,000 titles, each with four fields.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = Json(Vec::with_capacity(256 + 96 * self.titles.len()));
        json.head(&self.location, self.at, self.catalog_version);
        json.raw(",\"titles\":[");
        for (n, title) in self.titles.iter().enumerate() {
            json.raw(if n > 0 { ",{\"id\":" } else { "{\"id\":" });
            json.string(title.id);
            json.raw(",\"name\":");
            json.string(title.name);
            json.raw(",\"license\":");
            json.optional_string(title.license);
            json.raw(",\"available_until\":");
            json.instant(title.available_until);
            json.raw("}");
        }
        json.raw("],\"next_after\":");
        json.optional_string(self.next_after);
        json.raw("}");
        json.0
    }
}

impl TitleDecision<'_> {
    /// The fields, in `Serialize`'s order, without the braces.
    fn write_fields(&self, json: &mut Json) {
        json.raw("\"title\":");
        json.string(self.title);
        json.raw(",\"available\":");
        json.bool(self.available);
        json.raw(",\"reason\":");
        json.string(self.reason);
        json.raw(",\"license\":");
        json.optional_string(self.license);
        json.raw(",\"available_until\":");
        json.instant(self.available_until);
        json.raw(",\"available_from\":");
        json.instant(self.available_from);
        json.raw(",\"portability\":");
        json.bool(self.portability);
    }
}

impl Location<'_> {
    fn write(&self, json: &mut Json) {
        json.raw("{\"ip\":");
        json.ip(self.ip);
        json.raw(",\"country\":");
        json.optional_string(self.country);
        json.raw(",\"region\":");
        json.optional_string(self.region);
        json.raw(",\"source\":");
        json.string(self.source);
        json.raw(",\"anonymizer\":");
        json.bool(self.anonymizer);
        json.raw("}");
    }
}

/// Compact JSON written piece by piece; strings are escaped by `serde_json` itself.
struct Json(Vec<u8>);

impl Json {
    /// How batch and listing answers begin: `{"location":…,"at":…,"catalog_version":…`.
    fn head(&mut self, location: &Location, at: Instant, catalog_version: &str) {
        self.raw("{\"location\":");
        location.write(self);
        self.raw(",\"at\":");
        self.instant(Some(at));
        self.raw(",\"catalog_version\":");
        self.string(catalog_version);
    }

    /// Literal JSON: punctuation and field names.
    fn raw(&mut self, json: &str) {
        self.0.extend_from_slice(json.as_bytes());
    }

    fn string(&mut self, value: &str) {
        serde_json::to_writer(&mut self.0, value).expect("a string always encodes into a Vec");
    }

    fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.raw("null"),
        }
    }

    fn bool(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    /// RFC 3339 as `Instant`'s `Display` writes it, which never needs escaping.
    fn instant(&mut self, value: Option<Instant>) {
        const PRINTER: DateTimePrinter = DateTimePrinter::new();
        match value {
            Some(instant) => {
                self.raw("\"");
                PRINTER
                    .print_timestamp(&instant.0, &mut self.0)
                    .expect("printing into a Vec never fails");
                self.raw("\"");
            }
            None => self.raw("null"),
        }
    }

    /// An address as its `Display` writes it, which never needs escaping. IPv4 is written
    /// octet by octet: through `write!` it took as long as the rest of the answer.
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(ip) => {
                let mut digits = itoa::Buffer::new();
                self.raw("\"");
                for (n, octet) in ip.octets().into_iter().enumerate() {
                    if n > 0 {
                        self.raw(".");
                    }
                    self.raw(digits.format(octet));
                }
                self.raw("\"");
            }
            IpAddr::V6(ip) => {
                use std::io::Write;
                write!(self.0, "\"{ip}\"").expect("writing into a Vec never fails");
            }
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedTitle<'a> {
    /// The title's id.
    pub id: &'a str,
    /// The title's name.
    pub name: &'a str,
    /// The granting license's label.
    pub license: Option<&'a str>,
    /// When the granting license ends.
    #[schema(value_type = Option<String>)]
    pub available_until: Option<Instant>,
}

/// `GET /v1/titles`: the titles available at a location, a page at a time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listing<'a> {
    /// Where the device was located.
    pub location: Location<'a>,
    /// The time asked about.
    #[schema(value_type = String)]
    pub at: Instant,
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
        location: Location<'a>,
        at: Timestamp,
        catalog_version: &'a str,
    ) -> Listing<'a> {
        Listing {
            location,
            at: Instant(at),
            catalog_version,
            titles: listing
                .titles
                .iter()
                .map(|(title, decision)| ListedTitle {
                    id: &title.id,
                    name: &title.name,
                    license: decision.license.map(|license| license.get().label()),
                    available_until: decision.available_until.map(Instant),
                })
                .collect(),
            next_after: listing.next_after,
        }
    }
}

/// One entry of a batch answer: a decision, or an error for that title alone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchResult<'a> {
    /// The title's answer.
    Decision(TitleDecision<'a>),
    /// Why this title could not be answered.
    Error {
        /// The title asked about.
        title: String,
        /// `{code, message}`.
        error: ErrorDetail,
    },
}

/// An error inside a batch answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The spec's code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// `POST /v1/availability`: one entry per requested title, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Batch<'a> {
    /// Where the device was located.
    pub location: Location<'a>,
    /// The time asked about.
    #[schema(value_type = String)]
    pub at: Instant,
    /// The catalog the answers came from.
    pub catalog_version: &'a str,
    /// In request order.
    pub results: Vec<BatchResult<'a>>,
}

/// The body of `POST /v1/availability`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The device's address; default: the client's.
    pub ip: Option<String>,
    /// The titles, at most 1000.
    pub titles: Vec<String>,
    /// RFC 3339 with an offset; default: now.
    pub at: Option<String>,
    /// The device's platform.
    pub platform: Option<String>,
    /// The account's home country.
    pub home: Option<String>,
}

/// A license as written, in `GET /v1/titles/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LicenseInfo<'a> {
    /// Its `id`, or `<file>#<n>`.
    pub id: &'a str,
    /// As written.
    #[schema(value_type = Vec<String>)]
    pub territories: WrittenList<'a>,
    /// As written.
    #[schema(value_type = Vec<String>)]
    pub exclude: WrittenList<'a>,
    /// As written (a local date or date-time is read in `timezone`).
    pub start: Option<&'a str>,
    /// As written.
    pub end: Option<&'a str>,
    /// As written; absent means UTC.
    pub timezone: Option<&'a str>,
    /// As written; absent means every platform.
    #[schema(value_type = Option<Vec<String>>)]
    pub platforms: Option<WrittenList<'a>>,
}

/// A blackout as written, in `GET /v1/titles/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlackoutInfo<'a> {
    /// As written.
    #[schema(value_type = Vec<String>)]
    pub territories: WrittenList<'a>,
    /// As written.
    pub start: Option<&'a str>,
    /// As written.
    pub end: Option<&'a str>,
    /// As written; absent means UTC.
    pub timezone: Option<&'a str>,
    /// Why, for people.
    pub reason: Option<&'a str>,
}

/// `GET /v1/titles/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TitleDetail<'a> {
    /// The id.
    pub id: &'a str,
    /// The name.
    pub name: &'a str,
    /// In file order.
    pub licenses: Vec<LicenseInfo<'a>>,
    /// In file order.
    pub blackouts: Vec<BlackoutInfo<'a>>,
    /// The time asked about.
    pub at: String,
    /// Countries where it is available everywhere in the country, sorted.
    pub countries: Vec<String>,
    /// Regions where it is available although their country as a whole is not, sorted.
    pub regions: Vec<String>,
    /// The catalog the answer came from.
    pub catalog_version: &'a str,
}

impl<'a> TitleDetail<'a> {
    /// The wire form of a title and where it is available.
    pub fn new(
        title: &'a crate::catalog::Title,
        at: Timestamp,
        countries: Vec<String>,
        regions: Vec<String>,
        catalog_version: &'a str,
    ) -> TitleDetail<'a> {
        TitleDetail {
            id: &title.id,
            name: &title.name,
            licenses: title
                .licenses
                .iter()
                .map(|license| LicenseInfo {
                    id: license.label(),
                    territories: license.written.territories(),
                    exclude: license.written.exclude(),
                    start: license.written.start(),
                    end: license.written.end(),
                    timezone: license.written.timezone(),
                    platforms: license.written.platforms(),
                })
                .collect(),
            blackouts: title
                .blackouts
                .iter()
                .map(|blackout| BlackoutInfo {
                    territories: blackout.written.territories(),
                    start: blackout.written.start(),
                    end: blackout.written.end(),
                    timezone: blackout.written.timezone(),
                    reason: blackout.reason.as_deref(),
                })
                .collect(),
            at: at.to_string(),
            countries,
            regions,
            catalog_version,
        }
    }
}

/// A source's last failure.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastError {
    /// When it failed.
    pub at: String,
    /// `path:line:col: message` lines.
    pub messages: Vec<String>,
}

/// `catalog` in `/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogStatus {
    /// The folder.
    pub path: String,
    /// The content hash.
    pub version: String,
    /// Files read.
    pub files: usize,
    /// Titles.
    pub titles: usize,
    /// Licenses.
    pub licenses: usize,
    /// When the served catalog was loaded.
    pub loaded_at: String,
    /// Validation warnings, and the region warning.
    pub warnings: Vec<String>,
    /// The last failure, until a good load.
    pub last_error: Option<LastError>,
}

/// `geoip` in `/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeoipStatus {
    /// The file.
    pub path: String,
    /// `database_type` from the metadata.
    #[serde(rename = "type")]
    pub database_type: String,
    /// The build time, RFC 3339.
    pub build_date: String,
    /// Days since the build.
    pub age_days: i64,
    /// Networks with a record.
    pub networks: usize,
    /// Ranges in the index.
    pub ranges: usize,
    /// Which field the countries come from.
    pub country_field: String,
    /// True when the database has region codes.
    pub has_regions: bool,
    /// When the served database was loaded.
    pub loaded_at: String,
    /// Age and region warnings.
    pub warnings: Vec<String>,
    /// The last failure, until a good load.
    pub last_error: Option<LastError>,
}

/// `overrides` in `/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverridesStatus {
    /// The file, or null when none is configured.
    pub path: Option<String>,
    /// Entries loaded.
    pub entries: usize,
    /// When the served overrides were loaded.
    pub loaded_at: String,
    /// The last failure, until a good load.
    pub last_error: Option<LastError>,
}

/// `anonymizer` in `/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnonymizerStatus {
    /// The file, or null when none is configured.
    pub path: Option<String>,
    /// `database_type` from the metadata.
    #[serde(rename = "type")]
    pub database_type: Option<String>,
    /// The build time, RFC 3339.
    pub build_date: Option<String>,
    /// Networks with a record.
    pub networks: Option<usize>,
    /// When the served database was loaded.
    pub loaded_at: Option<String>,
    /// The last failure, until a good load.
    pub last_error: Option<LastError>,
}

/// `last_reload` in `/v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastReload {
    /// When.
    pub at: String,
    /// `watch`, `sighup` or `admin`.
    pub trigger: &'static str,
    /// `ok` or `failed`.
    pub result: &'static str,
}

/// `GET /v1/status`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// True when a catalog and a database are loaded.
    pub ready: bool,
    /// The catalog.
    pub catalog: CatalogStatus,
    /// The GeoIP database.
    pub geoip: GeoipStatus,
    /// The overrides file.
    pub overrides: OverridesStatus,
    /// The anonymizer database.
    pub anonymizer: AnonymizerStatus,
    /// Null before the first reload after start-up.
    pub last_reload: Option<LastReload>,
}

/// The query parameters shared by the routes that answer for a device (for the OpenAPI
/// document; the handlers parse them strictly in `params`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeviceParams {
    /// The device's address; default: the client's (through trusted proxies).
    ip: Option<String>,
    /// RFC 3339 with an offset; default: now.
    at: Option<String>,
    /// The device's platform, such as `tv`.
    platform: Option<String>,
    /// The account's home country, for EU portability.
    home: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decision<'a>(
        title: &'a str,
        license: Option<&'a str>,
        at: Option<Instant>,
    ) -> TitleDecision<'a> {
        TitleDecision {
            title,
            available: license.is_some(),
            reason: if license.is_some() {
                "licensed"
            } else {
                "not_licensed"
            },
            license,
            available_until: at,
            available_from: None,
            portability: false,
        }
    }

    fn location(ip: IpAddr, country: Option<&str>) -> Location<'_> {
        Location {
            ip,
            country,
            region: country.map(|_| "US-CA"),
            source: "geoip",
            anonymizer: true,
        }
    }

    /// `written` (an answer's `to_json`) against serde's encoding of the same answer.
    fn same_as_serde(answer: &impl Serialize, written: Vec<u8>) {
        assert_eq!(
            String::from_utf8(written).unwrap(),
            serde_json::to_string(answer).unwrap()
        );
    }

    fn check_availability(answer: &Availability) {
        same_as_serde(answer, answer.to_json());
    }

    fn check_batch(answer: &Batch) {
        same_as_serde(answer, answer.to_json());
    }

    const AT: &str = "2026-12-01T15:55:31Z";

    fn instant(text: &str) -> Instant {
        Instant(text.parse().unwrap())
    }

    #[test]
    fn an_availability_answer_is_written_as_serde_writes_it() {
        check_availability(&Availability {
            decision: decision("maple-and-main", Some("acme-na-2026"), Some(instant(AT))),
            at: instant(AT),
            location: location("192.0.2.100".parse().unwrap(), Some("US")),
            catalog_version: "410e1fea9980",
        });
        check_availability(&Availability {
            decision: decision("t", None, None),
            at: instant("2026-12-01T15:55:31.123456789Z"),
            location: location("2001:db8::1".parse().unwrap(), None),
            catalog_version: "",
        });
    }

    #[test]
    fn strings_that_need_escaping_are_escaped_as_serde_escapes_them() {
        check_availability(&Availability {
            decision: decision(
                "quote\" back\\slash",
                Some("tab\tnew\nline\u{1} é 🎬"),
                None,
            ),
            at: instant(AT),
            location: location("::ffff:192.0.2.1".parse().unwrap(), Some("\u{7f}")),
            catalog_version: "</script>",
        });
    }

    #[test]
    fn a_batch_answer_is_written_as_serde_writes_it() {
        let location = location("198.51.100.7".parse().unwrap(), Some("FR"));
        check_batch(&Batch {
            location,
            at: instant(AT),
            catalog_version: "v",
            results: vec![],
        });
        check_batch(&Batch {
            location,
            at: instant(AT),
            catalog_version: "v",
            results: vec![
                BatchResult::Decision(decision("a", Some("l"), Some(instant(AT)))),
                BatchResult::Error {
                    title: "no \"such\" title".into(),
                    error: ErrorDetail {
                        code: "unknown_title",
                        message: "no title \"x\"\n".into(),
                    },
                },
                BatchResult::Decision(decision("b", None, None)),
            ],
        });
    }

    #[test]
    fn a_listing_is_written_as_serde_writes_it() {
        let location = location("203.0.113.9".parse().unwrap(), Some("JP"));
        let titles = |n: usize| {
            (0..n)
                .map(|k| ListedTitle {
                    id: ["a", "b\"c", "d"][k % 3],
                    name: ["Maple & Main", "Tab\there", "🎬 ünïcode"][k % 3],
                    license: [None, Some("l\\1"), Some("")][k % 3],
                    available_until: [None, Some(instant(AT))][k % 2],
                })
                .collect::<Vec<_>>()
        };
        for (n, next_after) in [(0, None), (1, Some("a")), (7, Some("d\n"))] {
            let answer = Listing {
                location,
                at: instant(AT),
                catalog_version: "v1",
                titles: titles(n),
                next_after,
            };
            same_as_serde(&answer, answer.to_json());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_availability_answer_is_written_as_serde_writes_it(
            title in any::<String>(),
            license in proptest::option::of(any::<String>()),
            version in any::<String>(),
            country in proptest::option::of("[A-Z]{2}"),
            v6 in any::<bool>(),
            bits in any::<u128>(),
            seconds in 0i64..4_102_444_800,
            nanos in 0i32..1_000_000_000,
            from in any::<bool>(),
            portability in any::<bool>(),
        ) {
            let ip = if v6 {
                IpAddr::from(std::net::Ipv6Addr::from(bits))
            } else {
                IpAddr::from(std::net::Ipv4Addr::from(bits as u32))
            };
            let at = Instant(Timestamp::new(seconds, nanos).unwrap());
            let mut decision = decision(&title, license.as_deref(), Some(at));
            decision.portability = portability;
            if from {
                decision.available_from = Some(at);
            }
            let answer = Availability {
                decision,
                at,
                location: location(ip, country.as_deref()),
                catalog_version: &version,
            };
            prop_assert_eq!(answer.to_json(), serde_json::to_vec(&answer).unwrap());
        }

        #[test]
        fn any_listing_and_batch_are_written_as_serde_writes_them(
            titles in proptest::collection::vec(
                (any::<String>(), any::<String>(), proptest::option::of(any::<String>()), any::<bool>()),
                0..6,
            ),
            next_after in proptest::option::of(any::<String>()),
            version in any::<String>(),
            seconds in Timestamp::MIN.as_second() + 1..Timestamp::MAX.as_second(),
            nanos in 0i32..1_000_000_000,
            errors in proptest::collection::vec(any::<bool>(), 0..6),
        ) {
            let at = Instant(Timestamp::new(seconds, nanos).unwrap());
            let location = location("2001:db8::7".parse().unwrap(), Some("FR"));
            let listing = Listing {
                location,
                at,
                catalog_version: &version,
                titles: titles
                    .iter()
                    .map(|(id, name, license, until)| ListedTitle {
                        id,
                        name,
                        license: license.as_deref(),
                        available_until: until.then_some(at),
                    })
                    .collect(),
                next_after: next_after.as_deref(),
            };
            prop_assert_eq!(listing.to_json(), serde_json::to_vec(&listing).unwrap());
            let batch = Batch {
                location,
                at,
                catalog_version: &version,
                results: titles
                    .iter()
                    .zip(&errors)
                    .map(|((id, name, license, _), &error)| {
                        if error {
                            BatchResult::Error {
                                title: id.clone(),
                                error: ErrorDetail { code: "unknown_title", message: name.clone() },
                            }
                        } else {
                            BatchResult::Decision(decision(id, license.as_deref(), Some(at)))
                        }
                    })
                    .collect(),
            };
            prop_assert_eq!(batch.to_json(), serde_json::to_vec(&batch).unwrap());
        }
    }
}
