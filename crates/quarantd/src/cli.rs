//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// quarantd: an e-mail filtering gateway with a quarantine.
#[derive(Debug, Parser)]
#[command(name = "quarantd", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the content filter daemon between Postfix and its re-injection port.
    Serve(ServeArgs),
    /// Decompose, classify and judge one message file and print its parts and the verdict.
    Inspect(InspectArgs),
}

/// `quarantd inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The message file (RFC 5322, e.g. a .eml); `-` reads standard input.
    #[arg(value_name = "FILE.eml")]
    pub file: PathBuf,
    /// Print one JSON object instead of the tree.
    #[arg(long)]
    pub json: bool,
    /// Configuration file for the analysis limits. Without one, embedded defaults are used.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `quarantd serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without one, embedded defaults are used.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the config file (e.g. 127.0.0.1:10024).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Relay (re-injection) address, overriding the config file (e.g. 127.0.0.1:10025).
    #[arg(long, value_name = "ADDR")]
    pub relay: Option<String>,
    /// Data directory, overriding the config file.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format, overriding the config file.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log level (error, warn, info, debug, trace), overriding the config file.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}
