//! The overrides file: parse it, fold it over the demo database and locate addresses it
//! names and addresses around them.

#![no_main]

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use geoavail::geoip::{GeoipDatabase, Locator, Overrides, Sources};
use libfuzzer_sys::fuzz_target;

fn database() -> &'static Arc<GeoipDatabase> {
    static DATABASE: OnceLock<Arc<GeoipDatabase>> = OnceLock::new();
    DATABASE.get_or_init(|| {
        let bytes = include_bytes!("../../geoip/demo.mmdb").to_vec();
        Arc::new(GeoipDatabase::from_bytes("demo.mmdb".as_ref(), bytes, &Default::default()).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(overrides) = Overrides::parse("overrides.toml", &text) else {
        return;
    };
    let probes: Vec<IpAddr> = overrides
        .entries()
        .iter()
        .flat_map(|entry| [entry.network.network(), entry.network.broadcast()])
        .chain(["192.0.2.1".parse().unwrap(), "::ffff:10.1.2.3".parse().unwrap()])
        .collect();
    let sources = Sources {
        geoip: Arc::clone(database()),
        overrides: Arc::new(overrides),
        anonymizer: None,
        anonymizer_mask: u8::MAX,
    };
    let locator = Locator::new(sources.clone());
    for ip in probes {
        assert_eq!(locator.locate(ip), sources.locate(ip), "at {ip}");
    }
});
