//! The quarantine behind `serve`, on SQLite and on MariaDB: a message to hold is committed
//! before the 250 and stored byte-exact with its envelope and labels; when the database goes
//! away during traffic, held mail gets 4xx and nothing is lost.

mod common;

use std::time::Duration;

use common::{held, message, with_executable, Daemon, Extra};
use quarantd_store::testing::{run, TestDb};
use quarantd_store::{Backend, ListFilter, MessageStatus};
use quarantd_testkit::{Cli, CliOutput, Client, Proxy, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

/// A sink, a daemon relaying to it with its quarantine at `store`, and a client that said
/// EHLO to the daemon.
async fn serve_with_store(store: String) -> (Sink, Daemon, Client) {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        store: Some(store),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    (sink, daemon, client)
}

async fn held_message_is_committed_before_250(db: TestDb) {
    let (sink, _daemon, mut client) = serve_with_store(db.url.clone()).await;
    client
        .cmd("XFORWARD ADDR=192.0.2.9 HELO=bad.example.net NAME=bad.example.net")
        .await
        .unwrap();
    let raw = with_executable("q1", "");
    let reply = client
        .send_message("m@example.net", &["b@example.org", "c@example.org"], &raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    assert!(reply.text().contains("(executable"), "{reply}");
    let id = held(&reply);
    // The 250 came after the commit: a fresh connection sees the message at once.
    let store = db.open().await;
    let detail = store.get(&id).await.unwrap();
    assert_eq!(detail.summary.status, MessageStatus::Held);
    assert_eq!(detail.summary.mail_from, "m@example.net");
    assert_eq!(detail.summary.subject.as_deref(), Some("invoice q1"));
    let rcpts: Vec<&str> = detail
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(rcpts, ["b@example.org", "c@example.org"]);
    assert_eq!(
        store.raw(&id, "test").await.unwrap(),
        raw,
        "stored byte-exact"
    );
    assert!(detail.summary.reasons.iter().any(|r| r == "executable"));
    assert_eq!(detail.client_addr.as_deref(), Some("192.0.2.9"));
    assert_eq!(detail.client_helo.as_deref(), Some("bad.example.net"));
    assert_eq!(detail.node, "filter.test");
    assert!(sink.messages().is_empty(), "nothing held was delivered");
    let listed = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(listed.messages.len(), 1);
    let clean = client
        .send_message("a@example.org", &["b@example.org"], &message("clean"))
        .await
        .unwrap();
    assert_eq!(clean.code, 250);
    assert_eq!(sink.wait_for_messages(1, WAIT).await.len(), 1);
}

/// `quarantd ARGS --store URL` as a postmaster would type it.
async fn cli(url: &str, args: &[&str]) -> CliOutput {
    Cli::new(env!("CARGO_BIN_EXE_quarantd"))
        .trailing(["--store", url])
        .env("USER", "postmaster")
        .env_remove("SUDO_USER")
        .run_async(args)
        .await
}

/// The whole flow: held through `serve`, listed, shown, approved by two people, released; it
/// arrives at a real sink with the added header and otherwise byte-identical; every step is
/// in the audit log.
async fn whole_flow_through_serve_and_the_cli(db: TestDb) {
    let (sink, _daemon, mut client) = serve_with_store(db.url.clone()).await;
    let raw = with_executable("flow", "");
    let reply = client
        .send_message("m@example.net", &["b@example.org", "c@example.org"], &raw)
        .await
        .unwrap();
    let id = held(&reply);

    let out = cli(
        &db.url,
        &["quarantine", "list", "--reason", "executable", "--json"],
    )
    .await
    .ok();
    assert!(out.stdout.contains(&id));
    let out = cli(&db.url, &["quarantine", "show", &id]).await.ok();
    assert!(out.stdout.contains("invoice flow"));
    let out = cli(
        &db.url,
        &["quarantine", "show", &id, "--raw", "--by", "alice"],
    )
    .await;
    assert_eq!(
        (out.code, out.raw_stdout),
        (0, raw.clone()),
        "show --raw is byte-exact"
    );

    let relay = sink.addr().to_string();
    cli(&db.url, &["quarantine", "approve", &id, "--by", "alice"])
        .await
        .ok();
    let CliOutput { code, stderr, .. } = cli(
        &db.url,
        &[
            "quarantine",
            "release",
            &id,
            "--by",
            "alice",
            "--relay",
            &relay,
        ],
    )
    .await;
    assert_eq!(
        code, 4,
        "alice alone is not four eyes for an executable: {stderr}"
    );
    assert!(sink.messages().is_empty());
    cli(&db.url, &["quarantine", "approve", &id, "--by", "bob"])
        .await
        .ok();
    cli(
        &db.url,
        &[
            "quarantine",
            "release",
            &id,
            "--by",
            "bob",
            "--relay",
            &relay,
        ],
    )
    .await
    .ok();

    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, ["b@example.org", "c@example.org"]);
    assert_eq!(got[0].mail_from, "m@example.net");
    let data = &got[0].data;
    assert!(
        data.starts_with(b"X-Quarantine-Released: by bob at "),
        "{}",
        String::from_utf8_lossy(&data[..80])
    );
    let header_end = data.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    assert_eq!(&data[header_end..], &raw[..], "otherwise byte-identical");

    let audit = cli(&db.url, &["audit", &id]).await.ok().stdout;
    for step in ["alice", "bob", "approve", "release"] {
        assert!(audit.contains(step), "audit lacks {step}:\n{audit}");
    }
}

/// Two postmasters release the same message at the same moment from two processes: every
/// recipient gets it exactly once.
async fn two_processes_releasing_at_once_deliver_once(db: TestDb) {
    let (sink, _daemon, mut client) = serve_with_store(db.url.clone()).await;
    let rcpts = ["r1@example.org", "r2@example.org", "r3@example.org"];
    let mut ids = Vec::new();
    for i in 0..4 {
        let reply = client
            .send_message(
                "m@example.net",
                &rcpts,
                &with_executable(&format!("race{i}"), ""),
            )
            .await
            .unwrap();
        ids.push(held(&reply));
    }
    for id in &ids {
        for who in ["alice", "bob"] {
            cli(&db.url, &["quarantine", "approve", id, "--by", who])
                .await
                .ok();
        }
    }
    let relay = sink.addr().to_string();
    let mut races = Vec::new();
    for id in &ids {
        for who in ["alice", "bob"] {
            let (url, id, relay) = (db.url.clone(), id.clone(), relay.clone());
            races.push(tokio::spawn(async move {
                cli(
                    &url,
                    &["quarantine", "release", &id, "--by", who, "--relay", &relay],
                )
                .await
            }));
        }
    }
    for race in races {
        let CliOutput { code, stderr, .. } = race.await.unwrap();
        assert!(
            code == 0 || code == 4,
            "each release either delivers or finds nothing left: {code} {stderr}"
        );
    }
    let got = sink.wait_for_messages(ids.len(), WAIT).await;
    let mut per_rcpt = std::collections::HashMap::new();
    for m in &got {
        let text = String::from_utf8_lossy(&m.data);
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_string();
        for r in &m.rcpts {
            *per_rcpt.entry((subject.clone(), r.clone())).or_insert(0) += 1;
        }
    }
    assert_eq!(
        per_rcpt.len(),
        ids.len() * rcpts.len(),
        "every recipient of every message got it"
    );
    assert!(
        per_rcpt.values().all(|n| *n == 1),
        "nobody got a message twice: {per_rcpt:?}"
    );
}

quarantd_store::both_backends!(
    held_message_is_committed_before_250,
    whole_flow_through_serve_and_the_cli,
    two_processes_releasing_at_once_deliver_once
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_stopped_during_traffic_gives_4xx_and_loses_nothing() {
    run(
        Backend::MySql,
        "database_stopped_during_traffic",
        |db: TestDb| async move {
            let mariadb: std::net::SocketAddr = "127.0.0.1:3306".parse().unwrap();
            let proxy = Proxy::start(mariadb).await.unwrap();
            let via_proxy = db.url.replace("127.0.0.1:3306", &proxy.addr().to_string());
            assert_ne!(
                via_proxy, db.url,
                "test database URL goes through 127.0.0.1:3306: {}",
                db.url
            );
            let (sink, daemon, mut client) = serve_with_store(via_proxy).await;
            let mut held = Vec::new();
            let mut deferred = 0;
            for i in 0..30 {
                if i == 10 {
                    proxy.cut();
                }
                if i == 20 {
                    proxy.restore();
                }
                let reply = client
                    .send_message(
                        "m@example.net",
                        &["b@example.org"],
                        &with_executable(&format!("t{i}"), ""),
                    )
                    .await
                    .unwrap();
                match reply.code {
                    250 => held.push(common::held(&reply)),
                    451 => {
                        assert!(
                            reply
                                .text()
                                .starts_with("4.3.0 Quarantine store unavailable"),
                            "{reply}"
                        );
                        assert!(
                            (10..20).contains(&i),
                            "only while the database is away: message {i}: {reply}"
                        );
                        deferred += 1;
                    }
                    _ => panic!("message {i}: {reply}"),
                }
                let clean = client
                    .send_message(
                        "a@example.org",
                        &["b@example.org"],
                        &message(&format!("c{i}")),
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    clean.code, 250,
                    "mail that passes does not need the database: {clean}"
                );
            }
            assert!(deferred >= 9, "the cut was noticed: {deferred} deferred");
            // Each 451 is logged with the store's error as the cause, and transient: the
            // pipeline got the database's failure, not a flattened text.
            let failures =
                daemon.events("Cannot store the message in the quarantine; it is deferred.");
            assert_eq!(failures.len(), deferred, "{failures:?}");
            for event in &failures {
                assert_eq!(event["transient"], true, "{event}");
                let error = event["error"].as_str().unwrap_or_default();
                assert!(
                    error.starts_with("quarantine store failed: quarantine database "),
                    "{event}"
                );
            }
            assert!(held.len() >= 20);
            let store = db.open().await;
            for id in &held {
                assert_eq!(
                    store.get(id).await.unwrap().summary.status,
                    MessageStatus::Held,
                    "{id} answered 250 is stored"
                );
            }
            let all = store
                .list(&ListFilter {
                    limit: Some(100),
                    ..ListFilter::default()
                })
                .await
                .unwrap();
            assert_eq!(
                all.messages.len(),
                held.len(),
                "nothing answered 451 was stored half"
            );
            assert_eq!(sink.wait_for_messages(30, WAIT).await.len(), 30);
        },
    )
    .await;
}

/// `quarantine.approvals = { executable = 3 }` keeps the default `virus = 2`; the daemon
/// stores each message's number when it holds it, and the CLI uses that number whatever its
/// own config says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_configured_for_one_reason_keep_the_virus_default() {
    // A command-line "scanner": anything containing the marker is a virus.
    // Inbound viruses rejected (554 after the copy), as a site may ask.
    let scan = "[quarantine]\napprovals = { executable = 3 }\n\
        [policy]\n[policy.default.inbound]\nvirus = \"reject\"\n\
        [[scan.command]]\nname = \"marker\"\n\
        command = [\"/bin/sh\", \"-c\", \"if grep -q VIRUS-MARKER-7 \\\"$1\\\"; then echo 'FOUND: Test-Marker'; exit 1; fi; exit 0\", \"sh\", \"{}\"]\n\
        clean_exit_codes = [0]\ninfected_exit_codes = [1]\nvirus_regex = \"FOUND: (\\\\S+)\"\n";
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        scan: scan.to_string(),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    let url = quarantd_store::sqlite_url(&daemon.data_dir());
    let executable = held(
        &client
            .send_message(
                "m@example.net",
                &["b@example.org"],
                &with_executable("e3", ""),
            )
            .await
            .unwrap(),
    );
    let virus =
        b"From: s@example.net\r\nTo: b@example.org\r\nSubject: v1\r\n\r\nhello VIRUS-MARKER-7\r\n";
    let reply = client
        .send_message("s@example.net", &["b@example.org"], virus)
        .await
        .unwrap();
    assert_eq!(reply.code, 554, "{reply}");
    let store = quarantd_store::Store::open(&url, &Default::default())
        .await
        .unwrap();
    let rejected = store
        .list(&ListFilter {
            status: Some(MessageStatus::Rejected),
            ..ListFilter::default()
        })
        .await
        .unwrap();
    let virus_id = rejected.messages[0].id.clone();
    assert_eq!(
        store.get(&executable).await.unwrap().approvals_required,
        Some(3)
    );
    assert_eq!(
        store.get(&virus_id).await.unwrap().approvals_required,
        Some(2)
    );

    // The CLI's config says 1 for everything: the stored numbers still count.
    let dir = tempfile::tempdir().unwrap();
    let lax = dir.path().join("lax.toml");
    std::fs::write(
        &lax,
        "[quarantine]\ndefault_approvals = 1\napprovals = { executable = 1, virus = 1 }\n",
    )
    .unwrap();
    let approve = |id: String, by: &'static str| {
        let (url, lax) = (url.clone(), lax.clone());
        async move {
            let lax = lax.to_str().unwrap().to_string();
            cli(
                &url,
                &["quarantine", "approve", &id, "--by", by, "--config", &lax],
            )
            .await
            .ok()
            .stdout
        }
    };
    let out = approve(virus_id.clone(), "alice").await;
    assert!(
        out.contains("1 of 2") && out.contains("status rejected"),
        "{out}"
    );
    for (by, want) in [("alice", "1 of 3"), ("bob", "2 of 3"), ("carol", "3 of 3")] {
        let out = approve(executable.clone(), by).await;
        assert!(out.contains(want), "{by}: {out}");
    }
    assert_eq!(
        store.get(&executable).await.unwrap().summary.status,
        MessageStatus::Approved
    );
    client.cmd("QUIT").await.ok();
}
