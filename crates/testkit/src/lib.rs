//! Test helpers for quarantd integration tests.
//!
//! * [`Sink`] is a real SMTP server listening on a free loopback port that
//!   records every transaction it sees, with fault injection controlled by
//!   [`SinkConfig`] (reply overrides, deterministic random temporary failures,
//!   a "never answer after the dot" mode for timeout tests).
//! * [`Clamd`] starts a private clamd (own config, socket, port and database directory)
//!   and kills it when dropped.
//! * [`Client`] is a tiny SMTP client for driving a server from tests
//!   (multi-line replies, dot-stuffing, pipelining, read timeouts).
//!
//! * [`base64_lines`] and [`stored_zip`] build attachments for the messages tests send.
//! * [`Cli`] runs a command-line program (the `quarantd` binary) to its end: exit code,
//!   output, environment, standard input; [`held_id`] reads the quarantine id from the
//!   reply to a held message.
//! * [`free_addr`] is a loopback address for a server the test starts (or where nothing
//!   listens); [`wait_until`] waits for a condition with a deadline instead of a sleep.
//!
//! This crate is meant to be used only as a dev-dependency.
//!
//! ```
//! use std::time::Duration;
//! use quarantd_testkit::{Client, Sink, SinkConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sink = Sink::start(SinkConfig {
//!     rcpt_replies: vec![("nobody".into(), "550 5.1.1 no such user".into())],
//!     ..SinkConfig::default()
//! })
//! .await?;
//! let mut client = Client::connect(sink.addr()).await?;
//! client.handshake("client.example").await?;
//! let reply = client
//!     .send_message("a@example.org", &["b@example.org"], b"Subject: hi\r\n\r\n.dot\r\n")
//!     .await?;
//! assert_eq!(reply.code, 250);
//! let msgs = sink.wait_for_messages(1, Duration::from_secs(5)).await;
//! assert_eq!(msgs[0].rcpts, ["b@example.org"]);
//! assert_eq!(msgs[0].data, b"Subject: hi\r\n\r\n.dot\r\n");
//! # Ok(())
//! # }
//! ```

mod clamd;
mod cli;
mod client;
mod encode;
mod held;
mod net;
mod proxy;
mod sink;
mod wait;

pub use clamd::Clamd;
pub use cli::{Cli, CliOutput};

pub use client::{dot_stuff, Client, Reply};
pub use encode::{base64_lines, stored_zip};
pub use held::held_id;
pub use net::free_addr;
pub use proxy::Proxy;
pub use sink::{Outcome, Received, Sink, SinkConfig, Transaction};
pub use wait::{wait_until, wait_until_async};
