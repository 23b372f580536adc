//! Issue 11 A1, as a property: whatever each recipient's policy wants and whatever the relay
//! and the store do, quarantd answers 250 only when every recipient of the transaction was
//! delivered downstream or committed to the quarantine — exactly one of the two — and a 5xx
//! only when nothing was delivered or held.
//!
//! Each case is a random message to 1..6 recipients, run through the real SMTP server and
//! pipeline in-process (`serve::run`), the real relay client, the testkit's recording sink
//! as the relay and the real SQLite quarantine (`StoreHold`). The fault injection:
//! - the decision: a test `Decide` that gives each recipient its random action — either
//!   through the real policy (a domain policy per recipient, so `quarantd_policy::decide`
//!   reconciles and groups them) or handed to the pipeline raw, one group per distinct
//!   verdict as a careless `Decide` would, sometimes leaving a recipient out;
//! - the relay: per recipient a 4xx/5xx at RCPT or after the data of any transaction that
//!   carries it, and seeded random 4xx at RCPT and after DATA;
//! - the store: every hold of the case fails.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::exe_and_js;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use quarantd_core::{Action, Envelope, Held, Hold, HoldError, HoldFuture, Scanned, Verdict};
use quarantd_pipeline::{Decide, Plan};
use quarantd_policy::{Group, RawDomainPolicy, RawPolicy};
use quarantd_release::StoreHold;
use quarantd_store::{ListFilter, Store};
use quarantd_testkit::{Client, Sink, SinkConfig};

/// What the relay does with one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// 450 at RCPT (every transaction).
    Rcpt4,
    /// 550 at RCPT.
    Rcpt5,
    /// 452 after the data of every transaction that carries this recipient.
    Data4,
    /// 554 after the data.
    Data5,
}

impl Fault {
    fn tag(self) -> &'static str {
        match self {
            Fault::None => "ok",
            Fault::Rcpt4 => "rcptfour",
            Fault::Rcpt5 => "rcptfive",
            Fault::Data4 => "datafour",
            Fault::Data5 => "datafive",
        }
    }
}

/// One recipient: the actions its domain's policy takes for the message's executable and
/// script, its subject tag, and the relay's fault.
#[derive(Debug, Clone)]
struct Rcpt {
    executable: Action,
    script: Action,
    subject_tag: Option<&'static str>,
    fault: Fault,
}

#[derive(Debug, Clone)]
struct Case {
    rcpts: Vec<Rcpt>,
    /// Hand the per-recipient verdicts to the pipeline without the policy's reconciliation.
    raw: bool,
    /// (raw only) leave the last recipient out of the plan's groups.
    drop_one: bool,
    store_fails: bool,
    /// Percent of random 4xx at RCPT and after DATA.
    rcpt_tempfail: u8,
    data_tempfail: u8,
    seed: u64,
}

impl Case {
    fn address(&self, i: usize) -> String {
        format!("r{i}-{}@d{i}.test", self.rcpts[i].fault.tag())
    }

    fn index_of(&self, address: &str) -> usize {
        (0..self.rcpts.len())
            .find(|&i| self.address(i) == address)
            .expect("a recipient of the case")
    }
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Pass),
        2 => Just(Action::Tag),
        2 => Just(Action::Quarantine),
        1 => Just(Action::Reject),
        1 => Just(Action::Tempfail),
    ]
}

fn rcpt() -> impl Strategy<Value = Rcpt> {
    let fault = prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Rcpt4),
        1 => Just(Fault::Rcpt5),
        1 => Just(Fault::Data4),
        1 => Just(Fault::Data5),
    ];
    let tag = prop_oneof![Just(None), Just(Some("[A]")), Just(Some("[B]"))];
    (action(), action(), tag, fault).prop_map(|(executable, script, subject_tag, fault)| Rcpt {
        executable,
        script,
        subject_tag,
        fault,
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(rcpt(), 1..=6),
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.15),
        prop_oneof![Just(0u8), Just(0), Just(15)],
        prop_oneof![Just(0u8), Just(0), Just(20)],
        any::<u64>(),
    )
        .prop_map(
            |(rcpts, raw, drop_one, store_fails, rcpt_tempfail, data_tempfail, seed)| Case {
                rcpts,
                raw,
                drop_one: raw && drop_one,
                store_fails,
                rcpt_tempfail,
                data_tempfail,
                seed,
            },
        )
}

/// The test `Decide`: the current case's actions, through the policy or raw.
struct Scripted(Arc<Mutex<Option<Case>>>);

impl Decide for Scripted {
    fn decide(&self, envelope: &Envelope, scanned: &Scanned) -> Verdict {
        self.plan(envelope, scanned).verdict
    }

    fn plan(&self, envelope: &Envelope, scanned: &Scanned) -> Plan {
        let case = self.0.lock().unwrap().clone().expect("a case is set");
        if case.raw {
            return raw_plan(&case, envelope);
        }
        let decision = quarantd_policy::decide(
            &policy_of(&case),
            envelope,
            scanned.classified.parts.iter().map(|p| &p.part),
            &scanned.findings,
        );
        Plan::from_decision(&decision)
    }
}

/// A policy with one domain per recipient, taking that recipient's actions.
fn policy_of(case: &Case) -> quarantd_policy::Policy {
    let mut raw = RawPolicy::default();
    for (i, r) in case.rcpts.iter().enumerate() {
        let mut domain = RawDomainPolicy {
            subject_tag: Some(r.subject_tag.unwrap_or("").to_string()),
            ..RawDomainPolicy::default()
        };
        domain
            .all
            .insert("executable".into(), r.executable.as_str().into());
        domain.all.insert("script".into(), r.script.as_str().into());
        raw.domains.insert(format!("d{i}.test"), domain);
    }
    raw.validate_with(&|_| Ok(String::new()))
        .expect("a valid policy")
}

/// What a careless `Decide` could hand over: one group per distinct verdict, none of the
/// policy's reconciliation (tempfail and reject groups beside deliveries), maybe a
/// recipient missing.
fn raw_plan(case: &Case, envelope: &Envelope) -> Plan {
    let mut groups: Vec<Group> = Vec::new();
    for rcpt in &envelope.recipients {
        let r = &case.rcpts[case.index_of(&rcpt.address)];
        let verdict = wanted(r);
        let subject_tag = (verdict.action == Action::Tag)
            .then(|| r.subject_tag.map(str::to_string))
            .flatten();
        match groups
            .iter_mut()
            .find(|g| g.verdict == verdict && g.subject_tag == subject_tag)
        {
            Some(g) => g.recipients.push(rcpt.address.clone()),
            None => groups.push(Group {
                verdict,
                subject_tag,
                recipients: vec![rcpt.address.clone()],
            }),
        }
    }
    let verdict = groups
        .iter()
        .map(|g| g.verdict.clone())
        .max_by_key(|v| quarantd_policy::kinds::severity(v.action))
        .unwrap_or_else(Verdict::pass);
    if groups.len() == 1 && !case.drop_one {
        let group = groups.pop().expect("one group");
        return Plan {
            verdict: group.verdict,
            direction: None,
            subject_tag: group.subject_tag,
            split: Vec::new(),
        };
    }
    if case.drop_one {
        if let Some(last) = groups.last_mut() {
            last.recipients.pop();
        }
        groups.retain(|g| !g.recipients.is_empty());
    }
    Plan {
        verdict,
        direction: None,
        subject_tag: None,
        split: groups,
    }
}

/// One recipient's own verdict: the more severe action, for the labels that asked for it.
fn wanted(r: &Rcpt) -> Verdict {
    let pairs = [("executable", r.executable), ("script", r.script)];
    let action = pairs
        .iter()
        .map(|(_, a)| *a)
        .max_by_key(|a| quarantd_policy::kinds::severity(*a))
        .unwrap_or(Action::Pass);
    let reasons = pairs
        .iter()
        .filter(|(_, a)| action == Action::Pass || *a != Action::Pass)
        .map(|(l, _)| l.to_string())
        .collect();
    Verdict { action, reasons }
}

/// The real store, with every hold failing while `fail` is set.
struct FlakyStore {
    inner: StoreHold,
    fail: Arc<AtomicBool>,
}

impl Hold for FlakyStore {
    fn hold<'a>(&'a self, held: Held<'a>) -> HoldFuture<'a> {
        if self.fail.load(Ordering::SeqCst) {
            return Box::pin(async { Err(HoldError::transient("injected store failure")) });
        }
        self.inner.hold(held)
    }
}

/// What is shared by every case.
struct Ctx {
    case: Arc<Mutex<Option<Case>>>,
    fail: Arc<AtomicBool>,
    hold: Arc<dyn Hold>,
    store: Store,
    runs: Mutex<BTreeMap<String, usize>>,
}

/// What happened to one case's message.
#[derive(Debug)]
struct Observed {
    accepted: Vec<String>,
    reply: Option<quarantd_testkit::Reply>,
    delivered: Vec<String>,
    held: Vec<String>,
}

async fn run_case(ctx: &Ctx, n: usize, case: &Case) -> Observed {
    *ctx.case.lock().unwrap() = Some(case.clone());
    ctx.fail.store(case.store_fails, Ordering::SeqCst);
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![
            (Fault::Rcpt4.tag().into(), "450 4.2.0 mailbox busy".into()),
            (Fault::Rcpt5.tag().into(), "550 5.1.1 no such user".into()),
        ],
        data_replies: vec![
            (Fault::Data5.tag().into(), "554 5.7.1 not for them".into()),
            (Fault::Data4.tag().into(), "452 4.3.1 full".into()),
        ],
        random_tempfail_rcpt: f64::from(case.rcpt_tempfail) / 100.0,
        random_tempfail_data: f64::from(case.data_tempfail) / 100.0,
        seed: case.seed,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let raw = quarantd_config::RawConfig::default();
    let scripted = Box::new(Scripted(Arc::clone(&ctx.case)));
    let hold: Arc<dyn Hold> = Arc::clone(&ctx.hold);
    let (addr, shutdown, server) =
        common::serve_in_process(sink.addr(), raw, |s| s.decide = scripted, Some(hold)).await;

    let sender = format!("case{n}@sender.test");
    let mut client = Client::connect(addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    assert_eq!(
        client
            .cmd(&format!("MAIL FROM:<{sender}>"))
            .await
            .unwrap()
            .code,
        250
    );
    let mut accepted = Vec::new();
    for i in 0..case.rcpts.len() {
        let address = case.address(i);
        if client
            .cmd(&format!("RCPT TO:<{address}>"))
            .await
            .unwrap()
            .is_positive()
        {
            accepted.push(address);
        }
    }
    let reply = if accepted.is_empty() {
        client.cmd("RSET").await.unwrap();
        None
    } else {
        Some(client.data(&exe_and_js(&format!("c{n}"))).await.unwrap())
    };
    client.cmd("QUIT").await.ok();
    shutdown.trigger();
    server.await.unwrap();

    let delivered = sink.messages().into_iter().flat_map(|m| m.rcpts).collect();
    let held = quarantined(&ctx.store, &sender).await;
    Observed {
        accepted,
        reply,
        delivered,
        held,
    }
}

/// The recipients of `sender`'s messages held in the quarantine (not reject copies).
async fn quarantined(store: &Store, sender: &str) -> Vec<String> {
    let filter = ListFilter {
        sender: Some(sender.into()),
        ..ListFilter::default()
    };
    let mut held = Vec::new();
    for summary in store.list(&filter).await.unwrap().messages {
        let detail = store.get(&summary.id).await.unwrap();
        if detail.action == "quarantine" {
            held.extend(detail.recipients.into_iter().map(|r| r.address));
        }
    }
    held
}

/// The property, and a name for the kind of run (counted for the report).
fn check(case: &Case, seen: &Observed) -> Result<String, TestCaseError> {
    let count = |list: &[String], a: &str| list.iter().filter(|x| *x == a).count();
    for d in &seen.delivered {
        prop_assert!(
            seen.accepted.contains(d),
            "{d} delivered without being accepted upstream: {seen:?}"
        );
    }
    let Some(reply) = &seen.reply else {
        prop_assert!(
            seen.delivered.is_empty() && seen.held.is_empty(),
            "{seen:?}"
        );
        return Ok("no recipient accepted".into());
    };
    let mode = if case.raw { "raw plan" } else { "policy" };
    match reply.code / 100 {
        2 => {
            for a in &seen.accepted {
                let (d, h) = (count(&seen.delivered, a), count(&seen.held, a));
                prop_assert!(
                    (d, h) == (1, 0) || (d, h) == (0, 1),
                    "250 but {a} was delivered {d}× and held {h}×: {reply} {seen:?}"
                );
            }
            Ok(format!("{mode}: 250"))
        }
        5 => {
            prop_assert!(
                seen.delivered.is_empty() && seen.held.is_empty(),
                "5xx after something was delivered or held: {reply} {seen:?}"
            );
            Ok(format!("{mode}: 5xx"))
        }
        4 => {
            let partial = !seen.delivered.is_empty() || !seen.held.is_empty();
            let why = if reply.text().contains("not every recipient") {
                " from the ledger's check"
            } else {
                ""
            };
            let after = if partial {
                " after part was carried out (its retry duplicates that part)"
            } else {
                ""
            };
            Ok(format!("{mode}: 4xx{why}{after}"))
        }
        _ => Err(TestCaseError::fail(format!("unexpected reply {reply}"))),
    }
}

#[test]
fn a_250_means_every_recipient_was_delivered_or_held_exactly_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(Store::open_in_data_dir(dir.path(), &Default::default()))
        .unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let ctx = Ctx {
        case: Arc::new(Mutex::new(None)),
        fail: Arc::clone(&fail),
        hold: Arc::new(FlakyStore {
            inner: StoreHold::new(store.clone(), "test-node"),
            fail,
        }),
        store,
        runs: Mutex::new(BTreeMap::new()),
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let seen = runtime.block_on(run_case(&ctx, n, &case));
        let kind = check(&case, &seen)?;
        *ctx.runs.lock().unwrap().entry(kind).or_default() += 1;
        Ok(())
    });
    for (kind, n) in ctx.runs.lock().unwrap().iter() {
        println!("{n:5}  {kind}");
    }
    if let Err(err) = result {
        panic!("{err}");
    }
}
