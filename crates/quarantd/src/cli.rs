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
    /// List, show, approve, release and delete held messages.
    Quarantine(QuarantineArgs),
    /// Print the quarantine's audit log (every state change and every view of content).
    Audit(AuditArgs),
    /// Work with the configuration file.
    Config(ConfigArgs),
}

/// `quarantd config`
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `quarantd config check`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file: print every error with its key path (exit 1), or "ok".
    Check {
        /// The file to check; without one, the embedded defaults are checked.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
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

/// Log line format (`--log-format`; `quarantd_config::LogFormat` as a command-line value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for quarantd_config::LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => quarantd_config::LogFormat::Text,
            LogFormatArg::Json => quarantd_config::LogFormat::Json,
        }
    }
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
    pub log_format: Option<LogFormatArg>,
    /// Log level (error, warn, info, debug, trace), overriding the config file.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Quarantine database URL (sqlite://PATH or mysql://user:pass@host/db), overriding the
    /// config file; default: SQLite under the data directory.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
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
    Add(Box<SignaturesAddArgs>),
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
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "sha256", "archive_member_name", "from_quarantine"])))]
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
    /// A container signature (.cdb): detect archive members whose name matches REGEX, a
    /// POSIX extended regex as clamd reads it (`[0-9]`, not `\d`; a leading `(?i)` for any case).
    #[arg(long, value_name = "REGEX")]
    pub archive_member_name: Option<String>,
    /// A member name the --archive-member-name REGEX must match: clamd must detect a zip
    /// holding it before the signature is kept. Default: one derived from REGEX.
    #[arg(long, value_name = "NAME", requires = "archive_member_name")]
    pub sample_name: Option<String>,
    /// Take the file from a quarantined message: its part --part PATH (the view is audited).
    #[arg(long, value_name = "ID", requires = "part")]
    pub from_quarantine: Option<String>,
    /// The part of the --from-quarantine message (a path as `quarantine show ID` lists them).
    #[arg(long, value_name = "PATH", requires = "from_quarantine")]
    pub part: Option<String>,
    /// Quarantine store URL for --from-quarantine, overriding the config file.
    #[arg(long, value_name = "URL", requires = "from_quarantine")]
    pub store: Option<String>,
    /// Who looks at the part (audit log), for trusted automation running as root only;
    /// default: the user running the command (the one behind sudo).
    #[arg(long, value_name = "NAME", requires = "from_quarantine")]
    pub by: Option<String>,
}

/// Where the quarantine is: `--store` and `--config`, taken by every quarantine command.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Quarantine store URL (sqlite:///PATH or mysql://USER:PASS@HOST/DB), overriding the
    /// config file's `quarantine.store`.
    #[arg(long, value_name = "URL", global = true)]
    pub store: Option<String>,
    /// Configuration file (store, data directory, relay, approvals, retention). Without one,
    /// embedded defaults are used (SQLite under ./var).
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Who acts, for trusted automation running as root (not through sudo) only; refused
    /// otherwise. Default: the user running the command (the one behind sudo).
    #[arg(long, value_name = "NAME", global = true)]
    pub by: Option<String>,
    /// Send no notifications for this step, even with `notify.enabled` (e.g. while the
    /// relay is known to be down; the step itself is audited as always).
    #[arg(long, global = true)]
    pub no_notify: bool,
    /// Send this step's notifications from this command, through `--relay` or `[relay]`,
    /// before it returns (default: queue them for the running daemon to send).
    #[arg(long, global = true, conflicts_with = "no_notify")]
    pub wait_notify: bool,
}

/// `quarantd quarantine`
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: QuarantineCommand,
    /// Store, config and actor.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `quarantd quarantine list|show|release|approve|request-release|delete|expire`
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List held messages, newest first, one page at a time.
    List(QuarantineListArgs),
    /// Show one message's metadata, or its raw bytes (--raw) or one part (--part).
    Show(QuarantineShowArgs),
    /// Re-inject the stored original to its recipients through the relay.
    Release(QuarantineReleaseArgs),
    /// Approve the release of a message (as the user running the command; nobody approves
    /// twice).
    Approve {
        /// The quarantine id.
        id: String,
        /// Relay for the notifications (`notify.enabled`), overriding the config file.
        #[arg(long, value_name = "ADDR")]
        relay: Option<String>,
    },
    /// Record a recipient's request for release (never releases by itself), or carry out an
    /// easy-release token's action (`--token -` or `--token-file`: ask for release, or release
    /// the recipient's own copy where `self_release` allows it).
    RequestRelease {
        /// The quarantine id (with a token: optional, checked against the token).
        #[arg(required_unless_present_any = ["token", "token_file"])]
        id: Option<String>,
        /// The recipient asking (with a token: optional, checked against the token).
        #[arg(long, value_name = "ADDR", required_unless_present_any = ["token", "token_file"])]
        rcpt: Vec<String>,
        /// An easy-release token from a notification (checked with `notify.token_key_file`);
        /// `-` reads it from standard input. A token given here is visible to every local
        /// user in the process list: prefer `-` or --token-file.
        #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
        token: Option<String>,
        /// Read the easy-release token from FILE (its first line).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Relay (re-injection) address for a token's release and for the notifications,
        /// overriding the config file.
        #[arg(long, value_name = "ADDR")]
        relay: Option<String>,
    },
    /// Delete a message's content (the record stays until retention removes it).
    Delete {
        /// The quarantine id.
        id: String,
        /// Relay for the notifications (`notify.enabled`), overriding the config file.
        #[arg(long, value_name = "ADDR")]
        relay: Option<String>,
    },
    /// Remove every message past retention (`quarantine.retention_days[_per_reason]`).
    Expire,
}

/// `quarantd quarantine list`
#[derive(Debug, Args)]
pub struct QuarantineListArgs {
    /// Received at or after: RFC 3339, YYYY-MM-DD (00:00 UTC), or an age like 30m, 2h, 3d, 1w.
    #[arg(long, value_name = "TIME", value_parser = crate::values::parse_time)]
    pub since: Option<i64>,
    /// Received before: same forms as --since.
    #[arg(long, value_name = "TIME", value_parser = crate::values::parse_time)]
    pub until: Option<i64>,
    /// An envelope recipient (case-insensitive).
    #[arg(long, value_name = "ADDR")]
    pub rcpt: Option<String>,
    /// The envelope sender (case-insensitive; `<>` or "" for the null sender).
    #[arg(long, value_name = "ADDR")]
    pub sender: Option<String>,
    /// A recipient's domain.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// A verdict reason by its key (`virus` matches `virus:Eicar-Signature`).
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// held, rejected, release-requested, approved, released or deleted.
    #[arg(long, value_name = "STATUS", value_parser = crate::values::parse_status)]
    pub status: Option<quarantd_release::store::MessageStatus>,
    /// Messages per page (default 50, at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Continue after this cursor (printed at the end of the previous page).
    #[arg(long, value_name = "CURSOR", value_parser = crate::values::parse_cursor)]
    pub after: Option<quarantd_release::store::Cursor>,
    /// Print one JSON object: {"messages": [...], "next": CURSOR or null}.
    #[arg(long)]
    pub json: bool,
}

/// `quarantd quarantine show`
#[derive(Debug, Args)]
pub struct QuarantineShowArgs {
    /// The quarantine id.
    pub id: String,
    /// Write the original message to standard output, byte-exact (audited).
    #[arg(long, conflicts_with_all = ["part", "json"])]
    pub raw: bool,
    /// Write one part's decoded bytes to standard output (audited).
    #[arg(long, value_name = "PATH", conflicts_with = "json")]
    pub part: Option<String>,
    /// Print the metadata as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `quarantd quarantine release`
#[derive(Debug, Args)]
pub struct QuarantineReleaseArgs {
    /// The quarantine id.
    pub id: String,
    /// Release to this recipient only (repeat for more); default: every recipient still held.
    #[arg(long, value_name = "ADDR", conflicts_with = "resume")]
    pub rcpt: Vec<String>,
    /// Relay (re-injection) address, overriding the config file (e.g. 127.0.0.1:10025).
    #[arg(long, value_name = "ADDR")]
    pub relay: Option<String>,
    /// Take over and deliver the claims of a release job that died (older than
    /// `quarantine.stale_claim_after_secs`). May deliver a duplicate: check the relay's log.
    #[arg(long)]
    pub resume: bool,
    /// Release the stored copy of a rejected message (status `rejected`: the sender was told
    /// it was refused), with at least a virus's approvals. Without it, `release` refuses such
    /// a message (exit status 4).
    #[arg(long, conflicts_with = "resume")]
    pub rejected_copy: bool,
}

/// `quarantd audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this message's entries.
    pub id: Option<String>,
    /// The last N entries (default 100).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print one JSON object: {"entries": [...]}.
    #[arg(long)]
    pub json: bool,
    /// Store and config.
    #[command(flatten)]
    pub store: StoreArgs,
}
