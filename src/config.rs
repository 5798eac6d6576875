//! `Config`: every setting with its default, then the config file, then `GEOAVAIL_*`.
//!
//! Relative paths in a config file are resolved against that file's folder; defaults and
//! environment values stay relative to the working directory. An unknown key, an unknown
//! `GEOAVAIL_*` variable or a bad value is an error that names it. Read once, in `cli`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::catalog::AnonymizerPolicy;
use crate::geoip::load::CountryField;
use crate::geoip::{AnonymizerFlag, GeoipOptions};

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_FILE: &str = "geoavail.toml";

/// Every setting of SPEC §6.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP service listens on.
    pub listen: SocketAddr,
    /// The catalog folder.
    pub catalogs: PathBuf,
    /// `[geoip]`.
    pub geoip: GeoipConfig,
    /// `[policy]`.
    pub policy: PolicyConfig,
    /// `[http]`.
    pub http: HttpConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[admin]`.
    pub admin: AdminConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
}

/// `[limits]`: sizes beyond which input is refused with an error naming it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// The largest catalog file read, in bytes.
    pub catalog_file_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            catalog_file_bytes: crate::catalog::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// `[geoip]`: the location sources and how to read them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoipConfig {
    /// The GeoIP database (MaxMind DB format).
    pub database: PathBuf,
    /// The overrides file, when there is one.
    pub overrides: Option<PathBuf>,
    /// An anonymizer database (MaxMind Anonymous IP layout), when there is one.
    pub anonymizer_database: Option<PathBuf>,
    /// Where the country code is, such as `country.iso_code`; detected when absent.
    pub country_field: Option<String>,
    /// Locate networks that only have a `registered_country` there.
    pub use_registered_country: bool,
    /// `/v1/status` warns when the database is older than this.
    pub max_age_days: u32,
    /// Which anonymizer flags make an address an anonymizer.
    pub anonymizer_flags: Vec<AnonymizerFlag>,
}

/// `[policy]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// What happens to anonymizer traffic unless a title says otherwise.
    pub anonymizer: AnonymizerPolicy,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Seconds between `/readyz` turning 503 on shutdown and the listener closing, so that
    /// load balancers stop sending traffic first.
    pub drain_seconds: u32,
    /// Requests answered at once; beyond, 503 `overloaded` at once rather than a queue.
    pub max_in_flight: usize,
    /// Connections open at once; beyond, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Milliseconds a client may take to send its request headers, and to start its next
    /// request on a kept-alive connection.
    pub header_timeout_ms: u64,
    /// Milliseconds a client may take to send a request body.
    pub body_timeout_ms: u64,
    /// Milliseconds within which every request is answered (503 `timeout` otherwise).
    pub request_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            trusted_proxies: Vec::new(),
            drain_seconds: 0,
            max_in_flight: 1024,
            max_connections: 16 * 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Line format.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `geoavail=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// A file holding the admin token; `GEOAVAIL_ADMIN_TOKEN` wins.
    pub token_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            catalogs: PathBuf::from("catalogs"),
            geoip: GeoipConfig::default(),
            policy: PolicyConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for GeoipConfig {
    fn default() -> GeoipConfig {
        GeoipConfig {
            database: PathBuf::from("geoip/demo.mmdb"),
            overrides: None,
            anonymizer_database: None,
            country_field: None,
            use_registered_country: false,
            max_age_days: 30,
            anonymizer_flags: AnonymizerFlag::ALL.to_vec(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl GeoipConfig {
    /// How to read the database. `Config::load` has already checked `country_field`.
    pub fn options(&self) -> GeoipOptions {
        GeoipOptions {
            country_field: self.country_field.as_deref().and_then(CountryField::parse),
            use_registered_country: self.use_registered_country,
        }
    }

    /// The configured anonymizer flags as bits.
    pub fn anonymizer_mask(&self) -> u8 {
        AnonymizerFlag::mask(&self.anonymizer_flags)
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The config file has a syntax error, an unknown key or a bad value.
    #[error("{}:{line}:{column}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A `GEOAVAIL_*` variable is unknown or has a bad value.
    #[error("{name}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A value is well-formed but cannot be used.
    #[error("{key}: {message}")]
    Value {
        /// The setting, as a dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The kind of value a setting takes, for reading it from an environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Path,
    Bool,
    Integer,
    /// Comma-separated in the environment.
    List,
}

/// Every setting that can come from the environment, as its dotted key and kind. The
/// variable is `GEOAVAIL_` and the key in upper case with `.` as `_`.
const SETTINGS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("catalogs", Kind::Path),
    ("geoip.database", Kind::Path),
    ("geoip.overrides", Kind::Path),
    ("geoip.anonymizer_database", Kind::Path),
    ("geoip.country_field", Kind::Text),
    ("geoip.use_registered_country", Kind::Bool),
    ("geoip.max_age_days", Kind::Integer),
    ("geoip.anonymizer_flags", Kind::List),
    ("policy.anonymizer", Kind::Text),
    ("http.trusted_proxies", Kind::List),
    ("http.drain_seconds", Kind::Integer),
    ("http.max_in_flight", Kind::Integer),
    ("http.max_connections", Kind::Integer),
    ("http.header_timeout_ms", Kind::Integer),
    ("http.body_timeout_ms", Kind::Integer),
    ("http.request_timeout_ms", Kind::Integer),
    ("log.format", Kind::Text),
    ("log.level", Kind::Text),
    ("admin.token_file", Kind::Path),
    ("limits.catalog_file_bytes", Kind::Integer),
];

/// Environment variables that are not settings but belong to geoavail.
const OTHER_VARIABLES: &[&str] = &["GEOAVAIL_ADMIN_TOKEN", "GEOAVAIL_CONFIG"];

/// A tracing filter such as `info` or `info,geoavail::access=debug`. Its directives are
/// trimmed and must be ASCII: tracing-subscriber (0.3) slices a directive that has spaces
/// around it by the positions of its trimmed form, which panics inside other characters.
pub fn log_filter(text: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    if !text.is_ascii() {
        return Err("a filter is ASCII: targets, levels and `[span{field=value}]`".into());
    }
    let directives: Vec<&str> = text.split(',').map(str::trim).collect();
    tracing_subscriber::EnvFilter::try_new(directives.join(",")).map_err(|error| error.to_string())
}

/// Prefixes of variables read by benchmarks and tests, never by the service.
const TOOLING_PREFIXES: &[&str] = &["GEOAVAIL_BENCH_", "GEOAVAIL_TEST_"];

impl Config {
    /// Defaults, then `file` (or `geoavail.toml` in the working directory when it exists), then
    /// the `GEOAVAIL_*` variables in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let default_file = Path::new(DEFAULT_FILE);
        let file = file.or(default_file.is_file().then_some(default_file));
        Config::from_sources(file, env)
    }

    /// Defaults, then `file` if given, then the `GEOAVAIL_*` variables in `env`.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for (name, value) in env {
            apply_env(&mut table, &name, &value)?;
        }
        let config = Config::deserialize(table).map_err(|error| ConfigError::Value {
            key: "environment".into(),
            message: error.message().to_owned(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: values that parse but cannot be used.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(field) = &self.geoip.country_field
            && CountryField::parse(field).is_none()
        {
            return Err(ConfigError::Value {
                key: "geoip.country_field".into(),
                message: format!("`{field}` is not a dotted path such as `country.iso_code`"),
            });
        }
        if let Err(message) = log_filter(&self.log.level) {
            return Err(ConfigError::Value {
                key: "log.level".into(),
                message: format!("`{}`: {message}", self.log.level),
            });
        }
        let http = &self.http;
        for (key, value) in [
            ("http.max_connections", http.max_connections as u64),
            ("http.max_in_flight", http.max_in_flight as u64),
            ("http.header_timeout_ms", http.header_timeout_ms),
            ("http.body_timeout_ms", http.body_timeout_ms),
            ("http.request_timeout_ms", http.request_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Value {
                    key: key.into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// The file as a table, checked against `Config` (so errors have positions), with its
/// relative paths made relative to its folder.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file_error = |error: toml::de::Error| {
        let (line, column) =
            crate::diagnostic::line_column(&text, error.span().map_or(0, |span| span.start));
        ConfigError::File {
            path: path.to_owned(),
            line,
            column,
            message: error.message().trim_end().to_owned(),
        }
    };
    toml::from_str::<Config>(&text).map_err(file_error)?;
    let mut table: toml::Table = toml::from_str(&text).map_err(file_error)?;
    let folder = path.parent().unwrap_or(Path::new(""));
    for (key, kind) in SETTINGS {
        if *kind != Kind::Path {
            continue;
        }
        if let Some(toml::Value::String(value)) = lookup_mut(&mut table, key) {
            *value = folder.join(&*value).to_string_lossy().into_owned();
        }
    }
    Ok(table)
}

fn lookup_mut<'t>(table: &'t mut toml::Table, dotted: &str) -> Option<&'t mut toml::Value> {
    let (parents, leaf) = match dotted.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, dotted),
    };
    let mut table = table;
    if let Some(parents) = parents {
        for part in parents.split('.') {
            table = table.get_mut(part)?.as_table_mut()?;
        }
    }
    table.get_mut(leaf)
}

/// Puts one `GEOAVAIL_*` variable into the table, converted to the setting's kind.
fn apply_env(table: &mut toml::Table, name: &str, value: &str) -> Result<(), ConfigError> {
    let Some(rest) = name.strip_prefix("GEOAVAIL_") else {
        return Ok(());
    };
    if OTHER_VARIABLES.contains(&name) || TOOLING_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Ok(());
    }
    let env_error = |message: String| ConfigError::Env {
        name: name.to_owned(),
        message,
    };
    let Some((key, kind)) = SETTINGS
        .iter()
        .find(|(key, _)| key.replace('.', "_").eq_ignore_ascii_case(rest))
    else {
        return Err(env_error("not a geoavail setting".into()));
    };
    let value = match kind {
        Kind::Text | Kind::Path => toml::Value::String(value.to_owned()),
        Kind::Bool => match value {
            "true" | "1" => toml::Value::Boolean(true),
            "false" | "0" => toml::Value::Boolean(false),
            _ => return Err(env_error(format!("expected true or false, got `{value}`"))),
        },
        Kind::Integer => value
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| env_error(format!("expected a whole number, got `{value}`")))?,
        Kind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
    };
    let mut parts: Vec<&str> = key.split('.').collect();
    let leaf = parts.pop().expect("keys are not empty");
    let mut target = table;
    for part in parts {
        let entry = target
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        target = entry
            .as_table_mut()
            .ok_or_else(|| env_error(format!("`{part}` is not a table in the config file")))?;
    }
    // Checked now, so that a bad value names the variable rather than the merged config.
    let mut probe = toml::Table::new();
    probe.insert(leaf.to_owned(), value.clone());
    check_env_value(key, probe).map_err(env_error)?;
    target.insert(leaf.to_owned(), value);
    Ok(())
}

/// Deserializes a one-setting table into `Config` to see whether the value is acceptable.
fn check_env_value(key: &str, leaf: toml::Table) -> Result<(), String> {
    let mut table = leaf;
    let mut parts: Vec<&str> = key.split('.').collect();
    parts.pop();
    while let Some(parent) = parts.pop() {
        let mut outer = toml::Table::new();
        outer.insert(parent.to_owned(), toml::Value::Table(table));
        table = outer;
    }
    Config::deserialize(table)
        .map(|_| ())
        .map_err(|error| error.message().trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf").join("geoavail.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_log_level_that_would_crash_the_filter_parser_is_refused() {
        // Found by the `config` fuzz target: spaces before a directive with other
        // characters in it made tracing-subscriber slice inside a character and panic.
        let level = "  t\u{fffd}\u{fffd}[\u{fffd}\u{10e}\u{fffd}\u{5ce}eKKK;KKxt";
        let (_dir, path) = write_config(&format!("[log]\nformat = \"text\"\nlevel= \"{level}\"\n"));
        let error = Config::load(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("log.level"), "{error}");
        assert!(log_filter(level).is_err());
        // Spaces around directives are trimmed, so they mean what they say.
        assert!(log_filter("  info , geoavail::access=debug ").is_ok());
    }

    #[test]
    fn every_setting_has_a_default() {
        let config = Config::load(Some(Path::new("/nonexistent/x.toml")), Vec::new());
        assert!(matches!(config, Err(ConfigError::Read { .. })));
        let config = Config::deserialize(toml::Table::new()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn relative_paths_in_the_file_are_relative_to_its_folder() {
        let (_dir, path) =
            write_config("catalogs = \"cats\"\n[geoip]\ndatabase = \"/abs/db.mmdb\"\n");
        let config = Config::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(config.catalogs, path.parent().unwrap().join("cats"));
        assert_eq!(config.geoip.database, PathBuf::from("/abs/db.mmdb"));
    }

    #[test]
    fn environment_wins_over_the_file_and_stays_relative_to_the_working_directory() {
        let (_dir, path) = write_config("[geoip]\ndatabase = \"file.mmdb\"\nmax_age_days = 5\n");
        let config = Config::load(
            Some(&path),
            env(&[
                ("GEOAVAIL_GEOIP_DATABASE", "env.mmdb"),
                ("GEOAVAIL_GEOIP_USE_REGISTERED_COUNTRY", "true"),
                (
                    "GEOAVAIL_HTTP_TRUSTED_PROXIES",
                    "10.0.0.0/8, 192.168.0.0/16",
                ),
                ("GEOAVAIL_POLICY_ANONYMIZER", "allow"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.geoip.database, PathBuf::from("env.mmdb"));
        assert_eq!(config.geoip.max_age_days, 5);
        assert!(config.geoip.use_registered_country);
        assert_eq!(config.http.trusted_proxies.len(), 2);
        assert_eq!(config.policy.anonymizer, AnonymizerPolicy::Allow);
    }

    #[test]
    fn an_unknown_key_in_the_file_is_named_with_its_position() {
        let (_dir, path) = write_config("[geoip]\ndatabse = \"x.mmdb\"\n");
        let error = Config::load(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.ends_with("geoavail.toml:2:1: unknown field `databse`, expected one of `database`, `overrides`, `anonymizer_database`, `country_field`, `use_registered_country`, `max_age_days`, `anonymizer_flags`"), "{error}");
    }

    #[test]
    fn a_bad_value_in_the_file_is_named() {
        let (_dir, path) = write_config("listen = \"nowhere\"\n");
        let error = Config::load(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("geoavail.toml:1:10: "), "{error}");
    }

    #[test]
    fn unknown_and_bad_environment_variables_are_named() {
        let error =
            Config::from_sources(None, env(&[("GEOAVAIL_GEOIP_DATABSE", "x")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GEOAVAIL_GEOIP_DATABSE: not a geoavail setting"
        );
        let error = Config::from_sources(None, env(&[("GEOAVAIL_POLICY_ANONYMIZER", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("GEOAVAIL_POLICY_ANONYMIZER: unknown variant `maybe`"),
            "{error}"
        );
        let error = Config::from_sources(None, env(&[("GEOAVAIL_GEOIP_MAX_AGE_DAYS", "soon")]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "GEOAVAIL_GEOIP_MAX_AGE_DAYS: expected a whole number, got `soon`"
        );
    }

    #[test]
    fn tooling_variables_are_not_settings() {
        let config = Config::from_sources(
            None,
            env(&[
                ("GEOAVAIL_BENCH_MMDB", "x"),
                ("GEOAVAIL_ADMIN_TOKEN", "secret"),
            ]),
        );
        assert!(config.is_ok());
    }

    #[test]
    fn every_setting_can_come_from_the_environment() {
        // Every leaf of the serialized defaults, plus the optional ones that serialize to
        // nothing, must be in SETTINGS; and every entry of SETTINGS must be a real key.
        fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
            for (key, value) in table {
                let dotted = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match value {
                    toml::Value::Table(inner) => leaves(&dotted, inner, out),
                    _ => out.push(dotted),
                }
            }
        }
        let mut config = Config::default();
        config.geoip.overrides = Some("o".into());
        config.geoip.anonymizer_database = Some("a".into());
        config.geoip.country_field = Some("c".into());
        config.admin.token_file = Some("t".into());
        let mut keys = Vec::new();
        leaves("", &toml::Table::try_from(&config).unwrap(), &mut keys);
        let mut known: Vec<String> = SETTINGS.iter().map(|(key, _)| key.to_string()).collect();
        keys.sort();
        known.sort();
        assert_eq!(keys, known);
    }

    #[test]
    fn limits_of_zero_are_refused() {
        // No request would ever be let in.
        let error =
            Config::from_sources(None, env(&[("GEOAVAIL_HTTP_MAX_IN_FLIGHT", "0")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "http.max_in_flight: must be at least 1",
            "{error}"
        );
    }

    #[test]
    fn a_bad_country_field_is_refused() {
        let error = Config::from_sources(None, env(&[("GEOAVAIL_GEOIP_COUNTRY_FIELD", "a..b")]))
            .unwrap_err();
        assert!(
            error.to_string().starts_with("geoip.country_field: "),
            "{error}"
        );
    }
}
