//! A plain reading of SPEC §3, written from the spec and not from `resolve`: catalogs are the
//! test's own model (strings as written), territories are expanded by recursion on every call,
//! and every rule is a loop over licenses. Nothing is precomputed but the tz database's list
//! of zones per country.
//!
//! Interpretations the spec leaves open, shared with `resolve` and stated here once:
//! - an unknown location is denied `blackout` by a blackout in force on `@WORLD`, and
//!   `location_unknown` by any other blackout in force (it could be anywhere);
//! - a blackout of a region of the located country, with the region unknown, denies with
//!   `region_unknown` when the title would otherwise be granted;
//! - a license that fails several checks is explained by the first of: territory, exclusion,
//!   platform, window; `region_unknown` only where a known region could make it grant now;
//! - when rule 2's exception lets an anonymizer through, only worldwide licenses grant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// A time as written in the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MTime {
    /// An offset date-time.
    Instant(Timestamp),
    /// A local date, read in the license's `timezone`.
    Date(Date),
}

/// A license or a blackout as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct MWindowed {
    pub(crate) id: Option<String>,
    pub(crate) territories: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) start: Option<MTime>,
    pub(crate) end: Option<MTime>,
    pub(crate) timezone: Option<String>,
    pub(crate) platforms: Option<Vec<String>>,
}

/// A title as written.
#[derive(Debug, Clone)]
pub(crate) struct MTitle {
    pub(crate) id: String,
    /// Which of the model's files holds it.
    pub(crate) file: usize,
    pub(crate) anonymizer: Option<&'static str>,
    pub(crate) licenses: Vec<MWindowed>,
    pub(crate) blackouts: Vec<MWindowed>,
}

/// A catalog as written: groups in the first file, titles spread over the files.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) files: Vec<&'static str>,
    pub(crate) groups: Vec<(String, Vec<String>)>,
    pub(crate) titles: Vec<MTitle>,
}

/// What is asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    pub(crate) country: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) anonymizer: bool,
    pub(crate) at: Timestamp,
    pub(crate) platform: Option<&'a str>,
    pub(crate) home: Option<&'a str>,
    pub(crate) policy_allows_anonymizers: bool,
}

/// The oracle's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) reason: &'static str,
    pub(crate) license: Option<String>,
    pub(crate) available_until: Option<Timestamp>,
    pub(crate) available_from: Option<Timestamp>,
    pub(crate) portability: bool,
}

impl Model {
    /// The catalog files as TOML: (relative path, text).
    pub(crate) fn render(&self) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = self
            .files
            .iter()
            .map(|path| (path.to_string(), String::new()))
            .collect();
        let mut groups = String::from("[groups]\n");
        for (name, members) in &self.groups {
            groups.push_str(&format!("{name} = {}\n", list(members)));
        }
        files[0].1.push_str(&groups);
        for title in &self.titles {
            let text = &mut files[title.file].1;
            text.push_str(&format!(
                "\n[[titles]]\nid = \"{}\"\nname = \"{}\"\n",
                title.id, title.id
            ));
            if let Some(policy) = title.anonymizer {
                text.push_str(&format!("anonymizer = \"{policy}\"\n"));
            }
            for license in &title.licenses {
                text.push_str("[[titles.licenses]]\n");
                render_windowed(text, license, true);
            }
            for blackout in &title.blackouts {
                text.push_str("[[titles.blackouts]]\n");
                render_windowed(text, blackout, false);
            }
        }
        files
    }

    /// The label of a title's `n`th license (0-based).
    fn label(&self, title: &MTitle, n: usize) -> String {
        match &title.licenses[n].id {
            Some(id) => id.clone(),
            None => format!("{}#{}", self.files[title.file], n + 1),
        }
    }

    /// Expands written territories into the codes they stand for; `@WORLD` stays a marker.
    fn expand(&self, written: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for item in written {
            match item.strip_prefix('@') {
                Some("WORLD") => {
                    out.insert("@WORLD".to_owned());
                }
                Some("EU") => out.extend(EU.iter().map(|c| c.to_string())),
                Some(group) => {
                    let members = &self
                        .groups
                        .iter()
                        .find(|(name, _)| name == group)
                        .expect("generated groups exist")
                        .1;
                    out.extend(self.expand(members));
                }
                None => {
                    out.insert(item.clone());
                }
            }
        }
        out
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn render_time(time: &MTime) -> String {
    match time {
        MTime::Instant(at) => at.to_string(),
        MTime::Date(date) => date.to_string(),
    }
}

fn render_windowed(text: &mut String, windowed: &MWindowed, is_license: bool) {
    if let Some(id) = &windowed.id {
        text.push_str(&format!("id = \"{id}\"\n"));
    }
    text.push_str(&format!("territories = {}\n", list(&windowed.territories)));
    if is_license && !windowed.exclude.is_empty() {
        text.push_str(&format!("exclude = {}\n", list(&windowed.exclude)));
    }
    if let Some(start) = &windowed.start {
        text.push_str(&format!("start = {}\n", render_time(start)));
    }
    if let Some(end) = &windowed.end {
        text.push_str(&format!("end = {}\n", render_time(end)));
    }
    if let Some(timezone) = &windowed.timezone {
        text.push_str(&format!("timezone = \"{timezone}\"\n"));
    }
    if let Some(platforms) = &windowed.platforms {
        text.push_str(&format!("platforms = {}\n", list(platforms)));
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Inside {
    Yes,
    No,
    Maybe,
}

/// Is the place in the set? `Maybe` when only a region of the country is named and the
/// region is not known.
fn inside(set: &BTreeSet<String>, country: &str, region: Option<&str>) -> Inside {
    if set.contains("@WORLD") || set.contains(country) {
        return Inside::Yes;
    }
    match region {
        Some(region) if set.contains(region) => Inside::Yes,
        Some(_) => Inside::No,
        None if set
            .iter()
            .any(|code| code.starts_with(&format!("{country}-"))) =>
        {
            Inside::Maybe
        }
        None => Inside::No,
    }
}

/// Every zone the tz database lists for each country (`zone1970.tab`).
fn zones_by_country() -> &'static BTreeMap<String, Vec<TimeZone>> {
    static ZONES: OnceLock<BTreeMap<String, Vec<TimeZone>>> = OnceLock::new();
    ZONES.get_or_init(|| {
        let mut map: BTreeMap<String, Vec<TimeZone>> = BTreeMap::new();
        for name in timezone_data::names() {
            let (Some(meta), Ok(tz)) = (timezone_data::meta(name), TimeZone::get(name)) else {
                continue;
            };
            for country in meta.countries() {
                map.entry(country.code.to_owned())
                    .or_default()
                    .push(tz.clone());
            }
        }
        map
    })
}

/// The instant a written time stands for: the latest or earliest of its local readings.
fn instant(time: &MTime, timezone: Option<&str>, country: Option<&str>, latest: bool) -> Timestamp {
    let date = match time {
        MTime::Instant(at) => return *at,
        MTime::Date(date) => *date,
    };
    let zones: Vec<TimeZone> = match timezone {
        None => vec![TimeZone::UTC],
        Some("territory") => {
            let all = zones_by_country();
            match country.and_then(|country| all.get(country)) {
                Some(zones) => zones.clone(),
                None => all.values().flatten().cloned().collect(),
            }
        }
        Some(name) => vec![TimeZone::get(name).expect("generated zones exist")],
    };
    let civil = date.at(0, 0, 0, 0);
    let readings = zones.iter().flat_map(|tz| {
        let ambiguous = tz.to_ambiguous_timestamp(civil);
        [ambiguous.earlier().unwrap(), ambiguous.later().unwrap()]
    });
    if latest {
        readings.max().unwrap()
    } else {
        readings.min().unwrap()
    }
}

/// Whether a window holds at `at`: licenses open late and close early, blackouts the reverse.
fn holds(windowed: &MWindowed, at: Timestamp, country: Option<&str>, is_license: bool) -> bool {
    let zone = windowed.timezone.as_deref();
    let started = windowed
        .start
        .as_ref()
        .is_none_or(|start| at >= instant(start, zone, country, is_license));
    let not_ended = windowed
        .end
        .as_ref()
        .is_none_or(|end| at < instant(end, zone, country, !is_license));
    started && not_ended
}

fn platform_ok(license: &MWindowed, platform: Option<&str>) -> bool {
    match (platform, &license.platforms) {
        (Some(platform), Some(platforms)) => platforms.iter().any(|p| p == platform),
        _ => true,
    }
}

fn denied(reason: &'static str, portability: bool) -> Answer {
    Answer {
        reason,
        license: None,
        available_until: None,
        available_from: None,
        portability,
    }
}

/// SPEC §3 for one title.
pub(crate) fn decide(model: &Model, title: &MTitle, asked: &Asked<'_>) -> Answer {
    // Rule 4: in the EU, with a different EU home, rules 1 and 3 read the home country.
    let portability = match (asked.home, asked.country) {
        (Some(home), Some(country)) => {
            home != country && EU.contains(&home) && EU.contains(&country)
        }
        _ => false,
    };
    let (country, region) = if portability {
        (asked.home, None)
    } else {
        (asked.country, asked.region)
    };
    let at = asked.at;

    // Rule 1.
    let mut region_blackout = false;
    let mut blackout_somewhere = false;
    for blackout in &title.blackouts {
        if !holds(blackout, at, country, false) {
            continue;
        }
        let territories = model.expand(&blackout.territories);
        match country {
            None if territories.contains("@WORLD") => return denied("blackout", portability),
            None => blackout_somewhere = true,
            Some(country) => match inside(&territories, country, region) {
                Inside::Yes => return denied("blackout", portability),
                Inside::Maybe => region_blackout = true,
                Inside::No => {}
            },
        }
    }

    // Rule 2.
    let policy_allows = match title.anonymizer {
        Some(policy) => policy == "allow",
        None => asked.policy_allows_anonymizers,
    };
    if asked.anonymizer && !policy_allows {
        let world_grant = title.licenses.iter().any(|license| {
            model.expand(&license.territories).contains("@WORLD")
                && license.exclude.is_empty()
                && holds(license, at, country, true)
                && platform_ok(license, asked.platform)
        });
        if !world_grant {
            return denied("anonymizer", portability);
        }
    }

    // Rule 3: the granting licenses; only worldwide ones when rule 2's exception let an
    // anonymizer through.
    let worldwide_only = asked.anonymizer && !policy_allows;
    let grants = |n: &usize| -> bool {
        let license = &title.licenses[*n];
        let worldwide =
            model.expand(&license.territories).contains("@WORLD") && license.exclude.is_empty();
        let territory_ok = match country {
            None => worldwide,
            Some(country) => {
                (worldwide || !worldwide_only)
                    && inside(&model.expand(&license.territories), country, region) == Inside::Yes
                    && inside(&model.expand(&license.exclude), country, region) == Inside::No
            }
        };
        territory_ok && platform_ok(license, asked.platform) && holds(license, at, country, true)
    };
    let granting: Vec<usize> = (0..title.licenses.len()).filter(grants).collect();
    // Rule 6: the one whose window ends last; the first of equals.
    let end_of = |n: usize| {
        let license = &title.licenses[n];
        license
            .end
            .as_ref()
            .map(|end| instant(end, license.timezone.as_deref(), country, false))
    };
    let mut best: Option<usize> = None;
    for &n in &granting {
        let later = match best {
            None => true,
            Some(b) => match (end_of(n), end_of(b)) {
                (None, Some(_)) => true,
                (Some(new), Some(old)) => new > old,
                _ => false,
            },
        };
        if later {
            best = Some(n);
        }
    }

    let Some(country) = country else {
        return match best {
            Some(n) if !blackout_somewhere => Answer {
                reason: "licensed",
                license: Some(model.label(title, n)),
                available_until: end_of(n),
                available_from: None,
                portability,
            },
            _ => denied("location_unknown", portability),
        };
    };
    if let Some(n) = best {
        if region_blackout {
            return denied("region_unknown", portability);
        }
        return Answer {
            reason: "licensed",
            license: Some(model.label(title, n)),
            available_until: end_of(n),
            available_from: None,
            portability,
        };
    }

    // Rule 5: the first reason that applies, in the spec's order. A license "would grant"
    // where it surely covers the place and does not surely carve it out.
    let territory =
        |license: &MWindowed| inside(&model.expand(&license.territories), country, region);
    let exclusion = |license: &MWindowed| inside(&model.expand(&license.exclude), country, region);
    let covered = |license: &MWindowed| {
        territory(license) == Inside::Yes && exclusion(license) != Inside::Yes
    };
    let zone = |license: &MWindowed| license.timezone.clone();
    let starts: Vec<Timestamp> = title
        .licenses
        .iter()
        .filter(|license| covered(license) && platform_ok(license, asked.platform))
        .filter_map(|license| {
            let start = instant(
                license.start.as_ref()?,
                zone(license).as_deref(),
                Some(country),
                true,
            );
            (start > at).then_some(start)
        })
        .collect();
    if let Some(from) = starts.iter().min() {
        return Answer {
            available_from: Some(*from),
            ..denied("window_not_started", portability)
        };
    }
    let ended = title.licenses.iter().any(|license| {
        covered(license)
            && platform_ok(license, asked.platform)
            && license.end.as_ref().is_some_and(|end| {
                at >= instant(end, zone(license).as_deref(), Some(country), false)
            })
    });
    if ended {
        return denied("window_ended", portability);
    }
    if title
        .licenses
        .iter()
        .any(|license| covered(license) && !platform_ok(license, asked.platform))
    {
        return denied("platform_not_licensed", portability);
    }
    if title
        .licenses
        .iter()
        .any(|license| territory(license) != Inside::No && exclusion(license) == Inside::Yes)
    {
        return denied("territory_excluded", portability);
    }
    // A known region could make it grant now: the platform and the window hold.
    let region_could = title.licenses.iter().any(|license| {
        (territory(license) == Inside::Maybe || exclusion(license) == Inside::Maybe)
            && territory(license) != Inside::No
            && exclusion(license) != Inside::Yes
            && platform_ok(license, asked.platform)
            && holds(license, at, Some(country), true)
    });
    if region_could {
        return denied("region_unknown", portability);
    }
    denied("not_licensed_in_territory", portability)
}
