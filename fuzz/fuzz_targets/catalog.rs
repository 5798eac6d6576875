//! Catalog files: parse, validate across files, and answer every title of a valid catalog.
//! A NUL byte splits the input into two files, so that checks across files (duplicate ids,
//! groups defined in one file and used in another) are reached too.

#![no_main]

use geoavail::catalog::{AnonymizerPolicy, LoadOptions};
use geoavail::geoip::{CountryCode, Location, LocationSource, RegionCode};
use geoavail::resolve::{self, Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(2, '\0');
    let files: Vec<_> = ["a.toml", "b/c.toml"]
        .iter()
        .zip(&mut parts)
        .map(|(path, text)| geoavail::catalog::parse::parse_file(path, text))
        .collect();
    let options = LoadOptions {
        now: "2026-11-23T00:00:00Z".parse().unwrap(),
        geoip_has_regions: Some(data.len() % 2 == 0),
    };
    let Ok(catalog) = geoavail::catalog::validate::validate(&files, &options) else {
        return;
    };
    let locations = [
        Location::UNKNOWN,
        located("US", Some("US-CA"), false),
        located("FR", None, true),
        located("CA", None, false),
    ];
    for at in ["2026-11-23T12:00:00Z", "1999-01-01T00:00:00Z", "2031-06-30T23:59:59Z"] {
        let query = Query {
            at: at.parse().unwrap(),
            platform: catalog.platform("tv"),
            home: CountryCode::parse("DE"),
            policy: AnonymizerPolicy::Deny,
        };
        let plain = Query { platform: None, home: None, ..query };
        for location in &locations {
            for position in 0..catalog.n_titles().min(32) as u32 {
                let title = catalog.title_at(position);
                let _ = resolve::title(&catalog, title, location, &query);
                let _ = resolve::title(&catalog, title, location, &plain);
            }
            let _ = resolve::available(&catalog, location, &plain, None, 50);
        }
    }
    if catalog.n_titles() > 0 {
        let _ = resolve::where_available(&catalog, catalog.title_at(0), options.now);
    }
});

fn located(country: &str, region: Option<&str>, anonymizer: bool) -> Location {
    Location {
        country: CountryCode::parse(country),
        region: region.and_then(RegionCode::parse),
        source: LocationSource::Geoip,
        anonymizer,
    }
}
