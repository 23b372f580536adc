//! `StoreHold`, the quarantine seam on the store, on both backends: what it stores with a
//! message, and that a store failure keeps its cause and whether it is transient.

use std::error::Error as _;

use quarantd_core::Hold;
use quarantd_release::{Rules, StoreHold};
use quarantd_store::testing::{Sample, TestDb};
use quarantd_store::{both_backends, MessageStatus};

both_backends!(
    held_messages_are_stored_with_their_approvals_and_run,
    a_store_that_is_gone_is_a_transient_failure_with_its_cause,
    a_failure_that_would_recur_is_not_transient,
);

async fn held_messages_are_stored_with_their_approvals_and_run(db: TestDb) {
    let store = db.open().await;
    let hold = StoreHold::new(store.clone(), "mx1.test")
        .with_rules(Rules::default())
        .with_outbox("node-1");
    let held = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = hold.hold(held.held()).await.unwrap();
    assert_eq!(id, held.envelope.id);
    let detail = store.get(&id).await.unwrap();
    assert_eq!(detail.summary.status, MessageStatus::Held);
    assert_eq!(detail.approvals_required, Some(2), "executable needs two");

    let rejected = Sample::new("a@example.org", &["b@corp.test"], &["virus:Eicar"]).rejected();
    let id = hold.hold(rejected.held()).await.unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().summary.status,
        MessageStatus::Rejected
    );
    let runs = store.outbox_of("node-1").await.unwrap();
    let events: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.message_id.as_str(), r.event.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (held.envelope.id.as_str(), "quarantined"),
            (rejected.envelope.id.as_str(), "rejected")
        ]
    );
}

async fn a_store_that_is_gone_is_a_transient_failure_with_its_cause(db: TestDb) {
    let store = db.open().await;
    let hold = StoreHold::new(store.clone(), "mx1.test");
    store.close().await;
    let sample = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let err = hold.hold(sample.held()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let cause = err
        .source()
        .and_then(|s| s.downcast_ref::<quarantd_store::Error>())
        .expect("the store's error is the cause");
    assert!(cause.is_transient(), "{cause}");
    assert!(
        cause
            .to_string()
            .starts_with("quarantine database unavailable during store message"),
        "{cause}"
    );
}

async fn a_failure_that_would_recur_is_not_transient(db: TestDb) {
    let store = db.open().await;
    let hold = StoreHold::new(store, "mx1.test");
    let sample = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    hold.hold(sample.held()).await.unwrap();
    // The same id again: the message's key refuses it, however often it is tried.
    let err = hold.hold(sample.held()).await.unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    let cause = err
        .source()
        .and_then(|s| s.downcast_ref::<quarantd_store::Error>())
        .expect("the store's error is the cause");
    assert!(!cause.is_transient(), "{cause}");
}
