//! The workflow API front ends use: each step emits its event, tokens are redeemed here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use quarantd_release::token::{issue, Claims, TokenAction, TokenKey};
use quarantd_release::{
    Actor, Error, EventFuture, Events, Quarantine, Redeemed, ReleaseMode, ReleaseSettings, Rules,
    Workflow, WorkflowEvent,
};
use quarantd_smtp::{Relay, RelayConfig};
use quarantd_store::testing::{Sample, TestDb};
use quarantd_store::{both_backends, MessageStatus, Retention};
use quarantd_testkit::{Sink, SinkConfig};

both_backends!(
    each_step_emits_its_event_once,
    tokens_are_redeemed_for_their_own_message_and_recipient,
);

/// Records every event.
#[derive(Default)]
struct Recorded(Mutex<Vec<WorkflowEvent>>);

impl Events for Recorded {
    fn emit<'a>(&'a self, event: &'a WorkflowEvent) -> EventFuture<'a> {
        self.0.lock().unwrap().push(event.clone());
        Box::pin(async {})
    }
}

impl Recorded {
    fn take(&self) -> Vec<WorkflowEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn key() -> TokenKey {
    TokenKey::new(vec![9u8; 32]).unwrap()
}

async fn quarantine(db: &TestDb, sink: &Sink, events: Arc<Recorded>) -> Quarantine {
    let settings = ReleaseSettings {
        max_attempts: 2,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        stale_claim_after: Duration::from_secs(60),
    };
    let rules = Rules {
        self_release: ["spam"].iter().map(|s| s.to_string()).collect(),
        ..Rules::default()
    };
    let workflow = Workflow::new(db.open().await, rules, settings);
    let relay = Arc::new(Relay::new(RelayConfig::new(
        sink.addr().to_string(),
        "quarantd.test",
    )));
    Quarantine::new(workflow, relay)
        .with_events(events)
        .with_token_key(Some(key()))
        .with_retention(Retention {
            default: Duration::ZERO,
            ..Retention::default()
        })
}

async fn each_step_emits_its_event_once(db: TestDb) {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let events = Arc::new(Recorded::default());
    let q = quarantine(&db, &sink, Arc::clone(&events)).await;
    let virus = Sample::new("a@example.org", &["bob@corp.test"], &["virus:Eicar"]);
    let id = q.store().insert(&virus.as_new()).await.unwrap();

    q.request_release(&id, "bob@corp.test").await.unwrap();
    q.request_release(&id, "bob@corp.test").await.unwrap();
    assert_eq!(
        events.take(),
        [WorkflowEvent::ReleaseRequested {
            id: id.clone(),
            rcpt: "bob@corp.test".into()
        }],
        "asked twice, told once"
    );
    let alice = Actor::asserted("alice").unwrap();
    let out = q.approve(&id, &alice).await.unwrap();
    assert_eq!((out.approvers.len(), out.needed), (1, 2));
    assert_eq!(
        events.take(),
        [WorkflowEvent::ApprovalNeeded {
            id: id.clone(),
            actor: "alice".into(),
            have: 1,
            needed: 2
        }]
    );
    let bob = Actor::asserted("bob").unwrap();
    let report = q.release(&id, &[], &bob, ReleaseMode::Held).await.unwrap();
    assert!(report.all_delivered());
    assert_eq!(
        events.take(),
        [WorkflowEvent::Released {
            id: id.clone(),
            rcpts: vec!["bob@corp.test".into()],
            actor: "bob".into()
        }]
    );
    // A release that delivers nothing tells nobody.
    assert!(q.release(&id, &[], &bob, ReleaseMode::Held).await.is_err());
    assert!(events.take().is_empty());

    let other = Sample::new("a@example.org", &["carol@corp.test"], &["executable"]);
    let other_id = q.store().insert(&other.as_new()).await.unwrap();
    q.delete(&other_id, &alice).await.unwrap();
    match &events.take()[..] {
        [WorkflowEvent::Deleted {
            id,
            rcpts,
            actor,
            headers,
        }] => {
            assert_eq!(id, &other_id);
            assert_eq!(rcpts, &["carol@corp.test"]);
            assert_eq!(actor, "alice");
            let text = String::from_utf8_lossy(headers);
            assert!(text.contains("Subject:"), "{text}");
            assert!(
                text.ends_with("\r\n\r\n") || text.ends_with("\n\n"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let shown = q.show(&other_id).await.unwrap();
    assert_eq!(shown.detail.summary.status, MessageStatus::Deleted);
    assert!(shown.audit.iter().any(|e| e.action == "delete"));

    let expired = q.expire(&alice).await.unwrap();
    assert!(!expired.removed.is_empty());
    assert_eq!(
        events.take(),
        [WorkflowEvent::Expired {
            ids: expired.removed.clone()
        }]
    );
    // The log of an expired message stays; an id that never existed is an error.
    assert!(!q.audit(Some(&id), 10).await.unwrap().is_empty());
    assert!(q
        .audit(Some("no-such-id"), 10)
        .await
        .unwrap_err()
        .is_not_found());
}

async fn tokens_are_redeemed_for_their_own_message_and_recipient(db: TestDb) {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let events = Arc::new(Recorded::default());
    let q = quarantine(&db, &sink, Arc::clone(&events)).await;
    let spam = Sample::new(
        "a@example.org",
        &["bob@corp.test", "carol@corp.test"],
        &["spam"],
    );
    let id = q.store().insert(&spam.as_new()).await.unwrap();
    let now = SystemTime::now();
    let token = |action, rcpt: &str| {
        issue(
            &Claims::new(&id, rcpt, action, now, Duration::from_secs(3600)),
            &key(),
        )
    };

    let ask = token(TokenAction::RequestRelease, "carol@corp.test");
    match q.redeem(&ask, None, &[]).await.unwrap() {
        Redeemed::Requested { rcpt, outcome, .. } => {
            assert_eq!(rcpt, "carol@corp.test");
            assert!(outcome.new);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.take().len(), 1);

    let release = token(TokenAction::Release, "bob@corp.test");
    // Used for another recipient or message: refused before anything happens.
    let err = q
        .redeem(&release, None, &["carol@corp.test".into()])
        .await
        .unwrap_err();
    assert!(err.is_token_error(), "{err}");
    let err = q.redeem(&release, Some("other-id"), &[]).await.unwrap_err();
    assert!(err.is_token_error(), "{err}");
    let err = q.redeem("v1.bad.token", None, &[]).await.unwrap_err();
    assert!(err.is_token_error(), "{err}");
    assert!(events.take().is_empty());

    match q.redeem(&release, Some(&id), &[]).await.unwrap() {
        Redeemed::Released(report) => assert!(report.all_delivered()),
        other => panic!("{other:?}"),
    }
    let got = sink.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].rcpts, ["bob@corp.test"]);
    assert_eq!(
        events.take(),
        [WorkflowEvent::Released {
            id: id.clone(),
            rcpts: vec!["bob@corp.test".into()],
            actor: "rcpt:bob@corp.test".into()
        }]
    );

    let keyless = Quarantine::new(
        q.workflow().clone(),
        Arc::new(Relay::new(RelayConfig::new(
            sink.addr().to_string(),
            "quarantd.test",
        ))),
    );
    assert!(matches!(
        keyless.redeem(&release, None, &[]).await.unwrap_err(),
        Error::NoTokenKey
    ));
}
