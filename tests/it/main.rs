//! geoavail's integration tests: one binary, one module per area.

mod api;
mod arbitrary_input;
mod cli;
mod faults;
mod geoip_props;
mod props;
mod server;
mod support;
