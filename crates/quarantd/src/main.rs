//! `quarantd`: the daemon and its admin commands.

use std::process::ExitCode;

use clap::Parser;
use quarantd::cli::{Cli, Command};
use quarantd::commands;

fn main() -> ExitCode {
    // Before anything is created: the quarantine and the keys are private to quarantd's user.
    quarantd::permissions::restrict_umask();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::main(args),
        Command::Inspect(args) => commands::inspect::main(args),
        Command::Signatures(args) => commands::signatures::main(args),
        Command::Quarantine(args) => commands::quarantine::main(args),
        Command::Audit(args) => commands::audit::main(args),
        Command::Config(args) => commands::config::main(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("quarantd: error: {err:#}");
            ExitCode::from(commands::exit_code(&err))
        }
    }
}
