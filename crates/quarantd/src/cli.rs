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
    /// Manage quarantd's own ClamAV signatures (.hsb/.cdb files in the signature directory).
    Signatures(SignaturesArgs),
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
    /// Configuration file for the analysis limits and scanners. Without one, embedded
    /// defaults are used.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// clamd to scan with (host:port or a socket path), overriding the config file.
    #[arg(long, value_name = "ADDR", conflicts_with = "no_scan")]
    pub clamd: Option<String>,
    /// Do not ask any virus scanner.
    #[arg(long)]
    pub no_scan: bool,
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
    /// clamd to scan with (host:port or a socket path), overriding the config file.
    #[arg(long, value_name = "ADDR")]
    pub clamd: Option<String>,
}

/// `quarantd signatures`
#[derive(Debug, Args)]
pub struct SignaturesArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SignaturesCommand,
    /// Configuration file (`scan.signature_dir`, `scan.clamd.address`).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The signature directory (clamd's DatabaseDirectory), overriding the config file.
    #[arg(long, value_name = "DIR", global = true)]
    pub signature_dir: Option<PathBuf>,
    /// clamd to reload (host:port or a socket path), overriding the config file.
    #[arg(long, value_name = "ADDR", global = true)]
    pub clamd: Option<String>,
}

/// `quarantd signatures add|list|remove`
#[derive(Debug, Subcommand)]
pub enum SignaturesCommand {
    /// Add a signature: a whole FILE, a --sha256 with --size, or --archive-member-name.
    Add(SignaturesAddArgs),
    /// List the own signatures.
    List,
    /// Remove the signature NAME.
    Remove {
        /// The signature's name.
        name: String,
    },
}

/// `quarantd signatures add`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "sha256", "archive_member_name"])))]
pub struct SignaturesAddArgs {
    /// A file to detect wherever it appears (by SHA-256 and size).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The signature's name (letters, digits, '.', '_', '-').
    #[arg(long)]
    pub name: String,
    /// The SHA-256 (hex) of the file to detect; needs --size.
    #[arg(long, value_name = "HEX", requires = "size")]
    pub sha256: Option<String>,
    /// The size in bytes of the file to detect.
    #[arg(long, value_name = "N", requires = "sha256")]
    pub size: Option<u64>,
    /// A container signature (.cdb): detect archive members whose name matches REGEX.
    #[arg(long, value_name = "REGEX")]
    pub archive_member_name: Option<String>,
}
