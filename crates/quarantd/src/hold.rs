//! The pipeline's quarantine seam implemented with `quarantd-store`.
//!
//! Each held message is stored with what the daemon decides about it at that moment: the
//! approvals its release needs (by the daemon's rules, the most any of its reasons needs) and,
//! when notifications are on, its notification run in the store's outbox — in the same
//! transaction, so a message is never committed without its run, whatever happens after.

use quarantd_core::Action;
use quarantd_notify::Event;
use quarantd_pipeline::{Held, Hold, HoldError, HoldFuture};
use quarantd_release::Rules;
use quarantd_store::{NewMessage, NewOutboxRun, Store};

/// Holds messages in the quarantine database.
pub struct StoreHold {
    store: Store,
    node: String,
    rules: Option<Rules>,
    outbox_owner: Option<String>,
}

impl StoreHold {
    /// Holds into `store`, recording `node` (this host's name) as the node that took each
    /// message.
    pub fn new(store: Store, node: impl Into<String>) -> Self {
        StoreHold {
            store,
            node: node.into(),
            rules: None,
            outbox_owner: None,
        }
    }

    /// Stores with each message the approvals `rules` say its release needs.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = Some(rules);
        self
    }

    /// Queues each message's notification run (`quarantined`, or `rejected` for the copy of
    /// a rejected message) for `owner`, this daemon's node id, with the message.
    pub fn with_outbox(mut self, owner: impl Into<String>) -> Self {
        self.outbox_owner = Some(owner.into());
        self
    }
}

/// The event a stored message is notified as.
fn event_of(held: &Held<'_>) -> Event {
    if held.verdict.action == Action::Reject {
        Event::Rejected
    } else {
        Event::Quarantined
    }
}

impl Hold for StoreHold {
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a> {
        Box::pin(async move {
            let approvals_required = self
                .rules
                .as_ref()
                .map(|rules| rules.approvals_needed(&held.verdict.reasons));
            let outbox = self.outbox_owner.as_deref().map(|owner| NewOutboxRun {
                owner,
                event: event_of(&held).as_str(),
            });
            let message = NewMessage {
                envelope: held.envelope,
                raw: held.raw,
                parts: held.parts,
                findings: held.findings,
                verdict: held.verdict,
                direction: held.direction,
                node: &self.node,
                approvals_required,
                outbox,
            };
            self.store
                .insert(&message)
                .await
                .map_err(|err| HoldError(format!("{err:#}")))
        })
    }
}
