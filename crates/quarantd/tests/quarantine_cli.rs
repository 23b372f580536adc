//! The postmaster's quarantine commands, through the real binary, on SQLite and on MariaDB:
//! messages are seeded with `Store::insert`, then `quarantd quarantine ...` and
//! `quarantd audit` run against the same store with `--store URL`; releases go to a real SMTP
//! sink. Exit codes: 2 usage, 3 not found, 4 state forbids, 75 unavailable.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::{Duration, SystemTime};

use quarantd_store::format_time;
use quarantd_store::testing::{Sample, TestDb};
use quarantd_store::{both_backends, Store};
use quarantd_testkit::{wait_until, Cli, CliOutput, Sink, SinkConfig};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Short timeouts, one delivery attempt, a longer retention for viruses.
const CONFIG: &str = "\
[relay]
connect_timeout_secs = 2
[quarantine]
acquire_timeout_secs = 2
release_max_attempts = 1
retention_days_per_reason = { virus = 90 }
stale_claim_after_secs = 1
";

/// Runs the binary against one store with the test config.
struct Q {
    /// `quarantd` with `--store URL --config FILE` after the arguments, environment untouched.
    cli: Cli,
    _dir: tempfile::TempDir,
}

impl Q {
    fn new(db: &TestDb) -> Q {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("quarantd.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let cli = Cli::new(env!("CARGO_BIN_EXE_quarantd")).trailing([
            OsStr::new("--store"),
            OsStr::new(&db.url),
            OsStr::new("--config"),
            config.as_os_str(),
        ]);
        Q { cli, _dir: dir }
    }

    /// `quarantd ARGS --store URL --config FILE`, as this process's user (root in the test
    /// machines: `--by` is trusted automation's) without sudo; `$USER` says nothing.
    async fn run(&self, args: &[&str]) -> CliOutput {
        self.run_env(
            args,
            &[
                ("USER", Some("tester")),
                ("SUDO_USER", None),
                ("SUDO_UID", None),
            ],
        )
        .await
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> CliOutput {
        let mut cli = self.cli.clone();
        for (name, value) in env {
            cli = match value {
                Some(v) => cli.env(name, v),
                None => cli.env_remove(name),
            };
        }
        cli.run_async(args).await
    }

    /// The ids `list ARGS --json` prints, in order.
    async fn list(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["quarantine", "list", "--json"];
        all.extend_from_slice(args);
        let doc = self.run(&all).await.ok().json();
        ids(&doc)
    }

    async fn show_json(&self, id: &str) -> Value {
        self.run(&["quarantine", "show", id, "--json"])
            .await
            .ok()
            .json()
    }

    /// `(actor, action)` of every audit entry of `id`.
    async fn audit(&self, id: &str) -> Vec<(String, String)> {
        let doc = self.run(&["audit", id, "--json"]).await.ok().json();
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap().to_string(),
                    e["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn ids(doc: &Value) -> Vec<String> {
    doc["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The uid of `nobody` on Debian, to play the person behind `sudo`.
const NOBODY_UID: &str = "65534";

/// The name this test process acts as (its real uid's entry in the password database).
fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_lowercase()
}

async fn seed(store: &Store, sample: &Sample) -> String {
    store.insert(&sample.as_new()).await.expect("insert")
}

fn ago(d: Duration) -> SystemTime {
    SystemTime::now() - d
}

/// Part `path` of `raw`, decoded, as the store's decomposition sees it.
fn decoded_part(raw: &[u8], path: &str) -> Vec<u8> {
    quarantd_mime::decompose(raw, &quarantd_mime::Limits::default())
        .parts
        .into_iter()
        .find(|p| p.part.path.0 == path)
        .expect("part exists")
        .content
}

both_backends!(
    list_filters_pages_and_json,
    show_metadata_raw_and_part_audited,
    four_eyes_release_to_a_sink,
    state_errors_unknown_ids_and_actors,
    expire_removes_what_is_past_retention,
    signature_from_a_quarantined_part,
    resume_takes_over_a_dead_jobs_claim,
    approvals_are_the_stored_number_by_distinct_normalised_names,
    rejected_copy_is_listed_and_released_only_explicitly,
);

async fn list_filters_pages_and_json(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let m1 = Sample::new("a@example.org", &["x@one.test"], &["executable"]).received(ago(HOUR));
    let m2 = Sample::new(
        "b@example.org",
        &["y@two.test", "z@one.test"],
        &["virus:Eicar-Test-Signature"],
    )
    .received(ago(2 * DAY));
    let m3 = Sample::new("A@Example.org", &["Y@two.test"], &["vba-macro"]).received(ago(10 * DAY));
    let (id1, id2, id3) = (
        seed(&store, &m1).await,
        seed(&store, &m2).await,
        seed(&store, &m3).await,
    );
    q.run(&["quarantine", "delete", &id3, "--by", "alice"])
        .await
        .ok();

    assert_eq!(
        q.list(&[]).await,
        [id1.as_str(), id2.as_str(), id3.as_str()]
    );
    assert_eq!(q.list(&["--rcpt", "x@one.test"]).await, [id1.as_str()]);
    assert_eq!(
        q.list(&["--rcpt", "Y@TWO.test"]).await,
        [id2.as_str(), id3.as_str()]
    );
    assert_eq!(
        q.list(&["--sender", "a@example.org"]).await,
        [id1.as_str(), id3.as_str()]
    );
    assert_eq!(
        q.list(&["--domain", "one.test"]).await,
        [id1.as_str(), id2.as_str()]
    );
    assert_eq!(q.list(&["--reason", "virus"]).await, [id2.as_str()]);
    assert_eq!(q.list(&["--reason", "vba-macro"]).await, [id3.as_str()]);
    assert_eq!(q.list(&["--status", "deleted"]).await, [id3.as_str()]);
    assert_eq!(
        q.list(&["--status", "held"]).await,
        [id1.as_str(), id2.as_str()]
    );
    assert_eq!(q.list(&["--since", "1d"]).await, [id1.as_str()]);
    assert_eq!(
        q.list(&["--since", "3d"]).await,
        [id1.as_str(), id2.as_str()]
    );
    assert_eq!(
        q.list(&["--until", "1d"]).await,
        [id2.as_str(), id3.as_str()]
    );
    assert_eq!(
        q.list(&["--since", "5d", "--until", "30m"]).await,
        [id1.as_str(), id2.as_str()]
    );
    let five_days_ago = format_time(quarantd_store::system_time_ms(ago(5 * DAY)));
    assert_eq!(
        q.list(&["--since", &five_days_ago]).await,
        [id1.as_str(), id2.as_str()]
    );
    let today = &format_time(quarantd_store::now_ms())[..10];
    assert!(q.list(&["--until", today]).await.contains(&id3));
    assert_eq!(
        q.list(&["--domain", "two.test", "--sender", "a@example.org"])
            .await,
        [id3.as_str()]
    );
    assert!(q.list(&["--rcpt", "nobody@one.test"]).await.is_empty());

    // JSON fields.
    let doc = q
        .run(&["quarantine", "list", "--json", "--reason", "virus"])
        .await
        .ok()
        .json();
    let m = &doc["messages"][0];
    assert_eq!(m["id"], id2.as_str());
    assert_eq!(m["status"], "held");
    assert_eq!(m["mail_from"], "b@example.org");
    assert_eq!(m["subject"], "Invoice");
    assert_eq!(m["size"], m2.raw.len());
    assert_eq!(m["direction"], "inbound");
    assert_eq!(
        m["reasons"],
        serde_json::json!(["virus:Eicar-Test-Signature"])
    );
    assert!(m["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(m["received_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(doc["next"], Value::Null);

    // Pages of one, following the cursor.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["quarantine", "list", "--json", "--limit", "1"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let doc = q.run(&args).await.ok().json();
        seen.extend(ids(&doc));
        match doc["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, [id1.as_str(), id2.as_str(), id3.as_str()]);

    // The human table and its cursor line.
    let out = q
        .run(&["quarantine", "list", "--limit", "2"])
        .await
        .ok()
        .stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("SUBJECT"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&id1)
            && lines[1].contains("executable")
            && lines[1].contains("Invoice"),
        "{out}"
    );
    assert!(
        lines[2].starts_with(&id2) && lines[2].contains("b@example.org"),
        "{out}"
    );
    let more = lines[3]
        .strip_prefix("more: --after ")
        .expect("cursor line");
    let rest = q
        .run(&["quarantine", "list", "--after", more])
        .await
        .ok()
        .stdout;
    assert!(rest.contains(&id3) && !rest.contains(&id1), "{rest}");
    let none = q
        .run(&["quarantine", "list", "--rcpt", "nobody@x.test"])
        .await
        .ok()
        .stdout;
    assert!(none.contains("no messages"), "{none}");

    // Bad arguments are clap's: exit 2.
    for bad in [
        &["--status", "bogus"][..],
        &["--since", "yesterday"],
        &["--limit", "0"],
        &["--after", "nonsense"],
    ] {
        let mut args = vec!["quarantine", "list"];
        args.extend_from_slice(bad);
        q.run(&args).await.fails(2, "invalid value");
    }
}

async fn show_metadata_raw_and_part_audited(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let m = Sample::new(
        "b@example.org",
        &["y@two.test", "z@one.test"],
        &["virus:Eicar-Test-Signature"],
    );
    let id = seed(&store, &m).await;

    let text = q.run(&["quarantine", "show", &id]).await.ok().stdout;
    for needle in [
        format!("id:         {id}"),
        "status:     held".into(),
        "mail from: <b@example.org>".into(),
        "client:    192.0.2.7 helo client-helo.example.net".into(),
        "y@two.test  held  attempts 0".into(),
        "z@one.test  held".into(),
        "Subject:    Invoice".into(),
        "name \"a.zip\"".into(),
        "virus clamd Eicar-Test-Signature in part 2".into(),
        "quarantine".into(),
    ] {
        assert!(text.contains(&needle), "show lacks {needle:?}:\n{text}");
    }
    let doc = q.show_json(&id).await;
    assert_eq!(doc["status"], "held");
    assert_eq!(doc["recipients"][0]["address"], "y@two.test");
    assert_eq!(doc["recipients"][1]["status"], "held");
    assert_eq!(doc["client_addr"], "192.0.2.7");
    assert_eq!(doc["has_content"], true);
    assert_eq!(doc["sha256"], quarantd_mime::sha256_hex(&m.raw));
    // The root part (the message itself) carries the message's hash, filled by the store.
    assert_eq!(doc["parts"][0]["path"], "");
    assert_eq!(doc["parts"][0]["sha256"], doc["sha256"]);
    assert!(doc["parts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["path"] == "2" && p["filename"] == "a.zip"));
    assert_eq!(doc["findings"][0]["name"], "Eicar-Test-Signature");

    // --raw is byte-exact; --part is the decoded part; both audited with the actor.
    let raw = q
        .run(&["quarantine", "show", &id, "--raw", "--by", "alice"])
        .await
        .ok();
    assert_eq!(raw.raw_stdout, m.raw, "show --raw must be byte-exact");
    let part = q
        .run(&["quarantine", "show", &id, "--part", "2"])
        .await
        .ok();
    assert_eq!(part.raw_stdout, decoded_part(&m.raw, "2"));
    assert!(part.raw_stdout.starts_with(b"PK"), "the zip, decoded");
    // Through sudo: the user behind it (uid 65534 is `nobody`), whatever $SUDO_USER says.
    let sudo = q
        .run_env(
            &["quarantine", "show", &id, "--part", "1"],
            &[("SUDO_UID", Some(NOBODY_UID)), ("SUDO_USER", Some("dave"))],
        )
        .await
        .ok();
    assert!(sudo.stdout.contains("Please see attached."));
    let no_env = q
        .run_env(
            &["quarantine", "show", &id, "--raw"],
            &[("USER", None), ("SUDO_USER", None), ("SUDO_UID", None)],
        )
        .await
        .ok();
    assert_eq!(no_env.raw_stdout, m.raw);
    q.run(&["quarantine", "show", &id, "--part", "9/nothing"])
        .await
        .fails(3, "has no part");
    q.run(&["quarantine", "show", &id, "--raw", "--part", "2"])
        .await
        .fails(2, "cannot be used with");

    let audit = q.audit(&id).await;
    let views: Vec<(&str, &str)> = audit
        .iter()
        .filter(|(_, action)| action.starts_with("view-"))
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        views,
        [
            ("alice", "view-raw"),
            (me().as_str(), "view-part"),
            ("nobody", "view-part"),
            (me().as_str(), "view-raw"),
        ],
        "{audit:?}"
    );
    assert_eq!(audit[0].1, "quarantine", "{audit:?}");
    let human = q.run(&["audit", &id]).await.ok().stdout;
    assert!(
        human.starts_with("TIME") && human.contains("view-raw") && human.contains("alice"),
        "{human}"
    );
    // Metadata views are not content views: not audited.
    q.run(&["quarantine", "show", &id]).await.ok();
    assert_eq!(q.audit(&id).await.len(), audit.len());
}

async fn four_eyes_release_to_a_sink(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let relay = sink.addr().to_string();
    let m = Sample::new(
        "b@example.org",
        &["r1@one.test", "r2@two.test"],
        &["virus:Eicar-Test-Signature"],
    );
    let id = seed(&store, &m).await;
    let release = |extra: &[&str]| {
        let mut args = vec![
            "quarantine",
            "release",
            id.as_str(),
            "--relay",
            relay.as_str(),
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let q = &q;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            q.run(&args).await
        }
    };

    // A recipient's request never releases a virus.
    let out = q
        .run(&[
            "quarantine",
            "request-release",
            &id,
            "--rcpt",
            "R1@one.test",
        ])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains("status release-requested") && out.contains("needs 2 approval"),
        "{out}"
    );
    q.run(&["quarantine", "request-release", &id, "--rcpt", "x@one.test"])
        .await
        .fails(4, "is not a recipient");

    // Four eyes: one approval is not enough, and nobody approves twice.
    let out = q
        .run(&["quarantine", "approve", &id, "--by", "alice"])
        .await
        .ok()
        .stdout;
    assert!(out.contains("1 of 2"), "{out}");
    q.run(&["quarantine", "approve", &id, "--by", "Alice"])
        .await
        .fails(4, "already approved");
    run(release(&["--by", "alice"]))
        .await
        .fails(4, "needs 2 approval(s)");
    assert!(sink.messages().is_empty(), "nothing released yet");
    let out = q
        .run(&["quarantine", "approve", &id, "--by", "bob"])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains("2 of 2") && out.contains("status approved"),
        "{out}"
    );

    // The relay down: deferred, exit 75, the recipient stays held.
    q.run(&[
        "quarantine",
        "release",
        &id,
        "--relay",
        "127.0.0.1:1",
        "--by",
        "alice",
    ])
    .await
    .fails(75, "try again later");
    assert_eq!(q.show_json(&id).await["recipients"][0]["status"], "held");

    // Release to one recipient, then the other.
    let out = run(release(&["--rcpt", "r1@one.test", "--by", "alice"]))
        .await
        .ok()
        .stdout;
    assert!(out.contains("r1@one.test: released (250"), "{out}");
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got[0].rcpts, ["r1@one.test"]);
    assert_eq!(got[0].mail_from, "b@example.org");
    let data = &got[0].data;
    let first_line = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = String::from_utf8_lossy(&data[..first_line]);
    assert!(
        header.starts_with("X-Quarantine-Released: by alice at ")
            && header.ends_with(&format!("; id={id}\r\n")),
        "{header:?}"
    );
    assert_eq!(&data[first_line..], &m.raw[..], "otherwise byte-identical");
    let doc = q.show_json(&id).await;
    assert_eq!(doc["recipients"][0]["status"], "released");
    assert_eq!(doc["recipients"][1]["status"], "held");
    assert_eq!(doc["status"], "approved");

    let out = run(release(&["--by", "bob"])).await.ok().stdout;
    assert!(out.contains("r2@two.test: released"), "{out}");
    let got = sink.wait_for_messages(2, WAIT).await;
    assert_eq!(got[1].rcpts, ["r2@two.test"]);
    assert!(got[1]
        .data
        .starts_with(b"X-Quarantine-Released: by bob at "));
    assert_eq!(&got[1].data[got[1].data.len() - m.raw.len()..], &m.raw[..]);
    assert_eq!(q.show_json(&id).await["status"], "released");
    assert_eq!(q.list(&["--status", "released"]).await, [id.as_str()]);

    // Never twice.
    run(release(&["--by", "bob"]))
        .await
        .fails(4, "no recipient left to release");
    let out = run(release(&["--rcpt", "r1@one.test", "--by", "bob"]))
        .await
        .fails(4, "nothing released");
    assert!(
        out.stdout
            .contains("r1@one.test: not sent (recipient is released)"),
        "{}",
        out.stdout
    );
    // Every release ran in a process that has ended: once the sink has finished with their
    // connections, whatever they sent is recorded.
    assert!(wait_until(WAIT, || sink.open_connections() == 0).await);
    assert_eq!(sink.messages().len(), 2, "each recipient got it once");

    // The audit log has every step with its actor.
    let audit = q.audit(&id).await;
    let has = |actor: &str, action: &str| {
        audit
            .iter()
            .any(|(a, b)| a.as_str() == actor && b.as_str() == action)
    };
    assert!(has("rcpt:r1@one.test", "request-release"), "{audit:?}");
    assert!(
        has("alice", "approve") && has("bob", "approve"),
        "{audit:?}"
    );
    assert!(
        has("alice", "claim") && has("alice", "released"),
        "{audit:?}"
    );
    assert!(has("bob", "claim") && has("bob", "released"), "{audit:?}");
    let actions: BTreeSet<&str> = audit.iter().map(|(_, b)| b.as_str()).collect();
    assert!(actions.contains("quarantine"), "{audit:?}");
    assert!(
        actions.contains("release-unclaimed") || actions.contains("release-deferred"),
        "the deferred attempt is logged: {audit:?}"
    );
    let all = q
        .run(&["audit", "--json", "--limit", "1000"])
        .await
        .ok()
        .json();
    assert!(all["entries"].as_array().unwrap().len() >= audit.len());
}

async fn state_errors_unknown_ids_and_actors(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let relay = sink.addr().to_string();
    let m = Sample::new("a@example.org", &["r1@one.test"], &["vba-macro"]);
    let id = seed(&store, &m).await;

    // --by from a person (here: through sudo) is refused, naming who they act as.
    q.run_env(
        &["quarantine", "approve", &id, "--by", "alice"],
        &[("SUDO_UID", Some(NOBODY_UID))],
    )
    .await
    .fails(2, "--by is accepted only from trusted automation")
    .fails(2, "you act as yourself (nobody, uid 65534)");
    // The user running the command is the default actor, not $USER.
    q.run(&["quarantine", "delete", &id]).await.ok();
    let audit = q.audit(&id).await;
    assert!(audit.contains(&(me(), "delete".into())), "{audit:?}");
    assert!(
        !audit.iter().any(|(actor, _)| actor == "tester"),
        "{audit:?}"
    );

    // Deleted: release, approve, delete again and content views are refused (exit 4).
    q.run(&[
        "quarantine",
        "release",
        &id,
        "--relay",
        &relay,
        "--by",
        "alice",
    ])
    .await
    .fails(4, "is deleted");
    q.run(&["quarantine", "approve", &id, "--by", "bob"])
        .await
        .fails(4, "is deleted");
    q.run(&["quarantine", "delete", &id, "--by", "bob"])
        .await
        .fails(4, "is deleted");
    q.run(&["quarantine", "show", &id, "--raw"])
        .await
        .fails(4, "is deleted");
    q.run(&[
        "quarantine",
        "request-release",
        &id,
        "--rcpt",
        "r1@one.test",
    ])
    .await
    .fails(4, "is deleted");
    let doc = q.show_json(&id).await;
    assert_eq!(doc["status"], "deleted");
    assert_eq!(doc["has_content"], false);
    assert_eq!(doc["recipients"][0]["status"], "deleted");
    assert!(sink.messages().is_empty());

    // The relay refuses permanently: exit 5, the recipient is `failed`.
    let refusing = Sink::start(SinkConfig {
        data_reply: Some("554 5.7.1 not wanted".into()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let other = seed(
        &store,
        &Sample::new("a@example.org", &["r2@one.test"], &["vba-macro"]),
    )
    .await;
    let out = q
        .run(&[
            "quarantine",
            "release",
            &other,
            "--relay",
            &refusing.addr().to_string(),
            "--by",
            "alice",
        ])
        .await
        .fails(5, "refused 1 recipient(s) permanently");
    assert!(
        out.stdout
            .contains("r2@one.test: refused by the relay (554"),
        "{}",
        out.stdout
    );
    assert_eq!(
        q.show_json(&other).await["recipients"][0]["status"],
        "failed"
    );

    // Unknown ids: exit 3 from every command.
    let unknown = "nosuchmessage0000000000000";
    for args in [
        vec!["quarantine", "show", unknown],
        vec!["quarantine", "show", unknown, "--raw"],
        vec!["quarantine", "show", unknown, "--part", "1"],
        vec!["quarantine", "approve", unknown, "--by", "alice"],
        vec!["quarantine", "delete", unknown, "--by", "alice"],
        vec!["quarantine", "release", unknown, "--relay", &relay],
        vec![
            "quarantine",
            "request-release",
            unknown,
            "--rcpt",
            "a@b.test",
        ],
        vec!["audit", unknown],
    ] {
        let out = q
            .run(&args)
            .await
            .fails(3, "no quarantined message with id");
        assert!(
            out.stderr.starts_with("quarantd: error: "),
            "{}",
            out.stderr
        );
    }
}

async fn expire_removes_what_is_past_retention(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let old = Sample::new("a@example.org", &["r@one.test"], &["vba-macro"]).received(ago(40 * DAY));
    let old_virus =
        Sample::new("a@example.org", &["r@one.test"], &["virus:X"]).received(ago(40 * DAY));
    let recent = Sample::new("a@example.org", &["r@one.test"], &["vba-macro"]).received(ago(DAY));
    let (old, old_virus, recent) = (
        seed(&store, &old).await,
        seed(&store, &old_virus).await,
        seed(&store, &recent).await,
    );
    let out = q
        .run(&["quarantine", "expire", "--by", "cron"])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains(&format!("expired {old}")) && out.contains("1 message(s) expired"),
        "{out}"
    );
    assert_eq!(
        q.list(&[]).await,
        [recent.as_str(), old_virus.as_str()],
        "virus kept 90 days"
    );
    q.run(&["quarantine", "show", &old])
        .await
        .fails(3, "no quarantined message");
    // The audit log outlives the message.
    let audit = q.audit(&old).await;
    assert_eq!(
        audit.last(),
        Some(&("cron".to_string(), "expire".to_string())),
        "{audit:?}"
    );
    let again = q.run(&["quarantine", "expire"]).await.ok().stdout;
    assert!(again.contains("0 message(s) expired"), "{again}");
}

async fn signature_from_a_quarantined_part(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let sigs = tempfile::tempdir().unwrap();
    let sig_dir = sigs.path().to_str().unwrap();
    let m = Sample::new("a@example.org", &["r@one.test"], &["executable"]);
    let id = seed(&store, &m).await;

    // No clamd configured: the files are written, RELOAD is skipped with a warning.
    let out = q
        .run(&[
            "signatures",
            "add",
            "--from-quarantine",
            &id,
            "--part",
            "2",
            "--name",
            "Local.Quarantined-1",
            "--signature-dir",
            sig_dir,
            "--by",
            "alice",
        ])
        .await
        .ok();
    assert!(
        out.stderr.contains("warning: no clamd given"),
        "{}",
        out.stderr
    );
    let part = decoded_part(&m.raw, "2");
    let hsb = std::fs::read_to_string(sigs.path().join("quarantd.hsb")).unwrap();
    let want = format!(
        "{}:{}:Local.Quarantined-1",
        quarantd_mime::sha256_hex(&part),
        part.len()
    );
    assert!(hsb.contains(&want), "{hsb:?} lacks {want:?}");
    let audit = q.audit(&id).await;
    assert!(
        audit.contains(&("alice".into(), "view-part".into())),
        "{audit:?}"
    );

    let sig = |extra: &[&str]| {
        let mut args = vec![
            "signatures",
            "add",
            "--name",
            "Local.Q-2",
            "--signature-dir",
            sig_dir,
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    for (extra, code, needle) in [
        (
            sig(&["--from-quarantine", &id, "--part", "7"]),
            3,
            "has no part",
        ),
        (
            sig(&[
                "--from-quarantine",
                "nosuchmessage0000000000000",
                "--part",
                "2",
            ]),
            3,
            "no quarantined message",
        ),
        (sig(&["--from-quarantine", &id]), 2, "--part"),
    ] {
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        q.run(&args).await.fails(code, needle);
    }
    let hsb_after = std::fs::read_to_string(sigs.path().join("quarantd.hsb")).unwrap();
    assert_eq!(hsb, hsb_after, "failed adds change nothing");
}

async fn resume_takes_over_a_dead_jobs_claim(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let relay = sink.addr().to_string();
    let m = Sample::new("a@example.org", &["r1@one.test"], &["vba-macro"]);
    let id = seed(&store, &m).await;
    // A job that claimed the recipient and died a while ago.
    let rcpts = vec!["r1@one.test".to_string()];
    let request = quarantd_store::ClaimRequest {
        rcpts: &rcpts,
        from: &[quarantd_store::RecipientStatus::Held],
        owner: "deadjob",
        approvals_needed: 0,
        actor: "alice",
    };
    let claimed = store
        .claim(&id, &request, quarantd_store::now_ms() - 10_000)
        .await
        .unwrap();
    assert_eq!(claimed, rcpts);
    let doc = q.show_json(&id).await;
    assert_eq!(doc["recipients"][0]["status"], "releasing");
    assert_eq!(doc["recipients"][0]["claim_owner"], "deadjob");
    // A plain release does not touch a claim; --resume takes it over.
    q.run(&[
        "quarantine",
        "release",
        &id,
        "--relay",
        &relay,
        "--by",
        "carol",
    ])
    .await
    .fails(4, "no recipient left to release");
    let out = q
        .run(&[
            "quarantine",
            "release",
            &id,
            "--resume",
            "--relay",
            &relay,
            "--by",
            "carol",
        ])
        .await
        .ok()
        .stdout;
    assert!(out.contains("r1@one.test: released"), "{out}");
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got[0].rcpts, ["r1@one.test"]);
    assert_eq!(
        q.show_json(&id).await["recipients"][0]["status"],
        "released"
    );
    q.run(&[
        "quarantine",
        "release",
        &id,
        "--resume",
        "--relay",
        &relay,
        "--by",
        "carol",
    ])
    .await
    .fails(4, "no stale claim");
    q.run(&[
        "quarantine",
        "release",
        &id,
        "--resume",
        "--rcpt",
        "r1@one.test",
    ])
    .await
    .fails(2, "cannot be used with");
    let audit = q.audit(&id).await;
    assert!(
        audit.contains(&("carol".into(), "resume".into()))
            && audit.contains(&("carol".into(), "released".into())),
        "{audit:?}"
    );
}

/// Database unreachable: a clear message and EX_TEMPFAIL, from every kind of command.
#[tokio::test]
async fn database_unreachable_is_a_tempfail() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarantd.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cli = Cli::new(env!("CARGO_BIN_EXE_quarantd"));
    let unreachable = cli.clone().trailing([
        OsStr::new("--store"),
        OsStr::new("mysql://root@127.0.0.1:1/x"),
        OsStr::new("--config"),
        config.as_os_str(),
    ]);
    for args in [
        &["quarantine", "list"][..],
        &["quarantine", "show", "x", "--raw"],
        &["quarantine", "release", "x", "--by", "alice"],
        &["audit"],
    ] {
        let out = unreachable.run_async(args).await;
        let stderr = &out.stderr;
        assert_eq!(out.code, 75, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("quarantd: error: cannot open the quarantine store mysql://root")
                && stderr.contains("127.0.0.1:1/x")
                && stderr.contains("unavailable")
                && stderr.contains("Connection refused"),
            "the cause is named, not a pool timeout: {args:?}: {stderr}"
        );
    }
    // A SQLite quarantine that does not exist is not created by the CLI.
    let missing = dir.path().join("nothing/quarantine.sqlite");
    let store = format!("sqlite://{}", missing.display());
    cli.run_async(&["quarantine", "list", "--store", &store])
        .await
        .fails(1, "no quarantine at");
    assert!(!missing.exists());
}

async fn approvals_are_the_stored_number_by_distinct_normalised_names(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    // Held by a daemon whose rules said 2 for vba-macro; this config says 1 (the default).
    let m = Sample::new("a@example.org", &["r1@one.test"], &["vba-macro"]).approvals_required(2);
    let id = seed(&store, &m).await;
    let out = q
        .run(&["quarantine", "approve", &id, "--by", "alice"])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains("1 of 2") && out.contains("status held"),
        "{out}"
    );
    // "Alice", "ALICE " and "ali<ZWJ>ce" are alice: one person approves once.
    for same in ["Alice", "ALICE ", "ali\u{200d}ce", "\u{ff41}lice"] {
        q.run(&["quarantine", "approve", &id, "--by", same])
            .await
            .fails(4, "alice has already approved");
    }
    q.run(&["quarantine", "approve", &id, "--by", "\u{200b} "])
        .await
        .fails(2, "empty once normalised");
    let out = q
        .run(&["quarantine", "approve", &id, "--by", "bob"])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains("2 of 2") && out.contains("status approved"),
        "{out}"
    );
    let doc = q.show_json(&id).await;
    let approvers: Vec<&str> = doc["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    assert_eq!(doc["approvals_required"], 2);
}

async fn rejected_copy_is_listed_and_released_only_explicitly(db: TestDb) {
    let store = db.open().await;
    let q = Q::new(&db);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let relay = sink.addr().to_string();
    let m = Sample::new(
        "a@example.org",
        &["r1@one.test"],
        &["virus:Eicar-Test-Signature"],
    )
    .rejected()
    .approvals_required(2);
    let id = seed(&store, &m).await;
    let held = seed(
        &store,
        &Sample::new("a@example.org", &["r1@one.test"], &["vba-macro"]),
    )
    .await;
    assert_eq!(q.list(&["--status", "rejected"]).await, [id.as_str()]);
    assert_eq!(q.list(&["--status", "held"]).await, [held.as_str()]);
    let doc = q.show_json(&id).await;
    assert_eq!(doc["status"], "rejected");
    assert_eq!(doc["recipients"][0]["status"], "rejected");
    // Content views and the audit work as for any stored message.
    let raw = q.run(&["quarantine", "show", &id, "--raw"]).await.ok();
    assert_eq!(raw.raw_stdout, m.raw);
    // Not releasable as held, even with every approval; not requestable.
    for name in ["alice", "bob"] {
        q.run(&["quarantine", "approve", &id, "--by", name])
            .await
            .ok();
    }
    assert_eq!(q.show_json(&id).await["status"], "rejected");
    let release = |extra: &'static [&'static str]| {
        let mut args = vec![
            "quarantine",
            "release",
            id.as_str(),
            "--relay",
            relay.as_str(),
        ];
        args.extend_from_slice(extra);
        args
    };
    q.run(&release(&["--by", "alice"]))
        .await
        .fails(4, "stored copy of a rejected message")
        .fails(4, "--rejected-copy");
    q.run(&release(&["--by", "alice", "--rcpt", "r1@one.test"]))
        .await
        .fails(4, "stored copy of a rejected message");
    q.run(&[
        "quarantine",
        "request-release",
        &id,
        "--rcpt",
        "r1@one.test",
    ])
    .await
    .fails(4, "is rejected");
    assert!(sink.transactions().is_empty(), "nothing was sent");
    // Explicitly: delivered.
    let out = q
        .run(&release(&["--by", "alice", "--rejected-copy"]))
        .await
        .ok()
        .stdout;
    assert!(out.contains("r1@one.test: released"), "{out}");
    assert_eq!(sink.wait_for_messages(1, WAIT).await.len(), 1);
    assert_eq!(q.show_json(&id).await["status"], "released");
}
