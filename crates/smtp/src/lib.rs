//! The SMTP wire of quarantd: the inbound server Postfix hands mail to, and the outbound client
//! that re-injects mail downstream.
//!
//! - [`inbound`]: an ESMTP server with named limits and timeouts on a `quarantd_runtime`
//!   listener (session cap, allow-list, drain on shutdown). It forwards `MAIL` and each
//!   `RCPT` downstream as they arrive (so every recipient gets downstream's own answer),
//!   receives the message, and hands envelope, bytes and the open downstream
//!   [`outbound::Transaction`] to a [`inbound::MessageHandler`] — the pipeline.
//! - [`outbound`]: a pooled SMTP client for the relay (Postfix's re-injection port).
//! - [`body`]: message content while it is received, in memory within one budget shared by
//!   every session ([`body::MemoryBudget`]) or spilled to a private file beyond it.
//! - [`reply`]: SMTP replies, the shared currency of both sides.
//!
//! This crate does not parse MIME, decide, or open the database.

mod address;
pub mod body;
#[doc(hidden)]
pub mod fuzzing;
pub mod inbound;
pub mod io;
pub mod outbound;
pub mod reply;
pub mod xtext;

pub use inbound::{InboundConfig, InboundLimits, MessageHandler, Server};
pub use outbound::{Relay, RelayConfig, RelayError, Transaction};
pub use reply::Reply;
