//! The quarantine seam (`quarantd_core::Hold`) implemented on `quarantd-store`: how the
//! daemon's pipeline puts a message into the quarantine.
//!
//! Each held message is stored with what the daemon decides about it at that moment: the
//! approvals its release needs (by these [`Rules`], the most any of its reasons needs) and,
//! when notifications are on, its notification run in the store's outbox — in the same
//! transaction, so a message is never committed without its run, whatever happens after. A
//! store failure comes back as a [`HoldError`] that keeps the store's error as its source and
//! says whether it is transient.

use quarantd_core::{Held, Hold, HoldError, HoldFuture};
use quarantd_store::{NewMessage, NewOutboxRun, Store};

use crate::rules::Rules;

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

    /// What the store takes: `held` and what only the store records beside it.
    fn new_message<'a>(&'a self, held: Held<'a>) -> NewMessage<'a> {
        NewMessage {
            held,
            node: &self.node,
            approvals_required: self
                .rules
                .as_ref()
                .map(|rules| rules.approvals_needed(&held.verdict.reasons)),
            outbox: self.outbox_owner.as_deref().map(|owner| NewOutboxRun {
                owner,
                event: held.kind().event(),
            }),
        }
    }
}

impl Hold for StoreHold {
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a> {
        Box::pin(async move {
            self.store
                .insert(&self.new_message(held))
                .await
                .map_err(hold_error)
        })
    }
}

/// The store's error as the seam's, kept whole, transient when the store says so.
fn hold_error(err: quarantd_store::Error) -> HoldError {
    if err.is_transient() {
        HoldError::transient(err)
    } else {
        HoldError::permanent(err)
    }
}
