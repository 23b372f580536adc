//! The store on both backends: every test runs on SQLite and on MariaDB.

use std::time::{Duration, SystemTime};

use quarantd_store::testing::{execute, find_part, sized_raw, Sample, TestDb};
use quarantd_store::{
    both_backends, system_time_ms, Backend, ClaimRequest, Cursor, Error, Finish, ListFilter,
    MessageStatus, RecipientStatus, Retention, Store, StoreOptions,
};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn ago(d: Duration) -> SystemTime {
    SystemTime::now() - d
}

both_backends!(
    outbox_rows_are_per_owner_and_removed_when_done,
    workflow_runs_are_queued_unowned_and_claimed_once,
    stores_every_field_and_shows_raw_byte_exact,
    shows_one_part_and_audits_views,
    large_message_round_trips_in_chunks,
    unknown_id_is_not_found,
    list_filters_each_and_combined,
    list_pages_with_keyset_cursor,
    approvals_are_distinct_and_counted,
    claims_are_exclusive_across_pools,
    finish_needs_the_claim_owner,
    stale_claims_are_taken_over,
    delete_removes_content_and_forbids_release,
    expire_follows_retention_per_reason,
    request_release_checks_recipient,
    message_and_its_notification_run_commit_together,
    approvals_required_are_kept_with_the_message,
    rejected_copy_has_its_own_status,
    rejected_copies_held_before_are_migrated,
    outbox_runs_are_removed_by_message_and_adopted,
    content_that_inflates_past_its_size_is_corrupt,
);

/// A blob that inflates to more than the size recorded with it (a damaged row, or a
/// decompression bomb written into the database) is corrupt, read no further than the size;
/// a recorded size beyond anything allocatable is not reserved either.
async fn content_that_inflates_past_its_size_is_corrupt(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    execute(
        &store,
        &format!("UPDATE messages SET size = 10 WHERE id = '{id}'"),
    )
    .await;
    let err = store.raw(&id, "t").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "stored content of message {id} is corrupt: inflates to more than the stored size of 10 bytes"
        )
    );
    let huge = i64::MAX / 2;
    execute(
        &store,
        &format!("UPDATE messages SET size = {huge} WHERE id = '{id}'"),
    )
    .await;
    let err = store.raw(&id, "t").await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "is corrupt: inflated to {} bytes, expected {huge}",
            s.raw.len()
        )),
        "{err}"
    );
}

async fn stores_every_field_and_shows_raw_byte_exact(db: TestDb) {
    let store = db.open().await;
    let mut s = Sample::new(
        "Alice@Example.org",
        &["bob@corp.test", "carol@corp.test"],
        &["executable"],
    );
    s.envelope.mail_params.body = Some(quarantd_core::BodyType::EightBitMime);
    s.envelope.recipients[0].orcpt = Some("rfc-bob@corp.test".into());
    let id = store.insert(&s.as_new()).await.unwrap();
    assert_eq!(id, s.envelope.id);
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.mail_from, "Alice@Example.org");
    assert_eq!(
        d.summary.from.as_deref(),
        Some("Sender <Alice@Example.org>")
    );
    assert_eq!(d.to.as_deref(), Some("bob@corp.test, carol@corp.test"));
    assert_eq!(d.summary.subject.as_deref(), Some("Invoice"));
    assert!(d.message_id.as_deref().unwrap().ends_with("@example.net"));
    assert_eq!(d.date.as_deref(), Some("2025-07-01T10:00:00+02:00"));
    assert_eq!(d.summary.size, s.raw.len() as u64);
    assert_eq!(d.summary.status, MessageStatus::Held);
    assert_eq!(d.summary.direction, "inbound");
    assert_eq!(d.summary.reasons, ["executable"]);
    assert_eq!(
        d.summary.received_at,
        system_time_ms(s.envelope.received_at)
    );
    assert_eq!(d.node, "mx1.test");
    assert_eq!(d.action, "quarantine");
    assert_eq!(d.body_type.as_deref(), Some("8BITMIME"));
    assert_eq!(d.client_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(d.client_helo.as_deref(), Some("client-helo.example.net"));
    assert_eq!(d.xforward.len(), 3);
    assert!(d.has_content);
    let rcpts: Vec<_> = d
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.status))
        .collect();
    assert_eq!(
        rcpts,
        [
            ("bob@corp.test", RecipientStatus::Held),
            ("carol@corp.test", RecipientStatus::Held)
        ]
    );
    assert_eq!(d.recipients[0].orcpt.as_deref(), Some("rfc-bob@corp.test"));
    let paths: Vec<_> = d.parts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(&paths[..3], ["", "1", "2"]);
    assert_eq!(d.parts[2].labels, ["executable"]);
    assert_eq!(d.parts[2].filename.as_deref(), Some("a.zip"));
    let raw = store.raw(&id, "pm-anna").await.unwrap();
    assert_eq!(raw, s.raw, "raw content must be byte-exact");
}

async fn shows_one_part_and_audits_views(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new(
        "a@example.org",
        &["b@corp.test"],
        &["virus:Eicar-Test-Signature"],
    );
    let id = store.insert(&s.as_new()).await.unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.findings.len(), 1);
    assert_eq!(d.findings[0].name, "Eicar-Test-Signature");
    assert_eq!(d.findings[0].part.as_deref(), Some("2"));
    let part = store.part(&id, "1", "pm-anna", find_part).await.unwrap();
    assert_eq!(part.part.path.0, "1");
    assert!(part
        .content
        .starts_with(b"Please see attached.\r\n.leading dot"));
    let err = store
        .part(&id, "9", "pm-anna", find_part)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PartNotFound { .. }), "{err}");
    store.raw(&id, "pm-bert").await.unwrap();
    let log = store.audit_log(Some(&id), 100).await.unwrap();
    let steps: Vec<_> = log
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("quarantine", "node:mx1.test"),
            ("view-part", "pm-anna"),
            ("view-raw", "pm-bert")
        ]
    );
    assert!(log[1].detail.contains("part=1"));
}

async fn large_message_round_trips_in_chunks(db: TestDb) {
    let store = db.open().await;
    // Incompressible content larger than three chunks.
    let mut raw = b"Subject: big\r\n\r\n".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while raw.len() < 3_500_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        raw.extend_from_slice(&x.to_le_bytes());
    }
    let s = Sample::new("a@example.org", &["b@corp.test"], &["unscannable"]).with_raw(raw);
    let id = store.insert(&s.as_new()).await.unwrap();
    assert_eq!(store.raw(&id, "t").await.unwrap(), s.raw);
    let s2 =
        Sample::new("a@example.org", &["b@corp.test"], &["spam"]).with_raw(sized_raw(100_000, 7));
    let id2 = store.insert(&s2.as_new()).await.unwrap();
    assert_eq!(store.raw(&id2, "t").await.unwrap(), s2.raw);
}

async fn unknown_id_is_not_found(db: TestDb) {
    let store = db.open().await;
    let err = store.get("nosuchid").await.unwrap_err();
    assert!(err.is_not_found() && !err.is_transient(), "{err}");
    assert!(store.raw("nosuchid", "t").await.unwrap_err().is_not_found());
    assert!(store
        .approve("nosuchid", "x", 1, 0)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(store
        .delete("nosuchid", "x", 0)
        .await
        .unwrap_err()
        .is_not_found());
}

async fn list_filters_each_and_combined(db: TestDb) {
    let store = db.open().await;
    let a =
        Sample::new("Spam@Bad.example", &["bob@corp.test"], &["executable"]).received(ago(3 * DAY));
    let b = Sample::new(
        "x@partner.example",
        &["carol@corp.test", "dan@other.test"],
        &["virus:Eicar"],
    )
    .received(ago(2 * DAY));
    let c =
        Sample::new("spam@bad.example", &["Carol@Corp.test"], &["vba-macro"]).received(ago(DAY));
    for s in [&a, &b, &c] {
        store.insert(&s.as_new()).await.unwrap();
    }
    let ids =
        |page: quarantd_store::Page| page.messages.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let list = |f: ListFilter| {
        let store = store.clone();
        async move { ids(store.list(&f).await.unwrap()) }
    };
    let (ia, ib, ic) = (
        a.envelope.id.as_str(),
        b.envelope.id.as_str(),
        c.envelope.id.as_str(),
    );
    assert_eq!(list(ListFilter::default()).await, [ic, ib, ia]);
    let rcpt = |r: &str| ListFilter {
        rcpt: Some(r.into()),
        ..Default::default()
    };
    assert_eq!(list(rcpt("carol@corp.test")).await, [ic, ib]);
    assert_eq!(list(rcpt("BOB@corp.test")).await, [ia]);
    let sender = ListFilter {
        sender: Some("spam@bad.example".into()),
        ..Default::default()
    };
    assert_eq!(list(sender).await, [ic, ia]);
    let domain = |d: &str| ListFilter {
        domain: Some(d.into()),
        ..Default::default()
    };
    assert_eq!(list(domain("corp.test")).await, [ic, ib, ia]);
    assert_eq!(list(domain("other.test")).await, [ib]);
    let reason = |r: &str| ListFilter {
        reason: Some(r.into()),
        ..Default::default()
    };
    assert_eq!(list(reason("virus")).await, [ib]);
    assert_eq!(list(reason("executable")).await, [ia]);
    let since = ListFilter {
        since: Some(system_time_ms(ago(DAY + DAY / 2))),
        ..Default::default()
    };
    assert_eq!(list(since).await, [ic]);
    let until = ListFilter {
        until: Some(system_time_ms(ago(DAY + DAY / 2))),
        ..Default::default()
    };
    assert_eq!(list(until).await, [ib, ia]);
    store.approve(ib, "pm-anna", 1, 0).await.unwrap();
    let approved = ListFilter {
        status: Some(MessageStatus::Approved),
        ..Default::default()
    };
    assert_eq!(list(approved).await, [ib]);
    let held = ListFilter {
        status: Some(MessageStatus::Held),
        ..Default::default()
    };
    assert_eq!(list(held).await, [ic, ia]);
    let combined = ListFilter {
        domain: Some("corp.test".into()),
        reason: Some("vba-macro".into()),
        sender: Some("SPAM@bad.example".into()),
        status: Some(MessageStatus::Held),
        ..Default::default()
    };
    assert_eq!(list(combined).await, [ic]);
    // Two or more indexed filters: the one with the fewest entries drives (the sender here),
    // pages still follow the cursor, and a filter matching nothing ends the query.
    let domain_and_sender = |d: &str, s: &str| ListFilter {
        domain: Some(d.into()),
        sender: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        list(domain_and_sender("corp.test", "x@partner.example")).await,
        [ib]
    );
    let first = store
        .list(&ListFilter {
            limit: Some(1),
            ..domain_and_sender("corp.test", "spam@bad.example")
        })
        .await
        .unwrap();
    assert_eq!(ids(first.clone()), [ic]);
    let second = store
        .list(&ListFilter {
            limit: Some(1),
            after: first.next,
            ..domain_and_sender("corp.test", "spam@bad.example")
        })
        .await
        .unwrap();
    assert_eq!(ids(second), [ia]);
    assert!(list(domain_and_sender("corp.test", "nobody@bad.example"))
        .await
        .is_empty());
    let rcpt_and_sender = ListFilter {
        rcpt: Some("carol@corp.test".into()),
        sender: Some("spam@bad.example".into()),
        ..Default::default()
    };
    assert_eq!(list(rcpt_and_sender).await, [ic]);
    let limited = ListFilter {
        limit: Some(1),
        ..Default::default()
    };
    let page = store.list(&limited).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert!(page.next.is_some());
    let summary = &store.list(&rcpt("dan@other.test")).await.unwrap().messages[0];
    assert_eq!(summary.reasons, ["virus:Eicar"]);
    assert_eq!(summary.mail_from, "x@partner.example");
}

async fn list_pages_with_keyset_cursor(db: TestDb) {
    let store = db.open().await;
    let same_time = ago(DAY);
    let mut all = Vec::new();
    for i in 0..23 {
        // Several messages share a timestamp: the id breaks the tie.
        let at = if i % 3 == 0 {
            same_time
        } else {
            ago(DAY + Duration::from_secs(i))
        };
        let s = Sample::new("a@example.org", &["pager@corp.test"], &["executable"]).received(at);
        store.insert(&s.as_new()).await.unwrap();
        all.push(s.envelope.id);
    }
    for filter in [
        ListFilter {
            limit: Some(5),
            ..Default::default()
        },
        ListFilter {
            limit: Some(5),
            rcpt: Some("pager@corp.test".into()),
            ..Default::default()
        },
    ] {
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = store
                .list(&ListFilter {
                    after: after.clone(),
                    ..filter.clone()
                })
                .await
                .unwrap();
            assert!(page.messages.len() <= 5);
            seen.extend(page.messages.iter().map(|m| (m.received_at, m.id.clone())));
            match page.next {
                Some(c) => {
                    let parsed: Cursor = c.to_string().parse().unwrap();
                    assert_eq!(parsed, c);
                    after = Some(c);
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 23);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(seen, sorted, "newest first, no duplicates");
    }
}

async fn approvals_are_distinct_and_counted(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["virus:Eicar"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    let first = store.approve(&id, "Anna", 2, 1).await.unwrap();
    assert_eq!(first.approvers, ["anna"]);
    assert_eq!(first.status, MessageStatus::Held);
    let err = store.approve(&id, " anna ", 2, 2).await.unwrap_err();
    assert!(
        matches!(err, Error::AlreadyApproved { .. }) && err.is_state_error(),
        "{err}"
    );
    let second = store.approve(&id, "bert", 2, 3).await.unwrap();
    assert_eq!(second.status, MessageStatus::Approved);
    assert_eq!(store.get(&id).await.unwrap().approvals.len(), 2);
}

fn claim<'a>(rcpts: &'a [String], owner: &'a str) -> ClaimRequest<'a> {
    ClaimRequest {
        rcpts,
        from: &[RecipientStatus::Held],
        owner,
        approvals_needed: 1,
        actor: "pm",
    }
}

async fn claims_are_exclusive_across_pools(db: TestDb) {
    let setup = db.open().await;
    let rcpts: Vec<String> = (0..5).map(|i| format!("r{i}@corp.test")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let s = Sample::new("a@example.org", &refs, &["executable"]);
        let id = setup.insert(&s.as_new()).await.unwrap();
        setup.approve(&id, "anna", 1, 0).await.unwrap();
        ids.push(id);
    }
    let (one, two) = (db.open().await, db.open().await);
    for id in ids {
        let job = |store: Store, owner: &'static str, id: String, rcpts: Vec<String>| {
            tokio::spawn(async move { store.claim(&id, &claim(&rcpts, owner), 5).await.unwrap() })
        };
        let a = job(one.clone(), "owner-a", id.clone(), rcpts.clone());
        let b = job(two.clone(), "owner-b", id.clone(), rcpts.clone());
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(
            a.len() + b.len(),
            5,
            "each recipient claimed exactly once: {a:?} {b:?}"
        );
        assert!(a.iter().all(|r| !b.contains(r)));
    }
}

async fn finish_needs_the_claim_owner(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new(
        "a@example.org",
        &["b@corp.test", "c@corp.test"],
        &["executable"],
    );
    let id = store.insert(&s.as_new()).await.unwrap();
    let rcpts = vec!["B@corp.test".to_string()];
    assert!(matches!(
        store.claim(&id, &claim(&rcpts, "o1"), 1).await.unwrap_err(),
        Error::NotApproved {
            have: 0,
            needed: 1,
            ..
        }
    ));
    store.approve(&id, "anna", 1, 1).await.unwrap();
    assert_eq!(
        store.claim(&id, &claim(&rcpts, "o1"), 2).await.unwrap(),
        ["b@corp.test"]
    );
    let released = Finish::Released {
        reply: "250 ok".into(),
    };
    let other = store
        .finish(
            &id,
            "o2",
            &[("b@corp.test".into(), released.clone())],
            "pm",
            3,
        )
        .await
        .unwrap();
    assert!(other.is_empty(), "another owner cannot finish the claim");
    let mine = store
        .finish(&id, "o1", &[("b@corp.test".into(), released)], "pm", 3)
        .await
        .unwrap();
    assert_eq!(mine, ["b@corp.test"]);
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.recipients[0].status, RecipientStatus::Released);
    assert_eq!(d.recipients[0].last_reply.as_deref(), Some("250 ok"));
    assert_eq!(d.summary.status, MessageStatus::Approved, "c is still held");
    assert!(
        store
            .claim(&id, &claim(&rcpts, "o3"), 4)
            .await
            .unwrap()
            .is_empty(),
        "never twice"
    );
    let c = vec!["c@corp.test".to_string()];
    store.claim(&id, &claim(&c, "o4"), 5).await.unwrap();
    let failed = Finish::Failed {
        reply: "550 no".into(),
    };
    store
        .finish(&id, "o4", &[("c@corp.test".into(), failed)], "pm", 6)
        .await
        .unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.recipients[1].status, RecipientStatus::Failed);
    assert_eq!(d.summary.status, MessageStatus::Released);
}

async fn stale_claims_are_taken_over(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    store.approve(&id, "anna", 1, 1).await.unwrap();
    let rcpts = vec!["b@corp.test".to_string()];
    store
        .claim(&id, &claim(&rcpts, "crashed"), 1_000)
        .await
        .unwrap();
    assert!(store
        .take_over_stale(&id, 1_000, "new", "pm", 2_000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .take_over_stale(&id, 1_001, "new", "pm", 2_000)
            .await
            .unwrap(),
        rcpts
    );
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.recipients[0].claim_owner.as_deref(), Some("new"));
    let log = store.audit_log(Some(&id), 10).await.unwrap();
    assert_eq!(log.last().unwrap().action, "resume");
    assert!(log.last().unwrap().detail.contains("crashed"));
}

async fn delete_removes_content_and_forbids_release(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    store.approve(&id, "anna", 1, 1).await.unwrap();
    let rcpts = vec!["b@corp.test".to_string()];
    store.claim(&id, &claim(&rcpts, "o1"), 2).await.unwrap();
    assert!(matches!(
        store.delete(&id, "bert", 3).await.unwrap_err(),
        Error::ReleaseInProgress { .. }
    ));
    store
        .finish(
            &id,
            "o1",
            &[(
                "b@corp.test".into(),
                Finish::Unclaim {
                    reply: "451".into(),
                },
            )],
            "pm",
            4,
        )
        .await
        .unwrap();
    store.delete(&id, "bert", 5).await.unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Deleted);
    assert!(!d.has_content);
    assert_eq!(d.recipients[0].status, RecipientStatus::Deleted);
    let err = store.raw(&id, "pm").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::StateForbids {
                status: MessageStatus::Deleted,
                ..
            }
        ),
        "{err}"
    );
    let err = store.claim(&id, &claim(&rcpts, "o2"), 6).await.unwrap_err();
    assert!(
        err.is_state_error() && err.to_string().contains("is deleted"),
        "{err}"
    );
    assert!(store
        .delete(&id, "bert", 7)
        .await
        .unwrap_err()
        .is_state_error());
    assert!(store
        .approve(&id, "carl", 1, 7)
        .await
        .unwrap_err()
        .is_state_error());
}

async fn expire_follows_retention_per_reason(db: TestDb) {
    let store = db.open().await;
    let old_spam =
        Sample::new("a@example.org", &["b@corp.test"], &["spam"]).received(ago(40 * DAY));
    let new_spam =
        Sample::new("a@example.org", &["b@corp.test"], &["spam"]).received(ago(20 * DAY));
    let old_virus =
        Sample::new("a@example.org", &["b@corp.test"], &["virus:X"]).received(ago(40 * DAY));
    let ancient_virus = Sample::new("a@example.org", &["b@corp.test"], &["virus:X", "spam"])
        .received(ago(100 * DAY));
    for s in [&old_spam, &new_spam, &old_virus, &ancient_virus] {
        store.insert(&s.as_new()).await.unwrap();
    }
    let mut retention = Retention::default();
    retention.per_reason.insert("virus".into(), 90 * DAY);
    let report = store
        .expire(system_time_ms(SystemTime::now()), &retention, "expire")
        .await
        .unwrap();
    let mut removed = report.removed.clone();
    removed.sort();
    let mut expected = vec![
        old_spam.envelope.id.clone(),
        ancient_virus.envelope.id.clone(),
    ];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(store
        .get(&old_spam.envelope.id)
        .await
        .unwrap_err()
        .is_not_found());
    store.get(&old_virus.envelope.id).await.unwrap();
    store.get(&new_spam.envelope.id).await.unwrap();
    let log = store
        .audit_log(Some(&old_spam.envelope.id), 10)
        .await
        .unwrap();
    assert_eq!(log.last().unwrap().action, "expire");
    let all = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(all.messages.len(), 2);
    let again = store
        .expire(system_time_ms(SystemTime::now()), &retention, "expire")
        .await
        .unwrap();
    assert!(again.removed.is_empty());
}

async fn request_release_checks_recipient(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    assert!(matches!(
        store
            .request_release(&id, "mallory@evil.test", 1)
            .await
            .unwrap_err(),
        Error::NotARecipient { .. }
    ));
    assert!(store.request_release(&id, "B@corp.test", 1).await.unwrap());
    assert!(!store.request_release(&id, "b@corp.test", 2).await.unwrap());
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::ReleaseRequested);
    assert_eq!(d.requests, ["b@corp.test"]);
}

#[tokio::test]
async fn mariadb_unreachable_is_transient() {
    let options = StoreOptions {
        acquire_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    };
    let err = Store::open("mysql://root@127.0.0.1:1/quarantd", &options)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert!(err.to_string().contains("Connection refused"), "{err}");
}

#[tokio::test]
async fn sqlite_in_missing_directory_is_an_error_not_a_panic() {
    let err = Store::open(
        "sqlite:///nonexistent-dir/q.sqlite",
        &StoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(!err.is_not_found(), "{err}");
}

#[test]
fn unsupported_url_names_no_password() {
    let err = quarantd_store::Backend::from_url("postgres://u:secret@h/db").unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    assert_eq!(
        quarantd_store::redact("mysql://u:pw@h/db"),
        "mysql://u:***@h/db"
    );
}

async fn outbox_rows_are_per_owner_and_removed_when_done(db: TestDb) {
    let store = db.open().await;
    let concerned = vec!["a@corp.test".to_string(), "b@corp.test".to_string()];
    let first = store
        .outbox_add("mx1", "id1", "quarantined", &concerned)
        .await
        .unwrap();
    let second = store
        .outbox_add("mx1", "id2", "rejected", &[])
        .await
        .unwrap();
    store
        .outbox_add("mx2", "id3", "quarantined", &[])
        .await
        .unwrap();
    assert!(second > first);
    let mine = store.outbox_of("mx1").await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].seq, first);
    assert_eq!(mine[0].message_id, "id1");
    assert_eq!(mine[0].event, "quarantined");
    assert_eq!(mine[0].concerned, concerned);
    assert!(mine[1].concerned.is_empty());
    store.outbox_remove(first).await.unwrap();
    let mine = store.outbox_of("mx1").await.unwrap();
    assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), [second]);
    assert_eq!(store.outbox_of("mx2").await.unwrap().len(), 1);
}

async fn workflow_runs_are_queued_unowned_and_claimed_once(db: TestDb) {
    let store = db.open().await;
    let concerned = vec!["a@corp.test".to_string()];
    let headers = b"Subject: hi\r\nAuto-Submitted: no\r\n\r\n".to_vec();
    let deleted = store
        .outbox_queue(&quarantd_store::NewWorkflowRun {
            message_id: "id1",
            event: "deleted",
            concerned: &concerned,
            actor: Some("alice"),
            approvals: None,
            headers: Some(&headers),
        })
        .await
        .unwrap();
    let approval = store
        .outbox_queue(&quarantd_store::NewWorkflowRun {
            message_id: "id2",
            event: "approval-needed",
            concerned: &[],
            actor: Some("bob"),
            approvals: Some((1, 2)),
            headers: None,
        })
        .await
        .unwrap();
    // A daemon's own run is not claimable.
    store
        .outbox_add("mx1", "id3", "quarantined", &[])
        .await
        .unwrap();
    let run = store.outbox_entry(deleted).await.unwrap().unwrap();
    assert_eq!(run.owner, quarantd_store::UNOWNED);
    assert_eq!(run.actor.as_deref(), Some("alice"));
    assert_eq!(run.headers.as_deref(), Some(&headers[..]));
    assert_eq!(run.concerned, concerned);
    assert_eq!(run.approvals, None);
    // The command itself claims one; a daemon claims the rest, once.
    assert!(store.outbox_claim_one(approval, "cli:1").await.unwrap());
    assert!(!store.outbox_claim_one(approval, "mx2").await.unwrap());
    let claimed = store.outbox_claim("mx2", 10).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.seq).collect::<Vec<_>>(), [deleted]);
    assert_eq!(claimed[0].owner, "mx2");
    assert!(store.outbox_claim("mx1", 10).await.unwrap().is_empty());
    let mine = store.outbox_entry(approval).await.unwrap().unwrap();
    assert_eq!(
        (mine.owner.as_str(), mine.approvals),
        ("cli:1", Some((1, 2)))
    );
    assert_eq!(mine.headers, None);
    store.outbox_remove(approval).await.unwrap();
    assert!(store.outbox_entry(approval).await.unwrap().is_none());
}

/// A trigger that makes every insert into `notify_outbox` fail: the fault between storing a
/// message and queueing its notification.
async fn break_outbox(db: &TestDb, store: &Store) {
    let sql = match db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON notify_outbox \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        }
        Backend::MySql => {
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON notify_outbox FOR EACH ROW \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"
        }
    };
    execute(store, sql).await;
}

async fn message_and_its_notification_run_commit_together(db: TestDb) {
    let store = db.open().await;
    // Committed: the message and its run, with the envelope's recipients as concerned.
    let s = Sample::new(
        "a@example.org",
        &["b@corp.test", "c@corp.test"],
        &["executable"],
    )
    .queued("node-1", "quarantined");
    let id = store.insert(&s.as_new()).await.unwrap();
    let runs = store.outbox_of("node-1").await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].message_id, id);
    assert_eq!(runs[0].event, "quarantined");
    assert_eq!(runs[0].concerned, ["b@corp.test", "c@corp.test"]);

    // The same message again (Postfix's retry after a lost reply would have a new id; this
    // one fails on the message's key): neither is stored a second time.
    assert!(store.insert(&s.as_new()).await.is_err());
    assert_eq!(store.outbox_of("node-1").await.unwrap().len(), 1);

    // Queueing the run fails after the message's rows were written: nothing is committed,
    // so the daemon answers 4xx and the message stays in Postfix's queue.
    break_outbox(&db, &store).await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["virus:Eicar"])
        .rejected()
        .queued("node-1", "rejected");
    let err = store.insert(&s.as_new()).await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let err = store.get(&s.envelope.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(store.outbox_of("node-1").await.unwrap().len(), 1);
    let audit = store.audit_log(Some(&s.envelope.id), 10).await.unwrap();
    assert!(audit.is_empty(), "{audit:?}");
    // Without a run to queue, storing works as before.
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    store.insert(&s.as_new()).await.unwrap();
}

async fn approvals_required_are_kept_with_the_message(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]).approvals_required(3);
    let id = store.insert(&s.as_new()).await.unwrap();
    assert_eq!(store.get(&id).await.unwrap().approvals_required, Some(3));
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let id = store.insert(&s.as_new()).await.unwrap();
    assert_eq!(store.get(&id).await.unwrap().approvals_required, None);
}

async fn rejected_copy_has_its_own_status(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new(
        "a@example.org",
        &["b@corp.test", "c@corp.test"],
        &["virus:Eicar"],
    )
    .rejected();
    let id = store.insert(&s.as_new()).await.unwrap();
    let held = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let held_id = store.insert(&held.as_new()).await.unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Rejected);
    assert_eq!(d.action, "reject");
    assert!(d
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Rejected));
    // Listed as such, and not among the held.
    let list = |status| {
        let store = store.clone();
        async move {
            let filter = ListFilter {
                status: Some(status),
                ..ListFilter::default()
            };
            let page = store.list(&filter).await.unwrap();
            page.messages.into_iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(MessageStatus::Rejected).await,
        std::slice::from_ref(&id)
    );
    assert_eq!(list(MessageStatus::Held).await, [held_id]);
    assert_eq!(
        MessageStatus::parse("rejected"),
        Some(MessageStatus::Rejected)
    );
    // A recipient cannot ask for it; a release that claims held recipients gets none.
    let err = store
        .request_release(&id, "b@corp.test", 1)
        .await
        .unwrap_err();
    assert!(err.is_state_error(), "{err}");
    store.approve(&id, "anna", 1, 2).await.unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().summary.status,
        MessageStatus::Rejected,
        "approvals are recorded, the status stays"
    );
    let rcpts = vec!["b@corp.test".to_string()];
    assert!(store
        .claim(&id, &claim(&rcpts, "o1"), 3)
        .await
        .unwrap()
        .is_empty());
    // Claimed explicitly, a recipient not delivered goes back to `rejected`.
    let explicit = ClaimRequest {
        from: &[RecipientStatus::Rejected],
        ..claim(&rcpts, "o2")
    };
    assert_eq!(store.claim(&id, &explicit, 4).await.unwrap(), rcpts);
    let unclaim = Finish::Unclaim {
        reply: "451".into(),
    };
    store
        .finish(&id, "o2", &[(rcpts[0].clone(), unclaim)], "pm", 5)
        .await
        .unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.recipients[0].status, RecipientStatus::Rejected);
    assert_eq!(d.summary.status, MessageStatus::Rejected);
    // Content views and delete work as for a held message.
    assert_eq!(store.raw(&id, "pm").await.unwrap(), s.raw);
    store.delete(&id, "bert", 6).await.unwrap();
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Deleted);
    assert!(d
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Deleted));
}

async fn rejected_copies_held_before_are_migrated(db: TestDb) {
    let store = db.open().await;
    let old = Sample::new("a@example.org", &["b@corp.test"], &["virus:Eicar"]).rejected();
    let id = store.insert(&old.as_new()).await.unwrap();
    let kept = Sample::new("a@example.org", &["b@corp.test"], &["executable"]);
    let kept_id = store.insert(&kept.as_new()).await.unwrap();
    // As a version before the `rejected` status stored it: held, like any held message.
    execute(
        &store,
        &format!("UPDATE messages SET status = 'release-requested' WHERE id = '{id}'"),
    )
    .await;
    execute(
        &store,
        &format!("UPDATE recipients SET status = 'held' WHERE message_id = '{id}'"),
    )
    .await;
    execute(&store, "DELETE FROM _sqlx_migrations WHERE version = 4").await;
    store.close().await;
    let store = db.open().await;
    let d = store.get(&id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Rejected);
    assert_eq!(d.recipients[0].status, RecipientStatus::Rejected);
    let d = store.get(&kept_id).await.unwrap();
    assert_eq!(d.summary.status, MessageStatus::Held);
    assert_eq!(d.recipients[0].status, RecipientStatus::Held);
}

async fn outbox_runs_are_removed_by_message_and_adopted(db: TestDb) {
    let store = db.open().await;
    let s = Sample::new("a@example.org", &["b@corp.test"], &["executable"])
        .queued("mx1.example.org", "quarantined");
    let id = store.insert(&s.as_new()).await.unwrap();
    let other = Sample::new("a@example.org", &["b@corp.test"], &["executable"])
        .queued("mx2.example.org", "quarantined");
    store.insert(&other.as_new()).await.unwrap();
    // A daemon with a node id takes over what its host name queued before node ids.
    assert_eq!(
        store
            .outbox_adopt("mx1.example.org", "node-a")
            .await
            .unwrap(),
        1
    );
    assert!(store.outbox_of("mx1.example.org").await.unwrap().is_empty());
    let mine = store.outbox_of("node-a").await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].message_id, id);
    // Another owner's run, or another event, is not removed.
    store
        .outbox_remove_run("node-b", &id, "quarantined")
        .await
        .unwrap();
    store
        .outbox_remove_run("node-a", &id, "rejected")
        .await
        .unwrap();
    assert_eq!(store.outbox_of("node-a").await.unwrap().len(), 1);
    store
        .outbox_remove_run("node-a", &id, "quarantined")
        .await
        .unwrap();
    assert!(store.outbox_of("node-a").await.unwrap().is_empty());
    assert_eq!(store.outbox_of("mx2.example.org").await.unwrap().len(), 1);
}
