//! The `quarantd` binary's library half: command line, daemon wiring, and the front of
//! `config check` (the configuration itself is `quarantd-config`).
//!
//! `main.rs` only parses the command line and calls into here, so that integration tests can
//! run the daemon in-process with their own stages (fault injection) through [`serve::run`].
//! The binary holds no workflow, notification or configuration logic: the commands are
//! front ends of `quarantd-release` (the workflow API), `quarantd-notifier` and
//! `quarantd-config`.

pub mod actor;
pub mod cli;
pub mod commands;
pub mod logging;
pub mod node_id;
pub mod output;
pub mod permissions;
pub mod values;

pub use commands::serve;
