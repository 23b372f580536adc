//! Per-message orchestration: decompose, classify, scan, decide, commit.
//!
//! [`Pipeline`] is the [`MessageHandler`](quarantd_smtp::MessageHandler) of the inbound
//! server. Each stage is a named step with the typed input and output defined in
//! `quarantd_core::stage`; the stages themselves live behind the traits in [`stages`] so that
//! the issues that fill them (classification, scanning, policy) plug in without touching the
//! orchestration. Analysis runs on a bounded blocking pool under a time limit.
//!
//! The rule this crate keeps: the upstream client gets 250 only after the relay accepted the
//! message or the quarantine committed it, for every recipient — the [`ledger`] checks it
//! before any 2xx goes out and answers 451 otherwise. Messages to hold go through the
//! quarantine seam `quarantd_core::Hold` (implemented on the store by `quarantd-release`), so
//! this crate never opens a database. Every error, timeout or panic inside a stage, and every
//! failure to hold, becomes a 4xx for that message alone, logged with its causes.

pub mod error;
pub mod headers;
pub mod ledger;
pub mod notice;
pub mod scanning;
pub mod stages;

mod process;

pub use error::StageFailure;
pub use ledger::Ledger;
pub use notice::{Incident, Notifier};
pub use process::{Pipeline, PipelineConfig};
pub use scanning::{FailurePolicy, OnFailure, ScannerStage};
pub use stages::{Classify, Decide, Decompose, Plan, PolicyDecide, Scan, StageError, Stages};
