//! Config errors that name the file, line, column and key, and the collector that gathers them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One mistake in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the mistake is in.
    pub file: PathBuf,
    /// 1-based line, when the mistake has a place in the file.
    pub line: Option<usize>,
    /// 1-based column, when the mistake has a place in the file.
    pub column: Option<usize>,
    /// Dotted key path, e.g. `apis.pets.routes."GET /pets".integration.uri`.
    pub key: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// Every mistake found in one config file; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// A single mistake that stops loading, e.g. an unreadable file or broken TOML syntax.
    pub fn single(source: &SourceMap, span: Option<Range<usize>>, message: String) -> Self {
        let mut diags = Diagnostics::new(source);
        diags.error(span, "", message);
        Self(diags.errors)
    }
}

/// The text of a config file and where its lines start, to turn byte spans into line and column.
#[derive(Debug, Clone)]
pub struct SourceMap {
    file: PathBuf,
    line_starts: Vec<usize>,
}

impl SourceMap {
    /// Index the lines of `text`, read from `file`.
    pub fn new(file: &Path, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            file: file.to_path_buf(),
            line_starts,
        }
    }

    /// The file this map describes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let column = offset - self.line_starts[line - 1] + 1;
        (line, column)
    }
}

/// Collects config errors while loading and compiling, so all of them can be reported at once.
#[derive(Debug)]
pub struct Diagnostics<'a> {
    source: &'a SourceMap,
    errors: Vec<ConfigError>,
}

impl<'a> Diagnostics<'a> {
    /// An empty collector for the file behind `source`.
    pub fn new(source: &'a SourceMap) -> Self {
        Self {
            source,
            errors: Vec::new(),
        }
    }

    /// A collector that goes on from `errors` already found in the same file.
    pub fn resume(source: &'a SourceMap, errors: Vec<ConfigError>) -> Self {
        Self { source, errors }
    }

    /// The mistakes recorded so far, handing them on to a later stage.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    /// Record a mistake at `span` (byte offsets in the file) under `key`.
    pub fn error(&mut self, span: Option<Range<usize>>, key: &str, message: impl fmt::Display) {
        // Defaults carry the empty span 0..0: they have no place in the file.
        let place = span
            .filter(|span| *span != (0..0))
            .map(|span| self.source.line_column(span.start));
        self.errors.push(ConfigError {
            file: self.source.file.clone(),
            line: place.map(|(line, _)| line),
            column: place.map(|(_, column)| column),
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    /// `Ok(value)` when nothing went wrong, otherwise every recorded mistake in file order.
    pub fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            // A route compiled once per stage can repeat the same mistake: report it once.
            self.errors.sort_by(|a, b| {
                (a.line, a.column, &a.key, &a.message).cmp(&(b.line, b.column, &b.key, &b.message))
            });
            self.errors.dedup();
            Err(ConfigErrors(self.errors))
        }
    }
}
