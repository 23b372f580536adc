//! The Postfix SMTPD policy delegation service (`check_policy_service`): outbound throttling
//! per sender class.
//!
//! - [`protocol`]: the protocol, sans-IO and bounded: `name=value` lines ended by an empty
//!   line in, `action=...` out, several requests per connection;
//! - [`classes`]: sender classes (addresses and `*@domain` / `*` patterns), their limits
//!   (messages, recipients, distinct recipient domains per minute/hour/day) and their action
//!   (`defer`, `hold`, `reject`);
//! - [`throttle`]: who the sender is (the SASL login, else a local envelope sender from a
//!   local network, by the [`quarantd_policy::Policy`]), the sliding windows counted at
//!   END-OF-MESSAGE, and the decision, also at RCPT once a sender is over;
//! - [`Policyd`]: sessions on a [`quarantd_runtime::Listener`] of its own (permits, drain on
//!   the daemon's one shutdown signal), an idle timeout, one log line per decision.
//!
//! Depends on `quarantd-policy` (local domains and networks) and `quarantd-runtime`;
//! configured by `quarantd-config` (`[policyd]`), started by `quarantd serve`.

pub mod classes;
pub mod protocol;
mod session;
pub mod throttle;
mod window;

pub use classes::{Class, Classes, Counted, Limit, LimitAction, Span, DEFAULT_CLASS};
pub use session::{Policyd, PolicydConfig};
pub use throttle::{Decision, Throttle, ThrottleConfig};
