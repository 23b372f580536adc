//! The `quarantd` binary's library half: configuration, command line, and daemon wiring.
//!
//! `main.rs` only parses the command line and calls into here, so that integration tests can
//! run the daemon in-process with their own stages (fault injection) through [`serve::run`].

pub mod actor;
pub mod cli;
pub mod config;
pub mod inspect;
pub mod logging;
pub mod node_id;
pub mod notifier;
pub mod notify_config;
pub mod permissions;
pub mod quarantine_cli;
pub mod quarantine_config;
pub mod scan_config;
pub mod serve;
pub mod signatures;
