//! The HTTP face of geoavail. For now only the JSON shapes, which the CLI's `--json` shares.

pub mod wire;
