//! The resolution rules of SPEC §3 as written: loops over a title's blackouts and licenses,
//! nothing precomputed. `compiled` asks these rules at every instant where an answer can
//! change, and requests it does not cover are answered here directly.

use jiff::Timestamp;

use crate::catalog::territory::{Match, is_eu};
use crate::catalog::time::{End, Window};
use crate::catalog::{AnonymizerPolicy, License, Title};
use crate::geoip::{CountryCode, Location, RegionCode};
use crate::resolve::{Decision, LicenseRef, Query, Reason};

/// Whether `title` may stream at `location` for `query`, by the rules as written.
pub(crate) fn title<'c>(title: &'c Title, location: &Location, query: &Query) -> Decision<'c> {
    // Rule 4, portability: rules 1 and 3 are applied as if the device were at home.
    let portability = match (query.home, location.country) {
        (Some(home), Some(located)) => home != located && is_eu(home) && is_eu(located),
        _ => false,
    };
    let (country, region) = if portability {
        (query.home, None)
    } else {
        (location.country, location.region)
    };
    let t = query.at;

    // Rule 1, blackouts. Where the region is unknown, a blackout of one of the country's
    // regions still denies; where the country is unknown, any blackout does.
    let mut blackout_if_region_known = false;
    let mut blackout_somewhere = false;
    for blackout in &title.blackouts {
        let start = Window::instant(&blackout.window.start, End::BlackoutStart, country);
        let end = Window::instant(&blackout.window.end, End::BlackoutEnd, country);
        if start.is_some_and(|start| t < start) || end.is_some_and(|end| t >= end) {
            continue;
        }
        match country {
            None if blackout.territories.world => {
                return Decision::denied(Reason::Blackout, portability);
            }
            None => blackout_somewhere = true,
            Some(country) => match blackout.territories.matches(country, region) {
                Match::Yes => return Decision::denied(Reason::Blackout, portability),
                Match::IfRegionKnown => blackout_if_region_known = true,
                Match::No => {}
            },
        }
    }

    // Rule 2, anonymizers: denied unless a worldwide license grants anyway. When that
    // exception lets the device through, only worldwide licenses may grant, so the answer's
    // license and `available_until` are the ones that really hold for it.
    let policy = title.anonymizer.unwrap_or(query.policy);
    let worldwide_only = location.anonymizer && policy == AnonymizerPolicy::Deny;
    if worldwide_only {
        let worldwide_grant = title.licenses.iter().any(|license| {
            license.is_worldwide()
                && matches!(
                    license_verdict(license, country, region, query),
                    Verdict::Grants { .. }
                )
        });
        if !worldwide_grant {
            return Decision::denied(Reason::Anonymizer, portability);
        }
    }

    // Rule 3, grants; rule 5, the reason for a denial; rule 6, the granting license.
    let mut best_grant: Option<(usize, Option<Timestamp>)> = None;
    let mut best_denial = Reason::NotLicensedInTerritory;
    let mut available_from: Option<Timestamp> = None;
    for (index, license) in title.licenses.iter().enumerate() {
        if (country.is_none() || worldwide_only) && !license.is_worldwide() {
            continue;
        }
        match license_verdict(license, country, region, query) {
            Verdict::Grants { until } => {
                let ends_later = match best_grant {
                    None => true,
                    Some((_, best_until)) => match (until, best_until) {
                        (None, Some(_)) => true,
                        (Some(until), Some(best)) => until > best,
                        _ => false,
                    },
                };
                if ends_later {
                    best_grant = Some((index, until));
                }
            }
            Verdict::Denies(Reason::WindowNotStarted, Some(from)) => {
                best_denial = best_denial.min(Reason::WindowNotStarted);
                available_from = Some(available_from.map_or(from, |earliest| earliest.min(from)));
            }
            Verdict::Denies(reason, _) => best_denial = best_denial.min(reason),
        }
    }
    if country.is_none() {
        return match best_grant {
            Some((index, until)) if !blackout_somewhere => Decision {
                reason: Reason::Licensed,
                license: Some(LicenseRef::new(title, index)),
                available_until: until,
                available_from: None,
                portability,
            },
            _ => Decision::denied(Reason::LocationUnknown, portability),
        };
    }
    match best_grant {
        Some(_) if blackout_if_region_known => Decision::denied(Reason::RegionUnknown, portability),
        Some((index, until)) => Decision {
            reason: Reason::Licensed,
            license: Some(LicenseRef::new(title, index)),
            available_until: until,
            available_from: None,
            portability,
        },
        None => Decision {
            available_from: available_from.filter(|_| best_denial == Reason::WindowNotStarted),
            ..Decision::denied(best_denial, portability)
        },
    }
}

/// What one license says on its own.
enum Verdict {
    Grants { until: Option<Timestamp> },
    Denies(Reason, Option<Timestamp>),
}

/// One license against a place, a time and a platform. A definite miss or carve-out explains
/// itself first; then platform, then window. `region_unknown` only where a known region could
/// make the license grant now: a license that could only cover the place fails as
/// `not_licensed_in_territory` when its platform or window fails anyway.
fn license_verdict(
    license: &License,
    country: Option<CountryCode>,
    region: Option<RegionCode>,
    query: &Query,
) -> Verdict {
    let (mut covered_for_sure, mut region_decides) = (true, false);
    if let Some(country) = country {
        match license.territories.matches(country, region) {
            Match::No => return Verdict::Denies(Reason::NotLicensedInTerritory, None),
            Match::IfRegionKnown => {
                covered_for_sure = false;
                region_decides = true;
            }
            Match::Yes => {}
        }
        match license.exclude.matches(country, region) {
            Match::Yes => return Verdict::Denies(Reason::TerritoryExcluded, None),
            Match::IfRegionKnown => region_decides = true,
            Match::No => {}
        }
    }
    let otherwise = |reason: Reason, from: Option<Timestamp>| {
        if covered_for_sure {
            Verdict::Denies(reason, from)
        } else {
            Verdict::Denies(Reason::NotLicensedInTerritory, None)
        }
    };
    if let (Some(platform), Some(platforms)) = (query.platform, license.platforms)
        && !platforms.contains(platform)
    {
        return otherwise(Reason::PlatformNotLicensed, None);
    }
    let start = Window::instant(&license.window.start, End::LicenseStart, country);
    let end = Window::instant(&license.window.end, End::LicenseEnd, country);
    if let Some(start) = start
        && query.at < start
    {
        return otherwise(Reason::WindowNotStarted, Some(start));
    }
    if end.is_some_and(|end| query.at >= end) {
        return otherwise(Reason::WindowEnded, None);
    }
    if region_decides {
        return Verdict::Denies(Reason::RegionUnknown, None);
    }
    Verdict::Grants { until: end }
}
