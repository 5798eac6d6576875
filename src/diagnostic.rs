//! Problems found in the files people edit (catalogs, overrides), as `path:line:col: message`.
//!
//! A `Diagnostic` is data: validation collects every one before deciding anything, and the
//! CLI, the log and `/v1/status` show them in the same form. Knows no TOML and no files.

use std::fmt;
use std::ops::Range;

/// Whether a problem stops a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is refused; nothing from it is loaded.
    Error,
    /// Loaded, but somebody should look.
    Warning,
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// The file, as it should be shown (relative to the folder being checked, where there is one).
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// Lower case, no trailing period.
    pub message: String,
}

impl Diagnostic {
    /// A problem at byte offset `span.start` of `text`.
    pub fn at(
        path: &str,
        text: &str,
        span: Range<usize>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::placed(path, line_column(text, span.start), severity, message)
    }

    /// A problem at a known 1-based (line, column).
    pub fn placed(
        path: &str,
        (line, column): (usize, usize),
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            path: path.to_owned(),
            line,
            column,
            severity,
            message: message.into(),
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path, self.line, self.column)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Where each line of a text starts, so that many positions in one file cost a binary search
/// each instead of a scan from the top.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of the first character of each line; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex { starts }
    }

    /// 1-based line and character column of byte `offset` in `text` (the text indexed).
    pub fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|start| *start <= offset);
        let column = text[self.starts[line - 1]..offset].chars().count() + 1;
        (line, column)
    }
}

/// 1-based line and character column of byte `offset` in `text` (clamped to the text).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let text = "a = 1\nné = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let equals = text.find(" =\u{20}\"").unwrap();
        assert_eq!(line_column(text, equals), (2, 3));
        assert_eq!(line_column(text, 10_000), (3, 1));
    }

    #[test]
    fn the_line_index_agrees_with_a_scan() {
        let text = "a = 1\nné = \"x\"\n\nlast";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(
                index.line_column(text, offset),
                line_column(text, offset),
                "at {offset}"
            );
        }
    }

    #[test]
    fn warnings_say_so() {
        let diagnostic = Diagnostic::at("a.toml", "x", 0..1, Severity::Warning, "old license");
        assert_eq!(diagnostic.to_string(), "a.toml:1:1: warning: old license");
    }
}
