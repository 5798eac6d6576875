//! Parsed files -> `Catalog`, collecting every problem before deciding: codes against
//! ISO 3166, groups and their cycles, title ids across files, windows, time zones, platforms.
//! Any error means no catalog. Never reads the clock: "now" arrives in `LoadOptions`.
//!
//! Three steps, so that a reload checks only the files that changed: the `Context` every
//! file shares (platform vocabulary, groups), each file on its own (`check_file`), then the
//! checks across files and the catalog itself (`assemble`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::catalog::parse::{ParsedFile, RawTitle, RawWindowed, SpannedList};
use crate::catalog::territory::{GroupError, Groups, Territories, Territory, is_group_name};
use crate::catalog::time::{self, Bound, End, LocalTimes, Window, Written, Zone};
use crate::catalog::{
    AnonymizerPolicy, AsWritten, Blackout, Catalog, CatalogError, CompiledTitle, DEFAULT_PLATFORMS,
    License, LoadOptions, Platforms, Title, Warnings, WrittenValues,
};
use crate::diagnostic::{Diagnostic, LineIndex, Severity};

/// Validates `files` (in path order) together. Takes owned or shared parses alike.
pub fn validate<F: Borrow<ParsedFile> + Sync>(
    files: &[F],
    options: &LoadOptions,
) -> Result<Catalog, CatalogError> {
    let context = context(files);
    let times = LocalTimes::default();
    let checked = crate::parallel::map(files, |file| {
        Arc::new(check_file(file.borrow(), &context, &times))
    });
    assemble(&checked, &context, options, None)
}

/// What every file's titles are checked against: the platform vocabulary and the groups,
/// from whichever files define them.
#[derive(Debug)]
pub struct Context {
    platforms: Vec<String>,
    groups: Groups,
    /// Changes exactly when the vocabulary or a group definition does: a file checked under
    /// one key is checked the same under it again.
    pub key: [u8; 32],
    /// Problems in the definitions themselves.
    diagnostics: Vec<Diagnostic>,
    /// Where a group first names a region.
    first_region: Option<Diagnostic>,
}

/// The platform vocabulary and groups of `files`, checked.
pub fn context<F: Borrow<ParsedFile>>(files: &[F]) -> Context {
    let files: Vec<&ParsedFile> = files.iter().map(Borrow::borrow).collect();
    let times = LocalTimes::default();
    let mut check = Check::new(&files, &times);
    let platforms = check.platforms();
    let groups = check.groups();
    // Every value with its length and every list with its count, so that two different
    // sets of definitions can never be taken for one another.
    let mut hasher = Sha256::new();
    let mut text = |value: &str| {
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    text(&platforms.len().to_string());
    for platform in &platforms {
        text(platform);
    }
    for file in &files {
        for group in &file.groups {
            text(group.name.get_ref());
            text(&group.members.get_ref().len().to_string());
            for member in group.members.get_ref() {
                text(member.get_ref());
            }
        }
    }
    let first_region = check
        .first_region
        .clone()
        .map(|(file_idx, span)| check.placed(file_idx, span, Severity::Warning, region_warning()));
    Context {
        platforms,
        groups,
        key: hasher.finalize().into(),
        diagnostics: check.diagnostics,
        first_region,
    }
}

/// One file, checked on its own: its titles (compiled) when they have no problem, and what
/// the checks across files need to know about it.
#[derive(Debug)]
pub struct CheckedFile {
    /// Relative to the catalog folder, with `/` separators.
    pub path: String,
    /// SHA-256 of the text: a reload recognises the file by it.
    pub hash: [u8; 32],
    /// The titles without problems, in file order.
    pub(crate) titles: Vec<Arc<CompiledTitle>>,
    /// The file's own problems, parse errors included.
    diagnostics: Vec<Diagnostic>,
    /// Each valid title id with where it is written, for duplicates across files.
    ids: Ids,
    /// Each license's latest end, to warn about once it has passed.
    ends: Vec<LicenseEnd>,
    /// Where the file first names a region.
    first_region: Option<Diagnostic>,
    /// The file's groups and platform vocabulary, when it has any (titles left out), for the
    /// context of later reloads.
    pub definitions: Option<Arc<ParsedFile>>,
}

/// Checks `file`'s titles against `context`; local date-times are read through `times`.
pub fn check_file(file: &ParsedFile, context: &Context, times: &LocalTimes) -> CheckedFile {
    let files = [file];
    let mut check = Check::new(&files, times);
    check.diagnostics = file.diagnostics.clone();
    let mut groups = context.groups.clone();
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    let mut titles = Vec::new();
    let mut ids = Ids::default();
    let mut ends = Vec::new();
    for raw in &file.titles {
        let first_end = ends.len();
        let valid = check.title(
            0,
            raw,
            &context.platforms,
            &mut groups,
            &mut seen,
            &mut ends,
        );
        // Every well-formed id counts for duplicates across files, whether or not its title
        // is valid; a second one within the file was reported already.
        if let Some(id) = &raw.id
            && seen.get(id.get_ref()) == Some(&(0, id.span().start))
        {
            ids.push(id.get_ref(), check.position(0, id.span().start));
        }
        // A valid title's ended licenses are named through the title; an invalid one's
        // (the catalog is refused anyway) keep their label.
        for end in &mut ends[first_end..] {
            if let LicenseAt::InTitle { title, license } = &mut end.license {
                match valid {
                    Some(_) => *title = titles.len() as u32,
                    None => {
                        let raw_license = &raw.licenses[*license as usize];
                        let label = license_label(raw_license, &file.path, *license as usize);
                        end.license = LicenseAt::Named(label.into());
                    }
                }
            }
        }
        if let Some(title) = valid {
            let record = Arc::from(crate::resolve::compiled::compile(&title));
            titles.push(Arc::new(CompiledTitle { title, record }));
        }
    }
    let first_region = check
        .first_region
        .clone()
        .map(|(file_idx, span)| check.placed(file_idx, span, Severity::Warning, region_warning()));
    let definitions = file
        .defines_anything()
        .then(|| Arc::new(file.definitions()));
    CheckedFile {
        path: file.path.clone(),
        hash: text_hash(&file.text),
        titles,
        diagnostics: check.diagnostics,
        ids,
        ends,
        first_region,
        definitions,
    }
}

/// The SHA-256 of a file's text, by which a reload recognises it.
pub(crate) fn text_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl CheckedFile {
    /// The warnings about the file's licenses ended by `now`, in file order.
    pub(crate) fn ended_warnings(&self, now: Timestamp) -> impl Iterator<Item = Diagnostic> + '_ {
        self.ends
            .iter()
            .filter(move |end| end.end <= now)
            .map(|end| end.warning(self))
    }

    /// How many of the file's licenses have ended by `now`.
    pub(crate) fn n_ended(&self, now: Timestamp) -> usize {
        self.ends.iter().filter(|end| end.end <= now).count()
    }
}

/// The checks across files (duplicate title ids, warnings that depend on "now" and on the
/// database), then the catalog; any error anywhere means no catalog. Titles shared with
/// `previous` (files unchanged since it was built) keep what it worked out for them.
pub fn assemble(
    files: &[Arc<CheckedFile>],
    context: &Context,
    options: &LoadOptions,
    previous: Option<&Catalog>,
) -> Result<Catalog, CatalogError> {
    let mut general = context.diagnostics.clone();
    for file in files {
        general.extend(file.diagnostics.iter().cloned());
    }
    if let Some(first) = no_region_warning(files, context, options) {
        general.push(first.clone());
    }
    general.sort();
    general.dedup();
    // Without an error in any file, every id belongs to a valid title: duplicates across
    // files sit next to each other in the catalog's id order, and finding none is cheap.
    if !general.iter().any(Diagnostic::is_error) {
        let warnings = Warnings {
            general,
            ended_by: options.now,
        };
        let catalog = Catalog::new(files, context.platforms.clone(), warnings, previous);
        if !catalog.has_duplicate_ids() {
            return Ok(catalog);
        }
    }
    Err(CatalogError::Invalid {
        diagnostics: problems(files, context, options),
    })
}

/// Every problem of a catalog that has errors, sorted: each file's, ids defined in two
/// files, and the warnings.
fn problems(
    files: &[Arc<CheckedFile>],
    context: &Context,
    options: &LoadOptions,
) -> Vec<Diagnostic> {
    let mut diagnostics = context.diagnostics.clone();
    let mut first_defined: HashMap<&str, (&str, usize)> = HashMap::new();
    for file in files {
        diagnostics.extend(file.diagnostics.iter().cloned());
        for (id, (line, column)) in file.ids.iter() {
            match first_defined.get(id) {
                Some(&(first_path, first_line)) => diagnostics.push(Diagnostic::placed(
                    &file.path,
                    (line, column),
                    Severity::Error,
                    format!("duplicate title id `{id}`: also defined at {first_path}:{first_line}"),
                )),
                None => {
                    first_defined.insert(id, (&file.path, line));
                }
            }
        }
        diagnostics.extend(file.ended_warnings(options.now));
    }
    if let Some(first) = no_region_warning(files, context, options) {
        diagnostics.push(first.clone());
    }
    diagnostics.sort();
    diagnostics.dedup();
    diagnostics
}

/// A file's title ids with their line and column, in one string: a catalog keeps one per
/// title, and needs them only when something is wrong.
#[derive(Debug, Default)]
struct Ids {
    text: String,
    /// Where each id ends in `text`, its line and its column.
    at: Vec<(u32, u32, u32)>,
}

impl Ids {
    fn push(&mut self, id: &str, (line, column): (usize, usize)) {
        self.text.push_str(id);
        self.at
            .push((self.text.len() as u32, line as u32, column as u32));
    }

    fn iter(&self) -> impl Iterator<Item = (&str, (usize, usize))> + '_ {
        let mut start = 0;
        self.at.iter().map(move |&(end, line, column)| {
            let id = &self.text[start..end as usize];
            start = end as usize;
            (id, (line as usize, column as usize))
        })
    }
}

/// The warning that region rules never grant, where a region is first named, when the
/// database has no regions.
fn no_region_warning<'a>(
    files: &'a [Arc<CheckedFile>],
    context: &'a Context,
    options: &LoadOptions,
) -> Option<&'a Diagnostic> {
    if options.geoip_has_regions != Some(false) {
        return None;
    }
    context
        .first_region
        .as_ref()
        .or_else(|| files.iter().find_map(|file| file.first_region.as_ref()))
}

/// A license's latest end, where it is written: the warning once it has passed, kept small
/// because every license with an end has one.
#[derive(Debug)]
struct LicenseEnd {
    end: Timestamp,
    line: u32,
    column: u32,
    license: LicenseAt,
}

/// Which license a `LicenseEnd` is about.
#[derive(Debug)]
enum LicenseAt {
    /// The `license`th of the file's `title`th valid title.
    InTitle { title: u32, license: u32 },
    /// A license of a title that is not valid, by its label.
    Named(Box<str>),
}

impl LicenseEnd {
    fn warning(&self, file: &CheckedFile) -> Diagnostic {
        let label = match &self.license {
            LicenseAt::InTitle { title, license } => {
                file.titles[*title as usize].title.licenses[*license as usize].label()
            }
            LicenseAt::Named(label) => label,
        };
        Diagnostic::placed(
            &file.path,
            (self.line as usize, self.column as usize),
            Severity::Warning,
            format!("license `{label}` ended at {}", self.end),
        )
    }
}

/// A license's `id`, or `<file>#<n>` (1-based) when it has none.
fn license_label(raw: &RawWindowed, file: &str, n: usize) -> String {
    match &raw.id {
        Some(id) => id.get_ref().clone(),
        None => format!("{file}#{}", n + 1),
    }
}

fn region_warning() -> String {
    "the catalog has region-level rules but the GeoIP database has no region codes: \
     they never grant, and region exclusions and blackouts deny the whole country"
        .to_owned()
}

/// A group as defined: its file, name, where the name stands, and each member with its span.
type GroupMembers = (usize, String, Range<usize>, Vec<(Territory, Range<usize>)>);

struct Check<'f, 't> {
    files: &'f [&'f ParsedFile],
    diagnostics: Vec<Diagnostic>,
    times: &'t LocalTimes,
    /// Where a region is first named.
    first_region: Option<(usize, Range<usize>)>,
    /// Each file's line index, built on its first diagnostic.
    lines: Vec<Option<LineIndex>>,
    /// Each file's path, shared by its titles.
    paths: Vec<Arc<str>>,
}

impl<'f, 't> Check<'f, 't> {
    fn new(files: &'f [&'f ParsedFile], times: &'t LocalTimes) -> Check<'f, 't> {
        Check {
            files,
            diagnostics: Vec::new(),
            times,
            first_region: None,
            lines: vec![None; files.len()],
            paths: files
                .iter()
                .map(|file| Arc::from(file.path.as_str()))
                .collect(),
        }
    }
}

impl<'f> Check<'f, '_> {
    fn push(&mut self, file_idx: usize, span: Range<usize>, severity: Severity, message: String) {
        let diagnostic = self.placed(file_idx, span, severity, message);
        self.diagnostics.push(diagnostic);
    }

    fn placed(
        &mut self,
        file_idx: usize,
        span: Range<usize>,
        severity: Severity,
        message: String,
    ) -> Diagnostic {
        let position = self.position(file_idx, span.start);
        Diagnostic::placed(&self.files[file_idx].path, position, severity, message)
    }

    fn position(&mut self, file_idx: usize, offset: usize) -> (usize, usize) {
        let text = &self.files[file_idx].text;
        self.lines[file_idx]
            .get_or_insert_with(|| LineIndex::new(text))
            .line_column(text, offset)
    }

    fn error(&mut self, file_idx: usize, span: Range<usize>, message: impl Into<String>) {
        self.push(file_idx, span, Severity::Error, message.into());
    }

    fn warning(&mut self, file_idx: usize, span: Range<usize>, message: impl Into<String>) {
        self.push(file_idx, span, Severity::Warning, message.into());
    }

    /// `path:line` of a span, for messages that point at a second place.
    fn place(&mut self, file_idx: usize, span: &Range<usize>) -> String {
        let (line, _) = self.position(file_idx, span.start);
        format!("{}:{line}", self.files[file_idx].path)
    }

    /// The platform vocabulary: the default, or the one file's top-level `platforms`.
    fn platforms(&mut self) -> Vec<String> {
        let mut chosen: Option<(usize, &SpannedList)> = None;
        for (file_idx, file) in self.files.iter().enumerate() {
            let Some(list) = &file.platforms else {
                continue;
            };
            if let Some((first_idx, first)) = chosen {
                let first_place = self.place(first_idx, &first.span());
                self.error(
                    file_idx,
                    list.span(),
                    format!("`platforms` is already set at {first_place}; set it in one file only"),
                );
                continue;
            }
            chosen = Some((file_idx, list));
        }
        let Some((file_idx, list)) = chosen else {
            return DEFAULT_PLATFORMS.iter().map(|p| p.to_string()).collect();
        };
        if list.get_ref().is_empty() {
            self.error(file_idx, list.span(), "`platforms` is empty");
        }
        if list.get_ref().len() > 64 {
            self.error(
                file_idx,
                list.span(),
                "`platforms` may list at most 64 platforms",
            );
        }
        let mut names: Vec<String> = Vec::new();
        for name in list.get_ref() {
            let text = name.get_ref();
            let valid = !text.is_empty()
                && text.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid {
                self.error(
                    file_idx,
                    name.span(),
                    format!("platform `{text}` must be lower case letters, digits, `-` or `_`"),
                );
            } else if names.contains(text) {
                self.error(
                    file_idx,
                    name.span(),
                    format!("platform `{text}` is listed twice"),
                );
            } else {
                names.push(text.clone());
            }
        }
        names
    }

    /// Every group definition, checked; problems are reported where they are written.
    fn groups(&mut self) -> Groups {
        let mut definitions: HashMap<String, Vec<Territory>> = HashMap::new();
        let mut defined_at: HashMap<String, (usize, Range<usize>)> = HashMap::new();
        let mut members_of: Vec<GroupMembers> = Vec::new();
        for (file_idx, file) in self.files.iter().enumerate() {
            for group in &file.groups {
                let name = group.name.get_ref();
                if !is_group_name(name) {
                    self.error(
                        file_idx,
                        group.name.span(),
                        format!("group name `{name}` must be upper case letters, digits and `_`"),
                    );
                    continue;
                }
                if Groups::is_builtin(name) {
                    self.error(
                        file_idx,
                        group.name.span(),
                        format!("`@{name}` is built in and cannot be redefined"),
                    );
                    continue;
                }
                if let Some((first_idx, first_span)) = defined_at.get(name).cloned() {
                    let first = self.place(first_idx, &first_span);
                    self.error(
                        file_idx,
                        group.name.span(),
                        format!("group `@{name}` is already defined at {first}"),
                    );
                    continue;
                }
                let mut members = Vec::new();
                for member in group.members.get_ref() {
                    match Territory::parse(member.get_ref()) {
                        Ok(territory) => {
                            if matches!(territory, Territory::Region(_)) {
                                self.first_region.get_or_insert((file_idx, member.span()));
                            }
                            members.push((territory, member.span()))
                        }
                        Err(message) => self.error(file_idx, member.span(), message),
                    }
                }
                defined_at.insert(name.clone(), (file_idx, group.name.span()));
                definitions.insert(
                    name.clone(),
                    members.iter().map(|(t, _)| t.clone()).collect(),
                );
                members_of.push((file_idx, name.clone(), group.name.span(), members));
            }
        }
        let mut groups = Groups::new(definitions);
        for (file_idx, name, name_span, members) in members_of {
            for (member, span) in members {
                let Territory::Group(inner) = &member else {
                    continue;
                };
                match groups.expand(std::slice::from_ref(&member)) {
                    Err(GroupError::Unknown(unknown)) if &unknown == inner => {
                        self.error(file_idx, span, format!("unknown group `@{unknown}`"));
                    }
                    Err(GroupError::Cycle(mut cycle)) if cycle.contains(&name) => {
                        // Shown from this group round to itself.
                        cycle.pop();
                        let start = cycle.iter().position(|g| *g == name).unwrap_or(0);
                        cycle.rotate_left(start);
                        cycle.push(name.clone());
                        let path: Vec<String> = cycle.iter().map(|g| format!("@{g}")).collect();
                        self.error(
                            file_idx,
                            name_span.clone(),
                            format!("group `@{name}` is part of a cycle: {}", path.join(" -> ")),
                        );
                    }
                    _ => {}
                }
            }
        }
        groups
    }

    fn title(
        &mut self,
        file_idx: usize,
        raw: &RawTitle,
        platforms: &[String],
        groups: &mut Groups,
        seen: &mut HashMap<String, (usize, usize)>,
        ends: &mut Vec<LicenseEnd>,
    ) -> Option<Title> {
        let id = raw.id.as_ref().and_then(|id| {
            let text = id.get_ref();
            if !is_title_id(text) {
                self.error(
                    file_idx,
                    id.span(),
                    format!("title id `{text}` must match [a-z0-9][a-z0-9._-]{{0,63}}"),
                );
                return None;
            }
            if let Some(&(first_idx, first_start)) = seen.get(text) {
                let first = self.place(first_idx, &(first_start..first_start));
                self.error(
                    file_idx,
                    id.span(),
                    format!("duplicate title id `{text}`: also defined at {first}"),
                );
                return None;
            }
            seen.insert(text.clone(), (file_idx, id.span().start));
            Some(text.clone())
        });
        let name = raw.name.as_ref().and_then(|name| {
            if name.get_ref().trim().is_empty() {
                self.error(file_idx, name.span(), "`name` is empty");
                return None;
            }
            Some(name.get_ref().clone())
        });
        let anonymizer = match &raw.anonymizer {
            None => Some(None),
            Some(policy) => match policy.get_ref().as_str() {
                "allow" => Some(Some(AnonymizerPolicy::Allow)),
                "deny" => Some(Some(AnonymizerPolicy::Deny)),
                other => {
                    self.error(
                        file_idx,
                        policy.span(),
                        format!("`anonymizer` is `allow` or `deny`, not `{other}`"),
                    );
                    None
                }
            },
        };
        let file = Arc::clone(&self.paths[file_idx]);
        let mut licenses = Vec::new();
        for (n, raw_license) in raw.licenses.iter().enumerate() {
            let label = license_label(raw_license, &file, n);
            if let Some(license) = self.license(file_idx, raw_license, label, platforms, groups) {
                // Whether it has ended depends on when the catalog is loaded: the warning is
                // kept, and given once the end has passed.
                if let Some(end) = Window::instant(&license.window.end, End::BlackoutEnd, None) {
                    let span = raw_license
                        .end
                        .as_ref()
                        .map_or(raw_license.span.clone(), Spanned::span);
                    let (line, column) = self.position(file_idx, span.start);
                    ends.push(LicenseEnd {
                        end,
                        line: line as u32,
                        column: column as u32,
                        license: LicenseAt::InTitle {
                            title: u32::MAX,
                            license: n as u32,
                        },
                    });
                }
                licenses.push(license);
            }
        }
        let mut blackouts = Vec::new();
        for raw_blackout in &raw.blackouts {
            if let Some(blackout) = self.blackout(file_idx, raw_blackout, groups) {
                blackouts.push(blackout);
            }
        }
        if raw.licenses.is_empty() {
            let shown = id.as_deref().unwrap_or("?");
            self.warning(
                file_idx,
                raw.span.clone(),
                format!("title `{shown}` has no license: it is available nowhere"),
            );
        }
        if licenses.len() != raw.licenses.len() || blackouts.len() != raw.blackouts.len() {
            return None;
        }
        // Kept for as long as the catalog serves: no spare room.
        licenses.shrink_to_fit();
        blackouts.shrink_to_fit();
        Some(Title {
            id: id?,
            name: name?,
            anonymizer: anonymizer?,
            licenses,
            blackouts,
            file,
        })
    }

    fn license(
        &mut self,
        file_idx: usize,
        raw: &RawWindowed,
        label: String,
        platforms: &[String],
        groups: &mut Groups,
    ) -> Option<License> {
        if let Some(id) = &raw.id
            && id.get_ref().trim().is_empty()
        {
            self.error(file_idx, id.span(), "license `id` is empty");
        }
        let territories = self.territories(file_idx, raw.territories.as_ref(), groups, true);
        let exclude = match &raw.exclude {
            Some(list) => self.territories(file_idx, Some(list), groups, false),
            None => Some((Territories::default(), Vec::new())),
        };
        let window = self.window(file_idx, raw, End::LicenseStart, End::LicenseEnd);
        let license_platforms = match &raw.platforms {
            None => Some(None),
            Some(list) => self.platform_set(file_idx, list, platforms).map(Some),
        };
        let (territories, territories_written) = territories?;
        let (exclude, exclude_written) = exclude?;
        let (window, mut written) = window?;
        written.territories = territories_written;
        written.exclude = exclude_written;
        written.platforms = raw.platforms.as_ref().map(|list| {
            list.get_ref()
                .iter()
                .map(|p| p.get_ref().as_str())
                .collect()
        });
        written.label = Some(&label);
        Some(License {
            territories,
            exclude,
            window,
            platforms: license_platforms?,
            written: AsWritten::new(&written),
        })
    }

    fn blackout(
        &mut self,
        file_idx: usize,
        raw: &RawWindowed,
        groups: &mut Groups,
    ) -> Option<Blackout> {
        let territories = self.territories(file_idx, raw.territories.as_ref(), groups, true);
        let window = self.window(file_idx, raw, End::BlackoutStart, End::BlackoutEnd);
        let (territories, territories_written) = territories?;
        let (window, mut written) = window?;
        written.territories = territories_written;
        Some(Blackout {
            territories,
            window,
            reason: raw.reason.as_ref().map(|reason| reason.get_ref().clone()),
            written: AsWritten::new(&written),
        })
    }

    /// Expanded territories and the list as written; `required` lists must not be empty.
    fn territories<'r>(
        &mut self,
        file_idx: usize,
        list: Option<&'r SpannedList>,
        groups: &mut Groups,
        required: bool,
    ) -> Option<(Territories, Vec<&'r str>)> {
        let list = list?;
        if required && list.get_ref().is_empty() {
            self.error(file_idx, list.span(), "`territories` is empty");
            return None;
        }
        let mut parsed = Vec::new();
        let mut ok = true;
        for item in list.get_ref() {
            match Territory::parse(item.get_ref()) {
                Ok(territory) => {
                    if matches!(territory, Territory::Region(_)) {
                        self.first_region.get_or_insert((file_idx, item.span()));
                    }
                    if let Territory::Group(name) = &territory
                        && let Err(GroupError::Unknown(unknown)) =
                            groups.expand(std::slice::from_ref(&territory))
                        && &unknown == name
                    {
                        self.error(file_idx, item.span(), format!("unknown group `@{name}`"));
                        ok = false;
                        continue;
                    }
                    parsed.push(territory);
                }
                Err(message) => {
                    self.error(file_idx, item.span(), message);
                    ok = false;
                }
            }
        }
        // Problems inside groups were reported at their definitions.
        let territories = groups.expand(&parsed).ok()?;
        let written = list
            .get_ref()
            .iter()
            .map(|item| item.get_ref().as_str())
            .collect();
        ok.then_some((territories, written))
    }

    fn window<'r>(
        &mut self,
        file_idx: usize,
        raw: &'r RawWindowed,
        start_end: End,
        end_end: End,
    ) -> Option<(Window, WrittenValues<'r>)>
    where
        'f: 'r,
    {
        let zone = match &raw.timezone {
            None => Some(Zone::utc()),
            Some(name) => match Zone::parse(name.get_ref()) {
                Ok(zone) => Some(zone),
                Err(message) => {
                    self.error(file_idx, name.span(), message);
                    None
                }
            },
        };
        let mut read = |value: &Option<Spanned<toml::value::Datetime>>| -> Option<Option<(Written, Range<usize>)>> {
            match value {
                None => Some(None),
                Some(datetime) => match time::from_toml(datetime.get_ref()) {
                    Ok(written) => Some(Some((written, datetime.span()))),
                    Err(message) => {
                        self.error(file_idx, datetime.span(), message);
                        None
                    }
                },
            }
        };
        let start = read(&raw.start);
        let end = read(&raw.end);
        let (zone, start, end) = (zone?, start?, end?);
        if let (Some((start_written, start_span)), Some((end_written, _))) = (&start, &end)
            && is_empty(*start_written, *end_written, &zone, self.times)
        {
            self.error(file_idx, start_span.clone(), "`start` must be before `end`");
            return None;
        }
        let bound = |times: &LocalTimes, written: Option<(Written, Range<usize>)>, end: End| {
            match written {
                None => Bound::Open,
                Some((Written::Instant(at), _)) => Bound::At(at),
                Some((Written::Local(civil), _)) => match &zone {
                    Zone::Named(_, tz) => Bound::At(time::read_in(tz, civil, end)),
                    Zone::Territory => Bound::Local(times.read(civil)),
                },
            }
        };
        let window = Window {
            start: bound(self.times, start, start_end),
            end: bound(self.times, end, end_end),
        };
        // As written, straight from the file (a date-time's span always lies in it).
        let files: &'f [&'f ParsedFile] = self.files;
        let text: &'f str = &files[file_idx].text;
        let as_written = |value: &Spanned<toml::value::Datetime>| text.get(value.span());
        let written = WrittenValues {
            start: raw.start.as_ref().and_then(as_written),
            end: raw.end.as_ref().and_then(as_written),
            timezone: raw.timezone.as_ref().map(|s| s.get_ref().as_str()),
            ..WrittenValues::default()
        };
        Some((window, written))
    }

    fn platform_set(
        &mut self,
        file_idx: usize,
        list: &SpannedList,
        vocabulary: &[String],
    ) -> Option<Platforms> {
        if list.get_ref().is_empty() {
            self.error(
                file_idx,
                list.span(),
                "`platforms` is empty; leave it out to license every platform",
            );
            return None;
        }
        let mut bits = 0u64;
        let mut ok = true;
        for name in list.get_ref() {
            match vocabulary.iter().position(|known| known == name.get_ref()) {
                // A vocabulary of more than 64 is an error of its own.
                Some(position) => bits |= 1u64.checked_shl(position as u32).unwrap_or(0),
                None => {
                    self.error(
                        file_idx,
                        name.span(),
                        format!(
                            "unknown platform `{}` (known: {})",
                            name.get_ref(),
                            vocabulary.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(Platforms(bits))
    }
}

/// True when a window can never hold. Two local times in one zone compare as written; in
/// `territory` time a local end meets an instant start (or the reverse) at its extreme
/// readings, so only a window empty in every zone is refused.
fn is_empty(start: Written, end: Written, zone: &Zone, times: &LocalTimes) -> bool {
    let readings = |written: Written| -> (Timestamp, Timestamp) {
        match (written, zone) {
            (Written::Instant(at), _) => (at, at),
            (Written::Local(civil), Zone::Named(_, tz)) => (
                time::read_in(tz, civil, End::BlackoutStart),
                time::read_in(tz, civil, End::BlackoutEnd),
            ),
            (Written::Local(civil), Zone::Territory) => times.read(civil).everywhere(),
        }
    };
    if let (Written::Local(start), Written::Local(end)) = (start, end) {
        return start >= end;
    }
    let (start_earliest, _) = readings(start);
    let (_, end_latest) = readings(end);
    start_earliest >= end_latest
}

/// `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn is_title_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    let is_start = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=64).contains(&bytes.len())
        && is_start(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| is_start(b) || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse::parse_file;

    fn messages(files: &[(&str, &str)]) -> Vec<String> {
        let parsed: Vec<ParsedFile> = files
            .iter()
            .map(|(path, text)| parse_file(path, text))
            .collect();
        let options = LoadOptions {
            now: "2026-11-23T10:00:00Z".parse().unwrap(),
            geoip_has_regions: Some(false),
        };
        match validate(&parsed, &options) {
            Ok(catalog) => catalog.warnings().iter().map(ToString::to_string).collect(),
            Err(CatalogError::Invalid { diagnostics }) => {
                diagnostics.iter().map(ToString::to_string).collect()
            }
            Err(other) => vec![other.to_string()],
        }
    }

    fn check(text: &str, expected: &[&str]) {
        assert_eq!(messages(&[("a.toml", text)]), expected);
    }

    const TITLE: &str = "[[titles]]\nid = \"t\"\nname = \"T\"\n";

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        check(
            &format!("{TITLE}[[titles.licenses]]\nterritores = [\"US\"]\n"),
            &[
                "a.toml:4:1: missing key `territories`",
                "a.toml:5:1: unknown key `territores`; did you mean `territories`?",
            ],
        );
    }

    #[test]
    fn unknown_codes_are_errors() {
        check(
            &format!("{TITLE}[[titles.licenses]]\nterritories = [\"XX\", \"US-ZZ\", \"US\"]\n"),
            &[
                "a.toml:5:16: unknown ISO 3166-1 country code `XX`",
                "a.toml:5:22: unknown ISO 3166-2 region code `US-ZZ`",
            ],
        );
    }

    #[test]
    fn unknown_groups_and_cycles_are_errors() {
        let text = format!(
            "[groups]\nA = [\"@B\"]\nB = [\"@A\"]\nC = [\"@NOPE\"]\n{TITLE}[[titles.licenses]]\nterritories = [\"@MISSING\"]\n"
        );
        check(
            &text,
            &[
                "a.toml:2:1: group `@A` is part of a cycle: @A -> @B -> @A",
                "a.toml:3:1: group `@B` is part of a cycle: @B -> @A -> @B",
                "a.toml:4:6: unknown group `@NOPE`",
                "a.toml:9:16: unknown group `@MISSING`",
            ],
        );
    }

    #[test]
    fn built_in_groups_cannot_be_redefined() {
        check(
            "[groups]\nEU = [\"FR\"]\n",
            &["a.toml:2:1: `@EU` is built in and cannot be redefined"],
        );
    }

    #[test]
    fn duplicate_title_ids_name_both_files() {
        let one =
            "[[titles]]\nid = \"dup\"\nname = \"A\"\n[[titles.licenses]]\nterritories = [\"US\"]\n";
        let two = "\n[[titles]]\nid = \"dup\"\nname = \"B\"\n[[titles.licenses]]\nterritories = [\"US\"]\n";
        assert_eq!(
            messages(&[("one.toml", one), ("two.toml", two)]),
            ["two.toml:3:6: duplicate title id `dup`: also defined at one.toml:2"]
        );
    }

    #[test]
    fn windows_must_start_before_they_end() {
        check(
            &format!(
                "{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\nstart = 2027-01-01\nend = 2026-12-31\n"
            ),
            &["a.toml:6:9: `start` must be before `end`"],
        );
    }

    #[test]
    fn a_territory_window_is_refused_only_when_empty_in_every_zone() {
        let mixed = format!(
            "{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\ntimezone = \"territory\"\n\
             start = 2027-01-01T12:00:00Z\nend = 2027-01-01T10:00:00\n"
        );
        check(&mixed, &[]);
        let empty = format!(
            "{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\ntimezone = \"territory\"\n\
             start = 2027-01-03T00:00:00Z\nend = 2027-01-01\n"
        );
        check(&empty, &["a.toml:7:9: `start` must be before `end`"]);
    }

    #[test]
    fn empty_territories_unknown_platforms_and_zones_are_errors() {
        check(
            &format!(
                "{TITLE}[[titles.licenses]]\nterritories = []\nplatforms = [\"toaster\"]\ntimezone = \"Mars/Base\"\n"
            ),
            &[
                "a.toml:5:15: `territories` is empty",
                "a.toml:6:14: unknown platform `toaster` (known: tv, web, mobile, tablet, console)",
                "a.toml:7:12: unknown time zone `Mars/Base` (an IANA name such as `Europe/Paris`, or `territory`)",
            ],
        );
    }

    #[test]
    fn bad_ids_and_policies_are_errors() {
        check(
            "[[titles]]\nid = \"Bad Id\"\nname = \"\"\nanonymizer = \"maybe\"\n",
            &[
                "a.toml:1:1: warning: title `?` has no license: it is available nowhere",
                "a.toml:2:6: title id `Bad Id` must match [a-z0-9][a-z0-9._-]{0,63}",
                "a.toml:3:8: `name` is empty",
                "a.toml:4:14: `anonymizer` is `allow` or `deny`, not `maybe`",
            ],
        );
    }

    #[test]
    fn a_platform_vocabulary_may_be_set_in_one_file_only() {
        let first = "platforms = [\"tv\", \"vr\"]\n";
        let second = "platforms = [\"tv\"]\n";
        assert_eq!(
            messages(&[("a.toml", first), ("b.toml", second)]),
            ["b.toml:1:13: `platforms` is already set at a.toml:1; set it in one file only"]
        );
        let uses_vr = format!(
            "{first}{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\nplatforms = [\"vr\"]\n"
        );
        assert_eq!(messages(&[("a.toml", &uses_vr)]), Vec::<String>::new());
    }

    #[test]
    fn a_license_on_a_platform_past_the_64th_is_an_error_not_a_crash() {
        let names: Vec<String> = (0..65).map(|n| format!("\"p{n}\"")).collect();
        let text = format!(
            "platforms = [{}]\n{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\nplatforms = [\"p64\"]\n",
            names.join(", ")
        );
        assert_eq!(
            messages(&[("a.toml", &text)]),
            ["a.toml:1:13: `platforms` may list at most 64 platforms"]
        );
    }

    #[test]
    fn warnings_name_ended_licenses_missing_licenses_and_regions_without_data() {
        check(
            &format!(
                "{TITLE}[[titles.licenses]]\nterritories = [\"US-CA\"]\nend = 2025-01-01T00:00:00Z\n\
                 [[titles]]\nid = \"empty\"\nname = \"E\"\n"
            ),
            &[
                "a.toml:5:16: warning: the catalog has region-level rules but the GeoIP database has no region codes: they never grant, and region exclusions and blackouts deny the whole country",
                "a.toml:6:7: warning: license `a.toml#1` ended at 2025-01-01T00:00:00Z",
                "a.toml:7:1: warning: title `empty` has no license: it is available nowhere",
            ],
        );
    }

    #[test]
    fn syntax_errors_do_not_hide_other_problems() {
        let text = format!(
            "{TITLE}[[titles.licenses]]\nterritories = [\"XX\"]\n\n[[titles]\nid = \"x\"\n"
        );
        let found = messages(&[("a.toml", &text)]);
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("a.toml:5:16: unknown ISO 3166-1")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|m| m.starts_with("a.toml:7:")),
            "{found:?}"
        );
    }

    #[test]
    fn datetimes_must_be_toml_datetimes() {
        check(
            &format!(
                "{TITLE}[[titles.licenses]]\nterritories = [\"US\"]\nstart = \"2026-01-01\"\n"
            ),
            &["a.toml:6:9: `start`: invalid type: string \"2026-01-01\", expected a TOML datetime"],
        );
    }

    #[test]
    fn title_ids_follow_the_pattern() {
        assert!(is_title_id("night-harbor"));
        assert!(is_title_id("a.b_c-1"));
        assert!(!is_title_id("-x"));
        assert!(!is_title_id(""));
        assert!(!is_title_id(&"a".repeat(65)));
        assert!(is_title_id(&"a".repeat(64)));
    }
}
