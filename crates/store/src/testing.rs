//! Test support (feature `testing`): a fresh database per test on each backend, and sample
//! messages. Used by this crate's tests and by `quarantd-release`'s.
//!
//! MariaDB tests use the server at `127.0.0.1:3306` (user `root`, no password; override with
//! `QUARANTD_TEST_MYSQL_URL`, a server URL without database). Each test creates the database
//! `qdt_<run>_<test>` (run id from `QUARANTD_TEST_RUN_ID`, set by `scripts/test.sh`, else
//! pid and time) and drops it afterwards, also when the test fails. SQLite tests use a
//! temporary directory.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quarantd_core::{
    Action, Envelope, Finding, Held, Label, MailParams, Part, PartPath, Recipient, Verdict,
    XForward,
};
use sqlx::Connection;

use crate::{Backend, NewMessage, NewOutboxRun, Store, StoreOptions};

/// A database for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// Which backend.
    pub backend: Backend,
    /// The store URL.
    pub url: String,
    name: String,
    server: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestDb {
    /// Opens a new store (pool) on this test's database.
    pub async fn open(&self) -> Store {
        Store::open(&self.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }

    /// The SQLite file's directory (SQLite only).
    pub fn dir(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().to_path_buf())
    }
}

/// The MariaDB server URL (no database).
pub fn mysql_server_url() -> String {
    std::env::var("QUARANTD_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

fn run_id() -> String {
    let id = std::env::var("QUARANTD_TEST_RUN_ID").unwrap_or_else(|_| {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{}_{}", std::process::id(), secs)
    });
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A database name under 64 characters, unique per run and test.
fn db_name(test: &str) -> String {
    let hash = quarantd_core::sha256_hex(test.as_bytes());
    let run = run_id();
    let short: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(24)
        .collect();
    let mut name = format!("qdt_{}_{}_{}", run, short, &hash[..8]);
    name.truncate(64);
    name
}

impl TestDb {
    async fn create(backend: Backend, test: &str) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                TestDb {
                    backend,
                    url: crate::sqlite_url(dir.path()),
                    name: String::new(),
                    server: String::new(),
                    _dir: Some(Arc::new(dir)),
                }
            }
            Backend::MySql => {
                let server = mysql_server_url();
                let name = db_name(test);
                let mut conn = sqlx::mysql::MySqlConnection::connect(&server)
                    .await
                    .unwrap_or_else(|e| panic!("MariaDB at {server} (tests need it): {e}"));
                sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .execute(&mut conn)
                    .await
                    .expect("drop old test database");
                sqlx::query(&format!("CREATE DATABASE `{name}`"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                TestDb {
                    backend,
                    url: format!("{server}/{name}"),
                    name,
                    server,
                    _dir: None,
                }
            }
        }
    }

    async fn drop_database(&self) {
        if self.backend != Backend::MySql {
            return;
        }
        if let Ok(mut conn) = sqlx::mysql::MySqlConnection::connect(&self.server).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// Runs one test case on a fresh database of `backend`, then drops the database, also when
/// the case panicked (the panic is passed on).
pub async fn run<F, Fut>(backend: Backend, test: &str, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = TestDb::create(backend, &format!("{test}_{backend:?}")).await;
    let outcome = tokio::spawn(case(db.clone())).await;
    db.drop_database().await;
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("test task failed: {err}");
    }
}

/// Declares each `async fn case(db: TestDb)` as two tests, `case::sqlite` and `case::mariadb`.
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::testing::run($crate::Backend::Sqlite, concat!(module_path!(), "::", stringify!($case)), super::$case).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    $crate::testing::run($crate::Backend::MySql, concat!(module_path!(), "::", stringify!($case)), super::$case).await;
                }
            }
        )*
    };
}

/// A message to quarantine, owning everything [`Held`] and [`NewMessage`] borrow.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The envelope (its id is fresh).
    pub envelope: Envelope,
    /// The raw message.
    pub raw: Vec<u8>,
    /// Parts with labels.
    pub parts: Vec<Part>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// The verdict.
    pub verdict: Verdict,
    /// Direction.
    pub direction: String,
    /// Approvals required, as the daemon records them (`None`: not recorded).
    pub approvals_required: Option<u32>,
    /// The notification run's owner and event, queued with the message.
    pub outbox: Option<(String, String)>,
}

impl Sample {
    /// A message from `from` to `rcpts`, held for `reasons` (e.g. `["executable"]`,
    /// `["virus:Eicar-Test-Signature"]`), with a text part and a zip attachment.
    pub fn new(from: &str, rcpts: &[&str], reasons: &[&str]) -> Sample {
        let raw = sample_raw(from, rcpts, "Invoice");
        let decomposed = quarantd_mime::decompose(&raw, &quarantd_mime::Limits::default());
        let mut parts: Vec<Part> = decomposed.parts.into_iter().map(|p| p.part).collect();
        let mut findings = Vec::new();
        for reason in reasons {
            if let Some((kind, name)) = reason.split_once(':') {
                findings.push(Finding {
                    kind: kind.into(),
                    engine: "clamd".into(),
                    name: name.into(),
                    part: Some(PartPath("2".into())),
                });
            } else if *reason == "executable" {
                if let Some(p) = parts.iter_mut().find(|p| p.path.0 == "2") {
                    p.add_label(Label::Executable);
                }
            }
        }
        Sample {
            envelope: envelope(from, rcpts),
            raw,
            parts,
            findings,
            verdict: Verdict {
                action: Action::Quarantine,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            },
            direction: "inbound".into(),
            approvals_required: None,
            outbox: None,
        }
    }

    /// The stored copy of a rejected message (verdict action `reject`).
    pub fn rejected(mut self) -> Sample {
        self.verdict.action = Action::Reject;
        self
    }

    /// Records the approvals required, as the daemon does at hold time.
    pub fn approvals_required(mut self, n: u32) -> Sample {
        self.approvals_required = Some(n);
        self
    }

    /// Queues a notification run of `owner` for `event` with the message.
    pub fn queued(mut self, owner: &str, event: &str) -> Sample {
        self.outbox = Some((owner.to_string(), event.to_string()));
        self
    }

    /// Sets when the message was received.
    pub fn received(mut self, at: SystemTime) -> Sample {
        self.envelope.received_at = at;
        self
    }

    /// Replaces the raw message.
    pub fn with_raw(mut self, raw: Vec<u8>) -> Sample {
        self.raw = raw;
        self
    }

    /// The message as the pipeline holds it.
    pub fn held(&self) -> Held<'_> {
        Held {
            envelope: &self.envelope,
            raw: &self.raw,
            parts: &self.parts,
            findings: &self.findings,
            verdict: &self.verdict,
            direction: &self.direction,
        }
    }

    /// The borrowed form the store takes.
    pub fn as_new(&self) -> NewMessage<'_> {
        NewMessage {
            held: self.held(),
            node: "mx1.test",
            approvals_required: self.approvals_required,
            outbox: self
                .outbox
                .as_ref()
                .map(|(owner, event)| NewOutboxRun { owner, event }),
        }
    }
}

/// An envelope with a fresh id, XFORWARD from a client, received now.
pub fn envelope(from: &str, rcpts: &[&str]) -> Envelope {
    let mut xforward = XForward::default();
    xforward.set("NAME", "client.example.net");
    xforward.set("ADDR", "192.0.2.7");
    xforward.set("HELO", "client-helo.example.net");
    Envelope {
        id: quarantd_core::id::new_id(),
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        helo: "localhost".into(),
        mail_from: from.into(),
        mail_params: MailParams::default(),
        recipients: rcpts.iter().map(|r| Recipient::plain(*r)).collect(),
        xforward,
        received_at: SystemTime::now(),
    }
}

/// A multipart message with a text part and a zip attachment (part `2`), with a line that
/// starts with a dot and trailing bytes that a careless store would change.
pub fn sample_raw(from: &str, rcpts: &[&str], subject: &str) -> Vec<u8> {
    let zip_b64 = "UEsDBAoAAAAAAAAAIQAAAAAAAAAAAAAAAAAFAAAAYS5leGVQSwECFAAKAAAAAAAAACEAAAAAAAAAAAAAAAAABQAAAAAAAAAAAAAAAAAAAAAAYS5leGVQSwUGAAAAAAEAAQAzAAAAIwAAAAAA";
    format!(
        "Received: from client.example.net\r\nFrom: Sender <{from}>\r\nTo: {}\r\n\
Subject: {subject}\r\nMessage-ID: <{}@example.net>\r\nDate: Tue, 1 Jul 2025 10:00:00 +0200\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease see attached.\r\n.leading dot\r\n\
trailing spaces   \r\n--b1\r\nContent-Type: application/zip; name=\"a.zip\"\r\n\
Content-Disposition: attachment; filename=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{zip_b64}\r\n--b1--\r\n",
        rcpts.join(", "),
        quarantd_core::id::new_id(),
    )
    .into_bytes()
}

/// A message of about `size` bytes (base64-looking lines), for benchmarks.
pub fn sized_raw(size: usize, seed: u64) -> Vec<u8> {
    let mut out = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: big\r\n\r\n".to_vec();
    let mut x = seed | 1;
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    while out.len() < size {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(B64[(x % 64) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The part at `path` of `raw` decomposed with the default limits: the finder tests give
/// [`Store::part`](crate::Store::part).
pub fn find_part(raw: Vec<u8>, path: &str) -> Option<crate::PartContent> {
    quarantd_mime::find_part(&raw, path, &quarantd_mime::Limits::default()).map(Into::into)
}

/// Runs one SQL statement on the store's database (fault injection: triggers that fail).
pub async fn execute(store: &Store, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&store.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A short pause for polling in tests.
pub const POLL: Duration = Duration::from_millis(10);
