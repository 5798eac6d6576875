//! Reading a hand-edited TOML file so that *every* problem in it is reported with its position.
//!
//! `toml`'s serde path stops at the first error; people fixing a catalog want the whole list.
//! So the file is parsed into a span-carrying tree (syntax errors recovered where possible)
//! and walked by hand: unknown keys are reported with a suggestion, and each field is read on
//! its own (from the tree when it has the expected type, through serde when not, for the
//! message) so one bad value does not hide the next. Knows no catalog rules.

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

/// A type a field is read as. A value of that type in the parse tree (nearly every value) is
/// read from the tree as it is; anything else goes through serde, which says what is wrong.
/// Reading through serde copies the value's tree first (a list, every item of it), and a
/// large catalog has millions of fields.
pub(crate) trait FromTree: DeserializeOwned {
    /// `None` when `value` is not of this type.
    fn from_tree(value: &Spanned<DeValue<'_>>) -> Option<Self>;
}

impl FromTree for String {
    fn from_tree(value: &Spanned<DeValue<'_>>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.as_ref().to_owned()),
            _ => None,
        }
    }
}

impl FromTree for bool {
    fn from_tree(value: &Spanned<DeValue<'_>>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }
}

impl FromTree for toml::value::Datetime {
    fn from_tree(value: &Spanned<DeValue<'_>>) -> Option<toml::value::Datetime> {
        match value.get_ref() {
            DeValue::Datetime(datetime) => Some(*datetime),
            _ => None,
        }
    }
}

impl FromTree for Vec<Spanned<String>> {
    fn from_tree(value: &Spanned<DeValue<'_>>) -> Option<Vec<Spanned<String>>> {
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|item| Some(Spanned::new(item.span(), String::from_tree(item)?)))
                .collect(),
            _ => None,
        }
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
    pub(crate) fn required<T: FromTree>(
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
    pub(crate) fn optional<T: FromTree>(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> Option<Spanned<T>> {
        let value = table.entries.get(key)?;
        let span = value.span();
        if let Some(read) = T::from_tree(value) {
            return Some(Spanned::new(span, read));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde reads from `value`, for comparison.
    fn through_serde<T: DeserializeOwned>(value: &Spanned<DeValue<'_>>) -> Option<T> {
        T::deserialize(ValueDeserializer::from(value.clone())).ok()
    }

    #[test]
    fn values_read_from_the_tree_are_what_serde_reads() {
        let text = r#"
            name = "Night Harbor"
            escaped = "tab\there, \u00e9"
            literal = 'C:\path'
            list = ["US", "CA-QC", "@NORDICS"]
            empty = []
            mixed = ["US", 5]
            flag = true
            instant = 2026-11-23T10:00:00Z
            offset = 2026-11-23T10:00:00.5+01:30
            local = 2027-01-01T06:00:00
            date = 2027-01-01
            number = 7
        "#;
        let mut source = TomlSource::new("t.toml", text);
        let document = source.parse();
        let root = Table::root(&document);
        let value = |key: &str| root.entries.get(key).expect("the key is in the text");
        for key in ["name", "escaped", "literal", "number", "list", "flag"] {
            assert_eq!(
                String::from_tree(value(key)),
                through_serde(value(key)),
                "{key}"
            );
            assert_eq!(
                bool::from_tree(value(key)),
                through_serde(value(key)),
                "{key}"
            );
        }
        for key in ["list", "empty", "mixed", "name"] {
            let read = Vec::<Spanned<String>>::from_tree(value(key));
            let serde = through_serde::<Vec<Spanned<String>>>(value(key));
            let spans = |list: Option<Vec<Spanned<String>>>| {
                list.map(|list| {
                    list.into_iter()
                        .map(|item| (item.span(), item.into_inner()))
                        .collect::<Vec<_>>()
                })
            };
            assert_eq!(spans(read), spans(serde), "{key}");
        }
        for key in ["instant", "offset", "local", "date", "name"] {
            let read = toml::value::Datetime::from_tree(value(key));
            assert_eq!(read, through_serde(value(key)), "{key}");
        }
        assert!(Vec::<Spanned<String>>::from_tree(value("list")).is_some());
        assert!(toml::value::Datetime::from_tree(value("local")).is_some());
    }
}
