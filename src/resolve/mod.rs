//! (title, location, query) -> `Decision`: the resolution rules of SPEC §3.
//!
//! `rules` applies them as written; `compiled` holds each title's answers worked out at load
//! time for the common question, and answers it without looping over licenses. Every answer
//! is the rules' answer: the compiled one is used where it covers the question.
//!
//! Pure: no IO, no clock (the time arrives in the query), and a "no" is a value with a reason,
//! never an error. Listing starts from the catalog's territory index so it only looks at
//! titles that could be available where the device is.

pub(crate) mod compiled;
mod rules;

use jiff::Timestamp;

use crate::catalog::territory::{Match, is_eu};
use crate::catalog::{AnonymizerPolicy, Catalog, License, Platform, Title, TitleRef};
use crate::geoip::{CountryCode, Location, RegionCode};
use crate::resolve::compiled::Timeline;

/// What is asked besides the title and the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// When the stream would play.
    pub at: Timestamp,
    /// The device's platform; `None` asks about any platform.
    pub platform: Option<Platform>,
    /// The account's home country, for EU portability.
    pub home: Option<CountryCode>,
    /// `policy.anonymizer`, for titles that do not set their own.
    pub policy: AnonymizerPolicy,
}

/// Why a title is or is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A license grants.
    Licensed,
    /// A blackout denies.
    Blackout,
    /// The address is an anonymizer and the policy denies them.
    Anonymizer,
    /// A license would grant, later (`available_from` says when).
    WindowNotStarted,
    /// A license would grant, but its window has closed.
    WindowEnded,
    /// A license would grant on another platform.
    PlatformNotLicensed,
    /// A license covers the territory but carves this place out.
    TerritoryExcluded,
    /// A known region could have changed the answer.
    RegionUnknown,
    /// No license covers the place.
    NotLicensedInTerritory,
    /// No source located the address.
    LocationUnknown,
}

impl Reason {
    /// The spec's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Licensed => "licensed",
            Reason::Blackout => "blackout",
            Reason::Anonymizer => "anonymizer",
            Reason::WindowNotStarted => "window_not_started",
            Reason::WindowEnded => "window_ended",
            Reason::PlatformNotLicensed => "platform_not_licensed",
            Reason::TerritoryExcluded => "territory_excluded",
            Reason::RegionUnknown => "region_unknown",
            Reason::NotLicensedInTerritory => "not_licensed_in_territory",
            Reason::LocationUnknown => "location_unknown",
        }
    }

    /// Every reason, for checks that a test produced each.
    pub const ALL: [Reason; 10] = [
        Reason::Licensed,
        Reason::Blackout,
        Reason::Anonymizer,
        Reason::WindowNotStarted,
        Reason::WindowEnded,
        Reason::PlatformNotLicensed,
        Reason::TerritoryExcluded,
        Reason::RegionUnknown,
        Reason::NotLicensedInTerritory,
        Reason::LocationUnknown,
    ];
}

/// A license of a title, named by its position: a decision names its license without
/// reading it, and whoever shows the answer reads it.
#[derive(Debug, Clone, Copy)]
pub struct LicenseRef<'c> {
    title: &'c Title,
    index: u32,
}

impl<'c> LicenseRef<'c> {
    pub(crate) fn new(title: &'c Title, index: usize) -> LicenseRef<'c> {
        LicenseRef {
            title,
            index: index as u32,
        }
    }

    /// The license.
    pub fn get(&self) -> &'c License {
        &self.title.licenses[self.index as usize]
    }

    /// Its position among its title's licenses.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

impl std::ops::Deref for LicenseRef<'_> {
    type Target = License;

    fn deref(&self) -> &License {
        self.get()
    }
}

impl PartialEq for LicenseRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.title, other.title) && self.index == other.index
    }
}

impl Eq for LicenseRef<'_> {}

/// The answer for one title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'c> {
    /// `Licensed` exactly when the title may stream.
    pub reason: Reason,
    /// The granting license: among several, the one whose window ends last.
    pub license: Option<LicenseRef<'c>>,
    /// The granting license's end, when it has one.
    pub available_until: Option<Timestamp>,
    /// With `WindowNotStarted`: the earliest start of a license that would then grant.
    pub available_from: Option<Timestamp>,
    /// True when the rules were applied in the account's home country.
    pub portability: bool,
}

impl Decision<'_> {
    /// True when the title may stream.
    pub fn is_available(&self) -> bool {
        self.reason == Reason::Licensed
    }

    fn denied(reason: Reason, portability: bool) -> Self {
        Decision {
            reason,
            license: None,
            available_until: None,
            available_from: None,
            portability,
        }
    }
}

/// Whether `title` may stream at `location` for `query`.
#[inline]
pub fn title<'c>(
    catalog: &'c Catalog,
    title: TitleRef<'c>,
    location: &Location,
    query: &Query,
) -> Decision<'c> {
    compiled::decide(
        catalog.record(title.position()),
        title.title(),
        location,
        query,
    )
    .unwrap_or_else(|| rules::title(title.title(), location, query))
}

/// A page of the titles available at `location`, in id order, starting after `after`.
#[derive(Debug)]
pub struct Listing<'c> {
    /// The available titles with their decisions.
    pub titles: Vec<(&'c Title, Decision<'c>)>,
    /// The last id of this page when another available title follows it.
    pub next_after: Option<&'c str>,
}

/// Every title available at `location` for `query`, at most `limit`, after the id `after`.
pub fn available<'c>(
    catalog: &'c Catalog,
    location: &Location,
    query: &Query,
    after: Option<&str>,
    limit: usize,
) -> Listing<'c> {
    let portability = match (query.home, location.country) {
        (Some(home), Some(located)) => home != located && is_eu(home) && is_eu(located),
        _ => false,
    };
    let (country, region) = if portability {
        (query.home, None)
    } else {
        (location.country, location.region)
    };
    // Titles are in id order, so a page starts at the first title after `after`.
    let first = after.map_or(0, |after| catalog.position_after(after));
    // An anonymizer the title turns away is a question the compiled answers do not cover.
    let anonymizer = location.anonymizer;
    let records = catalog.records();
    let candidates = catalog.candidates(country);
    let mut titles = Vec::with_capacity(candidates.bound.min(limit.saturating_add(1)));
    let mut next_after = None;
    for entry in candidates {
        if entry.position() < first {
            continue;
        }
        let found = catalog.title_at(entry.position());
        let timeline = entry
            .timeline(records, region.is_some(), query.platform.is_some())
            .filter(|_| {
                !(anonymizer && found.anonymizer.unwrap_or(query.policy) == AnonymizerPolicy::Deny)
            });
        let decision = match timeline {
            Some(timeline) => {
                let packed = timeline.at(query.at);
                if !Timeline::grants(packed) {
                    continue;
                }
                timeline.decision(packed, found.title(), portability)
            }
            None => {
                let decision = rules::title(found.title(), location, query);
                if !decision.is_available() {
                    continue;
                }
                decision
            }
        };
        if titles.len() == limit {
            next_after = titles
                .last()
                .map(|(last, _): &(&Title, _)| last.id.as_str());
            break;
        }
        titles.push((found.title(), decision));
    }
    Listing { titles, next_after }
}

/// Where a title is available at `at` on any platform: the countries where it is available
/// everywhere in the country, and the regions where it is available although the country as
/// a whole is not. Both sorted.
pub fn where_available(
    catalog: &Catalog,
    title: TitleRef<'_>,
    at: Timestamp,
) -> (Vec<CountryCode>, Vec<RegionCode>) {
    let query = Query {
        at,
        platform: None,
        home: None,
        policy: AnonymizerPolicy::Allow,
    };
    let mut countries = Vec::new();
    let mut regions = Vec::new();
    for code in crate::iso3166::countries() {
        let Some(country) = CountryCode::parse(code) else {
            continue;
        };
        let touches = title
            .licenses
            .iter()
            .any(|license| license.territories.matches(country, None) != Match::No);
        if !touches {
            continue;
        }
        let located = |region| Location {
            country: Some(country),
            region,
            source: crate::geoip::LocationSource::Geoip,
            anonymizer: false,
        };
        if self::title(catalog, title, &located(None), &query).is_available() {
            countries.push(country);
            continue;
        }
        for code in crate::iso3166::subdivisions(code) {
            // Devices there are located as the country it also is (`US-PR` as `PR`).
            if crate::iso3166::country_of_subdivision(code).is_some() {
                continue;
            }
            let Some(region) = RegionCode::parse(code) else {
                continue;
            };
            if self::title(catalog, title, &located(Some(region)), &query).is_available() {
                regions.push(region);
            }
        }
    }
    countries.sort();
    regions.sort();
    (countries, regions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LoadOptions;
    use crate::catalog::parse::parse_file;
    use crate::catalog::validate::validate;
    use crate::geoip::LocationSource;

    const NOW: &str = "2026-11-23T10:00:00Z";

    fn catalog(text: &str) -> Catalog {
        let options = LoadOptions {
            now: NOW.parse().unwrap(),
            geoip_has_regions: None,
        };
        validate(&[parse_file("t.toml", text)], &options).expect("valid test catalog")
    }

    fn at(country: &str, region: Option<&str>) -> Location {
        Location {
            country: CountryCode::parse(country),
            region: region.and_then(RegionCode::parse),
            source: LocationSource::Geoip,
            anonymizer: false,
        }
    }

    fn anonymized(mut location: Location) -> Location {
        location.anonymizer = true;
        location
    }

    fn query(time: &str) -> Query {
        Query {
            at: time.parse().unwrap(),
            platform: None,
            home: None,
            policy: AnonymizerPolicy::Deny,
        }
    }

    fn decide(text: &str, location: Location, query: Query) -> (Reason, Option<String>) {
        let catalog = catalog(text);
        let title = catalog.title_at(0);
        let decision = crate::resolve::title(&catalog, title, &location, &query);
        (
            decision.reason,
            decision.license.map(|l| l.label().to_owned()),
        )
    }

    fn check(text: &str, location: Location, expected: Reason) {
        assert_eq!(decide(text, location, query(NOW)).0, expected);
    }

    fn title(licenses: &str) -> String {
        format!("[[titles]]\nid = \"t\"\nname = \"T\"\n{licenses}")
    }

    const US: &str = "[[titles.licenses]]\nterritories = [\"US\"]\n";
    const CALIFORNIA: &str = "[[titles.licenses]]\nterritories = [\"US-CA\"]\n";
    const CANADA_EXCEPT_QUEBEC: &str =
        "[[titles.licenses]]\nterritories = [\"CA\"]\nexclude = [\"CA-QC\"]\n";
    const WORLD: &str = "[[titles.licenses]]\nterritories = [\"@WORLD\"]\n";
    const NEW_YORK_BLACKOUT: &str = "[[titles.blackouts]]\nterritories = [\"US-NY\"]\n\
                                     start = 2026-11-01T00:00:00Z\nend = 2026-12-01T00:00:00Z\n";

    #[test]
    fn a_country_license_grants_everywhere_in_the_country() {
        check(&title(US), at("US", None), Reason::Licensed);
        check(&title(US), at("US", Some("US-CA")), Reason::Licensed);
        check(&title(US), at("CA", None), Reason::NotLicensedInTerritory);
    }

    #[test]
    fn a_region_license_grants_only_where_the_region_is_known() {
        check(
            &title(CALIFORNIA),
            at("US", Some("US-CA")),
            Reason::Licensed,
        );
        check(
            &title(CALIFORNIA),
            at("US", Some("US-NY")),
            Reason::NotLicensedInTerritory,
        );
    }

    #[test]
    fn a_region_license_with_the_region_unknown_is_region_unknown() {
        check(&title(CALIFORNIA), at("US", None), Reason::RegionUnknown);
    }

    #[test]
    fn an_exclusion_carves_out_its_region() {
        check(
            &title(CANADA_EXCEPT_QUEBEC),
            at("CA", Some("CA-ON")),
            Reason::Licensed,
        );
        check(
            &title(CANADA_EXCEPT_QUEBEC),
            at("CA", Some("CA-QC")),
            Reason::TerritoryExcluded,
        );
    }

    #[test]
    fn region_exclusion_denies_when_region_is_unknown() {
        check(
            &title(CANADA_EXCEPT_QUEBEC),
            at("CA", None),
            Reason::RegionUnknown,
        );
    }

    #[test]
    fn a_country_exclusion_from_a_group_denies() {
        let text = title("[[titles.licenses]]\nterritories = [\"@EU\"]\nexclude = [\"DE\"]\n");
        check(&text, at("DE", Some("DE-BY")), Reason::TerritoryExcluded);
        check(&text, at("FR", None), Reason::Licensed);
    }

    #[test]
    fn a_blackout_denies_whatever_the_licenses_say() {
        let text = title(&format!("{US}{NEW_YORK_BLACKOUT}"));
        check(&text, at("US", Some("US-NY")), Reason::Blackout);
        check(&text, at("US", Some("US-CA")), Reason::Licensed);
        let after = decide(
            &text,
            at("US", Some("US-NY")),
            query("2026-12-01T00:00:00Z"),
        );
        assert_eq!(after.0, Reason::Licensed, "a blackout's end is exclusive");
    }

    #[test]
    fn a_region_blackout_denies_where_the_region_is_unknown() {
        check(
            &title(&format!("{US}{NEW_YORK_BLACKOUT}")),
            at("US", None),
            Reason::RegionUnknown,
        );
    }

    #[test]
    fn a_region_blackout_does_not_hide_a_denial_for_another_reason() {
        let text = title(&format!("{CALIFORNIA}{NEW_YORK_BLACKOUT}"));
        check(&text, at("US", None), Reason::RegionUnknown);
        let text = title(&format!(
            "[[titles.licenses]]\nterritories = [\"CA\"]\n{NEW_YORK_BLACKOUT}"
        ));
        check(&text, at("US", None), Reason::NotLicensedInTerritory);
    }

    #[test]
    fn a_blackout_with_open_ends_lasts_forever() {
        let text = title(&format!(
            "{US}[[titles.blackouts]]\nterritories = [\"US\"]\n"
        ));
        check(&text, at("US", None), Reason::Blackout);
    }

    #[test]
    fn anonymizers_are_denied_by_default() {
        check(&title(US), anonymized(at("US", None)), Reason::Anonymizer);
    }

    #[test]
    fn the_title_policy_overrides_the_service_policy() {
        let text = format!("[[titles]]\nid = \"t\"\nname = \"T\"\nanonymizer = \"allow\"\n{US}");
        check(&text, anonymized(at("US", None)), Reason::Licensed);
        let allow = Query {
            policy: AnonymizerPolicy::Allow,
            ..query(NOW)
        };
        assert_eq!(
            decide(&title(US), anonymized(at("US", None)), allow).0,
            Reason::Licensed
        );
    }

    #[test]
    fn a_worldwide_license_grants_anonymizers() {
        check(&title(WORLD), anonymized(at("NL", None)), Reason::Licensed);
        let with_exclusion =
            title("[[titles.licenses]]\nterritories = [\"@WORLD\"]\nexclude = [\"KP\"]\n");
        check(
            &with_exclusion,
            anonymized(at("NL", None)),
            Reason::Anonymizer,
        );
    }

    #[test]
    fn an_unknown_location_is_granted_only_by_a_worldwide_license_without_exclusions() {
        check(&title(WORLD), Location::UNKNOWN, Reason::Licensed);
        check(&title(US), Location::UNKNOWN, Reason::LocationUnknown);
        let with_exclusion =
            title("[[titles.licenses]]\nterritories = [\"@WORLD\"]\nexclude = [\"KP\"]\n");
        check(&with_exclusion, Location::UNKNOWN, Reason::LocationUnknown);
    }

    #[test]
    fn any_blackout_in_force_denies_an_unknown_location() {
        let text = title(&format!("{WORLD}{NEW_YORK_BLACKOUT}"));
        check(&text, Location::UNKNOWN, Reason::LocationUnknown);
        let world_blackout = title(&format!(
            "{WORLD}[[titles.blackouts]]\nterritories = [\"@WORLD\"]\n"
        ));
        check(&world_blackout, Location::UNKNOWN, Reason::Blackout);
    }

    const LATER: &str = "[[titles.licenses]]\nid = \"later\"\nterritories = [\"US\"]\n\
                         start = 2027-03-01T00:00:00Z\n\
                         [[titles.licenses]]\nid = \"sooner\"\nterritories = [\"US\"]\n\
                         start = 2027-01-01T00:00:00Z\n";

    #[test]
    fn a_window_not_started_names_the_earliest_start() {
        let catalog = catalog(&title(LATER));
        let decision =
            crate::resolve::title(&catalog, catalog.title_at(0), &at("US", None), &query(NOW));
        assert_eq!(decision.reason, Reason::WindowNotStarted);
        assert_eq!(
            decision.available_from,
            Some("2027-01-01T00:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn a_window_start_is_inclusive_and_its_end_exclusive() {
        let text = title(
            "[[titles.licenses]]\nterritories = [\"US\"]\nstart = 2026-01-01T00:00:00Z\nend = 2027-01-01T00:00:00Z\n",
        );
        assert_eq!(
            decide(&text, at("US", None), query("2026-01-01T00:00:00Z")).0,
            Reason::Licensed
        );
        assert_eq!(
            decide(&text, at("US", None), query("2025-12-31T23:59:59Z")).0,
            Reason::WindowNotStarted
        );
        assert_eq!(
            decide(&text, at("US", None), query("2027-01-01T00:00:00Z")).0,
            Reason::WindowEnded
        );
    }

    #[test]
    fn a_platform_outside_the_license_is_platform_not_licensed() {
        let text = title("[[titles.licenses]]\nterritories = [\"US\"]\nplatforms = [\"tv\"]\n");
        let catalog = catalog(&text);
        let mobile = Query {
            platform: catalog.platform("mobile"),
            ..query(NOW)
        };
        let tv = Query {
            platform: catalog.platform("tv"),
            ..query(NOW)
        };
        let t = catalog.title_at(0);
        assert_eq!(
            crate::resolve::title(&catalog, t, &at("US", None), &mobile).reason,
            Reason::PlatformNotLicensed
        );
        assert_eq!(
            crate::resolve::title(&catalog, t, &at("US", None), &tv).reason,
            Reason::Licensed
        );
        assert_eq!(
            crate::resolve::title(&catalog, t, &at("US", None), &query(NOW)).reason,
            Reason::Licensed
        );
    }

    #[test]
    fn reasons_follow_the_spec_order() {
        // A future license and an excluded one: the future one explains the denial.
        let text = title(&format!(
            "{LATER}[[titles.licenses]]\nterritories = [\"CA\", \"US\"]\nexclude = [\"US\"]\n"
        ));
        check(&text, at("US", None), Reason::WindowNotStarted);
        // An exclusion beats a region that is unknown.
        let text = title(&format!(
            "{CALIFORNIA}[[titles.licenses]]\nterritories = [\"US\"]\nexclude = [\"US\"]\n"
        ));
        check(&text, at("US", None), Reason::TerritoryExcluded);
    }

    #[test]
    fn portability_applies_the_home_country_rules() {
        let france = title("[[titles.licenses]]\nterritories = [\"FR\"]\n");
        let home_fr = Query {
            home: CountryCode::parse("FR"),
            ..query(NOW)
        };
        let catalog = catalog(&france);
        let t = catalog.title_at(0);
        let decision = crate::resolve::title(&catalog, t, &at("DE", Some("DE-BY")), &home_fr);
        assert_eq!(
            (decision.reason, decision.portability),
            (Reason::Licensed, true)
        );
        // Outside the EU there is no portability.
        let decision = crate::resolve::title(&catalog, t, &at("GB", None), &home_fr);
        assert_eq!(
            (decision.reason, decision.portability),
            (Reason::NotLicensedInTerritory, false)
        );
        // At home, nothing changes.
        let decision = crate::resolve::title(&catalog, t, &at("FR", None), &home_fr);
        assert_eq!(
            (decision.reason, decision.portability),
            (Reason::Licensed, false)
        );
    }

    #[test]
    fn portability_keeps_the_real_anonymizer_flag() {
        let home_fr = Query {
            home: CountryCode::parse("FR"),
            ..query(NOW)
        };
        let text = title("[[titles.licenses]]\nterritories = [\"FR\"]\n");
        assert_eq!(
            decide(&text, anonymized(at("DE", None)), home_fr).0,
            Reason::Anonymizer
        );
    }

    #[test]
    fn the_granting_license_is_the_one_ending_last() {
        let text = title(
            "[[titles.licenses]]\nid = \"short\"\nterritories = [\"US\"]\nend = 2027-01-01T00:00:00Z\n\
             [[titles.licenses]]\nid = \"long\"\nterritories = [\"US\"]\nend = 2028-01-01T00:00:00Z\n",
        );
        assert_eq!(
            decide(&text, at("US", None), query(NOW)).1.as_deref(),
            Some("long")
        );
        let open = title(
            "[[titles.licenses]]\nid = \"long\"\nterritories = [\"US\"]\nend = 2028-01-01T00:00:00Z\n\
             [[titles.licenses]]\nterritories = [\"US\"]\n",
        );
        assert_eq!(
            decide(&open, at("US", None), query(NOW)).1.as_deref(),
            Some("t.toml#2")
        );
    }

    #[test]
    fn territory_time_opens_a_multi_zone_country_at_its_last_midnight() {
        let text = title(
            "[[titles.licenses]]\nterritories = [\"US\"]\nstart = 2027-01-01\ntimezone = \"territory\"\n",
        );
        // Midnight in New York has passed, but not in Honolulu: not yet anywhere in the US.
        assert_eq!(
            decide(
                &text,
                at("US", Some("US-NY")),
                query("2027-01-01T06:00:00Z")
            )
            .0,
            Reason::WindowNotStarted
        );
        assert_eq!(
            decide(&text, at("US", None), query("2027-01-01T12:00:00Z")).0,
            Reason::Licensed
        );
    }

    #[test]
    fn a_named_time_zone_reads_local_dates_there() {
        let text = title(
            "[[titles.licenses]]\nterritories = [\"FR\"]\nstart = 2027-01-01\ntimezone = \"Europe/Paris\"\n",
        );
        assert_eq!(
            decide(&text, at("FR", None), query("2026-12-31T23:00:00Z")).0,
            Reason::Licensed
        );
        assert_eq!(
            decide(&text, at("FR", None), query("2026-12-31T22:59:59Z")).0,
            Reason::WindowNotStarted
        );
    }

    #[test]
    fn region_unknown_only_when_a_known_region_could_grant_now() {
        let tv_in_california =
            title("[[titles.licenses]]\nterritories = [\"US-CA\"]\nplatforms = [\"tv\"]\n");
        let catalog = catalog(&tv_in_california);
        let web = Query {
            platform: catalog.platform("web"),
            ..query(NOW)
        };
        let t = catalog.title_at(0);
        assert_eq!(
            crate::resolve::title(&catalog, t, &at("US", None), &web).reason,
            Reason::NotLicensedInTerritory
        );
        let ended = title(
            "[[titles.licenses]]\nterritories = [\"US\"]\nexclude = [\"US-NY\"]\nend = 2026-01-01T00:00:00Z\n",
        );
        check(&ended, at("US", None), Reason::WindowEnded);
    }

    #[test]
    fn an_anonymizer_let_in_by_a_worldwide_license_is_answered_by_it() {
        let text = title(
            "[[titles.licenses]]\nid = \"world\"\nterritories = [\"@WORLD\"]\nend = 2027-01-01T00:00:00Z\n\
             [[titles.licenses]]\nid = \"us\"\nterritories = [\"US\"]\n",
        );
        assert_eq!(
            decide(&text, anonymized(at("US", None)), query(NOW))
                .1
                .as_deref(),
            Some("world")
        );
        assert_eq!(
            decide(&text, at("US", None), query(NOW)).1.as_deref(),
            Some("us")
        );
    }

    #[test]
    fn listing_pages_in_id_order() {
        let text = "[[titles]]\nid = \"b\"\nname = \"B\"\n[[titles.licenses]]\nterritories = [\"US\"]\n\
                    [[titles]]\nid = \"a\"\nname = \"A\"\n[[titles.licenses]]\nterritories = [\"@WORLD\"]\n\
                    [[titles]]\nid = \"c\"\nname = \"C\"\n[[titles.licenses]]\nterritories = [\"FR\"]\n\
                    [[titles]]\nid = \"d\"\nname = \"D\"\n[[titles.licenses]]\nterritories = [\"US-CA\"]\n";
        let catalog = catalog(text);
        let location = at("US", Some("US-CA"));
        let first = available(&catalog, &location, &query(NOW), None, 2);
        let ids: Vec<&str> = first.titles.iter().map(|(t, _)| t.id.as_str()).collect();
        assert_eq!((ids, first.next_after), (vec!["a", "b"], Some("b")));
        let second = available(&catalog, &location, &query(NOW), Some("b"), 2);
        let ids: Vec<&str> = second.titles.iter().map(|(t, _)| t.id.as_str()).collect();
        assert_eq!((ids, second.next_after), (vec!["d"], None));
    }

    #[test]
    fn where_available_splits_countries_and_regions() {
        let catalog = catalog(&title(CANADA_EXCEPT_QUEBEC));
        let (countries, regions) =
            where_available(&catalog, catalog.title_at(0), NOW.parse().unwrap());
        assert!(countries.is_empty());
        assert!(regions.iter().any(|r| r.as_str() == "CA-ON"));
        assert!(!regions.iter().any(|r| r.as_str() == "CA-QC"));
        // Puerto Rico is `PR` to every GeoIP database, never a region of the US.
        let us_except_new_york = self::catalog(&title(
            "[[titles.licenses]]\nterritories = [\"US\"]\nexclude = [\"US-NY\"]\n",
        ));
        let (_, regions) = where_available(
            &us_except_new_york,
            us_except_new_york.title_at(0),
            NOW.parse().unwrap(),
        );
        assert!(regions.iter().any(|r| r.as_str() == "US-CA"));
        assert!(!regions.iter().any(|r| r.as_str() == "US-PR"));
    }
}
