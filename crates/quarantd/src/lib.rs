//! The `quarantd` binary's library half: command line, daemon wiring, and the front of
//! `config check` (the configuration itself is `quarantd-config`).
//!
//! `main.rs` only parses the command line and calls into here, so that integration tests can
//! run the daemon in-process with their own stages (fault injection) through [`serve::run`].

pub mod actor;
pub mod cli;
pub mod config;
pub mod hold;
pub mod inspect;
pub mod logging;
pub mod node_id;
pub mod notifier;
pub mod permissions;
pub mod quarantine_cli;
pub mod serve;
pub mod signatures;
