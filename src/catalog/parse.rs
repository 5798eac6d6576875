//! One catalog file's TOML -> raw structs with spans. Unknown keys and values of the wrong type
//! are reported here, every one of them; meaning (codes, groups, times) is checked in
//! `validate`. Pure: the same text always parses the same, so unchanged files need not be
//! parsed again.

use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::toml_source::{Table, TomlSource};

/// A list of strings with the span of each, as written.
pub(crate) type SpannedList = Spanned<Vec<Spanned<String>>>;

/// A parsed catalog file.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// Relative to the catalog folder, with `/` separators.
    pub path: String,
    /// The file's text, kept to place later diagnostics.
    pub text: String,
    /// Problems found while parsing.
    pub diagnostics: Vec<Diagnostic>,
    pub(crate) groups: Vec<RawGroup>,
    pub(crate) titles: Vec<RawTitle>,
    pub(crate) platforms: Option<SpannedList>,
}

impl ParsedFile {
    /// True when the file defines groups or the platform vocabulary.
    pub(crate) fn defines_anything(&self) -> bool {
        !self.groups.is_empty() || self.platforms.is_some()
    }

    /// The file's groups and platform vocabulary alone (with its path and text, to place
    /// problems in them), for checking other files against.
    pub(crate) fn definitions(&self) -> ParsedFile {
        ParsedFile {
            path: self.path.clone(),
            text: self.text.clone(),
            diagnostics: Vec::new(),
            groups: self.groups.clone(),
            titles: Vec::new(),
            platforms: self.platforms.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RawGroup {
    pub(crate) name: Spanned<String>,
    pub(crate) members: SpannedList,
}

#[derive(Debug, Clone)]
pub(crate) struct RawTitle {
    pub(crate) span: Range<usize>,
    pub(crate) id: Option<Spanned<String>>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) anonymizer: Option<Spanned<String>>,
    pub(crate) licenses: Vec<RawWindowed>,
    pub(crate) blackouts: Vec<RawWindowed>,
}

/// A license or a blackout: the fields they share, and those only one of them has.
#[derive(Debug, Clone)]
pub(crate) struct RawWindowed {
    pub(crate) span: Range<usize>,
    pub(crate) id: Option<Spanned<String>>,
    pub(crate) territories: Option<SpannedList>,
    pub(crate) exclude: Option<SpannedList>,
    pub(crate) start: Option<Spanned<toml::value::Datetime>>,
    pub(crate) end: Option<Spanned<toml::value::Datetime>>,
    pub(crate) timezone: Option<Spanned<String>>,
    pub(crate) platforms: Option<SpannedList>,
    pub(crate) reason: Option<Spanned<String>>,
}

const FILE_KEYS: &[&str] = &["groups", "titles", "platforms"];
const TITLE_KEYS: &[&str] = &["id", "name", "anonymizer", "licenses", "blackouts"];
const LICENSE_KEYS: &[&str] = &[
    "id",
    "territories",
    "exclude",
    "start",
    "end",
    "timezone",
    "platforms",
];
const BLACKOUT_KEYS: &[&str] = &["territories", "start", "end", "timezone", "reason"];

/// Parses one catalog file, shown as `path` in messages.
pub fn parse_file(path: &str, text: &str) -> ParsedFile {
    let mut source = TomlSource::new(path, text);
    let document = source.parse();
    let root = Table::root(&document);
    source.check_keys(&root, FILE_KEYS);

    let mut groups = Vec::new();
    if let Some(table) = source.table(&root, "groups") {
        for (name, _) in table.entries.iter() {
            let name_text: &str = name.get_ref();
            if let Some(members) = source.optional::<Vec<Spanned<String>>>(&table, name_text) {
                groups.push(RawGroup {
                    name: Spanned::new(name.span(), name_text.to_owned()),
                    members,
                });
            }
        }
    }

    let platforms = source.optional::<Vec<Spanned<String>>>(&root, "platforms");

    let mut titles = Vec::new();
    for table in source.tables(&root, "titles") {
        source.check_keys(&table, TITLE_KEYS);
        let licenses = source
            .tables(&table, "licenses")
            .iter()
            .map(|license| windowed(&mut source, license, LICENSE_KEYS))
            .collect();
        let blackouts = source
            .tables(&table, "blackouts")
            .iter()
            .map(|blackout| windowed(&mut source, blackout, BLACKOUT_KEYS))
            .collect();
        titles.push(RawTitle {
            span: table.span.clone(),
            id: source.required(&table, "id"),
            name: source.required(&table, "name"),
            anonymizer: source.optional(&table, "anonymizer"),
            licenses,
            blackouts,
        });
    }

    ParsedFile {
        path: path.to_owned(),
        text: text.to_owned(),
        diagnostics: source.finish(),
        groups,
        titles,
        platforms,
    }
}

fn windowed(source: &mut TomlSource<'_>, table: &Table<'_, '_>, keys: &[&str]) -> RawWindowed {
    source.check_keys(table, keys);
    let allowed = |key: &str| keys.contains(&key);
    RawWindowed {
        span: table.span.clone(),
        id: allowed("id")
            .then(|| source.optional(table, "id"))
            .flatten(),
        territories: source.required(table, "territories"),
        exclude: allowed("exclude")
            .then(|| source.optional(table, "exclude"))
            .flatten(),
        start: source.optional(table, "start"),
        end: source.optional(table, "end"),
        timezone: source.optional(table, "timezone"),
        platforms: allowed("platforms")
            .then(|| source.optional(table, "platforms"))
            .flatten(),
        reason: allowed("reason")
            .then(|| source.optional(table, "reason"))
            .flatten(),
    }
}
