//! geoavail answers, for streaming playback services, which titles the device at an IP address
//! may stream here and now. See `ARCHITECTURE.md` for the map of modules and the data flow.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod geoip;
pub mod http;
pub mod iso3166;
pub mod metrics;
mod parallel;
pub mod privacy;
pub mod reload;
pub mod resolve;
pub mod snapshot;
mod toml_source;
