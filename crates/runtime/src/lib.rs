//! The life of a quarantd listener, whatever protocol it speaks: the SMTP server today, the
//! web UI, the Postfix policy service and the milter next.
//!
//! - [`Listener`]: the accept loop. It checks each peer against the allow-list, takes a
//!   session permit before a session starts (at most `max_sessions` at once; a connection
//!   over the limit waits up to `session_wait` for one), backs off when `accept` fails, and
//!   on [`ShutdownSignal`] stops accepting and drains with a deadline.
//! - [`Accept`]: where connections come from (a [`tokio::net::TcpListener`], or a test double).
//! - [`Service`]: what the protocol crate plugs in — how to serve a connection and how to
//!   refuse one ([`Refusal`]: the words are the protocol's, e.g. SMTP's `421 4.7.0`).
//! - [`Phase`] / [`PhaseWatch`]: running, draining, past the drain deadline; every session
//!   gets a watch so it can stop between requests and tell its client why.
//!
//! This crate knows no protocol; it depends on tokio, tracing and ipnet only.

mod allow;
mod listener;
mod phase;
mod shutdown;

pub use allow::in_networks;
pub use listener::{
    Accept, Listener, ListenerConfig, Refusal, Service, ABORT_GRACE, ACCEPT_BACKOFF,
    REFUSAL_TIMEOUT,
};
pub use phase::{Phase, PhaseWatch};
pub use shutdown::ShutdownSignal;
