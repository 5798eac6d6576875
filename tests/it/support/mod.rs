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
