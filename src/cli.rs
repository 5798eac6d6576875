//! The command line: `check`, `query`, `locate`, `diff`. The only module that prints for people.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use jiff::Timestamp;

use crate::catalog::{Catalog, CatalogError, LoadOptions, TitleRef};
use crate::config::{Config, LogFormat};
use crate::geoip::{CountryCode, GeoipDatabase, Locator};
use crate::http::wire;
use crate::resolve::{self, Query};

/// Which titles may the device at this IP address stream, here and now?
#[derive(Debug, Parser)]
#[command(name = "geoavail", version, about)]
pub struct Args {
    /// Config file; default: geoavail.toml in the working directory when present.
    #[arg(long, global = true, env = "GEOAVAIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (default: 127.0.0.1:8080 on the demo data).
    Serve,
    /// Validate a catalog folder: every problem as path:line:col; exit 1 on errors.
    Check {
        /// The catalog folder; default: `catalogs` from the config.
        dir: Option<PathBuf>,
    },
    /// Which titles may stream at an address (one title, or every available title).
    Query {
        /// The device's IPv4 or IPv6 address.
        #[arg(long)]
        ip: IpAddr,
        /// One title's id; without it, every available title is listed.
        #[arg(long)]
        title: Option<String>,
        /// RFC 3339 time with an offset; default: now.
        #[arg(long)]
        at: Option<Timestamp>,
        /// The device's platform, such as `tv`.
        #[arg(long)]
        platform: Option<String>,
        /// The account's home country, for EU portability.
        #[arg(long)]
        home: Option<String>,
        /// Print the answer as JSON, as the HTTP API does.
        #[arg(long)]
        json: bool,
    },
    /// Show where an address is located and by which source.
    Locate {
        /// An IPv4 or IPv6 address.
        ip: IpAddr,
        /// Print the location as JSON, as `/v1/locate` answers it.
        #[arg(long)]
        json: bool,
    },
    /// What an edit changes: titles gained and lost per territory, and why. Exit 0 when nothing
    /// changes, 1 when something does, 2 on error.
    Diff {
        /// The catalog folder before the edit.
        old: PathBuf,
        /// The catalog folder after the edit.
        new: PathBuf,
        /// RFC 3339 time with an offset; default: now.
        #[arg(long)]
        at: Option<Timestamp>,
        /// Print the changes as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one command to completion.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref(), std::env::vars())
        .context("reading the configuration")?;
    // Commands that answer people keep the log to warnings unless RUST_LOG asks for more.
    let level = match args.command {
        Command::Serve => config.log.level.clone(),
        _ => "warn".to_owned(),
    };
    init_logging(&config, &level);
    match args.command {
        Command::Serve => serve(config),
        Command::Check { dir } => check(&config, dir.as_deref()),
        Command::Query {
            ip,
            title,
            at,
            platform,
            home,
            json,
        } => {
            let request = QueryRequest {
                ip,
                title,
                at: at.unwrap_or_else(now),
                platform,
                home,
                json,
            };
            query(&config, &request)
        }
        Command::Locate { ip, json } => locate(&config, ip, json),
        Command::Diff { old, new, at, json } => {
            diff(&config, &old, &new, at.unwrap_or_else(now), json)
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;

    use crate::http::state::{AppState, Settings};
    use crate::metrics::Metrics;
    use crate::reload::Reloader;

    let metrics = Arc::new(Metrics::default());
    let settings = Settings::new(&config, std::env::var("GEOAVAIL_ADMIN_TOKEN").ok())
        .context("reading admin.token_file")?;
    let listen = config.listen;
    let drain = std::time::Duration::from_secs(u64::from(config.http.drain_seconds));
    let limits = crate::http::ConnectionLimits::new(&config.http);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // SIGHUP is caught before loading starts: a large database takes seconds to index,
        // and an early SIGHUP must not end the process.
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let reloader = Arc::new(Reloader::start(config, Arc::clone(&metrics), now())?);
        let state = AppState::new(Arc::clone(&reloader), metrics, settings);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let snapshot = state.snapshot();
        tracing::info!(
            address = %listener.local_addr()?,
            catalog_version = snapshot.version(),
            titles = snapshot.catalog().titles().len(),
            networks = snapshot.locator().sources().geoip.info.networks,
            "serving"
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let watcher = match crate::reload::Watching::start(Arc::clone(&reloader)) {
            Ok(watching) => Some(tokio::spawn(watching.run(until_stopped(stopped.clone())))),
            Err(_) => None,
        };
        let hangups = tokio::spawn(reload_on_sighup(
            hangups,
            Arc::clone(&reloader),
            until_stopped(stopped.clone()),
        ));
        let draining = state.clone();
        // Shutdown: /readyz turns 503 at once, new connections are still served for
        // `http.drain_seconds` while load balancers notice, then the listener closes and the
        // requests in flight finish.
        let shutdown = async move {
            shutdown_signal().await;
            draining.start_draining();
            if !drain.is_zero() {
                tracing::info!(seconds = drain.as_secs(), "shutting down: draining");
                tokio::time::sleep(drain).await;
            }
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stop.send(true);
        };
        crate::http::serve(listener, crate::http::router(state), limits, shutdown).await?;
        if let Some(watcher) = watcher {
            let _ = watcher.await;
        }
        let _ = hangups.await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Every SIGHUP re-reads every source, until `stop` resolves.
async fn reload_on_sighup(
    hangups: Option<tokio::signal::unix::Signal>,
    reloader: std::sync::Arc<crate::reload::Reloader>,
    stop: impl std::future::Future<Output = ()>,
) {
    let Some(mut hangups) = hangups else {
        tracing::warn!("cannot listen for SIGHUP; reload through the admin route or file changes");
        return;
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                let reloader = std::sync::Arc::clone(&reloader);
                let reloaded = tokio::task::spawn_blocking(move || {
                    reloader.reload(&reloader.configured(), crate::reload::Trigger::Sighup, now())
                })
                .await;
                if let Err(error) = reloaded {
                    tracing::error!(%error, "a reload stopped unexpectedly; the last good snapshot is still served");
                }
            }
            () = &mut stop => return,
        }
    }
}

fn check(config: &Config, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let dir = dir.unwrap_or(&config.catalogs);
    // No database is needed; when the configured one loads, its lack of regions is a warning.
    let geoip_has_regions = GeoipDatabase::load(&config.geoip.database, &config.geoip.options())
        .ok()
        .map(|db| db.has_regions);
    let options = LoadOptions {
        now: Timestamp::now(),
        geoip_has_regions,
    };
    match Catalog::load_with_limit(dir, config.limits.catalog_file_bytes, &options) {
        Ok(catalog) => {
            for warning in catalog.warnings() {
                println!("{warning}");
            }
            println!(
                "{}: {} titles, {} licenses in {} files, version {}; {} warning(s)",
                dir.display(),
                catalog.titles().len(),
                catalog.n_licenses(),
                catalog.n_files(),
                catalog.version(),
                catalog.n_warnings()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(CatalogError::Invalid { diagnostics }) => {
            for diagnostic in &diagnostics {
                println!("{diagnostic}");
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            println!(
                "{}: {errors} error(s), {} warning(s)",
                dir.display(),
                diagnostics.len() - errors
            );
            Ok(ExitCode::from(1))
        }
        Err(error) => Err(error.into()),
    }
}

struct QueryRequest {
    ip: IpAddr,
    title: Option<String>,
    at: Timestamp,
    platform: Option<String>,
    home: Option<String>,
    json: bool,
}

fn query(config: &Config, request: &QueryRequest) -> anyhow::Result<ExitCode> {
    let locator = Locator::load(&config.geoip)?;
    let catalog = load_catalog(config, &config.catalogs, Timestamp::now())?;
    let platform = match &request.platform {
        None => None,
        Some(name) => match catalog.platform(name) {
            Some(platform) => Some(platform),
            None => bail!(
                "unknown platform `{name}` (known: {})",
                catalog.platform_names().join(", ")
            ),
        },
    };
    // Read as the HTTP API reads it.
    let Ok(home) = crate::http::params::home(request.home.as_deref()) else {
        bail!(
            "`{}` is not an ISO 3166-1 alpha-2 country code",
            request.home.as_deref().unwrap_or_default()
        );
    };
    let query = Query {
        at: request.at,
        platform,
        home,
        policy: config.policy.anonymizer,
    };
    let location = locator.locate(request.ip);
    let wire_location = wire::Location::new(request.ip, &location);
    match &request.title {
        Some(id) => {
            let Some(title) = catalog.title(id) else {
                bail!("unknown title `{id}`");
            };
            let decision = resolve::title(&catalog, title, &location, &query);
            let answer = wire::Availability {
                decision: wire::TitleDecision::new(&title.id, &decision),
                at: wire::Instant(request.at),
                location: wire_location,
                catalog_version: catalog.version(),
            };
            if request.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_location(&answer.location);
                print_decision(&answer.decision);
            }
        }
        None => {
            let listing = resolve::available(&catalog, &location, &query, None, usize::MAX);
            let answer = wire::Listing::new(&listing, wire_location, request.at, catalog.version());
            if request.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_location(&answer.location);
                println!(
                    "{} title(s) available at {}",
                    answer.titles.len(),
                    answer.at
                );
                for title in &answer.titles {
                    let until = title
                        .available_until
                        .map_or_else(|| "open-ended".to_owned(), |until| until.to_string());
                    println!(
                        "  {:<28} {:<28} license {} until {until}",
                        title.id,
                        title.name,
                        title.license.unwrap_or("-")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_location(location: &wire::Location<'_>) {
    println!(
        "{} is in {}{} (source {}{})",
        location.ip,
        location.country.unwrap_or("an unknown country"),
        location
            .region
            .map(|r| format!(", {r}"))
            .unwrap_or_default(),
        location.source,
        if location.anonymizer {
            ", anonymizer"
        } else {
            ""
        }
    );
}

fn print_decision(decision: &wire::TitleDecision<'_>) {
    let verdict = if decision.available {
        "available"
    } else {
        "not available"
    };
    let mut line = format!("{}: {verdict} ({})", decision.title, decision.reason);
    if let Some(license) = decision.license {
        line.push_str(&format!(", license {license}"));
    }
    if let Some(until) = &decision.available_until {
        line.push_str(&format!(", until {until}"));
    }
    if let Some(from) = &decision.available_from {
        line.push_str(&format!(", from {from}"));
    }
    if decision.portability {
        line.push_str(", under EU portability");
    }
    println!("{line}");
}

fn locate(config: &Config, ip: IpAddr, json: bool) -> anyhow::Result<ExitCode> {
    let locator = Locator::load(&config.geoip)?;
    let location = locator.locate(ip);
    let wire = wire::Location::new(ip, &location);
    if json {
        println!("{}", serde_json::to_string_pretty(&wire)?);
    } else {
        println!("ip          {}", wire.ip);
        println!("country     {}", wire.country.unwrap_or("unknown"));
        println!("region      {}", wire.region.unwrap_or("unknown"));
        println!("source      {}", wire.source);
        println!("anonymizer  {}", if wire.anonymizer { "yes" } else { "no" });
    }
    Ok(ExitCode::SUCCESS)
}

fn load_catalog(config: &Config, dir: &Path, now: Timestamp) -> anyhow::Result<Catalog> {
    let options = LoadOptions {
        now,
        geoip_has_regions: None,
    };
    Catalog::load_with_limit(dir, config.limits.catalog_file_bytes, &options)
        .map_err(|error| anyhow::anyhow!("{}: {}", dir.display(), error.messages().join("\n")))
}

/// One title's changes between two catalogs.
#[derive(Debug, serde::Serialize)]
struct TitleChange {
    title: String,
    gained: Vec<Gain>,
    lost: Vec<Loss>,
}

#[derive(Debug, serde::Serialize)]
struct Gain {
    territory: String,
    license: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct Loss {
    territory: String,
    reason: String,
}

fn diff(
    config: &Config,
    old: &Path,
    new: &Path,
    at: Timestamp,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let old = load_catalog(config, old, at)?;
    let new = load_catalog(config, new, at)?;
    let changes = diff_catalogs(&old, &new, at);
    if json {
        let answer = serde_json::json!({ "at": at.to_string(), "titles": changes });
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else if changes.is_empty() {
        println!("no title changes availability at {at}");
    } else {
        for change in &changes {
            println!("{}", describe(change));
        }
    }
    Ok(if changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every title whose availability differs between the catalogs at `at`, by id.
fn diff_catalogs(old: &Catalog, new: &Catalog, at: Timestamp) -> Vec<TitleChange> {
    let mut ids: Vec<&str> = old
        .titles()
        .chain(new.titles())
        .map(|title| title.id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    let mut changes = Vec::new();
    for id in ids {
        let before = territories(old, old.title(id), at);
        let after = territories(new, new.title(id), at);
        let mut change = TitleChange {
            title: id.to_owned(),
            gained: Vec::new(),
            lost: Vec::new(),
        };
        for territory in after.keys().filter(|t| !before.contains_key(*t)) {
            change.gained.push(Gain {
                territory: territory.clone(),
                license: after[territory].clone(),
            });
        }
        for territory in before.keys().filter(|t| !after.contains_key(*t)) {
            let reason = match new.title(id) {
                None => "title_removed".to_owned(),
                Some(title) => reason_at(new, title, territory, at),
            };
            change.lost.push(Loss {
                territory: territory.clone(),
                reason,
            });
        }
        let mut gained_codes: Vec<String> =
            change.gained.iter().map(|g| g.territory.clone()).collect();
        collapse(&mut gained_codes);
        change
            .gained
            .retain(|g| gained_codes.contains(&g.territory));
        let mut lost_codes: Vec<String> = change.lost.iter().map(|l| l.territory.clone()).collect();
        collapse(&mut lost_codes);
        change.lost.retain(|l| lost_codes.contains(&l.territory));
        if !change.gained.is_empty() || !change.lost.is_empty() {
            changes.push(change);
        }
    }
    changes
}

/// Where a title is available at `at`: territory code -> granting license. A country
/// available everywhere also counts each of its regions, so that a change from "everywhere"
/// to "everywhere but one region" shows as that region (and unknown regions) lost.
fn territories(
    catalog: &Catalog,
    title: Option<TitleRef<'_>>,
    at: Timestamp,
) -> BTreeMap<String, Option<String>> {
    let Some(title) = title else {
        return BTreeMap::new();
    };
    let (countries, regions) = resolve::where_available(catalog, title, at);
    let mut map = BTreeMap::new();
    for country in &countries {
        let code = country.to_string();
        let license = decision_at(catalog, title, &code, at)
            .license
            .map(|l| l.label().to_owned());
        for region in crate::iso3166::subdivisions(&code) {
            map.insert(region.to_owned(), license.clone());
        }
        map.insert(code, license);
    }
    for region in &regions {
        let code = region.to_string();
        let license = decision_at(catalog, title, &code, at)
            .license
            .map(|l| l.label().to_owned());
        map.insert(code, license);
    }
    map
}

/// Drops the regions of countries that are in `territories` with all their regions.
fn collapse(territories: &mut Vec<String>) {
    let present: std::collections::BTreeSet<String> = territories.iter().cloned().collect();
    territories.retain(|code| match code.split_once('-') {
        None => true,
        Some((country, _)) => {
            let whole = present.contains(country)
                && crate::iso3166::subdivisions(country).all(|region| present.contains(region));
            !whole
        }
    });
}

fn decision_at<'c>(
    catalog: &'c Catalog,
    title: TitleRef<'c>,
    territory: &str,
    at: Timestamp,
) -> resolve::Decision<'c> {
    let (country, region) = match crate::geoip::RegionCode::parse(territory) {
        Some(region) => (Some(region.country()), Some(region)),
        None => (CountryCode::parse(territory), None),
    };
    let location = crate::geoip::Location {
        country,
        region,
        source: crate::geoip::LocationSource::Geoip,
        anonymizer: false,
    };
    let query = Query {
        at,
        platform: None,
        home: None,
        policy: crate::catalog::AnonymizerPolicy::Allow,
    };
    resolve::title(catalog, title, &location, &query)
}

fn reason_at(catalog: &Catalog, title: TitleRef<'_>, territory: &str, at: Timestamp) -> String {
    decision_at(catalog, title, territory, at)
        .reason
        .as_str()
        .to_owned()
}

/// One line: territories gained grouped by license, territories lost grouped by reason.
fn describe(change: &TitleChange) -> String {
    let mut parts = Vec::new();
    let mut gained: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for gain in &change.gained {
        gained
            .entry(gain.license.as_deref().unwrap_or("-"))
            .or_default()
            .push(&gain.territory);
    }
    for (license, territories) in gained {
        parts.push(format!(
            "now available in {} (license {license})",
            territories.join(", ")
        ));
    }
    let mut lost: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for loss in &change.lost {
        lost.entry(&loss.reason).or_default().push(&loss.territory);
    }
    for (reason, territories) in lost {
        parts.push(format!(
            "no longer available in {} ({reason})",
            territories.join(", ")
        ));
    }
    format!("{}: {}", change.title, parts.join("; "))
}

use crate::reload::now;

/// Logs go to standard error, in the configured format; `RUST_LOG` wins over `level`.
fn init_logging(config: &Config, level: &str) {
    // `RUST_LOG` is read the same careful way as the configured level; a bad one is passed
    // over for the configured level, which was checked at start-up.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| crate::config::log_filter(&text).ok())
        .or_else(|| crate::config::log_filter(level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
