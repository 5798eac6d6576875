//! Reading a hand-edited TOML file so that *every* problem in it is reported with its position.
//!
//! `toml`'s serde path stops at the first error; people fixing a catalog want the whole list.
//! So the file is parsed into a span-carrying tree (syntax errors recovered where possible)
//! and walked by hand: unknown keys are reported with a suggestion, and each field is
//! deserialized on its own so one bad value does not hide the next. Knows no catalog rules.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diagnostic::{Diagnostic, LineIndex, Severity};

/// A parsed table and where it stands in the file.
#[derive(Clone)]
pub(crate) struct Table<'d, 't> {
    /// The table's keys and values.
    pub(crate) entries: &'d DeTable<'t>,
    /// Where the table stands in the file.
    pub(crate) span: Range<usize>,
}

impl<'d, 't> Table<'d, 't> {
    /// The document root returned by [`TomlSource::parse`].
    pub(crate) fn root(document: &'d Spanned<DeTable<'t>>) -> Table<'d, 't> {
        Table {
            entries: document.get_ref(),
            span: document.span(),
        }
    }

    /// True when `key` is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }
}

/// One file being read, with the diagnostics found so far.
pub(crate) struct TomlSource<'t> {
    path: String,
    text: &'t str,
    /// Built on the first diagnostic: clean files never pay for it.
    lines: Option<LineIndex>,
    /// Every problem found so far, in the order found.
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'t> TomlSource<'t> {
    /// Prepares to read `text`, shown as `path` in messages.
    pub(crate) fn new(path: &str, text: &'t str) -> TomlSource<'t> {
        TomlSource {
            path: path.to_owned(),
            text,
            lines: None,
            diagnostics: Vec::new(),
        }
    }

    /// The document's root table; syntax errors are recorded and what could be read is kept.
    pub(crate) fn parse(&mut self) -> Spanned<DeTable<'t>> {
        let (root, errors) = DeTable::parse_recoverable(self.text);
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            self.error(span, error.message().trim_end().to_owned());
        }
        root
    }

    /// Records an error at `span`.
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(span, Severity::Error, message.into());
    }

    /// True when an error has been recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Reports every key of `table` that is not in `allowed`, suggesting the nearest one.
    pub(crate) fn check_keys(&mut self, table: &Table<'_, '_>, allowed: &[&str]) {
        for key in table.entries.keys() {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                continue;
            }
            let message = match nearest(name, allowed) {
                Some(near) => format!("unknown key `{name}`; did you mean `{near}`?"),
                None => format!("unknown key `{name}`; expected one of {}", list(allowed)),
            };
            self.error(key.span(), message);
        }
    }

    /// The value of `key` as a `T`, or `None` (recording why) when missing or of the wrong type.
    pub(crate) fn required<T: DeserializeOwned>(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> Option<Spanned<T>> {
        if !table.has(key) {
            self.error(table.span.clone(), format!("missing key `{key}`"));
            return None;
        }
        self.optional(table, key)
    }

    /// The value of `key` as a `T` when present; a value of the wrong type is recorded.
    pub(crate) fn optional<T: DeserializeOwned>(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> Option<Spanned<T>> {
        let value = table.entries.get(key)?;
        let span = value.span();
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(parsed) => Some(Spanned::new(span, parsed)),
            Err(error) => {
                let at = error.span().unwrap_or(span);
                self.error(at, format!("`{key}`: {}", error.message().trim_end()));
                None
            }
        }
    }

    /// The tables of an array of tables (`[[key]]`); anything else under `key` is recorded.
    pub(crate) fn tables<'d, 'a>(
        &mut self,
        table: &Table<'d, 'a>,
        key: &str,
    ) -> Vec<Table<'d, 'a>> {
        let Some(value) = table.entries.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                value.span(),
                format!("`{key}` must be an array of tables (`[[{key}]]`)"),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(entries) => tables.push(Table {
                    entries,
                    span: item.span(),
                }),
                _ => self.error(item.span(), format!("each `{key}` entry must be a table")),
            }
        }
        tables
    }

    /// The table under `key`, if it is one; anything else is recorded.
    pub(crate) fn table<'d, 'a>(
        &mut self,
        table: &Table<'d, 'a>,
        key: &str,
    ) -> Option<Table<'d, 'a>> {
        let value = table.entries.get(key)?;
        match value.get_ref() {
            DeValue::Table(entries) => Some(Table {
                entries,
                span: value.span(),
            }),
            _ => {
                self.error(value.span(), format!("`{key}` must be a table (`[{key}]`)"));
                None
            }
        }
    }

    /// Sorts and returns what was found.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort();
        self.diagnostics
    }

    fn push(&mut self, span: Range<usize>, severity: Severity, message: String) {
        let text = self.text;
        let lines = self.lines.get_or_insert_with(|| LineIndex::new(text));
        let position = lines.line_column(text, span.start);
        self.diagnostics
            .push(Diagnostic::placed(&self.path, position, severity, message));
    }
}

fn nearest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min()
        .map(|(_, candidate)| candidate)
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
