//! Time in catalogs: windows whose ends are instants, or local date-times read in each
//! territory's own zones the way studio avails mean them.
//!
//! Zones per country come from the tz database's `zone1970.tab` (the `timezone-data` crate);
//! conversions use jiff's bundled tz data, never the host's. A country with several zones is
//! read conservatively: a license opens at the latest local reading and closes at the
//! earliest, a blackout starts at the earliest and ends at the latest. Never reads the clock.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::geoip::CountryCode;

/// A date-time as written in a catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// An offset date-time: an instant.
    Instant(Timestamp),
    /// A local date or date-time, read in the license's time zone.
    Local(DateTime),
}

/// Reads a TOML date-time: offset date-times are instants, local dates are midnight.
pub fn from_toml(datetime: &toml::value::Datetime) -> Result<Written, String> {
    let Some(date) = datetime.date else {
        return Err(format!("`{datetime}` is a time without a date"));
    };
    let time = datetime.time.unwrap_or(toml::value::Time {
        hour: 0,
        minute: 0,
        second: Some(0),
        nanosecond: Some(0),
    });
    let civil = DateTime::new(
        date.year as i16,
        date.month as i8,
        date.day as i8,
        time.hour as i8,
        time.minute as i8,
        time.second.unwrap_or(0) as i8,
        time.nanosecond.unwrap_or(0) as i32,
    )
    .map_err(|error| format!("`{datetime}` is not a valid date-time: {error}"))?;
    match datetime.offset {
        None => Ok(Written::Local(civil)),
        Some(offset) => {
            let seconds = match offset {
                toml::value::Offset::Z => 0,
                toml::value::Offset::Custom { minutes } => i32::from(minutes) * 60,
            };
            let offset = jiff::tz::Offset::from_seconds(seconds)
                .map_err(|error| format!("`{datetime}` has a bad offset: {error}"))?;
            offset
                .to_timestamp(civil)
                .map(Written::Instant)
                .map_err(|error| format!("`{datetime}` is out of range: {error}"))
        }
    }
}

/// How a local date-time without an offset is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// One IANA zone (`UTC` by default), with its name as written.
    Named(Cow<'static, str>, TimeZone),
    /// The zones of whichever territory is asked about.
    Territory,
}

impl Zone {
    /// `territory` or an IANA zone name known to the bundled tz database.
    pub fn parse(name: &str) -> Result<Zone, String> {
        if name == "territory" {
            return Ok(Zone::Territory);
        }
        TimeZone::get(name)
            .map(|tz| Zone::Named(Cow::Owned(name.to_owned()), tz))
            .map_err(|_| format!("unknown time zone `{name}` (an IANA name such as `Europe/Paris`, or `territory`)"))
    }

    /// `UTC`, the default (without an allocation: nearly every window has it).
    pub fn utc() -> Zone {
        Zone::Named(Cow::Borrowed("UTC"), TimeZone::UTC)
    }
}

/// Which end of which kind of window a bound is: decides the conservative reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A license's start: the latest reading.
    LicenseStart,
    /// A license's end: the earliest reading.
    LicenseEnd,
    /// A blackout's start: the earliest reading.
    BlackoutStart,
    /// A blackout's end: the latest reading.
    BlackoutEnd,
}

impl End {
    fn pick(self, (earliest, latest): (Timestamp, Timestamp)) -> Timestamp {
        match self {
            End::LicenseStart | End::BlackoutEnd => latest,
            End::LicenseEnd | End::BlackoutStart => earliest,
        }
    }
}

/// One end of a window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bound {
    /// No limit on this side.
    Open,
    /// A fixed instant.
    At(Timestamp),
    /// A local date-time read in each territory's zones.
    Local(Arc<Readings>),
}

/// A window: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// Inclusive.
    pub start: Bound,
    /// Exclusive.
    pub end: Bound,
}

impl Window {
    /// The instant `bound` stands for in `country` (anywhere, when unknown).
    #[inline]
    pub fn instant(bound: &Bound, end: End, country: Option<CountryCode>) -> Option<Timestamp> {
        match bound {
            Bound::Open => None,
            Bound::At(at) => Some(*at),
            Bound::Local(readings) => Some(end.pick(readings.in_country(country))),
        }
    }

    /// True when either end is read in each territory's own time.
    pub fn is_local(&self) -> bool {
        matches!(self.start, Bound::Local(_)) || matches!(self.end, Bound::Local(_))
    }
}

/// One local date-time read in every country's zones: the earliest and latest instant it can
/// be in each zone column, the last column being every zone at once (for countries without
/// zones and for unknown locations).
#[derive(Debug)]
pub struct Readings {
    civil: DateTime,
    columns: Columns,
}

/// The readings, by zone column. A catalog keeps one set per local date-time it names,
/// hundreds of columns each: whole seconds (nearly every date-time) take half the room.
#[derive(Debug)]
enum Columns {
    Seconds(Box<[(i64, i64)]>),
    Exact(Box<[(Timestamp, Timestamp)]>),
}

impl Columns {
    fn new(columns: Vec<(Timestamp, Timestamp)>) -> Columns {
        let whole = |t: Timestamp| t.subsec_nanosecond() == 0;
        if columns.iter().all(|&(a, b)| whole(a) && whole(b)) {
            Columns::Seconds(
                columns
                    .iter()
                    .map(|(a, b)| (a.as_second(), b.as_second()))
                    .collect(),
            )
        } else {
            Columns::Exact(columns.into_boxed_slice())
        }
    }

    fn len(&self) -> usize {
        match self {
            Columns::Seconds(columns) => columns.len(),
            Columns::Exact(columns) => columns.len(),
        }
    }

    #[inline]
    fn get(&self, column: usize) -> (Timestamp, Timestamp) {
        match self {
            Columns::Seconds(columns) => {
                let (a, b) = columns[column];
                let at = |second| Timestamp::from_second(second).expect("read from a timestamp");
                (at(a), at(b))
            }
            Columns::Exact(columns) => columns[column],
        }
    }
}

impl Readings {
    /// Reads `civil` in every zone of the tz database.
    fn new(civil: DateTime) -> Readings {
        let zones = zones();
        let mut columns = vec![(Timestamp::MAX, Timestamp::MIN); zones.columns.len() + 1];
        for (column, tzs) in zones.columns.iter().enumerate() {
            for tz in tzs {
                let (earliest, latest) = read(tz, civil);
                let slot = &mut columns[column];
                slot.0 = slot.0.min(earliest);
                slot.1 = slot.1.max(latest);
            }
        }
        let everywhere = columns[..zones.columns.len()]
            .iter()
            .fold((Timestamp::MAX, Timestamp::MIN), |acc, r| {
                (acc.0.min(r.0), acc.1.max(r.1))
            });
        *columns.last_mut().expect("one column more than zones") = everywhere;
        Readings {
            civil,
            columns: Columns::new(columns),
        }
    }

    /// (earliest, latest) readings in `country` (anywhere, when unknown).
    #[inline]
    pub fn in_country(&self, country: Option<CountryCode>) -> (Timestamp, Timestamp) {
        let last = self.columns.len() - 1;
        let column = country.map_or(last, |country| zones().column(country));
        self.columns.get(column.min(last))
    }

    /// The earliest and latest readings anywhere.
    pub fn everywhere(&self) -> (Timestamp, Timestamp) {
        self.in_country(None)
    }

    /// The date-time as written.
    pub fn civil(&self) -> DateTime {
        self.civil
    }
}

// The readings follow from the date-time, so it alone decides equality.
impl PartialEq for Readings {
    fn eq(&self, other: &Readings) -> bool {
        self.civil == other.civil
    }
}

impl Eq for Readings {}

impl std::hash::Hash for Readings {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.civil.hash(state);
    }
}

/// Local date-times already read, so that each is read in every zone once however many
/// licenses and reloads name it. Shared by the threads that check files.
#[derive(Debug, Default)]
pub struct LocalTimes {
    read: Mutex<HashMap<DateTime, Arc<Readings>>>,
}

impl LocalTimes {
    /// `civil` read in every zone, reading it the first time it is asked for.
    pub fn read(&self, civil: DateTime) -> Arc<Readings> {
        if let Some(readings) = self.lock().get(&civil) {
            return Arc::clone(readings);
        }
        // Read outside the lock: other threads go on meanwhile, and should two read the same
        // date-time, the first one kept is as good as the other.
        let readings = Arc::new(Readings::new(civil));
        Arc::clone(self.lock().entry(civil).or_insert(readings))
    }

    /// Forgets the date-times nothing else holds any more, so that a long-running service
    /// does not keep every date it ever saw.
    pub fn forget_unused(&self) {
        self.lock()
            .retain(|_, readings| Arc::strong_count(readings) > 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DateTime, Arc<Readings>>> {
        // The map is only ever added to or pruned whole: a panic elsewhere leaves it usable.
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The earliest and latest instants `civil` can be in `tz`: both sides of a gap or fold.
fn read(tz: &TimeZone, civil: DateTime) -> (Timestamp, Timestamp) {
    let ambiguous = tz.to_ambiguous_timestamp(civil);
    let utc = || {
        TimeZone::UTC
            .to_timestamp(civil)
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    let earliest = ambiguous.earlier().unwrap_or_else(|_| utc());
    let latest = ambiguous.later().unwrap_or_else(|_| utc());
    (earliest.min(latest), earliest.max(latest))
}

/// Reads `civil` in one named zone for one end of a window.
pub fn read_in(tz: &TimeZone, civil: DateTime, end: End) -> Timestamp {
    end.pick(read(tz, civil))
}

/// The tz database's zones grouped by country.
struct Zones {
    /// Column of each `AA..ZZ` slot; `None` for countries the tz database does not list.
    column_of: Vec<Option<usize>>,
    /// The zones of each column's country.
    columns: Vec<Vec<TimeZone>>,
}

impl Zones {
    #[inline]
    fn column(&self, country: CountryCode) -> usize {
        self.column_of[country.slot()].unwrap_or(self.columns.len())
    }
}

fn zones() -> &'static Zones {
    static ZONES: OnceLock<Zones> = OnceLock::new();
    ZONES.get_or_init(|| {
        let mut by_country: std::collections::BTreeMap<String, Vec<TimeZone>> = Default::default();
        for name in timezone_data::names() {
            let Some(meta) = timezone_data::meta(name) else {
                continue;
            };
            let Ok(tz) = TimeZone::get(name) else {
                continue;
            };
            for country in meta.countries() {
                by_country
                    .entry(country.code.to_owned())
                    .or_default()
                    .push(tz.clone());
            }
        }
        let mut column_of = vec![None; 26 * 26];
        let mut columns = Vec::new();
        for (code, tzs) in by_country {
            let Some(country) = CountryCode::parse(&code) else {
                continue;
            };
            column_of[country.slot()] = Some(columns.len());
            columns.push(tzs);
        }
        Zones { column_of, columns }
    })
}

/// The zones the tz database lists for `country` (empty when none), by name.
pub fn zone_names(country: CountryCode) -> Vec<String> {
    let zones = zones();
    let column = zones.column(country);
    zones
        .columns
        .get(column)
        .map(|tzs| {
            tzs.iter()
                .filter_map(|tz| tz.iana_name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Option<CountryCode> {
        CountryCode::parse(code)
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn written(text: &str) -> Written {
        let value: toml::Table = toml::from_str(&format!("x = {text}")).unwrap();
        from_toml(value["x"].as_datetime().unwrap()).unwrap()
    }

    #[test]
    fn offset_date_times_are_instants() {
        assert_eq!(
            written("2026-06-01T18:00:00+02:00"),
            Written::Instant(ts("2026-06-01T16:00:00Z"))
        );
    }

    #[test]
    fn local_dates_are_midnight() {
        assert_eq!(
            written("2027-01-01"),
            Written::Local("2027-01-01T00:00".parse().unwrap())
        );
    }

    #[test]
    fn a_time_without_a_date_is_refused() {
        let value: toml::Table = toml::from_str("x = 10:00:00").unwrap();
        assert!(from_toml(value["x"].as_datetime().unwrap()).is_err());
    }

    #[test]
    fn territory_readings_are_conservative_in_multi_zone_countries() {
        let readings = LocalTimes::default().read("2027-01-01T00:00".parse().unwrap());
        // Midnight comes first in New York (UTC-5) and last in Honolulu (UTC-10)... and Guam
        // is not the US in zone1970.tab, but Pago Pago-like offsets may be: check the ends.
        let (earliest, latest) = readings.in_country(country("US"));
        assert!(earliest <= ts("2027-01-01T05:00:00Z"));
        assert!(latest >= ts("2027-01-01T10:00:00Z"));
        // France has one zone: both readings agree.
        let (earliest, latest) = readings.in_country(country("FR"));
        assert_eq!(
            (earliest, latest),
            (ts("2026-12-31T23:00:00Z"), ts("2026-12-31T23:00:00Z"))
        );
    }

    #[test]
    fn unknown_countries_read_in_every_zone() {
        let readings = LocalTimes::default().read("2027-01-01T00:00".parse().unwrap());
        let (earliest, latest) = readings.everywhere();
        assert!(earliest <= ts("2026-12-31T10:00:00Z"), "{earliest}");
        assert!(latest >= ts("2027-01-01T11:00:00Z"), "{latest}");
        assert_eq!(readings.in_country(country("ZZ")), (earliest, latest));
    }

    #[test]
    fn a_date_is_read_once_and_forgotten_when_unused() {
        let local = LocalTimes::default();
        let civil = "2027-01-01T00:00".parse().unwrap();
        let first = local.read(civil);
        assert!(Arc::ptr_eq(&first, &local.read(civil)));
        drop(first);
        local.forget_unused();
        assert!(local.lock().is_empty());
    }

    #[test]
    fn folds_and_gaps_give_both_readings() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // 02:30 on the last Sunday of October 2026 happens twice in Paris.
        let fold = "2026-10-25T02:30".parse().unwrap();
        assert_eq!(
            read_in(&paris, fold, End::BlackoutStart),
            ts("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            read_in(&paris, fold, End::BlackoutEnd),
            ts("2026-10-25T01:30:00Z")
        );
    }

    #[test]
    fn zones_come_from_the_tz_database() {
        assert!(zone_names(country("US").unwrap()).contains(&"America/New_York".to_string()));
        assert_eq!(zone_names(country("FR").unwrap()), ["Europe/Paris"]);
    }

    #[test]
    fn time_zone_names_are_checked() {
        assert!(matches!(Zone::parse("Europe/Paris"), Ok(Zone::Named(..))));
        assert_eq!(Zone::parse("territory"), Ok(Zone::Territory));
        assert!(Zone::parse("Mars/Olympus").is_err());
    }
}
