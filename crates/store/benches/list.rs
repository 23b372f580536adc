//! `list` over a large quarantine, and storing 100 KB messages, on SQLite and MariaDB.
//!
//! ```text
//! cargo bench -p quarantd-store --bench list            # 1,000,000 messages per backend
//! QUARANTD_BENCH_N=100000 cargo bench -p quarantd-store --bench list
//! QUARANTD_BENCH_BACKENDS=sqlite cargo bench ...        # sqlite, mariadb or both (default)
//! ```
//!
//! Fills a fresh store with N small messages (batched inserts, 1,000 per transaction; two
//! recipients each out of 1,000 addresses in 20 domains, 100 senders, one or two reasons,
//! spread over 30 days), then times pages of 50 with each filter (first page and the nine
//! pages after it via the cursor), then stores 300 messages of 100 KB one at a time (one
//! durable commit each). MariaDB: the server at 127.0.0.1:3306, a database dropped afterwards.

use std::time::{Duration, Instant, SystemTime};

use quarantd_core::{Action, Held, Label, Part, PartPath, Verdict};
use quarantd_store::testing::{envelope, mysql_server_url, sized_raw};
use quarantd_store::{
    system_time_ms, Backend, ListFilter, MessageStatus, NewMessage, Store, StoreOptions,
};
use sqlx::Connection;

const REASONS: &[&str] = &[
    "executable",
    "vba-macro",
    "unscannable",
    "virus:Eicar-Test-Signature",
    "encrypted",
    "script",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("QUARANTD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let which = std::env::var("QUARANTD_BENCH_BACKENDS").unwrap_or_else(|_| "both".into());
    if which != "mariadb" {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = quarantd_store::sqlite_url(dir.path());
        bench("SQLite", &url, n).await;
    }
    if which != "sqlite" {
        let server = mysql_server_url();
        let name = format!("qdt_bench_{}", std::process::id());
        let mut conn = sqlx::mysql::MySqlConnection::connect(&server)
            .await
            .expect("MariaDB");
        sqlx::query(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .expect("create database");
        bench("MariaDB", &format!("{server}/{name}"), n).await;
        sqlx::query(&format!("DROP DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .expect("drop database");
    }
}

async fn bench(label: &str, url: &str, n: usize) {
    let store = Store::open(url, &StoreOptions::default())
        .await
        .expect("open");
    assert!(matches!(store.backend(), Backend::Sqlite | Backend::MySql));
    println!("== {label}: {n} messages");
    fill(&store, n).await;
    time_lists(&store).await;
    store_100k(&store, 300).await;
    store.close().await;
}

async fn fill(store: &Store, n: usize) {
    let start = Instant::now();
    let now = SystemTime::now();
    let raw = b"From: a@example.org\r\nTo: b@corp.test\r\nSubject: small\r\n\r\nhello\r\n".to_vec();
    let part = Part {
        path: PartPath::root(),
        filename: None,
        declared_type: Some("text/plain".into()),
        detected_type: None,
        size: raw.len() as u64,
        sha256: quarantd_mime::sha256_hex(&raw),
        labels: vec![Label::Executable],
        unscannable_reason: None,
    };
    let parts = vec![part];
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(1000);
        let mut envelopes = Vec::with_capacity(batch);
        let mut verdicts = Vec::with_capacity(batch);
        for i in done..done + batch {
            let r1 = format!("user{}@d{}.corp.test", i % 1000, i % 20);
            let r2 = format!("user{}@d{}.corp.test", (i * 7 + 3) % 1000, (i * 7 + 3) % 20);
            let sender = format!("sender{}@ext{}.example", i % 100, i % 10);
            let mut env = envelope(&sender, &[r1.as_str(), r2.as_str()]);
            let age = Duration::from_secs(((i as u64) * 2_592_000) / n as u64);
            env.received_at = now - age;
            envelopes.push(env);
            let mut reasons = vec![REASONS[i % 5].to_string()];
            if i % 1000 == 0 {
                reasons.push(REASONS[5].into());
            }
            verdicts.push(Verdict {
                action: Action::Quarantine,
                reasons,
            });
        }
        let msgs: Vec<NewMessage<'_>> = envelopes
            .iter()
            .zip(&verdicts)
            .map(|(env, verdict)| NewMessage {
                held: Held {
                    envelope: env,
                    raw: &raw,
                    parts: &parts,
                    findings: &[],
                    verdict,
                    direction: "inbound",
                },
                node: "bench",
                approvals_required: None,
                outbox: None,
            })
            .collect();
        store.insert_batch(&msgs).await.expect("insert batch");
        done += batch;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fill: {n} messages in {secs:.1} s ({:.0} messages/s, batches of 1000)",
        n as f64 / secs
    );
}

async fn time_lists(store: &Store) {
    let day_ago = system_time_ms(SystemTime::now() - Duration::from_secs(86_400));
    let cases: Vec<(&str, ListFilter)> = vec![
        ("no filter", ListFilter::default()),
        (
            "--rcpt user42@d2.corp.test",
            ListFilter {
                rcpt: Some("user42@d2.corp.test".into()),
                ..Default::default()
            },
        ),
        (
            "--domain d3.corp.test",
            ListFilter {
                domain: Some("d3.corp.test".into()),
                ..Default::default()
            },
        ),
        (
            "--reason virus",
            ListFilter {
                reason: Some("virus".into()),
                ..Default::default()
            },
        ),
        (
            "--reason script (0.1 %)",
            ListFilter {
                reason: Some("script".into()),
                ..Default::default()
            },
        ),
        (
            "--sender sender7@ext7.example",
            ListFilter {
                sender: Some("sender7@ext7.example".into()),
                ..Default::default()
            },
        ),
        (
            "--status held",
            ListFilter {
                status: Some(MessageStatus::Held),
                ..Default::default()
            },
        ),
        (
            "--since 1 day ago",
            ListFilter {
                since: Some(day_ago),
                ..Default::default()
            },
        ),
        (
            "--rcpt + --reason unscannable",
            ListFilter {
                rcpt: Some("user42@d2.corp.test".into()),
                reason: Some("unscannable".into()),
                ..Default::default()
            },
        ),
        (
            "--domain + --sender",
            ListFilter {
                domain: Some("d4.corp.test".into()),
                sender: Some("sender4@ext4.example".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in cases {
        let filter = ListFilter {
            limit: Some(50),
            ..filter
        };
        let mut times = Vec::new();
        let mut after = None;
        let mut rows = 0;
        for _ in 0..10 {
            let t = Instant::now();
            let page = store
                .list(&ListFilter {
                    after: after.clone(),
                    ..filter.clone()
                })
                .await
                .expect("list");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rows += page.messages.len();
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        let avg = times.iter().sum::<f64>() / times.len() as f64;
        let max = times.iter().cloned().fold(0.0, f64::max);
        println!(
            "list {name:<34} first page {:>7.2} ms, avg {avg:>7.2} ms/page, max {max:>7.2} ms ({} pages, {rows} rows)",
            times[0],
            times.len()
        );
    }
}

async fn store_100k(store: &Store, count: usize) {
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| sized_raw(100 * 1024, i + 1)).collect();
    let verdict = Verdict {
        action: Action::Quarantine,
        reasons: vec!["executable".into()],
    };
    let start = Instant::now();
    for i in 0..count {
        let env = envelope("a@example.org", &["b@corp.test"]);
        let msg = NewMessage {
            held: Held {
                envelope: &env,
                raw: &bodies[i % bodies.len()],
                parts: &[],
                findings: &[],
                verdict: &verdict,
                direction: "inbound",
            },
            node: "bench",
            approvals_required: None,
            outbox: None,
        };
        store.insert(&msg).await.expect("insert 100 KB");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "store 100 KB messages: {count} in {secs:.2} s = {:.0} messages/s (one durable commit each, sequential)",
        count as f64 / secs
    );
}
