//! The command line: `locate` (more to come). The only module that prints for people.

#![allow(clippy::print_stdout)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::geoip::Locator;
use crate::http::wire;

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
    /// Show where an address is located and by which source.
    Locate {
        /// An IPv4 or IPv6 address.
        ip: IpAddr,
        /// Print the location as JSON, as `/v1/locate` answers it.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one command to completion.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref(), std::env::vars())
        .context("reading the configuration")?;
    init_logging(&config);
    match args.command {
        Command::Locate { ip, json } => locate(&config, ip, json),
    }
}

fn locate(config: &Config, ip: IpAddr, json: bool) -> anyhow::Result<ExitCode> {
    let locator = Locator::load(&config.geoip)?;
    let location = locator.locate(ip);
    let wire = wire::Location::new(ip, &location);
    if json {
        println!("{}", serde_json::to_string_pretty(&wire)?);
    } else {
        println!("ip          {}", wire.ip);
        println!(
            "country     {}",
            wire.country.as_deref().unwrap_or("unknown")
        );
        println!(
            "region      {}",
            wire.region.as_deref().unwrap_or("unknown")
        );
        println!("source      {}", wire.source);
        println!("anonymizer  {}", if wire.anonymizer { "yes" } else { "no" });
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs go to standard error, in the configured format; `RUST_LOG` wins over `log.level`.
fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling `run` twice) keeps the first subscriber.
    let _ = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
