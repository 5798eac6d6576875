//! The config file and `GEOAVAIL_*` variables: the first NUL byte ends the file's text; each
//! line after it is a `NAME=value` variable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, env) = text.split_once('\0').unwrap_or((&text, ""));
    let dir = std::env::temp_dir().join(format!("geoavail-fuzz-config-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("geoavail.toml");
    if std::fs::write(&path, file).is_err() {
        return;
    }
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let _ = geoavail::config::Config::from_sources(Some(&path), env);
});
