//! `Snapshot`: everything a request reads, loaded completely before it is published and never
//! changed afterwards. A reload builds a new one around the sources it did not touch.

use std::sync::Arc;

use jiff::Timestamp;

use crate::catalog::Catalog;
use crate::geoip::Locator;

/// One consistent view of the catalog and the location sources.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The validated catalog.
    pub catalog: Arc<Catalog>,
    /// The GeoIP index, overrides and anonymizer index.
    pub locator: Locator,
    /// When each source now served was loaded.
    pub loaded_at: LoadedAt,
}

/// When each source of a snapshot was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedAt {
    /// The catalog.
    pub catalog: Timestamp,
    /// The GeoIP database.
    pub geoip: Timestamp,
    /// The overrides file (or the start, when none is configured).
    pub overrides: Timestamp,
    /// The anonymizer database, when one is configured.
    pub anonymizer: Option<Timestamp>,
}

impl Snapshot {
    /// The catalog version every answer from this snapshot carries.
    pub fn version(&self) -> &str {
        self.catalog.version()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The location sources.
    pub fn locator(&self) -> &Locator {
        &self.locator
    }
}
