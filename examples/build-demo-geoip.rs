//! Rebuilds `geoip/demo.mmdb` and `geoip/demo-anonymous.mmdb` from `geoip/demo-networks.toml`.
//!
//!     cargo run --example build-demo-geoip

use std::path::Path;

fn main() -> anyhow::Result<()> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip");
    let source = std::fs::read_to_string(folder.join("demo-networks.toml"))?;
    let databases =
        geoavail::geoip::write::from_source(&source).map_err(|message| anyhow::anyhow!(message))?;
    std::fs::write(folder.join("demo.mmdb"), &databases.geoip)?;
    std::fs::write(folder.join("demo-anonymous.mmdb"), &databases.anonymizer)?;
    eprintln!("wrote geoip/demo.mmdb and geoip/demo-anonymous.mmdb");
    Ok(())
}
