//! Compiled rights: each title's answers worked out at load time for the question nearly every
//! request asks — a device in a known country whose region does not matter to the title (or
//! at an unknown location), no platform the title restricts, not an anonymizer the title
//! turns away.
//!
//! A title's record holds a timeline for each country the title names, one for every other
//! country and one for an unknown location: the instants at which the answer can change
//! (every window end, read in that country) and the decision in force between each two. The
//! decisions come from asking the rules themselves at the start of each stretch, so a record
//! answers exactly what the rules answer. A question a record does not cover returns `None`,
//! and the caller asks the rules.
//!
//! A record is a run of 64-bit words, shared by the catalogs of successive reloads while its
//! title does not change:
//!
//! | words      | what                                                                      |
//! |------------|---------------------------------------------------------------------------|
//! | 1          | header: id length, countries named, flags, offsets of two timelines        |
//! | ⌈len/8⌉    | the title id, to check a lookup by id                                      |
//! | ⌈n/4⌉      | the countries named, as [`CountryCode::slot`] numbers (u16), ascending     |
//! | ⌈n/2⌉      | per country (u32): its timeline's offset, and whether its region matters   |
//! | the rest   | timelines: k changes; k instants (Unix seconds); k + 1 decisions (u32)     |
//!
//! Offsets count words from the record's start. Pure: no IO, no clock.

use std::ops::Range;
use std::sync::Arc;

use hashbrown::HashTable;
use jiff::Timestamp;

use crate::catalog::territory::{Match, Territories, is_eu};
use crate::catalog::time::{End, Window};
use crate::catalog::{AnonymizerPolicy, Title};
use crate::geoip::{CountryCode, Location, LocationSource};
use crate::resolve::{Decision, LicenseRef, Query, Reason, rules};

/// The record answers nothing: every question goes to the rules.
const BY_RULES: u64 = 1;
/// Some license names platforms: a question naming a platform goes to the rules.
const RESTRICTS_PLATFORMS: u64 = 2;
/// Countries the title does not name are answered by the rules.
const DEFAULT_BY_RULES: u64 = 4;
/// The title names every country: a worldwide rule is read in each territory's own time, so
/// countries need their own timelines (few of them distinct).
const NAMES_EVERY_COUNTRY: u64 = 8;
/// In a country's entry: a known region can change the answer.
const REGION_MATTERS: u32 = 1 << 16;

/// Limits of the layout; a title beyond them is answered by the rules.
const MAX_LICENSES: usize = 0xfff - 1;
const MAX_CHANGES: usize = 0xff - 1;
const MAX_COUNTRIES: usize = 0xff;
const MAX_RECORD_WORDS: usize = 0xffff;

/// Compiles `title`'s record. Local date-times are read with `local`, as the rules read them.
pub(crate) fn compile(title: &Title) -> Vec<u64> {
    let id = id_words(&title.id);
    let mut record = Vec::with_capacity(1 + id.len());
    record.push(title.id.len() as u64);
    record.extend_from_slice(&id);
    match body(title, record.len()) {
        Some((flags, body)) => {
            record[0] |= flags << 16;
            record.extend_from_slice(&body.words);
            record[0] |= (body.countries.len() as u64) << 8;
            record[0] |= u64::from(body.unknown) << 32 | u64::from(body.default) << 48;
        }
        None => record[0] |= BY_RULES << 16,
    }
    record
}

/// A title's answer from its record, or `None` when the record does not cover the question.
#[inline]
pub(crate) fn decide<'c>(
    record: Record<'_>,
    title: &'c Title,
    location: &Location,
    query: &Query,
) -> Option<Decision<'c>> {
    let flags = record.flags();
    if flags & BY_RULES != 0
        || (query.platform.is_some() && flags & RESTRICTS_PLATFORMS != 0)
        || (location.anonymizer
            && title.anonymizer.unwrap_or(query.policy) == AnonymizerPolicy::Deny)
    {
        return None;
    }
    let portability = match (query.home, location.country) {
        (Some(home), Some(located)) => home != located && is_eu(home) && is_eu(located),
        _ => false,
    };
    let (country, region) = if portability {
        (query.home, None)
    } else {
        (location.country, location.region)
    };
    let (timeline, region_matters) = record.timeline(country)?;
    if region_matters && region.is_some() {
        return None;
    }
    Some(timeline.decision(timeline.at(query.at), title, portability))
}

/// Titles with their timelines for one place, in title order, one after the other: a
/// listing reads it front to back, so it streams through the cache instead of jumping
/// between records.
///
/// Each entry is a header word (the title's position, flags, and the number of changes of
/// its timeline) followed by a copy of the title's timeline there (instants and decisions), or by the timeline's offset in the title's record for titles that
/// name every country (a copy in each of them would cost more than the jump), or by nothing
/// when the rules must answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    words: Vec<u64>,
    len: usize,
}

/// In an entry's header, above the position: the rules must answer.
const ENTRY_BY_RULES: u64 = 1 << 32;
/// A known region can change the answer.
const ENTRY_REGION_MATTERS: u64 = 1 << 33;
/// Some license names platforms.
const ENTRY_RESTRICTS_PLATFORMS: u64 = 1 << 34;
/// The next word is the timeline's offset in the title's record.
const ENTRY_ELSEWHERE: u64 = 1 << 35;
/// Where a header keeps its timeline's number of changes (eight bits).
const ENTRY_CHANGES_SHIFT: u32 = 40;
/// Where a header keeps the number of words that follow it (sixteen bits), so that a walk
/// through a stream steps from entry to entry without asking what kind each one is.
const ENTRY_LEN_SHIFT: u32 = 48;
// The longest entry (a timeline of `MAX_CHANGES` changes) fits those sixteen bits.
const _: () = assert!(MAX_CHANGES + (MAX_CHANGES + 2) / 2 < 1 << 16);

/// Where a title's entries go. Streams are built twice over: counted first, to size each
/// one exactly, then written in place; a catalog keeps its streams for as long as it serves.
pub(crate) trait Sink {
    /// Adds an entry: its header word, then the rest of it.
    fn entry(&mut self, header: u64, rest: &[u64]);
}

/// `header` with the length of the words after it.
#[inline]
fn with_len(header: u64, rest: &[u64]) -> u64 {
    debug_assert!(
        rest.len() < 1 << 16,
        "a timeline is at most a few hundred words"
    );
    header | (rest.len() as u64) << ENTRY_LEN_SHIFT
}

/// The size of a stream to be.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Count {
    words: usize,
    len: usize,
}

impl Sink for Count {
    #[inline]
    fn entry(&mut self, _header: u64, rest: &[u64]) {
        self.words += 1 + rest.len();
        self.len += 1;
    }
}

impl std::ops::Add for Count {
    type Output = Count;

    fn add(self, other: Count) -> Count {
        Count {
            words: self.words + other.words,
            len: self.len + other.len,
        }
    }
}

/// The part of a stream still to be written.
#[derive(Debug, Default)]
pub(crate) struct Fill<'a> {
    words: &'a mut [u64],
}

impl Fill<'_> {
    /// True once every word counted has been written.
    pub(crate) fn is_written(&self) -> bool {
        self.words.is_empty()
    }
}

impl Sink for Fill<'_> {
    #[inline]
    fn entry(&mut self, header: u64, rest: &[u64]) {
        let (entry, later) = std::mem::take(&mut self.words).split_at_mut(1 + rest.len());
        entry[0] = with_len(header, rest);
        entry[1..].copy_from_slice(rest);
        self.words = later;
    }
}

impl Sink for Stream {
    fn entry(&mut self, header: u64, rest: &[u64]) {
        self.words.push(with_len(header, rest));
        self.words.extend_from_slice(rest);
        self.len += 1;
    }
}

/// Where the titles of the catalog a stream was built for are in the next one: `None` for
/// those gone, by old position.
pub(crate) type Moves<'a> = &'a [Option<u32>];

impl Stream {
    /// This stream's entries of the titles still there, moved to their new positions, merged
    /// with `fresh`'s (the entries of titles new or changed, at their new positions): the
    /// stream a reload builds without asking any record again.
    pub(crate) fn moved(&self, moves: Moves<'_>, fresh: &Stream) -> Stream {
        let mut words = Vec::with_capacity(self.words.len() + fresh.words.len());
        let mut len = 0;
        let mut fresh_entries = RawEntries {
            words: &fresh.words,
        }
        .peekable();
        for entry in (RawEntries { words: &self.words }) {
            let Some(position) = moves[entry[0] as u32 as usize] else {
                continue;
            };
            while let Some(fresh) = fresh_entries.next_if(|fresh| (fresh[0] as u32) < position) {
                words.extend_from_slice(fresh);
                len += 1;
            }
            words.push(entry[0] & !u64::from(u32::MAX) | u64::from(position));
            words.extend_from_slice(&entry[1..]);
            len += 1;
        }
        for fresh in fresh_entries {
            words.extend_from_slice(fresh);
            len += 1;
        }
        Stream { words, len }
    }

    /// A stream of `count`'s size, to be written through `Fill`s.
    pub(crate) fn sized(count: Count) -> Stream {
        Stream {
            words: vec![0; count.words],
            len: count.len,
        }
    }

    /// The stream's words split in two: the first `first` counted, and the rest.
    pub(crate) fn halves(&mut self, first: Count) -> (Fill<'_>, Fill<'_>) {
        let (a, b) = self.words.split_at_mut(first.words);
        (Fill { words: a }, Fill { words: b })
    }
}

/// Adds every country's entry of the title at `position` to the streams of those countries
/// (`by_country`, by slot). Titles are added in title order.
pub(crate) fn add_countries<S: Sink>(
    by_country: &mut [S],
    position: u32,
    record: Record<'_>,
    title: &Title,
) {
    if record.flags() & BY_RULES != 0 {
        for slot in named_countries(title) {
            push(
                &mut by_country[usize::from(slot)],
                position,
                record,
                None,
                None,
            );
        }
        return;
    }
    let by_offset = record.flags() & NAMES_EVERY_COUNTRY != 0;
    for (slot, offset, region_matters) in record.entries() {
        let elsewhere = by_offset.then_some(offset);
        push(
            &mut by_country[usize::from(slot)],
            position,
            record,
            Some((offset, region_matters)),
            elsewhere,
        );
    }
}

/// Adds the title at `position` with its timeline at an unknown location.
pub(crate) fn push_unknown_location<S: Sink>(sink: &mut S, position: u32, record: Record<'_>) {
    let entry = match record.flags() & BY_RULES {
        0 => record.entry(None),
        _ => None,
    };
    push(sink, position, record, entry, None);
}

/// Adds the title at `position` with its timeline in the countries it does not name.
pub(crate) fn push_elsewhere<S: Sink>(sink: &mut S, position: u32, record: Record<'_>) {
    push(sink, position, record, record.default_entry(), None);
}

#[inline]
fn push<S: Sink>(
    sink: &mut S,
    position: u32,
    record: Record<'_>,
    entry: Option<(u32, bool)>,
    record_offset: Option<u32>,
) {
    let mut header = u64::from(position);
    if record.flags() & RESTRICTS_PLATFORMS != 0 {
        header |= ENTRY_RESTRICTS_PLATFORMS;
    }
    let Some((offset, region_matters)) = entry else {
        sink.entry(header | ENTRY_BY_RULES, &[]);
        return;
    };
    if region_matters {
        header |= ENTRY_REGION_MATTERS;
    }
    match record_offset {
        Some(record_offset) => {
            sink.entry(header | ENTRY_ELSEWHERE, &[u64::from(record_offset)]);
        }
        None => {
            let timeline = Timeline::in_record(&record.words[offset as usize..]);
            let changes = (timeline.changes as u64) << ENTRY_CHANGES_SHIFT;
            sink.entry(header | changes, &timeline.words[..timeline.len()]);
        }
    }
}

impl Stream {
    /// The entries, in title order.
    pub(crate) fn entries(&self) -> Entries<'_> {
        Entries { words: &self.words }
    }

    /// The stream's words, to compare streams built two ways.
    #[cfg(test)]
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// How many titles the stream has.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The entries of the titles licensed worldwide and of the titles naming one country, merged
/// in title order; where a title is in both, its entry naming the country wins.
#[derive(Debug, Clone)]
pub(crate) struct Merged<'a> {
    worldwide: Entries<'a>,
    local: Entries<'a>,
    next_worldwide: Option<Entry<'a>>,
    next_local: Option<Entry<'a>>,
    /// The country's stream further on, to ask for records before the walk needs them.
    ahead: Lookahead<'a>,
    /// At most this many entries.
    pub(crate) bound: usize,
}

impl<'a> Merged<'a> {
    /// `local` may be empty (an unknown location: the worldwide titles alone).
    pub(crate) fn new(
        worldwide: &'a Stream,
        local: Option<&'a Stream>,
        records: &'a [Arc<[u64]>],
    ) -> Merged<'a> {
        let mut worldwide_entries = worldwide.entries();
        let mut local_entries = Entries { words: &[] };
        if let Some(local) = local {
            local_entries = local.entries();
        }
        Merged {
            ahead: Lookahead::new(&local_entries, records),
            next_worldwide: worldwide_entries.next(),
            next_local: local_entries.next(),
            worldwide: worldwide_entries,
            local: local_entries,
            bound: worldwide.len() + local.map_or(0, Stream::len),
        }
    }
}

impl<'a> Iterator for Merged<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        let take_local = match (self.next_worldwide, self.next_local) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(worldwide), Some(local)) => {
                if worldwide.position() == local.position() {
                    self.next_worldwide = self.worldwide.next();
                }
                worldwide.position() >= local.position()
            }
        };
        if take_local {
            self.ahead.step();
            std::mem::replace(&mut self.next_local, self.local.next())
        } else {
            std::mem::replace(&mut self.next_worldwide, self.worldwide.next())
        }
    }
}

/// Two walks of a country's stream ahead of a listing, which ask the cache for what the
/// timelines kept in records will need: the record table's slot `2 × AHEAD` entries ahead,
/// the timeline itself (through the slot, fetched by then) `AHEAD` entries ahead. Each such
/// timeline is a line of its own among the records (6,335 of the benchmark catalog's 100k
/// titles name every country): asked for one at a time, as the walk reaches them, each is
/// a wait for memory.
#[derive(Debug, Clone)]
struct Lookahead<'a> {
    near: Entries<'a>,
    far: Entries<'a>,
    records: &'a [Arc<[u64]>],
}

/// Entries of a country's stream between the walk and the timelines it asks for: 8 to 64
/// measured alike (87–94 ns a returned title against 117 without, in one run), 16 leaves
/// room for a slower memory.
const AHEAD: usize = 16;

impl<'a> Lookahead<'a> {
    fn new(entries: &Entries<'a>, records: &'a [Arc<[u64]>]) -> Lookahead<'a> {
        let mut near = entries.clone();
        near.nth(AHEAD - 1);
        let mut far = near.clone();
        far.nth(AHEAD - 1);
        Lookahead { near, far, records }
    }

    /// Moves both walks one entry on.
    #[inline]
    fn step(&mut self) {
        if let Some(entry) = self.far.next()
            && entry.header & ENTRY_ELSEWHERE != 0
            && let Some(slot) = self.records.get(entry.position() as usize)
        {
            prefetch(slot);
        }
        if let Some(entry) = self.near.next()
            && entry.header & ENTRY_ELSEWHERE != 0
            && let Some(record) = self.records.get(entry.position() as usize)
            && let Some(&offset) = entry.words.first()
            && let Some(word) = record.get(offset as usize)
        {
            prefetch(word);
        }
    }
}

/// Asks for the cache line holding `value`: a hint, which changes no result.
#[inline]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// One title of a stream: small, since a listing moves one through the merge per title.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    header: u64,
    /// The timeline's instants and decisions (its count is in the header), or, for a
    /// timeline kept in the title's record, its offset there.
    words: &'a [u64],
}

impl<'a> Entry<'a> {
    /// The title's position in the catalog.
    #[inline]
    pub(crate) fn position(&self) -> u32 {
        self.header as u32
    }

    /// The timeline that answers a question with or without a known region and a platform;
    /// `None` when the rules must answer. `records` are the records the stream was built
    /// from, by title position: a title that names every country keeps its timelines there.
    #[inline]
    pub(crate) fn timeline(
        &self,
        records: &'a [Arc<[u64]>],
        region_known: bool,
        platform_named: bool,
    ) -> Option<Timeline<'a>> {
        if self.header & ENTRY_BY_RULES != 0
            || (region_known && self.header & ENTRY_REGION_MATTERS != 0)
            || (platform_named && self.header & ENTRY_RESTRICTS_PLATFORMS != 0)
        {
            return None;
        }
        Some(if self.header & ENTRY_ELSEWHERE != 0 {
            let record = &records[self.position() as usize];
            Timeline::in_record(&record[self.words[0] as usize..])
        } else {
            Timeline::in_entry(self.header, self.words)
        })
    }
}

/// The entries of a stream, front to back.
#[derive(Debug, Clone)]
pub(crate) struct Entries<'a> {
    words: &'a [u64],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    #[inline]
    fn next(&mut self) -> Option<Entry<'a>> {
        let (&header, rest) = self.words.split_first()?;
        let (words, later) = rest.split_at((header >> ENTRY_LEN_SHIFT) as usize);
        self.words = later;
        Some(Entry { header, words })
    }
}

/// The entries of a stream as runs of words, header first.
struct RawEntries<'a> {
    words: &'a [u64],
}

impl<'a> Iterator for RawEntries<'a> {
    type Item = &'a [u64];

    #[inline]
    fn next(&mut self) -> Option<&'a [u64]> {
        let &header = self.words.first()?;
        let (entry, later) = self
            .words
            .split_at(1 + (header >> ENTRY_LEN_SHIFT) as usize);
        self.words = later;
        Some(entry)
    }
}

/// One title's record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    words: &'a [u64],
}

impl<'a> Record<'a> {
    /// The record starting at `words[0]`.
    #[inline]
    pub(crate) fn new(words: &'a [u64]) -> Record<'a> {
        Record { words }
    }

    /// The record's words, to compare records built two ways.
    #[cfg(test)]
    pub(crate) fn words(&self) -> &[u64] {
        self.words
    }

    #[inline]
    fn header(&self) -> u64 {
        self.words[0]
    }

    /// Each country the title names, in slot order: its slot, its timeline's offset and
    /// whether a known region can change the answer there.
    fn entries(&self) -> impl Iterator<Item = (u16, u32, bool)> + '_ {
        let n = self.n_countries();
        let countries_at = 1 + self.id_len().div_ceil(8);
        let entries_at = countries_at + n.div_ceil(4);
        let countries =
            &bytemuck::cast_slice::<u64, u16>(&self.words[countries_at..entries_at])[..n];
        let entries =
            &bytemuck::cast_slice::<u64, u32>(&self.words[entries_at..entries_at + n.div_ceil(2)])
                [..n];
        countries
            .iter()
            .zip(entries)
            .map(|(&slot, &entry)| (slot, entry & 0xffff, entry & REGION_MATTERS != 0))
    }

    /// The entry every country the title does not name uses.
    pub(crate) fn default_entry(&self) -> Option<(u32, bool)> {
        if self.flags() & (BY_RULES | DEFAULT_BY_RULES) != 0 {
            return None;
        }
        Some(((self.header() >> 48) as u32, false))
    }

    #[inline]
    fn flags(&self) -> u64 {
        (self.header() >> 16) & 0xff
    }

    #[inline]
    fn n_countries(&self) -> usize {
        ((self.header() >> 8) & 0xff) as usize
    }

    #[inline]
    fn id_len(&self) -> usize {
        (self.header() & 0xff) as usize
    }

    /// True when the record is `id`'s.
    #[inline]
    pub(crate) fn has_id(&self, id: &str) -> bool {
        let len = id.len();
        if self.id_len() != len {
            return false;
        }
        let words = &self.words[1..1 + len.div_ceil(8)];
        bytemuck::cast_slice::<u64, u8>(words)[..len] == *id.as_bytes()
    }

    /// The timeline for `country` (`None`: an unknown location) and whether a known region
    /// can change its answers; `None` when the rules must answer.
    #[inline]
    fn timeline(&self, country: Option<CountryCode>) -> Option<(Timeline<'a>, bool)> {
        let (offset, region_matters) = self.entry(country)?;
        Some((
            Timeline::in_record(&self.words[offset as usize..]),
            region_matters,
        ))
    }

    /// The offset of `country`'s timeline and whether its region matters.
    #[inline]
    fn entry(&self, country: Option<CountryCode>) -> Option<(u32, bool)> {
        let Some(country) = country else {
            return Some((((self.header() >> 32) & 0xffff) as u32, false));
        };
        let n = self.n_countries();
        let countries_at = 1 + self.id_len().div_ceil(8);
        let entries_at = countries_at + n.div_ceil(4);
        let countries =
            &bytemuck::cast_slice::<u64, u16>(&self.words[countries_at..entries_at])[..n];
        match countries.binary_search(&(country.slot() as u16)) {
            Ok(k) => {
                let entries = bytemuck::cast_slice::<u64, u32>(
                    &self.words[entries_at..entries_at + n.div_ceil(2)],
                );
                let entry = entries[k];
                Some((entry & 0xffff, entry & REGION_MATTERS != 0))
            }
            Err(_) if self.flags() & DEFAULT_BY_RULES != 0 => None,
            Err(_) => Some(((self.header() >> 48) as u32, false)),
        }
    }
}

/// The decisions of one country (or of an unknown location) over time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline<'a> {
    /// k, the number of changes: a record keeps it in the word before the timeline, a
    /// stream in the entry's header.
    changes: usize,
    /// `words[..k]` the instants, ascending; then k + 1 packed decisions, two to a word.
    words: &'a [u64],
}

impl<'a> Timeline<'a> {
    /// The timeline whose count of changes is `words[0]`, as in a record.
    #[inline]
    fn in_record(words: &'a [u64]) -> Timeline<'a> {
        Timeline {
            changes: words[0] as usize,
            words: &words[1..],
        }
    }

    /// The timeline of a stream entry with `header`, `words` following it.
    #[inline]
    fn in_entry(header: u64, words: &'a [u64]) -> Timeline<'a> {
        Timeline {
            changes: ((header >> ENTRY_CHANGES_SHIFT) & 0xff) as usize,
            words,
        }
    }

    #[inline]
    fn n_changes(&self) -> usize {
        self.changes
    }

    /// Words the instants and decisions take.
    #[inline]
    fn len(&self) -> usize {
        let n = self.n_changes();
        n + (n + 1).div_ceil(2)
    }

    /// The packed decision in force at `t`.
    #[inline]
    pub(crate) fn at(&self, t: Timestamp) -> u32 {
        // Every instant is a whole second, so `t >= change` exactly when its floor is.
        let floor = t.as_second() - i64::from(t.subsec_nanosecond() < 0);
        let n = self.n_changes();
        // Instants ascend, so the stretch is the number of them already passed: counted
        // without stopping early, which costs no mispredicted branch.
        let stretch: usize = self.words[..n]
            .iter()
            .map(|&change| usize::from(change as i64 <= floor))
            .sum();
        let decisions = &self.words[n..n + (n + 1).div_ceil(2)];
        bytemuck::cast_slice::<u64, u32>(decisions)[stretch]
    }

    /// True when `packed` grants.
    #[inline]
    pub(crate) fn grants(packed: u32) -> bool {
        packed & 0xf == 0
    }

    /// The decision `packed` stands for, for `title`.
    #[inline]
    pub(crate) fn decision<'c>(
        &self,
        packed: u32,
        title: &'c Title,
        portability: bool,
    ) -> Decision<'c> {
        let change = |index: u32| {
            let k = index.checked_sub(1)? as usize;
            Timestamp::from_second(self.words[k] as i64).ok()
        };
        Decision {
            reason: Reason::ALL[(packed & 0xf) as usize],
            license: ((packed >> 4) & 0xfff)
                .checked_sub(1)
                .map(|index| LicenseRef::new(title, index as usize)),
            available_until: change((packed >> 16) & 0xff),
            available_from: change(packed >> 24),
            portability,
        }
    }
}

/// The id packed eight bytes to a word, as the record keeps it.
fn id_words(id: &str) -> Vec<u64> {
    id.as_bytes().chunks(8).map(word_of).collect()
}

/// Small numbers packed into words, so that a record's words read back as the same slice.
fn as_words<T: bytemuck::Pod>(values: &[T]) -> Vec<u64> {
    let mut words = Vec::new();
    extend_as_words(&mut words, values);
    words
}

/// `values` packed as `as_words` packs them, after `words`.
fn extend_as_words<T: bytemuck::Pod>(words: &mut Vec<u64>, values: &[T]) {
    let per_word = 8 / std::mem::size_of::<T>();
    let at = words.len();
    words.resize(at + values.len().div_ceil(per_word), 0);
    bytemuck::cast_slice_mut::<u64, T>(&mut words[at..])[..values.len()].copy_from_slice(values);
}

/// Eight bytes (or fewer, zero padded) as a word whose memory holds them in order.
fn word_of(chunk: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..chunk.len()].copy_from_slice(chunk);
    u64::from_ne_bytes(bytes)
}

/// Everything after the id, with its countries and the offsets of the two shared timelines.
struct Body {
    words: Vec<u64>,
    countries: Vec<u16>,
    unknown: u16,
    default: u16,
}

/// The record after its header and id (`start` words), and the header's flags; `None` when the
/// title is beyond the layout's limits and the rules must answer everything.
fn body(title: &Title, start: usize) -> Option<(u64, Body)> {
    if title.licenses.len() > MAX_LICENSES {
        return None;
    }
    let mut flags = 0;
    if title
        .licenses
        .iter()
        .any(|license| license.platforms.is_some())
    {
        flags |= RESTRICTS_PLATFORMS;
    }
    let named = named_countries(title);
    if named.len() > MAX_COUNTRIES {
        return None;
    }
    if worldwide_in_local_time(title) {
        flags |= NAMES_EVERY_COUNTRY;
    }
    let entries_at = start + named.len().div_ceil(4);
    let mut timelines = Timelines {
        start: entries_at + named.len().div_ceil(2),
        words: Vec::new(),
        by_content: RunIndex::default(),
        by_signature: Keyed::default(),
        by_instants: Keyed::default(),
        rules: Vec::new(),
        instants: Vec::new(),
        scratch: Scratch::default(),
    };
    let explicit = explicitly_named(title);
    let mut entries = Vec::with_capacity(named.len());
    for &slot in &named {
        let country = CountryCode::from_slot(usize::from(slot));
        let offset = if explicit.binary_search(&slot).is_ok() {
            timelines.for_country(title, country)?
        } else {
            timelines.for_unnamed_country(title, country)?
        };
        let mut entry = u32::from(offset);
        if names_a_region_of(title, country) {
            entry |= REGION_MATTERS;
        }
        entries.push(entry);
    }
    let mut words = as_words(&named);
    words.extend(as_words(&entries));
    let unknown = timelines.for_unknown_location(title)?;
    let default = match unnamed_country(&named) {
        Some(country) => timelines.for_country(title, country)?,
        None => {
            flags |= DEFAULT_BY_RULES;
            0
        }
    };
    words.extend_from_slice(&timelines.words);
    if start + words.len() > MAX_RECORD_WORDS {
        return None;
    }
    Some((
        flags,
        Body {
            words,
            countries: named,
            unknown,
            default,
        },
    ))
}

/// The timelines of one record, each written once.
struct Timelines {
    /// Where the first timeline will stand in the record.
    start: usize,
    words: Vec<u64>,
    /// The timelines written, by content: their runs are in `words`.
    by_content: RunIndex,
    /// Places where the same rules apply alike, with the same window ends, have the same
    /// timeline.
    by_signature: Keyed<Rule>,
    /// Countries no rule names, by the window ends of the worldwide rules read there.
    by_instants: Keyed<Option<Timestamp>>,
    /// The rules that apply in the place being compiled, and the window ends read there:
    /// kept from place to place (a title naming every country has hundreds), so that a place
    /// allocates nothing of its own.
    rules: Vec<Rule>,
    instants: Vec<Option<Timestamp>>,
    scratch: Scratch,
}

/// Where a timeline is worked out before it is looked up among those already written.
#[derive(Debug, Default)]
struct Scratch {
    changes: Vec<i64>,
    decisions: Vec<u32>,
    /// The timeline as the record keeps it.
    words: Vec<u64>,
}

impl Timelines {
    fn for_country(&mut self, title: &Title, country: CountryCode) -> Option<u16> {
        applicable(title, Some(country), &mut self.rules);
        if let Some(offset) = self.by_signature.get(&self.rules) {
            return Some(offset);
        }
        timeline(title, Some(country), &self.rules, &mut self.scratch)?;
        let offset = self.add()?;
        self.by_signature.insert(&self.rules, offset);
        Some(offset)
    }

    /// A country no rule names: only the worldwide rules apply there, alike everywhere, so
    /// only their window ends (read in the country's zones) tell such countries apart.
    fn for_unnamed_country(&mut self, title: &Title, country: CountryCode) -> Option<u16> {
        let at = Some(country);
        let licenses = title
            .licenses
            .iter()
            .filter(|license| license.territories.world)
            .map(|license| (&license.window, End::LicenseStart, End::LicenseEnd));
        let blackouts = title
            .blackouts
            .iter()
            .filter(|blackout| blackout.territories.world)
            .map(|blackout| (&blackout.window, End::BlackoutStart, End::BlackoutEnd));
        self.instants.clear();
        for (window, start, end) in licenses.chain(blackouts) {
            self.instants
                .push(Window::instant(&window.start, start, at));
            self.instants.push(Window::instant(&window.end, end, at));
        }
        if let Some(offset) = self.by_instants.get(&self.instants) {
            return Some(offset);
        }
        applicable(title, at, &mut self.rules);
        timeline(title, at, &self.rules, &mut self.scratch)?;
        let offset = self.add()?;
        self.by_instants.insert(&self.instants, offset);
        Some(offset)
    }

    fn for_unknown_location(&mut self, title: &Title) -> Option<u16> {
        applicable(title, None, &mut self.rules);
        timeline(title, None, &self.rules, &mut self.scratch)?;
        self.add()
    }

    /// Writes the timeline just worked out, unless the record has it already.
    fn add(&mut self) -> Option<u16> {
        let timeline = self.scratch.words.as_slice();
        if let Some(offset) = self.by_content.get(&self.words, timeline) {
            return Some(offset);
        }
        let at = self.words.len();
        let offset = u16::try_from(self.start + at).ok()?;
        self.words.extend_from_slice(timeline);
        self.by_content
            .insert(&self.words, at..self.words.len(), offset);
        Some(offset)
    }
}

/// Runs kept one after another in a vector of their own or another's, each mapped to a
/// timeline's offset and found by content: a run is copied only when it is new.
#[derive(Debug, Default)]
struct RunIndex {
    /// Each run as its place in the vector, its length, and the offset it maps to.
    table: HashTable<(u32, u32, u16)>,
}

impl RunIndex {
    fn get<T: std::hash::Hash + Eq>(&self, kept: &[T], run: &[T]) -> Option<u16> {
        self.table
            .find(hash_of(run), |&(at, len, _)| {
                &kept[at as usize..][..len as usize] == run
            })
            .map(|&(_, _, offset)| offset)
    }

    /// Maps the run at `place` in `kept` to `offset`.
    fn insert<T: std::hash::Hash>(&mut self, kept: &[T], place: Range<usize>, offset: u16) {
        let hash = hash_of(&kept[place.clone()]);
        let entry = (place.start as u32, place.len() as u32, offset);
        self.table.insert_unique(hash, entry, |&(at, len, _)| {
            hash_of(&kept[at as usize..][..len as usize])
        });
    }
}

/// Runs of `T` mapped to timelines' offsets, kept here.
#[derive(Debug)]
struct Keyed<T> {
    runs: Vec<T>,
    index: RunIndex,
}

impl<T> Default for Keyed<T> {
    fn default() -> Keyed<T> {
        Keyed {
            runs: Vec::new(),
            index: RunIndex::default(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Keyed<T> {
    fn get(&self, run: &[T]) -> Option<u16> {
        self.index.get(&self.runs, run)
    }

    fn insert(&mut self, run: &[T], offset: u16) {
        let at = self.runs.len();
        self.runs.extend_from_slice(run);
        self.index.insert(&self.runs, at..self.runs.len(), offset);
    }
}

fn hash_of<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(value)
}

/// A license or blackout that can apply in a place: which one, how its territories (and a
/// license's exclusions) match there with the region unknown, and its window ends read there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rule {
    /// Licenses first, then blackouts, in file order.
    index: usize,
    territories: Match,
    exclude: Match,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

/// The licenses and blackouts whose windows can change `title`'s answer in `country` (`None`:
/// an unknown location). The rules pass over a license whose territories miss the place, and
/// over a blackout that misses it, whatever the time; at an unknown location only worldwide
/// licenses grant, and any blackout in force denies. Written into `rules`, emptied first.
fn applicable(title: &Title, country: Option<CountryCode>, rules: &mut Vec<Rule>) {
    let matches = |territories: &Territories| match country {
        Some(country) => territories.matches(country, None),
        None if territories.world => Match::Yes,
        None => Match::IfRegionKnown,
    };
    rules.clear();
    for (index, license) in title.licenses.iter().enumerate() {
        let applies = match country {
            Some(country) => license.territories.matches(country, None) != Match::No,
            None => license.is_worldwide(),
        };
        if applies {
            rules.push(Rule {
                index,
                territories: matches(&license.territories),
                exclude: matches(&license.exclude),
                start: Window::instant(&license.window.start, End::LicenseStart, country),
                end: Window::instant(&license.window.end, End::LicenseEnd, country),
            });
        }
    }
    for (n, blackout) in title.blackouts.iter().enumerate() {
        let territories = matches(&blackout.territories);
        if territories != Match::No {
            rules.push(Rule {
                index: title.licenses.len() + n,
                territories,
                exclude: Match::No,
                start: Window::instant(&blackout.window.start, End::BlackoutStart, country),
                end: Window::instant(&blackout.window.end, End::BlackoutEnd, country),
            });
        }
    }
}

/// The timeline of `title` in `country` (`None`: an unknown location) with the region
/// unknown, no platform and no anonymizer, given the rules that apply there; `None` when an
/// instant has a fraction of a second or there are too many changes for the layout. Written
/// into `scratch.words`.
fn timeline(
    title: &Title,
    country: Option<CountryCode>,
    applicable: &[Rule],
    scratch: &mut Scratch,
) -> Option<()> {
    let Scratch {
        changes,
        decisions,
        words,
    } = scratch;
    changes.clear();
    for instant in applicable
        .iter()
        .flat_map(|rule| [rule.start, rule.end])
        .flatten()
    {
        if instant.subsec_nanosecond() != 0 {
            return None;
        }
        changes.push(instant.as_second());
    }
    changes.sort_unstable();
    changes.dedup();
    if changes.len() > MAX_CHANGES {
        return None;
    }
    let location = Location {
        country,
        region: None,
        source: if country.is_some() {
            LocationSource::Geoip
        } else {
            LocationSource::None
        },
        anonymizer: false,
    };
    decisions.clear();
    for stretch in 0..=changes.len() {
        let at = match stretch {
            0 => Timestamp::MIN,
            _ => Timestamp::from_second(changes[stretch - 1]).ok()?,
        };
        let query = Query {
            at,
            platform: None,
            home: None,
            policy: AnonymizerPolicy::Allow,
        };
        decisions.push(pack(&rules::title(title, &location, &query), changes)?);
    }
    words.clear();
    words.push(changes.len() as u64);
    words.extend(changes.iter().map(|&change| change as u64));
    extend_as_words(words, decisions);
    Some(())
}

/// A decision in 32 bits: reason, license + 1, and `available_until` / `available_from` as
/// 1 + their position among the changes (0 for none).
fn pack(decision: &Decision<'_>, changes: &[i64]) -> Option<u32> {
    let reason = Reason::ALL
        .iter()
        .position(|&reason| reason == decision.reason)? as u32;
    let license = decision
        .license
        .map_or(0, |license| license.index() as u32 + 1);
    let change = |instant: Option<Timestamp>| match instant {
        None => Some(0),
        Some(instant) => changes
            .binary_search(&instant.as_second())
            .ok()
            .map(|k| k as u32 + 1),
    };
    let until = change(decision.available_until)?;
    let from = change(decision.available_from)?;
    Some(reason | license << 4 | until << 16 | from << 24)
}

/// The countries `title`'s licenses, exclusions and blackouts name, whole or by a region, as
/// slot numbers, ascending; every country when a worldwide rule is read in each territory's
/// own time, since then no two countries need share a timeline.
pub(crate) fn named_countries(title: &Title) -> Vec<u16> {
    let mut named = explicitly_named(title);
    if worldwide_in_local_time(title) {
        named.extend(
            crate::iso3166::countries()
                .filter_map(CountryCode::parse)
                .map(|country| country.slot() as u16),
        );
        named.sort_unstable();
        named.dedup();
    }
    named
}

/// The countries the rules name, whole or by a region, as slot numbers, ascending.
fn explicitly_named(title: &Title) -> Vec<u16> {
    let mut named: Vec<u16> = Vec::new();
    let mut add = |territories: &Territories| {
        for country in territories.countries() {
            named.push(country.slot() as u16);
        }
        for region in territories.regions() {
            named.push(region.country().slot() as u16);
        }
    };
    for license in &title.licenses {
        add(&license.territories);
        add(&license.exclude);
    }
    for blackout in &title.blackouts {
        add(&blackout.territories);
    }
    named.sort_unstable();
    named.dedup();
    named
}

/// True when a license or blackout on `@WORLD` (or excluding it) has a window end read in each
/// territory's own time.
fn worldwide_in_local_time(title: &Title) -> bool {
    title.licenses.iter().any(|license| {
        (license.territories.world || license.exclude.world) && license.window.is_local()
    }) || title
        .blackouts
        .iter()
        .any(|blackout| blackout.territories.world && blackout.window.is_local())
}

fn names_a_region_of(title: &Title, country: CountryCode) -> bool {
    title.licenses.iter().any(|license| {
        license.territories.names_a_region_of(country) || license.exclude.names_a_region_of(country)
    }) || title
        .blackouts
        .iter()
        .any(|blackout| blackout.territories.names_a_region_of(country))
}

/// A country `title` does not name, to stand for all of them; `None` when it names them all.
fn unnamed_country(named: &[u16]) -> Option<CountryCode> {
    crate::iso3166::countries()
        .filter_map(CountryCode::parse)
        .find(|country| named.binary_search(&(country.slot() as u16)).is_err())
}
