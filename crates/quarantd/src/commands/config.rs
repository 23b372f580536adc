//! `quarantd config check [--config FILE]`: the front of `quarantd_config`'s report. Every
//! problem on its own line as `KEY: message` on standard output and exit status 1, or the
//! approvals table in force and `ok`.

use crate::cli::{ConfigArgs, ConfigCommand};

/// Checks the file (or the embedded defaults) and prints the report.
pub fn main(args: ConfigArgs) -> anyhow::Result<()> {
    let ConfigCommand::Check { config } = args.command;
    let source = config.as_ref().map_or_else(
        || "embedded defaults".to_string(),
        |p| p.display().to_string(),
    );
    match quarantd_config::load(config.as_deref()).and_then(|raw| raw.validate(&source)) {
        Ok(settings) => {
            println!("{}", settings.quarantine.describe_approvals());
            println!("ok");
            Ok(())
        }
        Err(errors) => {
            for issue in &errors.issues {
                println!("{}: {}", issue.key, issue.message);
            }
            // Exit status 1, the one of every failure without its own.
            anyhow::bail!("{} error(s) in {}", errors.issues.len(), errors.source)
        }
    }
}
