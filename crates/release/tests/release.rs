//! The release workflow against a real SMTP sink, on both backends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use quarantd_release::{Actor, Delivery, Error, ReleaseSettings, Rules, Workflow};
use quarantd_smtp::{Relay, RelayConfig};
use quarantd_store::testing::{Sample, TestDb};
use quarantd_store::{both_backends, now_ms, ClaimRequest, MessageStatus, RecipientStatus};
use quarantd_testkit::{wait_until, Outcome, Sink, SinkConfig};

both_backends!(
    virus_needs_two_distinct_approvers_and_arrives_byte_identical,
    release_to_one_recipient_then_the_other,
    temporary_failure_is_retried_until_accepted,
    permanent_failure_is_reported_and_can_be_retried_by_name,
    exhausted_retries_return_recipient_to_held,
    two_processes_releasing_at_once_deliver_once,
    deleted_message_cannot_be_released,
    stale_claim_is_resumed,
    self_release_only_where_allowed,
    lost_reply_after_data_keeps_the_claim,
    stored_approvals_win_over_the_runners_rules,
    names_that_normalise_alike_are_one_approver,
    rejected_copy_is_released_only_explicitly,
);

fn settings() -> ReleaseSettings {
    ReleaseSettings {
        max_attempts: 5,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        stale_claim_after: Duration::from_secs(60),
    }
}

fn relay(sink: &Sink) -> Arc<Relay> {
    let mut cfg = RelayConfig::new(sink.addr().to_string(), "quarantd.test");
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.command_timeout = Duration::from_secs(5);
    cfg.data_timeout = Duration::from_secs(5);
    Arc::new(Relay::new(cfg))
}

async fn sink() -> Sink {
    Sink::start(SinkConfig::default()).await.unwrap()
}

/// A postmaster named by trusted automation.
fn by(name: &str) -> Actor {
    Actor::asserted(name).unwrap()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The bytes before the original message and the rest.
fn split_header(data: &[u8]) -> (String, &[u8]) {
    let end = data.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    (
        String::from_utf8(data[..end].to_vec()).unwrap(),
        &data[end..],
    )
}

async fn virus_needs_two_distinct_approvers_and_arrives_byte_identical(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let s = Sample::new(
        "a@example.org",
        &["bob@corp.test", "carol@corp.test"],
        &["virus:Eicar"],
    );
    let id = wf.store().insert(&s.as_new()).await.unwrap();

    let req = wf.request_release(&id, "bob@corp.test").await.unwrap();
    assert_eq!(req.status, MessageStatus::ReleaseRequested);
    assert!(!req.self_release);
    assert_eq!(req.approvals_needed, 2);

    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(
        matches!(&err, Error::NeedsApprovals { needed: 2, have, .. } if have == &["anna"]),
        "{err}"
    );
    let err = wf.approve(&id, &by("Anna")).await.unwrap_err();
    assert!(
        err.is_state_error() && err.to_string().contains("already approved"),
        "{err}"
    );
    let ok = wf.approve(&id, &by("bert")).await.unwrap();
    assert_eq!(ok.status, MessageStatus::Approved);
    assert_eq!(ok.approvers, ["anna", "bert"]);

    let report = wf.release(&relay, &id, &[], &by("anna")).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(report.recipients.len(), 2);
    let got = sink.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, ["bob@corp.test", "carol@corp.test"]);
    assert_eq!(got[0].mail_from, "a@example.org");
    let (header, rest) = split_header(&got[0].data);
    assert!(
        header.starts_with("X-Quarantine-Released: by anna at "),
        "{header}"
    );
    assert!(header.ends_with(&format!("; id={id}\r\n")), "{header}");
    assert_eq!(rest, s.raw, "otherwise byte-identical");
    assert!(got[0]
        .xforward
        .iter()
        .any(|(n, v)| n == "ADDR" && v == "192.0.2.7"));

    let d = wf.store().get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Released);
    assert!(d
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Released));
    assert!(d.recipients[0]
        .last_reply
        .as_deref()
        .unwrap()
        .starts_with("250"));
    let actions: Vec<String> = wf
        .store()
        .audit_log(Some(&id), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.actor))
        .collect();
    assert_eq!(
        actions,
        [
            "quarantine node:mx1.test",
            "request-release rcpt:bob@corp.test",
            "approve anna",
            "approve bert",
            "claim anna",
            "released anna",
            "released anna",
        ]
    );
    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(matches!(err, Error::NothingToRelease { .. }), "{err}");
}

async fn release_to_one_recipient_then_the_other(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let mut s = Sample::new(
        "a@example.org",
        &["bob@corp.test", "carol@corp.test"],
        &["vba-macro"],
    );
    // A sender's forged verdict header is stored as received but not released.
    let original = s.raw.clone();
    s.raw = [&b"X-Quarantd-Verdict: pass\r\n"[..], &original].concat();
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let one = wf
        .release(&relay, &id, &strings(&["Bob@corp.test"]), &by("anna"))
        .await
        .unwrap();
    assert!(one.all_delivered(), "{one:?}");
    assert_eq!(
        wf.store().get(&id).await.unwrap().summary.status,
        MessageStatus::Approved
    );
    let again = wf
        .release(&relay, &id, &strings(&["bob@corp.test"]), &by("bert"))
        .await
        .unwrap();
    assert!(
        matches!(&again.recipients[..], [(_, Delivery::Skipped { state })] if state == "released"),
        "{again:?}"
    );
    let rest = wf.release(&relay, &id, &[], &by("bert")).await.unwrap();
    assert_eq!(rest.recipients.len(), 1);
    assert_eq!(rest.recipients[0].0, "carol@corp.test");
    let got = sink.wait_for_messages(2, Duration::from_secs(5)).await;
    let rcpts: Vec<_> = got.iter().map(|m| m.rcpts.clone()).collect();
    assert_eq!(rcpts, [vec!["bob@corp.test"], vec!["carol@corp.test"]]);
    assert!(split_header(&got[1].data)
        .0
        .starts_with("X-Quarantine-Released: by bert at"));
    for m in &got {
        assert_eq!(
            split_header(&m.data).1,
            original,
            "without the forged field"
        );
    }
    assert_eq!(
        wf.store().get(&id).await.unwrap().summary.status,
        MessageStatus::Released
    );
    let err = wf
        .release(&relay, &id, &strings(&["eve@corp.test"]), &by("anna"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a recipient"), "{err}");
}

async fn temporary_failure_is_retried_until_accepted(db: TestDb) {
    let wf = Workflow::new(
        db.open().await,
        Rules::default(),
        ReleaseSettings {
            first_backoff: Duration::from_millis(300),
            ..settings()
        },
    );
    let sink = Sink::start(SinkConfig {
        data_reply: Some("451 4.3.0 try again later".into()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let relay = relay(&sink);
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["vba-macro"]);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let job = {
        let (wf, relay, id) = (wf.clone(), relay.clone(), id.clone());
        tokio::spawn(async move { wf.release(&relay, &id, &[], &by("anna")).await })
    };
    let attempted = wait_until(Duration::from_secs(10), || {
        sink.transactions()
            .iter()
            .any(|t| t.outcome == Outcome::DataRejected)
    })
    .await;
    assert!(attempted, "no first attempt");
    sink.update_config(|c| c.data_reply = None);
    let report = job.await.unwrap().unwrap();
    assert!(report.all_delivered(), "{report:?}");
    assert!(report.attempts >= 2);
    assert_eq!(sink.messages().len(), 1);
    let log = wf.store().audit_log(Some(&id), 100).await.unwrap();
    let deferred = log.iter().find(|e| e.action == "release-deferred").unwrap();
    assert!(
        deferred.detail.contains("451 4.3.0 try again later"),
        "{}",
        deferred.detail
    );
    assert_eq!(log.last().unwrap().action, "released");
}

async fn permanent_failure_is_reported_and_can_be_retried_by_name(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![("nosuch".into(), "550 5.1.1 no such user".into())],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let relay = relay(&sink);
    let s = Sample::new(
        "a@example.org",
        &["bob@corp.test", "nosuch@corp.test"],
        &["spam"],
    );
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let report = wf.release(&relay, &id, &[], &by("anna")).await.unwrap();
    let outcome: BTreeMap<_, _> = report.recipients.iter().cloned().collect();
    assert!(matches!(
        &outcome["bob@corp.test"],
        Delivery::Delivered { .. }
    ));
    assert!(
        matches!(&outcome["nosuch@corp.test"], Delivery::Refused { reply } if reply.contains("550 5.1.1")),
        "{outcome:?}"
    );
    assert_eq!(report.attempts, 1, "5xx is not retried");
    let d = wf.store().get(&id).await.unwrap();
    assert_eq!(d.recipients[1].status, RecipientStatus::Failed);
    assert_eq!(d.summary.status, MessageStatus::Released);
    assert!(matches!(
        wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err(),
        Error::NothingToRelease { .. }
    ));
    sink.update_config(|c| c.rcpt_replies.clear());
    let again = wf
        .release(&relay, &id, &strings(&["nosuch@corp.test"]), &by("anna"))
        .await
        .unwrap();
    assert!(again.all_delivered(), "{again:?}");
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(sink.messages()[1].rcpts, ["nosuch@corp.test"]);
}

async fn exhausted_retries_return_recipient_to_held(db: TestDb) {
    let wf = Workflow::new(
        db.open().await,
        Rules::default(),
        ReleaseSettings {
            max_attempts: 2,
            ..settings()
        },
    );
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![("bob".into(), "450 4.2.1 mailbox busy".into())],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let relay = relay(&sink);
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"]);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let report = wf.release(&relay, &id, &[], &by("anna")).await.unwrap();
    assert!(
        matches!(&report.recipients[0].1, Delivery::Deferred { reply } if reply.contains("450"))
    );
    assert_eq!(report.attempts, 2);
    let d = wf.store().get(&id).await.unwrap();
    assert_eq!(d.recipients[0].status, RecipientStatus::Held);
    assert_eq!(d.recipients[0].attempts, 2);
    assert!(d.recipients[0].claim_owner.is_none());
    assert!(sink.messages().is_empty());
}

async fn two_processes_releasing_at_once_deliver_once(db: TestDb) {
    let sink = sink().await;
    // Two "processes": separate pools (for SQLite two pools on one file), separate relays.
    let one = Workflow::new(db.open().await, Rules::default(), settings());
    let two = Workflow::new(db.open().await, Rules::default(), settings());
    let (relay_one, relay_two) = (relay(&sink), relay(&sink));
    let mut ids = Vec::new();
    for _ in 0..8 {
        let s = Sample::new(
            "a@example.org",
            &["r1@corp.test", "r2@corp.test", "r3@corp.test"],
            &["spam"],
        );
        ids.push(one.store().insert(&s.as_new()).await.unwrap());
    }
    for id in &ids {
        let run = |wf: Workflow, relay: Arc<Relay>, id: String, name: &'static str| {
            tokio::spawn(async move { wf.release(&relay, &id, &[], &by(name)).await })
        };
        let a = run(one.clone(), relay_one.clone(), id.clone(), "anna");
        let b = run(two.clone(), relay_two.clone(), id.clone(), "bert");
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        // The loser may find nothing left to release at all; that is fine.
        for r in [a, b] {
            match r {
                Ok(_) | Err(Error::NothingToRelease { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in sink.messages() {
        let header = split_header(&m.data).0;
        let id = header.rsplit("id=").next().unwrap().trim().to_string();
        for r in m.rcpts {
            *seen.entry((id.clone(), r)).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), ids.len() * 3, "every recipient delivered");
    assert!(seen.values().all(|&n| n == 1), "nobody twice: {seen:?}");
}

async fn deleted_message_cannot_be_released(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"]);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    assert!(matches!(
        Actor::asserted(" \u{200b}").unwrap_err(),
        Error::InvalidActor { .. }
    ));
    wf.delete(&id, &by("anna")).await.unwrap();
    let err = wf.release(&relay, &id, &[], &by("bert")).await.unwrap_err();
    assert!(err.is_state_error(), "{err}");
    assert!(err.to_string().contains("is deleted"), "{err}");
    let err = wf
        .release(&relay, "nosuchid", &[], &by("bert"))
        .await
        .unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("no quarantined message"),
        "{err}"
    );
    assert!(sink.messages().is_empty());
    let log = wf.store().audit_log(Some(&id), 10).await.unwrap();
    assert_eq!(log.last().unwrap().action, "delete");
    // The database going away is a transient error.
    wf.store().close().await;
    let err = wf.approve(&id, &by("carl")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

async fn stale_claim_is_resumed(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"]);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    wf.approve(&id, &by("anna")).await.unwrap();
    // A job that claimed and then crashed, two minutes ago.
    let rcpts = strings(&["bob@corp.test"]);
    let crashed = ClaimRequest {
        rcpts: &rcpts,
        from: &[RecipientStatus::Held],
        owner: "crashed-job",
        approvals_needed: 1,
        actor: "anna",
    };
    wf.store()
        .claim(&id, &crashed, now_ms() - 120_000)
        .await
        .unwrap();
    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(
        matches!(err, Error::NothingToRelease { .. }),
        "a claimed recipient is not sent: {err}"
    );
    let report = wf.resume(&relay, &id, &by("bert")).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(
        sink.wait_for_messages(1, Duration::from_secs(5))
            .await
            .len(),
        1
    );
    assert!(matches!(
        wf.resume(&relay, &id, &by("bert")).await.unwrap_err(),
        Error::NothingToRelease { .. }
    ));
    let log = wf.store().audit_log(Some(&id), 20).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "resume" && e.detail.contains("crashed-job")));
}

async fn self_release_only_where_allowed(db: TestDb) {
    let rules = Rules {
        self_release: ["spam", "virus"].iter().map(|s| s.to_string()).collect(),
        ..Rules::default()
    };
    let wf = Workflow::new(db.open().await, rules, settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let virus = Sample::new("a@example.org", &["bob@corp.test"], &["virus:Eicar"]);
    let vid = wf.store().insert(&virus.as_new()).await.unwrap();
    let err = wf
        .release_as_recipient(&relay, &vid, "bob@corp.test")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RecipientMayNotRelease { .. }), "{err}");
    let spam = Sample::new(
        "a@example.org",
        &["bob@corp.test", "carol@corp.test"],
        &["spam"],
    );
    let sid = wf.store().insert(&spam.as_new()).await.unwrap();
    let report = wf
        .release_as_recipient(&relay, &sid, "bob@corp.test")
        .await
        .unwrap();
    assert!(report.all_delivered());
    let got = sink.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].rcpts, ["bob@corp.test"], "only the requester's copy");
    assert!(split_header(&got[0].data)
        .0
        .starts_with("X-Quarantine-Released: by rcpt:bob@corp.test"));
    let err = wf
        .release_as_recipient(&relay, &sid, "eve@corp.test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a recipient"), "{err}");
}

async fn lost_reply_after_data_keeps_the_claim(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = Sink::start(SinkConfig {
        never_answer_data: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut cfg = RelayConfig::new(sink.addr().to_string(), "quarantd.test");
    cfg.data_timeout = Duration::from_millis(300);
    let relay = Arc::new(Relay::new(cfg));
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"]);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let report = wf.release(&relay, &id, &[], &by("anna")).await.unwrap();
    assert!(
        matches!(&report.recipients[0].1, Delivery::Uncertain { .. }),
        "{report:?}"
    );
    assert_eq!(report.attempts, 1, "an uncertain delivery is not retried");
    let d = wf.store().get(&id).await.unwrap();
    assert_eq!(d.recipients[0].status, RecipientStatus::Releasing);
    assert!(d.recipients[0]
        .last_reply
        .as_deref()
        .unwrap()
        .starts_with("uncertain"));
    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(matches!(err, Error::NothingToRelease { .. }), "{err}");
    let err = wf.delete(&id, &by("anna")).await.unwrap_err();
    assert!(err.to_string().contains("being released"), "{err}");
}

async fn stored_approvals_win_over_the_runners_rules(db: TestDb) {
    // The daemon held it needing 2; whoever runs the command says 1 for executables.
    let lax = Rules {
        approvals: [("executable".to_string(), 1)].into_iter().collect(),
        ..Rules::default()
    };
    let wf = Workflow::new(db.open().await, lax, settings());
    let sink = sink().await;
    let relay = relay(&sink);
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["executable"]).approvals_required(2);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let req = wf.request_release(&id, "bob@corp.test").await.unwrap();
    assert_eq!(req.approvals_needed, 2);
    let first = wf.approve(&id, &by("anna")).await.unwrap();
    assert_eq!(
        (first.needed, first.status),
        (2, MessageStatus::ReleaseRequested)
    );
    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(
        matches!(err, Error::NeedsApprovals { needed: 2, .. }),
        "{err}"
    );
    let report = wf.release(&relay, &id, &[], &by("bert")).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");

    // Held before the number was stored: the rules of whoever runs the command decide.
    let old = Sample::new("a@example.org", &["bob@corp.test"], &["executable"]);
    let old_id = wf.store().insert(&old.as_new()).await.unwrap();
    let one = wf.approve(&old_id, &by("anna")).await.unwrap();
    assert_eq!((one.needed, one.status), (1, MessageStatus::Approved));
    // And a strict runner cannot lower what was stored either way: it is the stored number.
    let strict = Workflow::new(
        wf.store().clone(),
        Rules {
            default_approvals: 3,
            approvals: Default::default(),
            ..Rules::default()
        },
        settings(),
    );
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"]).approvals_required(1);
    let id = strict.store().insert(&s.as_new()).await.unwrap();
    let once = strict.approve(&id, &by("anna")).await.unwrap();
    assert_eq!((once.needed, once.status), (1, MessageStatus::Approved));
}

async fn names_that_normalise_alike_are_one_approver(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let s =
        Sample::new("a@example.org", &["bob@corp.test"], &["virus:Eicar"]).approvals_required(2);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    wf.approve(&id, &by("alice")).await.unwrap();
    for same in [
        "Alice",
        "ALICE ",
        "ali\u{200d}ce",
        "\u{202e}alice",
        "ａｌｉｃｅ",
    ] {
        let err = wf.approve(&id, &by(same)).await.unwrap_err();
        assert!(
            err.is_state_error() && err.to_string().contains("already approved"),
            "{same:?}: {err}"
        );
    }
    let web = Actor::authenticated("web", "Alice").unwrap();
    assert!(
        wf.approve(&id, &web).await.is_err(),
        "one person, any front end"
    );
    let two = wf.approve(&id, &by("bob")).await.unwrap();
    assert_eq!(two.approvers, ["alice", "bob"]);
    assert_eq!(two.status, MessageStatus::Approved);
}

async fn rejected_copy_is_released_only_explicitly(db: TestDb) {
    let wf = Workflow::new(db.open().await, Rules::default(), settings());
    let sink = sink().await;
    let relay = relay(&sink);
    // Rejected for a reason that needs one approval: a rejected copy still needs two.
    let s = Sample::new("a@example.org", &["bob@corp.test"], &["spam"])
        .rejected()
        .approvals_required(1);
    let id = wf.store().insert(&s.as_new()).await.unwrap();
    let err = wf.release(&relay, &id, &[], &by("anna")).await.unwrap_err();
    assert!(
        matches!(err, Error::RejectedCopy { needed: 2, .. }) && err.is_state_error(),
        "{err}"
    );
    let err = wf
        .release(&relay, &id, &strings(&["bob@corp.test"]), &by("anna"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RejectedCopy { .. }), "{err}");
    let err = wf
        .release_as_recipient(&relay, &id, "bob@corp.test")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RejectedCopy { .. }), "{err}");
    assert!(wf.request_release(&id, "bob@corp.test").await.is_err());
    assert!(sink.transactions().is_empty(), "nothing was sent");
    // Explicitly, with two people.
    let err = wf
        .release_rejected_copy(&relay, &id, &[], &by("anna"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NeedsApprovals { needed: 2, .. }),
        "{err}"
    );
    let approved = wf.approve(&id, &by("bert")).await.unwrap();
    assert_eq!(approved.status, MessageStatus::Rejected);
    let report = wf
        .release_rejected_copy(&relay, &id, &[], &by("anna"))
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    let got = sink.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].rcpts, ["bob@corp.test"]);
    let d = wf.store().get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Released);
    assert_eq!(d.recipients[0].status, RecipientStatus::Released);
}
