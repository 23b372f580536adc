//! The policy: what happens to a message, per domain and direction, and who is told.
//!
//! Pure and synchronous; no I/O except [`RawPolicy::validate`] reading the optional local
//! domains file. The pipeline's `decide` stage calls [`decide()`] with the envelope, the
//! labelled parts and the scanners' findings; the result is a [`Decision`] with an outcome
//! per recipient, grouped for carrying out ([`Decision::groups`]) and one reply
//! ([`Decision::reply`]).
//!
//! - [`config`]: `[policy]` raw → validated [`Policy`], every error with its key path.
//! - [`direction`]: inbound / outbound / internal from the XFORWARD client, the local networks
//!   and the local domains.
//! - [`decide`](mod@decide): per-recipient outcomes and how several are reconciled into one
//!   SMTP reply.
//! - [`parties`](mod@parties): the default notification matrix (who is told of what).
//! - [`subject`]: the subject tag of the `tag` action.
//!
//! Built on `quarantd-core`'s vocabulary (`Envelope`, `Part`, `Finding`, `Verdict`,
//! `Action`); `quarantd-notify` renders what [`parties()`] selects.

pub mod config;
pub mod decide;
pub mod direction;
pub mod domains;
pub mod kinds;
pub mod parties;
pub mod subject;

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use quarantd_core::XForward;

pub use config::{
    ConfigIssue, DomainPolicy, PolicyErrors, RawDomainPolicy, RawPolicy, RawReason, ReasonSettings,
};
pub use decide::{
    decide, decide_from, triggers, Decision, Group, RecipientOutcome, Reply, Trigger, TAG_HEADER,
};
pub use direction::{Direction, Origin};
pub use domains::{domain_of, parse_domain_list, DomainSet};
pub use kinds::{builtin_action, parse_action, HOLDING_LABELS};
pub use parties::{parties, Event, Party};
pub use subject::apply_subject_tag;

/// A validated policy. [`Policy::default`] is the built-in one: no local domains (so all mail
/// is inbound), loopback as the only local network, the built-in actions
/// ([`builtin_action`]) for every direction.
#[derive(Debug, Clone)]
pub struct Policy {
    local_domains: DomainSet,
    local_networks: Vec<IpNet>,
    default: DomainPolicy,
    domains: domains::DomainMap<DomainPolicy>,
    reasons: BTreeMap<String, ReasonSettings>,
}

impl Default for Policy {
    fn default() -> Self {
        RawPolicy::default()
            .validate_with(&|_| Ok(String::new()))
            .expect("the built-in policy is valid")
    }
}

impl Policy {
    /// True when `domain` (any case) is a local domain.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.local_domains.contains(domain)
    }

    /// True when the address's domain is local; false for the null sender.
    pub fn is_local_address(&self, address: &str) -> bool {
        domain_of(address).is_some_and(|d| self.is_local_domain(&d))
    }

    /// The local domains.
    pub fn local_domains(&self) -> &DomainSet {
        &self.local_domains
    }

    /// The local networks.
    pub fn local_networks(&self) -> &[IpNet] {
        &self.local_networks
    }

    /// Where a message came from, by its XFORWARD attributes.
    pub fn origin(&self, xforward: &XForward) -> Origin {
        direction::origin(xforward, &self.local_networks)
    }

    /// The direction of a message to one recipient.
    pub fn direction(&self, origin: Origin, sender: &str, recipient: &str) -> Direction {
        direction::direction(
            origin,
            self.is_local_address(sender),
            self.is_local_address(recipient),
        )
    }

    /// The policy for a domain: its own (exact name, then the longest matching wildcard),
    /// else the default.
    pub fn domain_policy(&self, domain: Option<&str>) -> &DomainPolicy {
        domain
            .map(|d| d.trim_end_matches('.').to_lowercase())
            .and_then(|d| self.domains.get(&d))
            .unwrap_or(&self.default)
    }

    /// Settings per reason key from `[policy.reasons]`.
    pub fn reasons(&self) -> &BTreeMap<String, ReasonSettings> {
        &self.reasons
    }

    /// Retention days per reason key, for the quarantine's `Retention::per_reason`.
    pub fn retention_days_per_reason(&self) -> BTreeMap<String, u64> {
        self.reasons
            .iter()
            .filter_map(|(k, r)| r.retention_days.map(|d| (k.clone(), d)))
            .collect()
    }

    /// Approvals per reason key, for the release `Rules::approvals`.
    pub fn approvals_per_reason(&self) -> BTreeMap<String, u32> {
        self.reasons
            .iter()
            .filter_map(|(k, r)| r.approvals.map(|n| (k.clone(), n)))
            .collect()
    }

    /// Reason keys a recipient may release alone, for the release `Rules::self_release`
    /// (never `virus`).
    pub fn self_release_reasons(&self) -> BTreeSet<String> {
        self.reasons
            .iter()
            .filter(|(k, r)| r.self_release == Some(true) && k.as_str() != kinds::VIRUS)
            .map(|(k, _)| k.clone())
            .collect()
    }
}
