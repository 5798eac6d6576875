//! The licensing catalog: titles, their licenses and blackouts, validated and immutable.
//!
//! Loading reads a folder of TOML files (`load`), parses each (`parse`) and validates them
//! together (`validate`): any error means no catalog. A loaded `Catalog` also holds the
//! territory index that lets "every title available here" skip titles licensed elsewhere.

pub mod load;
pub mod parse;
pub mod territory;
pub mod time;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::geoip::CountryCode;
use crate::resolve::compiled::{self, Count, Fill, Merged, Record, Sink, Stream};
pub use parse::ParsedFile;
pub use territory::Territories;
pub use time::{LocalTimes, Window};
pub use validate::CheckedFile;

/// Whether anonymizer traffic may stream (`policy.anonymizer`, or a title's `anonymizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnonymizerPolicy {
    /// Denied unless the title is licensed worldwide without exclusions.
    #[default]
    Deny,
    /// Treated like any other traffic.
    Allow,
}

/// The platform vocabulary when no catalog file replaces it.
pub const DEFAULT_PLATFORMS: [&str; 5] = ["tv", "web", "mobile", "tablet", "console"];

/// A platform of the catalog's vocabulary, as its position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platform(u8);

impl Platform {
    fn bit(self) -> u64 {
        1 << self.0
    }
}

/// A set of platforms, one bit each (a vocabulary has at most 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platforms(u64);

impl Platforms {
    /// True when `platform` is in the set.
    #[inline]
    pub fn contains(self, platform: Platform) -> bool {
        self.0 & platform.bit() != 0
    }
}

/// A license or blackout as it was written, for people reading answers. A catalog keeps
/// hundreds of thousands of them, so the values share one string: lists are joined by `,`,
/// which no valid territory or platform contains (only validated values are kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsWritten {
    text: Box<str>,
    /// Where each field ends in `text`, in the order of `Field`.
    ends: [u32; FIELDS],
    /// Which fields are present, a bit each.
    present: u8,
}

const FIELDS: usize = 7;

/// The fields of an `AsWritten`, in the order they are kept.
#[derive(Debug, Clone, Copy)]
enum Field {
    Territories,
    Exclude,
    Start,
    End,
    Timezone,
    Platforms,
    Label,
}

/// One field as written: a list is kept joined by commas.
enum Value<'a> {
    Text(&'a str),
    List(&'a [&'a str]),
}

impl Value<'_> {
    fn len(&self) -> usize {
        match self {
            Value::Text(text) => text.len(),
            Value::List(items) => {
                items.iter().map(|item| item.len()).sum::<usize>() + items.len().saturating_sub(1)
            }
        }
    }

    fn push_to(&self, text: &mut String) {
        match self {
            Value::Text(value) => text.push_str(value),
            Value::List(items) => {
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        text.push(',');
                    }
                    text.push_str(item);
                }
            }
        }
    }
}

/// The values of a license or blackout as written, to build an `AsWritten` from.
#[derive(Debug, Default)]
pub(crate) struct WrittenValues<'a> {
    pub(crate) territories: Vec<&'a str>,
    pub(crate) exclude: Vec<&'a str>,
    pub(crate) start: Option<&'a str>,
    pub(crate) end: Option<&'a str>,
    pub(crate) timezone: Option<&'a str>,
    pub(crate) platforms: Option<Vec<&'a str>>,
    /// A license's label (its `id`, or `<file>#<n>`); `None` for a blackout.
    pub(crate) label: Option<&'a str>,
}

impl AsWritten {
    pub(crate) fn new(written: &WrittenValues<'_>) -> AsWritten {
        let fields = [
            Some(Value::List(&written.territories)),
            Some(Value::List(&written.exclude)),
            written.start.map(Value::Text),
            written.end.map(Value::Text),
            written.timezone.map(Value::Text),
            written.platforms.as_deref().map(Value::List),
            written.label.map(Value::Text),
        ];
        // One allocation of the exact size: catalogs have hundreds of thousands of these.
        let mut text = String::with_capacity(fields.iter().flatten().map(Value::len).sum());
        let mut as_written = AsWritten::default();
        for (n, field) in fields.iter().enumerate() {
            if let Some(value) = field {
                value.push_to(&mut text);
                as_written.present |= 1 << n;
            }
            as_written.ends[n] = text.len() as u32;
        }
        as_written.text = text.into_boxed_str();
        as_written
    }

    fn field(&self, field: Field) -> Option<&str> {
        let n = field as usize;
        if self.present & (1 << n) == 0 {
            return None;
        }
        let start = if n == 0 { 0 } else { self.ends[n - 1] as usize };
        self.text.get(start..self.ends[n] as usize)
    }

    /// `territories`, as written.
    pub fn territories(&self) -> WrittenList<'_> {
        WrittenList(self.field(Field::Territories).unwrap_or(""))
    }

    /// `exclude`, as written (empty when absent).
    pub fn exclude(&self) -> WrittenList<'_> {
        WrittenList(self.field(Field::Exclude).unwrap_or(""))
    }

    /// `start`, as written.
    pub fn start(&self) -> Option<&str> {
        self.field(Field::Start)
    }

    /// `end`, as written.
    pub fn end(&self) -> Option<&str> {
        self.field(Field::End)
    }

    /// `timezone`, as written.
    pub fn timezone(&self) -> Option<&str> {
        self.field(Field::Timezone)
    }

    /// `platforms`, as written.
    pub fn platforms(&self) -> Option<WrittenList<'_>> {
        self.field(Field::Platforms).map(WrittenList)
    }

    /// A license's label; empty for a blackout.
    pub fn label(&self) -> &str {
        self.field(Field::Label).unwrap_or("")
    }
}

/// A list of values as written: territories or platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenList<'a>(&'a str);

impl<'a> WrittenList<'a> {
    /// The values, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0.split(',').filter(|value| !value.is_empty())
    }
}

impl Serialize for WrittenList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A right to stream a title somewhere, sometime, on some platforms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct License {
    /// Where it grants.
    pub territories: Territories,
    /// Carve-outs.
    pub exclude: Territories,
    /// When it grants.
    pub window: Window,
    /// On which platforms; `None` is every platform.
    pub platforms: Option<Platforms>,
    /// For display, and its label.
    pub written: AsWritten,
}

impl License {
    /// Its `id`, or `<file>#<n>` (1-based position within its title) when it has none.
    pub fn label(&self) -> &str {
        self.written.label()
    }

    /// `@WORLD` without exclusions: grants wherever the device is, even unknown or anonymized.
    pub fn is_worldwide(&self) -> bool {
        self.territories.world && self.exclude.is_empty()
    }
}

/// A period in which a title may not stream somewhere, whatever the licenses say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Blackout {
    /// Where it applies.
    pub territories: Territories,
    /// When; either end may be open.
    pub window: Window,
    /// Why, for people.
    pub reason: Option<String>,
    /// For display.
    pub written: AsWritten,
}

/// A title and its rights.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Title {
    /// Unique across the catalog: `[a-z0-9][a-z0-9._-]{0,63}`.
    pub id: String,
    /// For people.
    pub name: String,
    /// Overrides `policy.anonymizer` for this title.
    pub anonymizer: Option<AnonymizerPolicy>,
    /// In file order.
    pub licenses: Vec<License>,
    /// In file order.
    pub blackouts: Vec<Blackout>,
    /// The file it is defined in, relative to the catalog folder (shared by its titles).
    pub file: Arc<str>,
}

/// A title with its compiled answers (see `resolve::compiled`). Shared between the
/// catalogs of successive reloads while its file does not change.
#[derive(Debug)]
pub(crate) struct CompiledTitle {
    pub(crate) title: Title,
    pub(crate) record: Arc<[u64]>,
}

/// What an edit changed, in counts (the reload log never lists titles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Titles new in the catalog.
    pub added: usize,
    /// Titles gone from it.
    pub removed: usize,
    /// Titles whose name, policy, licenses or blackouts changed.
    pub changed: usize,
}

impl Title {
    /// True when both define the same rights as written (the file a title is in may differ).
    pub fn same_definition(&self, other: &Title) -> bool {
        self.name == other.name
            && self.anonymizer == other.anonymizer
            && self.licenses.len() == other.licenses.len()
            && self
                .licenses
                .iter()
                .zip(&other.licenses)
                .all(|(x, y)| x.written == y.written)
            && self.blackouts.len() == other.blackouts.len()
            && self
                .blackouts
                .iter()
                .zip(&other.blackouts)
                .all(|(x, y)| x.written == y.written && x.reason == y.reason)
    }
}

/// A validated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The files, in path order.
    files: Vec<Arc<CheckedFile>>,
    /// Sorted by id.
    titles: Vec<Arc<CompiledTitle>>,
    /// True when two titles have the same id: such a catalog is refused, never served.
    duplicate_ids: bool,
    /// Positions in `titles`, found by the id's hash and checked against the id each title's
    /// record keeps: the slots are small enough to stay in the cache, and the check reads the
    /// record an answer needs anyway.
    by_id: hashbrown::HashTable<u32>,
    /// Every title's compiled record (see `resolve::compiled`), in title order: the table is
    /// small enough to stay in the cache, the records are shared with the titles.
    records: Vec<Arc<[u64]>>,
    platforms: Vec<String>,
    version: String,
    /// Warnings found while validating (errors mean there is no catalog).
    warnings: Warnings,
    /// By country slot: the titles whose licenses, exclusions or blackouts name the country
    /// or one of its regions, in title order, each with its timeline there.
    by_country: Box<[Stream]>,
    /// The titles with a license on `@WORLD`, in title order, with their timeline in the
    /// countries they do not name.
    worldwide: Stream,
    /// The same titles with their timeline at an unknown location.
    worldwide_unknown: Stream,
}

/// A title as found in a catalog: the title and its position there, which leads to its
/// compiled rights.
#[derive(Debug, Clone, Copy)]
pub struct TitleRef<'c> {
    title: &'c Title,
    position: u32,
}

impl<'c> TitleRef<'c> {
    /// The title, for as long as the catalog lives.
    pub fn title(&self) -> &'c Title {
        self.title
    }

    /// Its position among the catalog's titles, in id order.
    pub fn position(&self) -> u32 {
        self.position
    }
}

impl std::ops::Deref for TitleRef<'_> {
    type Target = Title;

    fn deref(&self) -> &Title {
        self.title
    }
}

/// What loading a catalog needs to know besides the files.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// For warnings about ended licenses. Validation never reads the clock itself.
    pub now: Timestamp,
    /// Whether the GeoIP database in use has region codes, when one is known: without them,
    /// region-level rules never grant, and a warning says so.
    pub geoip_has_regions: Option<bool>,
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The folder or a file could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// What the system said.
        message: String,
    },
    /// Validation found errors; warnings are included.
    #[error("the catalog has {} error(s)", diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        /// Every problem, sorted by file and position.
        diagnostics: Vec<Diagnostic>,
    },
}

impl CatalogError {
    /// One line per error (warnings left out), as `/v1/status` shows them.
    pub fn messages(&self) -> Vec<String> {
        match self {
            CatalogError::Invalid { diagnostics } => diagnostics
                .iter()
                .filter(|diagnostic| diagnostic.is_error())
                .map(ToString::to_string)
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

/// The largest catalog file read unless `limits.catalog_file_bytes` says otherwise: far above
/// any hand-edited file, far below what would hurt the service to parse.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

impl Catalog {
    /// Reads, parses and validates every catalog file under `dir`, with the default file size
    /// limit.
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Catalog, CatalogError> {
        Catalog::load_with_limit(dir, DEFAULT_MAX_FILE_BYTES, options)
    }

    /// Reads, parses and validates every catalog file under `dir`; a file larger than
    /// `max_file_bytes` is an error naming it.
    pub fn load_with_limit(
        dir: &Path,
        max_file_bytes: u64,
        options: &LoadOptions,
    ) -> Result<Catalog, CatalogError> {
        load::load(
            dir,
            max_file_bytes,
            options,
            &mut load::FolderState::default(),
            None,
        )
    }

    pub(crate) fn new(
        files: &[Arc<CheckedFile>],
        platforms: Vec<String>,
        warnings: Warnings,
        previous: Option<&Catalog>,
    ) -> Catalog {
        // After an edit of a few files, the previous catalog's order and streams are reused
        // for every title whose file did not change.
        let mut moved =
            previous.and_then(|previous| Some((previous, Moved::new(previous, files)?)));
        let (titles, duplicate_ids) = match &mut moved {
            Some((_, moved)) => (std::mem::take(&mut moved.titles), moved.duplicates),
            None => {
                let titles =
                    sorted_by_id(files.iter().flat_map(|file| file.titles.iter().cloned()));
                let duplicates = titles
                    .windows(2)
                    .any(|pair| pair[0].title.id == pair[1].title.id);
                (titles, duplicates)
            }
        };
        // The record and id tables on one core, the listing streams on both: together they
        // are most of a reload.
        let parts = crate::parallel::map(&[0, 1], |part| match (part, &moved) {
            (0, _) => Built::Records(records(&titles), by_id(&titles)),
            (_, Some((previous, moved))) => {
                Built::Streams(Streams::moved(previous, moved, &titles))
            }
            (_, None) => Built::Streams(Streams::new(&titles)),
        });
        let mut parts = parts.into_iter();
        let (Some(Built::Records(records, by_id)), Some(Built::Streams(streams))) =
            (parts.next(), parts.next())
        else {
            unreachable!("two parts were built, in order");
        };
        let Streams {
            by_country,
            worldwide,
            worldwide_unknown,
        } = streams;
        Catalog {
            files: files.to_vec(),
            titles,
            duplicate_ids,
            by_id,
            records,
            platforms,
            version: version(files),
            warnings,
            by_country,
            worldwide,
            worldwide_unknown,
        }
    }

    /// True when two titles have the same id (files checked one by one cannot tell).
    pub(crate) fn has_duplicate_ids(&self) -> bool {
        self.duplicate_ids
    }

    /// How many files the catalog was read from.
    pub fn n_files(&self) -> usize {
        self.files.len()
    }

    /// Every warning, sorted by file and position.
    pub fn warnings(&self) -> Vec<Diagnostic> {
        let ended_by = self.warnings.ended_by;
        let mut all: Vec<Diagnostic> = self.warnings.general.clone();
        all.extend(
            self.files
                .iter()
                .flat_map(|file| file.ended_warnings(ended_by)),
        );
        all.sort();
        all
    }

    /// How many warnings there are.
    pub fn n_warnings(&self) -> usize {
        let ended_by = self.warnings.ended_by;
        self.warnings.general.len()
            + self
                .files
                .iter()
                .map(|file| file.n_ended(ended_by))
                .sum::<usize>()
    }

    /// Every title, sorted by id.
    pub fn titles(&self) -> impl ExactSizeIterator<Item = &Title> + '_ {
        self.titles.iter().map(|compiled| &compiled.title)
    }

    /// How many titles there are.
    pub fn n_titles(&self) -> usize {
        self.titles.len()
    }

    /// How many titles were added, removed and changed since `before`. Only the titles of
    /// files that are not shared between the two catalogs are compared: a title in a shared
    /// file is the same title, and no other title can have its id.
    pub fn changes_since(&self, before: &Catalog) -> Changes {
        let old = titles_not_in(&before.files, &self.files);
        let new = titles_not_in(&self.files, &before.files);
        let old_by_id: FxHashMap<&str, &Title> = old
            .iter()
            .map(|compiled| (compiled.title.id.as_str(), &compiled.title))
            .collect();
        let mut changes = Changes::default();
        let mut kept = 0;
        for compiled in &new {
            match old_by_id.get(compiled.title.id.as_str()) {
                Some(old) => {
                    kept += 1;
                    if !old.same_definition(&compiled.title) {
                        changes.changed += 1;
                    }
                }
                None => changes.added += 1,
            }
        }
        changes.removed = old.len() - kept;
        changes
    }

    /// The title with `id`.
    #[inline]
    pub fn title(&self, id: &str) -> Option<TitleRef<'_>> {
        let position = *self
            .by_id
            .find(id_hash(id), |&position| self.record(position).has_id(id))?;
        Some(self.title_at(position))
    }

    /// The position of the first title whose id sorts after `id`.
    pub fn position_after(&self, id: &str) -> u32 {
        self.titles
            .partition_point(|compiled| compiled.title.id.as_str() <= id) as u32
    }

    /// The title at `position` (in id order).
    pub fn title_at(&self, position: u32) -> TitleRef<'_> {
        TitleRef {
            title: &self.titles[position as usize].title,
            position,
        }
    }

    /// Every title's compiled record, by position.
    #[inline]
    pub(crate) fn records(&self) -> &[Arc<[u64]>] {
        &self.records
    }

    /// The compiled record of the title at `position`.
    #[inline]
    pub(crate) fn record(&self, position: u32) -> Record<'_> {
        Record::new(&self.records[position as usize])
    }

    /// The platform named `name` in the catalog's vocabulary.
    pub fn platform(&self, name: &str) -> Option<Platform> {
        self.platforms
            .iter()
            .position(|known| known == name)
            .map(|position| Platform(position as u8))
    }

    /// The platform vocabulary.
    pub fn platform_names(&self) -> &[String] {
        &self.platforms
    }

    /// A short hex hash of the files' paths and contents: stable across restarts.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Licenses in all titles.
    pub fn n_licenses(&self) -> usize {
        self.titles().map(|title| title.licenses.len()).sum()
    }

    /// True when some license, exclusion or blackout names a region.
    pub fn has_region_rules(&self) -> bool {
        self.titles().any(|title| {
            title
                .licenses
                .iter()
                .any(|license| license.territories.has_regions() || license.exclude.has_regions())
                || title
                    .blackouts
                    .iter()
                    .any(|blackout| blackout.territories.has_regions())
        })
    }

    /// The titles that could be available in `country`, in id order, each with its answer
    /// there: the titles licensed worldwide and those naming the country, merged. `None` (an
    /// unknown location) gives the worldwide titles alone.
    pub(crate) fn candidates(&self, country: Option<CountryCode>) -> Merged<'_> {
        match country {
            None => Merged::new(&self.worldwide_unknown, None, &self.records),
            Some(country) => Merged::new(
                &self.worldwide,
                Some(&self.by_country[country.slot()]),
                &self.records,
            ),
        }
    }
}

/// A catalog's warnings. Most say that a license has ended (tens of thousands in a large
/// catalog): those are written out only when asked for, from each file's license ends.
#[derive(Debug, Clone)]
pub(crate) struct Warnings {
    /// Every other warning.
    pub(crate) general: Vec<Diagnostic>,
    /// Licenses that ended by then get a warning.
    pub(crate) ended_by: Timestamp,
}

/// What `Catalog::new` builds in parallel.
enum Built {
    Records(Vec<Arc<[u64]>>, hashbrown::HashTable<u32>),
    Streams(Streams),
}

/// The listing streams of a catalog's titles (or, while they are built, what goes into
/// them: a `Sink`).
struct Streams<S = Stream> {
    by_country: Box<[S]>,
    worldwide: S,
    worldwide_unknown: S,
}

impl<S: Sink + Default> Streams<S> {
    fn empty() -> Streams<S> {
        Streams {
            by_country: (0..26 * 26).map(|_| S::default()).collect(),
            worldwide: S::default(),
            worldwide_unknown: S::default(),
        }
    }

    /// Adds the titles at `positions`, in title order.
    fn add(&mut self, titles: &[Arc<CompiledTitle>], positions: std::ops::Range<usize>) {
        for position in positions {
            let compiled = &titles[position];
            let record = Record::new(&compiled.record);
            let position = position as u32;
            if compiled
                .title
                .licenses
                .iter()
                .any(|license| license.territories.world)
            {
                compiled::push_elsewhere(&mut self.worldwide, position, record);
                compiled::push_unknown_location(&mut self.worldwide_unknown, position, record);
            }
            // Every country the record has a timeline of, blackouts and exclusions included:
            // there the title's answer is not the one it has elsewhere.
            compiled::add_countries(&mut self.by_country, position, record, &compiled.title);
        }
    }
}

impl Streams {
    /// `previous`'s streams with its titles moved to their new places, and the entries of
    /// the titles new or changed: every record asked again is a fresh title's.
    fn moved(previous: &Catalog, moved: &Moved, titles: &[Arc<CompiledTitle>]) -> Streams {
        let mut fresh = Streams::<Stream>::empty();
        for &position in &moved.fresh {
            fresh.add(titles, position..position + 1);
        }
        let pairs: Vec<(&Stream, &Stream)> = previous
            .by_country
            .iter()
            .zip(&fresh.by_country)
            .chain([
                (&previous.worldwide, &fresh.worldwide),
                (&previous.worldwide_unknown, &fresh.worldwide_unknown),
            ])
            .collect();
        let mut streams =
            crate::parallel::map(&pairs, |(old, fresh)| old.moved(&moved.moves, fresh));
        let worldwide_unknown = streams.pop().expect("two streams after the countries'");
        let worldwide = streams.pop().expect("one stream after the countries'");
        Streams {
            by_country: streams.into_boxed_slice(),
            worldwide,
            worldwide_unknown,
        }
    }

    /// The streams of `titles`, each half of the titles on a core: counted, then written
    /// into streams of exactly their size.
    fn new(titles: &[Arc<CompiledTitle>]) -> Streams {
        let half = titles.len() / 2;
        let halves = [0..half, half..titles.len()];
        let counts = crate::parallel::map(&halves, |positions| {
            let mut count = Streams::<Count>::empty();
            count.add(titles, positions.clone());
            count
        });
        let [first, second] = &counts[..] else {
            unreachable!("two halves were counted");
        };
        let sized = |a: Count, b: Count| Stream::sized(a + b);
        let mut streams = Streams {
            by_country: first
                .by_country
                .iter()
                .zip(&second.by_country)
                .map(|(a, b)| sized(*a, *b))
                .collect(),
            worldwide: sized(first.worldwide, second.worldwide),
            worldwide_unknown: sized(first.worldwide_unknown, second.worldwide_unknown),
        };
        let mut by_country_a = Vec::with_capacity(26 * 26);
        let mut by_country_b = Vec::with_capacity(26 * 26);
        for (stream, first) in streams.by_country.iter_mut().zip(&first.by_country) {
            let (a, b) = stream.halves(*first);
            by_country_a.push(a);
            by_country_b.push(b);
        }
        let (worldwide_a, worldwide_b) = streams.worldwide.halves(first.worldwide);
        let (unknown_a, unknown_b) = streams.worldwide_unknown.halves(first.worldwide_unknown);
        let mut fills = [
            (
                Streams {
                    by_country: by_country_a.into_boxed_slice(),
                    worldwide: worldwide_a,
                    worldwide_unknown: unknown_a,
                },
                halves[0].clone(),
            ),
            (
                Streams {
                    by_country: by_country_b.into_boxed_slice(),
                    worldwide: worldwide_b,
                    worldwide_unknown: unknown_b,
                },
                halves[1].clone(),
            ),
        ];
        crate::parallel::for_each_mut(&mut fills, |(fill, positions)| {
            fill.add(titles, positions.clone());
        });
        debug_assert!(fills.iter().all(|(fill, _)| {
            fill.by_country.iter().all(Fill::is_written)
                && fill.worldwide.is_written()
                && fill.worldwide_unknown.is_written()
        }));
        drop(fills);
        streams
    }
}

/// A reload's titles against the previous catalog's, when few of them changed.
struct Moved {
    /// Sorted by id (taken by the catalog being built).
    titles: Vec<Arc<CompiledTitle>>,
    /// By position in the previous catalog: the title's position now, `None` if it is gone.
    moves: Vec<Option<u32>>,
    /// The positions of the titles that are new or whose file changed, ascending.
    fresh: Vec<usize>,
    /// True when a fresh title has the id of another title.
    duplicates: bool,
}

impl Moved {
    /// `None` when too many titles changed for reusing the previous catalog to pay.
    fn new(previous: &Catalog, files: &[Arc<CheckedFile>]) -> Option<Moved> {
        let fresh = titles_not_in(files, &previous.files);
        let gone: FxHashSet<*const CompiledTitle> = titles_not_in(&previous.files, files)
            .into_iter()
            .map(Arc::as_ptr)
            .collect();
        if (fresh.len() + gone.len()) * 4 > previous.titles.len() {
            return None;
        }
        let is_gone = |title: &Arc<CompiledTitle>| gone.contains(&Arc::as_ptr(title));
        let fresh = sorted_by_id(fresh.into_iter().cloned());
        // Where each fresh title goes among the previous ones: a binary search each, so that
        // the titles that stay are never read (their ids are in memory nothing else needs).
        let at: Vec<usize> = fresh
            .iter()
            .map(|new| {
                previous
                    .titles
                    .partition_point(|old| old.title.id < new.title.id)
            })
            .collect();
        // The previous catalog had no duplicate: only a fresh title can be one.
        let duplicates = fresh
            .windows(2)
            .any(|pair| pair[0].title.id == pair[1].title.id)
            || fresh.iter().zip(&at).any(|(new, &k)| {
                previous
                    .titles
                    .get(k)
                    .is_some_and(|old| old.title.id == new.title.id && !is_gone(old))
            });
        let mut moved = Moved {
            titles: Vec::with_capacity(previous.titles.len() - gone.len() + fresh.len()),
            moves: Vec::with_capacity(previous.titles.len()),
            fresh: Vec::with_capacity(fresh.len()),
            duplicates,
        };
        let mut fresh = fresh.into_iter().zip(at).peekable();
        for (k, title) in previous.titles.iter().enumerate() {
            while let Some((new, _)) = fresh.next_if(|(_, at)| *at == k) {
                moved.fresh.push(moved.titles.len());
                moved.titles.push(new);
            }
            if !gone.is_empty() && is_gone(title) {
                moved.moves.push(None);
                continue;
            }
            moved.moves.push(Some(moved.titles.len() as u32));
            moved.titles.push(Arc::clone(title));
        }
        for (new, _) in fresh {
            moved.fresh.push(moved.titles.len());
            moved.titles.push(new);
        }
        Some(moved)
    }
}

/// The titles of the files of `a` that are not in `b` as they are.
fn titles_not_in<'a>(
    a: &'a [Arc<CheckedFile>],
    b: &[Arc<CheckedFile>],
) -> Vec<&'a Arc<CompiledTitle>> {
    let by_path: FxHashMap<&str, &Arc<CheckedFile>> =
        b.iter().map(|file| (file.path.as_str(), file)).collect();
    a.iter()
        .filter(|file| {
            !by_path
                .get(file.path.as_str())
                .is_some_and(|other| Arc::ptr_eq(file, other))
        })
        .flat_map(|file| file.titles.iter())
        .collect()
}

/// Titles sorted by id, comparing the first sixteen bytes as one number and the rest only
/// where those tie.
fn sorted_by_id(titles: impl Iterator<Item = Arc<CompiledTitle>>) -> Vec<Arc<CompiledTitle>> {
    let mut titles: Vec<Arc<CompiledTitle>> = titles.collect();
    let prefix = |id: &str| {
        let mut bytes = [0u8; 16];
        let n = id.len().min(16);
        bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        u128::from_be_bytes(bytes)
    };
    let mut keys: Vec<(u128, u32)> = titles
        .iter()
        .enumerate()
        .map(|(n, compiled)| (prefix(&compiled.title.id), n as u32))
        .collect();
    keys.sort_unstable();
    let mut run = 0;
    while run < keys.len() {
        let end = run + keys[run..].partition_point(|key| key.0 == keys[run].0);
        if end - run > 1 {
            keys[run..end].sort_unstable_by(|a, b| {
                titles[a.1 as usize]
                    .title
                    .id
                    .cmp(&titles[b.1 as usize].title.id)
            });
        }
        run = end;
    }
    let mut slots: Vec<Option<Arc<CompiledTitle>>> = titles.drain(..).map(Some).collect();
    keys.iter()
        .map(|&(_, n)| slots[n as usize].take().expect("each title is taken once"))
        .collect()
}

/// Every title's record, in title order.
fn records(titles: &[Arc<CompiledTitle>]) -> Vec<Arc<[u64]>> {
    titles
        .iter()
        .map(|compiled| Arc::clone(&compiled.record))
        .collect()
}

fn by_id(titles: &[Arc<CompiledTitle>]) -> hashbrown::HashTable<u32> {
    let mut by_id = hashbrown::HashTable::with_capacity(titles.len());
    for (position, compiled) in titles.iter().enumerate() {
        by_id.insert_unique(id_hash(&compiled.title.id), position as u32, |&position| {
            id_hash(&titles[position as usize].title.id)
        });
    }
    by_id
}

/// The hash titles are found by.
#[inline]
fn id_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(id)
}

/// The content hash of a catalog: every file's relative path and content hash, in path
/// order.
fn version(files: &[Arc<CheckedFile>]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update((file.path.len() as u64).to_le_bytes());
        hasher.update(file.path.as_bytes());
        hasher.update(file.hash);
    }
    let digest = hasher.finalize();
    digest[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// True for names the catalog reader skips: hidden files and folders, editor leftovers.
pub fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || (name.starts_with('#') && name.ends_with('#'))
}

/// The file's text, refusing one larger than `max_bytes` (counted while reading, so a file
/// that grows after a size check cannot slip through).
pub(crate) fn read_limited(path: &Path, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;

    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "is larger than {max_bytes} bytes (limits.catalog_file_bytes)"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of five titles with licenses of every kind: named countries, exclusions,
    /// regions, worldwide in each territory's local time, blackouts, platforms.
    fn studio_file(n: usize, variant: usize) -> String {
        let mut text = String::new();
        for k in 0..5 {
            let id = format!("t-{:03}", k * 20 + n);
            let country = ["US", "GB", "FR", "DE", "JP"][(n + k + variant) % 5];
            text.push_str(&format!(
                "[[titles]]\nid = \"{id}\"\nname = \"{id} {variant}\"\n\
                 [[titles.licenses]]\nterritories = [\"{country}\", \"CA\"]\nexclude = [\"CA-QC\"]\n\
                 start = 2026-0{}-01T00:00:00Z\n",
                1 + (k + variant) % 9
            ));
            if k % 2 == 0 {
                text.push_str(
                    "[[titles.licenses]]\nterritories = [\"@WORLD\"]\nstart = 2026-03-01\n\
                     timezone = \"territory\"\nplatforms = [\"tv\"]\n",
                );
            }
            if k % 3 == 0 {
                text.push_str(&format!(
                    "[[titles.blackouts]]\nterritories = [\"{country}\"]\n\
                     start = 2026-05-01T00:00:00Z\nend = 2026-05-0{}T00:00:00Z\n",
                    2 + variant % 7
                ));
            }
        }
        text
    }

    fn same_streams(a: &Catalog, b: &Catalog) {
        let ids = |catalog: &Catalog| catalog.titles().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(a), ids(b));
        for (x, y) in a.by_country.iter().zip(&b.by_country) {
            assert_eq!((x.words(), x.len()), (y.words(), y.len()));
        }
        assert_eq!(a.worldwide.words(), b.worldwide.words());
        assert_eq!(a.worldwide_unknown.words(), b.worldwide_unknown.words());
        for position in 0..a.n_titles() as u32 {
            assert_eq!(a.record(position).words(), b.record(position).words());
        }
    }

    /// Changes the plain way: every title of both, by id.
    fn changes_by_id(before: &Catalog, after: &Catalog) -> Changes {
        let old: std::collections::BTreeMap<&str, &Title> =
            before.titles().map(|t| (t.id.as_str(), t)).collect();
        let new: std::collections::BTreeMap<&str, &Title> =
            after.titles().map(|t| (t.id.as_str(), t)).collect();
        Changes {
            added: new.keys().filter(|id| !old.contains_key(*id)).count(),
            removed: old.keys().filter(|id| !new.contains_key(*id)).count(),
            changed: new
                .iter()
                .filter(|(id, t)| old.get(*id).is_some_and(|o| !o.same_definition(t)))
                .count(),
        }
    }

    #[test]
    fn a_reload_that_reuses_the_previous_catalog_builds_what_a_fresh_load_builds() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..20 {
            std::fs::write(dir.path().join(format!("s{n:02}.toml")), studio_file(n, 0)).unwrap();
        }
        let options = LoadOptions {
            now: "2026-06-01T00:00:00Z".parse().unwrap(),
            geoip_has_regions: None,
        };
        let mut state = load::FolderState::default();
        let mut previous = load::load(dir.path(), 1 << 20, &options, &mut state, None).unwrap();
        let edits: [&dyn Fn(&Path); 4] = [
            // Licenses changed, the same ids.
            &|dir| std::fs::write(dir.join("s03.toml"), studio_file(3, 1)).unwrap(),
            // Titles added between others, and one gone.
            &|dir| {
                let text = studio_file(7, 2).replace("t-007", "t-0075") + &studio_file(120, 3);
                std::fs::write(dir.join("s07.toml"), text).unwrap()
            },
            // A file gone.
            &|dir| std::fs::remove_file(dir.join("s11.toml")).unwrap(),
            // A file new.
            &|dir| std::fs::write(dir.join("s30.toml"), studio_file(130, 4)).unwrap(),
        ];
        for edit in edits {
            edit(dir.path());
            let reused =
                load::load(dir.path(), 1 << 20, &options, &mut state, Some(&previous)).unwrap();
            let fresh = Catalog::load(dir.path(), &options).unwrap();
            assert!(
                Moved::new(&previous, &reused.files).is_some(),
                "the reuse was tried"
            );
            same_streams(&reused, &fresh);
            assert_eq!(
                reused.changes_since(&previous),
                changes_by_id(&previous, &reused)
            );
            assert_eq!(
                fresh.changes_since(&previous),
                changes_by_id(&previous, &fresh)
            );
            previous = reused;
        }
        // An edit that repeats the id of a title in a file that did not change, and two new
        // files that share a new id: both refused, with the previous catalog reused.
        let repeat = |id: &str| format!("[[titles]]\nid = \"{id}\"\nname = \"again\"\n");
        for (name, text) in [("s40.toml", repeat("t-001")), ("s41.toml", repeat("t-999"))] {
            std::fs::write(dir.path().join(name), text).unwrap();
            if name == "s41.toml" {
                std::fs::write(dir.path().join("s42.toml"), repeat("t-999")).unwrap();
            }
            let result = load::load(dir.path(), 1 << 20, &options, &mut state, Some(&previous));
            let Err(CatalogError::Invalid { diagnostics }) = result else {
                panic!("a duplicate id was let through");
            };
            assert!(
                diagnostics
                    .iter()
                    .any(|d| d.message.starts_with("duplicate title id")),
                "{diagnostics:?}"
            );
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
    }

    fn options() -> LoadOptions {
        LoadOptions {
            now: "2026-06-01T00:00:00Z".parse().unwrap(),
            geoip_has_regions: None,
        }
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.toml"), "# ".repeat(600)).unwrap();
        let error = Catalog::load_with_limit(dir.path(), 1000, &options())
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("big.toml: is larger than 1000 bytes (limits.catalog_file_bytes)"),
            "{error}"
        );
        assert!(Catalog::load_with_limit(dir.path(), 1200, &options()).is_ok());
    }

    #[test]
    fn editor_leftovers_and_hidden_files_are_ignored() {
        for name in [
            ".hidden.toml",
            "a.toml~",
            ".a.toml.swp",
            "x.swp",
            "#a.toml#",
            ".git",
        ] {
            assert!(is_ignored(name), "{name}");
        }
        assert!(!is_ignored("a.toml"));
    }

    #[test]
    fn files_are_read_recursively_in_sorted_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for file in [
            "b.toml",
            "a.toml",
            "a/z.toml",
            ".hidden/x.toml",
            "a/notes.txt",
            "c.toml~",
        ] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let paths: Vec<String> = load::list(root)
            .unwrap()
            .into_iter()
            .map(|(relative, _)| relative)
            .collect();
        assert_eq!(paths, ["a.toml", "a/z.toml", "b.toml"]);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let error = load::list(Path::new("/nonexistent/catalogs")).unwrap_err();
        assert!(
            error.to_string().starts_with("/nonexistent/catalogs: "),
            "{error}"
        );
    }
}
