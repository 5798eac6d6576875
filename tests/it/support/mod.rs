//! Shared helpers: paths of the shipped demo data and the binary under test.

pub(crate) mod oracle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, where the demo data and `geoavail.toml` live.
pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository.
pub(crate) fn repo_file(relative: &str) -> PathBuf {
    repo().join(relative)
}

/// Runs the `geoavail` binary in `dir` with no `GEOAVAIL_*` variables of the caller's.
pub(crate) fn geoavail(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_geoavail"));
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("GEOAVAIL_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.output().expect("the geoavail binary runs")
}

/// Standard output as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The shipped configuration with absolute paths, so tests can run from any folder and swap
/// single sources for copies.
pub(crate) fn demo_config() -> geoavail::config::Config {
    let mut config = geoavail::config::Config {
        catalogs: repo_file("catalogs"),
        ..Default::default()
    };
    config.geoip.database = repo_file("geoip/demo.mmdb");
    config.geoip.overrides = Some(repo_file("geoip/overrides.toml"));
    config.geoip.anonymizer_database = Some(repo_file("geoip/demo-anonymous.mmdb"));
    config
}

/// Copies a folder tree.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A service on `config`, with `token` as the admin token.
pub(crate) fn service(
    config: geoavail::config::Config,
    token: Option<&str>,
) -> (geoavail::http::Api, geoavail::http::state::AppState) {
    use std::sync::Arc;

    let metrics = Arc::new(geoavail::metrics::Metrics::default());
    let settings = geoavail::http::state::Settings::new(&config, token.map(str::to_owned)).unwrap();
    let reloader =
        geoavail::reload::Reloader::start(config, Arc::clone(&metrics), geoavail::reload::now())
            .expect("the test sources load");
    let state = geoavail::http::state::AppState::new(Arc::new(reloader), metrics, settings);
    (geoavail::http::router(state.clone()), state)
}
