//! `quarantd`: the daemon and its admin commands.

use std::process::ExitCode;

use clap::Parser;
use quarantd::cli::{Cli, Command};

fn main() -> ExitCode {
    // Before anything is created: the quarantine and the keys are private to quarantd's user.
    quarantd::permissions::restrict_umask();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => quarantd::serve::main(args),
        Command::Inspect(args) => quarantd::inspect::main(args),
        Command::Signatures(args) => quarantd::signatures::main(args),
        Command::Quarantine(args) => quarantd::quarantine_cli::main(args),
        Command::Audit(args) => quarantd::quarantine_cli::audit_main(args),
        Command::Config(args) => quarantd::config::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("quarantd: error: {err:#}");
            ExitCode::from(quarantd::quarantine_cli::exit_code(&err))
        }
    }
}
