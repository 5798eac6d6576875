//! Database files of arbitrary bytes: load them as a GeoIP and as an anonymizer database,
//! and where one loads, compile it and check the index against the sources.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use geoavail::geoip::{AnonymizerDatabase, GeoipDatabase, Locator, Overrides, Sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.mmdb");
    let anonymizer = AnonymizerDatabase::from_bytes(path, data.to_vec()).ok();
    let Ok(database) = GeoipDatabase::from_bytes(path, data.to_vec(), &Default::default()) else {
        return;
    };
    let sources = Sources {
        geoip: Arc::new(database),
        overrides: Arc::new(Overrides::empty()),
        anonymizer: anonymizer.map(Arc::new),
        anonymizer_mask: u8::MAX,
    };
    let locator = Locator::new(sources.clone());
    // Addresses taken from the input's own bytes, in every form the reader treats specially.
    for chunk in data.chunks(16).take(64) {
        let mut bytes = [0u8; 16];
        bytes[..chunk.len()].copy_from_slice(chunk);
        let v6 = Ipv6Addr::from(bytes);
        let v4 = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
        for ip in [IpAddr::V6(v6), IpAddr::V4(v4), IpAddr::V6(v4.to_ipv6_mapped()), IpAddr::V6(v4.to_ipv6_compatible())] {
            assert_eq!(locator.locate(ip), sources.locate(ip), "at {ip}");
        }
    }
});
