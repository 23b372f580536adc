//! The pipeline's quarantine seam implemented with `quarantd-store`.

use quarantd_pipeline::{Held, Hold, HoldError, HoldFuture};
use quarantd_store::{NewMessage, Store};

/// Holds messages in the quarantine database.
pub struct StoreHold {
    store: Store,
    node: String,
}

impl StoreHold {
    /// Holds into `store`, recording `node` (this host) as the node that took each message.
    pub fn new(store: Store, node: impl Into<String>) -> Self {
        StoreHold {
            store,
            node: node.into(),
        }
    }
}

impl Hold for StoreHold {
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a> {
        Box::pin(async move {
            let message = NewMessage {
                envelope: held.envelope,
                raw: held.raw,
                parts: held.parts,
                findings: held.findings,
                verdict: held.verdict,
                direction: held.direction,
                node: &self.node,
                approvals_required: None,
                outbox: None,
            };
            self.store
                .insert(&message)
                .await
                .map_err(|err| HoldError(format!("{err:#}")))
        })
    }
}
