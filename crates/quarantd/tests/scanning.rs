//! Virus scanning end to end on a real clamd (Debian's clamav-daemon, a private instance
//! with a signature directory this test writes): detections in every wrapping are held in
//! the quarantine (inbound viruses by default: no 554 that Postfix would bounce to a forged
//! sender), the clean corpus gets no finding, clamd down or silent gives 4xx, own signatures
//! take effect without a restart, a repeated attachment is answered from the cache, and the
//! daemon logs when clamd stops or starts answering its PINGs.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Daemon, Extra};
use quarantd_scan::clamd::{Clamd as ClamdClient, ClamdConfig};
use quarantd_scan::generation::GenerationWatch;
use quarantd_scan::{MessageScanner, MessageScannerConfig};
use quarantd_testkit::{held_id, Clamd, Cli, CliOutput, Client, Proxy, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(60);
const TESTFILES: &str = "/usr/share/clamav-testfiles";
const CORPUS: &str = "../../../shared/corpus/messages";

/// The EICAR test string, kept as hex so this file is not itself flagged by scanners.
const EICAR_HEX: &str = "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a";

fn eicar() -> Vec<u8> {
    (0..EICAR_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&EICAR_HEX[i..i + 2], 16).unwrap())
        .collect()
}

/// A signature directory with an EICAR body signature (.ndb) written here, and a running
/// clamd on it.
struct Setup {
    dir: tempfile::TempDir,
    clamd: Clamd,
}

impl Setup {
    fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("test-eicar.ndb"),
            format!("Test.EICAR-Body:0:*:{EICAR_HEX}\n"),
        )
        .unwrap();
        let clamd = Clamd::start(dir.path()).expect("clamd starts (scripts/install-test-deps.sh)");
        Setup { dir, clamd }
    }

    fn sig_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `quarantd signatures ARGS --signature-dir DIR --clamd SOCKET`.
    fn signatures(&self, args: &[&str]) -> CliOutput {
        let clamd = [OsStr::new("--clamd"), self.clamd.socket().as_os_str()];
        signatures(self.sig_dir(), args, &clamd)
    }

    fn add_signature(&self, args: &[&str]) {
        self.signatures(args).ok();
    }

    fn scan_section(&self, clamd_addr: &str) -> String {
        format!(
            "[scan]\nsignature_dir = \"{}\"\n[scan.clamd]\naddress = \"{clamd_addr}\"\ntimeout_secs = 30\n",
            self.sig_dir().display()
        )
    }

    async fn daemon(&self, sink: &Sink) -> Daemon {
        daemon_with_scan(
            sink,
            self.scan_section(&self.clamd.socket().display().to_string()),
        )
        .await
    }
}

/// Runs `quarantd signatures ARGS --signature-dir DIR MORE`.
fn signatures(dir: &Path, args: &[&str], more: &[&OsStr]) -> CliOutput {
    let all: Vec<&str> = ["signatures"].iter().chain(args).copied().collect();
    Cli::new(env!("CARGO_BIN_EXE_quarantd"))
        .trailing([OsStr::new("--signature-dir"), dir.as_os_str()])
        .trailing(more)
        .run(&all)
}

/// A daemon relaying to `sink` with `scan` as its scan sections.
async fn daemon_with_scan(sink: &Sink, scan: String) -> Daemon {
    Daemon::start(
        sink.addr(),
        Extra {
            scan,
            ..Extra::default()
        },
    )
    .await
}

/// A message with a text part and `content` attached as `name` (base64).
fn with_attachment(marker: &str, name: &str, content: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nsee attached, {marker}\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        quarantd_testkit::base64_lines(content, "\r\n")
    )
    .into_bytes()
}

/// A message with EICAR and `big` attached (base64).
fn eicar_and(marker: &str, big: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.net\r\nTo: b@example.org\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.net>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        quarantd_testkit::base64_lines(&eicar(), "\r\n"),
        quarantd_testkit::base64_lines(big, "\r\n")
    )
    .into_bytes()
}

/// `n` bytes that look like nothing (no magic, not text).
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `inner` forwarded as a message/rfc822 attachment.
fn nested(marker: &str, inner: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: c@example.org\r\nTo: d@example.org\r\nSubject: fwd {marker}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n\
         --b2\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(inner);
    out.extend_from_slice(b"\r\n--b2--\r\n");
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 7z archive with one member stored with the Copy coder.
fn seven_z(name: &str, data: &[u8]) -> Vec<u8> {
    assert!(data.len() < 0x4000 && name.len() < 50);
    let number = |n: usize| -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else {
            vec![0x80 | (n >> 8) as u8, n as u8]
        }
    };
    let mut header = vec![0x01, 0x04, 0x06, 0x00, 0x01, 0x09];
    header.extend(number(data.len()));
    header.extend([0x00, 0x07, 0x0B, 0x01, 0x00, 0x01, 0x01, 0x00, 0x0C]);
    header.extend(number(data.len()));
    header.extend([0x0A, 0x01]);
    header.extend(crc32(data).to_le_bytes());
    header.extend([0x00, 0x00, 0x05, 0x01, 0x11]);
    let utf16: Vec<u8> = name
        .encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect();
    header.extend(number(utf16.len() + 1));
    header.push(0x00);
    header.extend(utf16);
    header.extend([0x00, 0x00]);
    let mut start = Vec::new();
    start.extend((data.len() as u64).to_le_bytes());
    start.extend((header.len() as u64).to_le_bytes());
    start.extend(crc32(&header).to_le_bytes());
    let mut out = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
    out.extend(crc32(&start).to_le_bytes());
    out.extend(start);
    out.extend_from_slice(data);
    out.extend(header);
    out
}

async fn send(daemon: &Daemon, message: &[u8]) -> quarantd_testkit::Reply {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.set_timeout(WAIT);
    client.handshake("mx.example.org").await.unwrap();
    client
        .send_message("a@example.org", &["b@example.org"], message)
        .await
        .unwrap()
}

fn testfile(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(TESTFILES).join(name)).expect("clamav-testfiles installed")
}

#[tokio::test(flavor = "multi_thread")]
async fn viruses_are_held_bare_zipped_in_7z_and_nested() {
    let setup = Setup::start();
    let clam = format!("{TESTFILES}/clam.exe");
    setup.add_signature(&["add", &clam, "--name", "Test.ClamExe"]);
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = setup.daemon(&sink).await;

    let (eicar, clam) = (eicar(), testfile("clam.exe"));
    let eicar_7z = seven_z("eicar.com", &eicar);
    assert!(
        setup.clamd.scan(&eicar_7z).unwrap().contains("FOUND"),
        "the hand-made 7z opens in clamd"
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "eicar-bare",
            with_attachment("e1", "eicar.com", &eicar),
            "Test.EICAR-Body",
        ),
        (
            "eicar-zip",
            with_attachment(
                "e2",
                "eicar.zip",
                &quarantd_testkit::stored_zip(&[("eicar.com", eicar.as_slice())]),
            ),
            "Test.EICAR-Body",
        ),
        (
            "eicar-7z",
            with_attachment("e3", "eicar.7z", &eicar_7z),
            "Test.EICAR-Body",
        ),
        (
            "eicar-nested",
            nested("e4", &with_attachment("e4i", "eicar.com", &eicar)),
            "Test.EICAR-Body",
        ),
        (
            "clam-bare",
            with_attachment("c1", "clam.exe", &clam),
            "Test.ClamExe",
        ),
        (
            "clam-zip",
            with_attachment("c2", "clam.zip", &testfile("clam.zip")),
            "Test.ClamExe",
        ),
        (
            "clam-7z",
            with_attachment("c3", "clam.7z", &testfile("clam.7z")),
            "Test.ClamExe",
        ),
        (
            "clam-nested",
            nested("c4", &with_attachment("c4i", "clam.exe", &clam)),
            "Test.ClamExe",
        ),
        (
            "eicar-body",
            b"Subject: plain\r\n\r\n"
                .iter()
                .chain(eicar.iter())
                .copied()
                .collect(),
            "Test.EICAR-Body",
        ),
    ];
    for (label, message, virus) in cases {
        let reply = send(&daemon, &message).await;
        assert_eq!(reply.code, 250, "{label}: {reply}");
        assert!(held_id(&reply.text()).is_some(), "{label}: {reply}");
        assert!(
            reply.text().contains(virus),
            "{label}: {reply} names {virus}"
        );
    }
    assert!(sink.messages().is_empty(), "nothing reached the relay");
    let store = quarantd_store::Store::open_in_data_dir(&daemon.data_dir(), &Default::default())
        .await
        .unwrap();
    let filter = quarantd_store::ListFilter {
        reason: Some("virus".into()),
        ..Default::default()
    };
    let copies = store.list(&filter).await.unwrap();
    assert_eq!(copies.messages.len(), 9, "each message is held");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clean_corpus_gets_no_finding_from_clamd() {
    let setup = Setup::start();
    let scanner = MessageScanner::new(
        Box::new(ClamdClient::new(ClamdConfig::new(
            setup.clamd.socket().display().to_string().parse().unwrap(),
        ))),
        GenerationWatch::new(None, Duration::ZERO),
        MessageScannerConfig::default(),
    );
    let manifest = Path::new(CORPUS).join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&manifest).expect("shared corpus present");
    let mut count = 0;
    for line in text.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        let raw = std::fs::read(Path::new(CORPUS).join(file)).unwrap();
        let parts = quarantd_mime::decompose(&raw, &quarantd_mime::Limits::default()).parts;
        let report = scanner
            .scan_message(&raw, &parts)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(report.findings.is_empty(), "{file}: {:?}", report.findings);
        count += 1;
    }
    assert!(count > 300, "{count} corpus messages");
}

#[tokio::test(flavor = "multi_thread")]
async fn clamd_stopped_gives_4xx_and_nothing_passes() {
    let mut setup = Setup::start();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = setup.daemon(&sink).await;
    let reply = send(&daemon, &with_attachment("up", "a.txt", b"hello")).await;
    assert_eq!(reply.code, 250, "{reply}");
    setup.clamd.stop();
    for n in 0..3 {
        let reply = send(
            &daemon,
            &with_attachment(&format!("down{n}"), "a.txt", b"hello"),
        )
        .await;
        assert_eq!(reply.code, 451, "{reply}");
        assert!(
            reply.text().starts_with("4.3.0 Virus scan failed"),
            "{reply}"
        );
    }
    assert_eq!(
        sink.messages().len(),
        1,
        "only the message scanned while clamd was up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_pings_clamd_and_logs_when_it_goes_and_comes_back() {
    let setup = Setup::start();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    // clamd over TCP behind a proxy that the test cuts and restores.
    let proxy = Proxy::start(setup.clamd.tcp_addr()).await.unwrap();
    let scan = format!(
        "{}ping_interval_secs = 1\n",
        setup.scan_section(&proxy.addr().to_string())
    );
    let daemon = daemon_with_scan(&sink, scan).await;
    daemon
        .wait_for_log("clamd answers PING.", Duration::from_secs(30))
        .await;
    proxy.cut();
    let down = daemon
        .wait_for_log("clamd stopped answering PING", Duration::from_secs(30))
        .await;
    assert!(down.contains("WARN"), "{down}");
    let reply = send(&daemon, &with_attachment("cut", "a.txt", b"hello")).await;
    assert_eq!(reply.code, 451, "{reply}");
    proxy.restore();
    let back = daemon
        .wait_for_log("clamd answers PING again.", Duration::from_secs(30))
        .await;
    assert!(back.contains("ClamAV"), "the version is logged: {back}");
    let reply = send(&daemon, &with_attachment("back", "a.txt", b"hello")).await;
    assert_eq!(reply.code, 250, "{reply}");
    assert_eq!(
        sink.messages().len(),
        1,
        "only the message scanned after the return"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_clamd_times_out_with_4xx() {
    let setup = Setup::start();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let scan = setup
        .scan_section(&addr.to_string())
        .replace("timeout_secs = 30", "timeout_secs = 1");
    let daemon = daemon_with_scan(&sink, scan).await;
    let started = std::time::Instant::now();
    let reply = send(&daemon, &with_attachment("t", "a.txt", b"hello")).await;
    assert_eq!(reply.code, 451, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(sink.messages().is_empty());
    drop(silent);
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_added_later_are_detected_without_a_restart() {
    let setup = Setup::start();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = setup.daemon(&sink).await;
    let payload = format!(
        "a harmless file that becomes bad {}",
        quarantd_core::id::new_id()
    );
    let file: PathBuf = setup.sig_dir().join("payload.bin.src");
    std::fs::write(&file, &payload).unwrap();

    let first = send(
        &daemon,
        &with_attachment("before", "p.bin", payload.as_bytes()),
    )
    .await;
    assert_eq!(first.code, 250, "{first}");
    setup.add_signature(&["add", file.to_str().unwrap(), "--name", "Local.Fresh"]);
    let list = setup.signatures(&["list"]).ok().stdout;
    assert!(list.contains("Local.Fresh"), "{list}");
    let after = send(
        &daemon,
        &with_attachment("after", "p.bin", payload.as_bytes()),
    )
    .await;
    assert_eq!(after.code, 250, "{after}");
    assert!(held_id(&after.text()).is_some(), "{after}");
    assert!(after.text().contains("Local.Fresh"), "{after}");

    setup.add_signature(&[
        "add",
        "--archive-member-name",
        r"^invoice[0-9]+\.scr$",
        "--name",
        "Local.InvoiceScr",
    ]);
    let member = send(
        &daemon,
        &with_attachment(
            "m",
            "i.zip",
            &quarantd_testkit::stored_zip(&[("invoice42.scr", b"MZ harmless")]),
        ),
    )
    .await;
    assert_eq!(member.code, 250, "{member}");
    assert!(held_id(&member.text()).is_some(), "{member}");
    assert!(member.text().contains("Local.InvoiceScr"), "{member}");

    setup.add_signature(&["remove", "Local.Fresh"]);
    let removed = send(
        &daemon,
        &with_attachment("removed", "p.bin", payload.as_bytes()),
    )
    .await;
    assert_eq!(removed.code, 250, "{removed}");
    assert_eq!(sink.messages().len(), 2);
}

impl Setup {
    /// The generation file's content (`None` before the first change).
    fn generation(&self) -> Option<String> {
        std::fs::read_to_string(self.sig_dir().join("quarantd.generation")).ok()
    }

    fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.sig_dir().join(name)).ok()
    }

    /// `signatures add ARGS`, expected to fail: its standard error.
    fn add_refused(&self, args: &[&str]) -> String {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        let out = self.signatures(&all);
        assert_ne!(
            out.code, 0,
            "{args:?} succeeded: {}{}",
            out.stdout, out.stderr
        );
        out.stderr
    }
}

/// The reproduction of the issue: `(?i)inv\d+\.exe` was accepted (Rust syntax) and reported
/// as detected, yet clamd, reading POSIX, never matched `inv123.exe`. Now clamd's dialect is
/// checked, every new member-name signature is proven through clamd with a sample zip, and a
/// change clamd does not confirm is undone with the generation left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn member_name_signatures_are_in_clamds_dialect_and_proven_by_clamd() {
    let setup = Setup::start();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = setup.daemon(&sink).await;

    // Perl/Rust syntax: refused with what to write instead; nothing written.
    let err = setup.add_refused(&[
        "--archive-member-name",
        r"(?i)inv\d+\.exe",
        "--name",
        "Site.Test.Regex",
    ]);
    assert!(err.contains(r"`\d`") && err.contains("[0-9]"), "{err}");
    assert_eq!(setup.file("quarantd.cdb"), None);
    assert_eq!(setup.generation(), None);

    // The POSIX form: proven with a sample derived from it, then detected by the daemon.
    let stdout = setup
        .signatures(&[
            "add",
            "--archive-member-name",
            r"inv[0-9]+\.exe",
            "--name",
            "Site.Test.Regex",
        ])
        .ok()
        .stdout;
    assert!(
        stdout.contains("clamd detects a zip holding a member named \"inv0.exe\""),
        "{stdout}"
    );
    let zipped = send(
        &daemon,
        &with_attachment(
            "r",
            "i.zip",
            &quarantd_testkit::stored_zip(&[("inv123.exe", b"MZ")]),
        ),
    )
    .await;
    // An inbound virus is held silently (no 554 that Postfix would bounce).
    assert_eq!(zipped.code, 250, "{zipped}");
    assert!(
        held_id(&zipped.text()).is_some() && zipped.text().contains("virus:Site.Test.Regex"),
        "{zipped}"
    );

    // clamd's one extension, a leading (?i): the sample is derived in the other case.
    setup.add_signature(&[
        "add",
        "--archive-member-name",
        r"(?i)^INVOICE[0-9]+\.SCR$",
        "--name",
        "Site.Test.Case",
    ]);
    let cased = send(
        &daemon,
        &with_attachment(
            "c",
            "c.zip",
            &quarantd_testkit::stored_zip(&[("Invoice7.Scr", b"MZ")]),
        ),
    )
    .await;
    assert_eq!(cased.code, 250, "{cased}");
    assert!(cased.text().contains("virus:Site.Test.Case"), "{cased}");

    // A sample the regex does not match: refused before anything is written.
    let (cdb, generation) = (setup.file("quarantd.cdb"), setup.generation());
    let err = setup.add_refused(&[
        "--archive-member-name",
        r"^inv[0-9]+\.pdf$",
        "--sample-name",
        "invoice.pdf",
        "--name",
        "Site.Test.Wrong",
    ]);
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(setup.file("quarantd.cdb"), cdb);
    assert_eq!(setup.generation(), generation);

    // A sample clamd cannot match (it reads 255 bytes of a member's name): clamd loads the
    // signature but does not detect the sample, so the change is undone and clamd reloads
    // the previous files; the generation stays.
    let long = format!("{}123456789.exe", "x".repeat(250));
    let err = setup.add_refused(&[
        "--archive-member-name",
        r"^x+[0-9]+\.exe$",
        "--sample-name",
        &long,
        "--name",
        "Site.Test.Dead",
    ]);
    assert!(
        err.contains("does not detect") && err.contains("255") && err.contains("undone"),
        "{err}"
    );
    assert!(err.contains("Site.Test.Dead was not added"), "{err}");
    assert_eq!(setup.file("quarantd.cdb"), cdb);
    assert_eq!(setup.generation(), generation);
    let list = setup.signatures(&["list"]).ok().stdout;
    assert!(!list.contains("Site.Test.Dead"), "{list}");
    let short = send(
        &daemon,
        &with_attachment(
            "x",
            "x.zip",
            &quarantd_testkit::stored_zip(&[("x1.exe", b"MZ")]),
        ),
    )
    .await;
    assert_eq!(
        short.code, 250,
        "clamd runs without the undone signature: {short}"
    );
    assert!(!short.text().contains("Site.Test.Dead"), "{short}");
}

/// A hash signature is proven with the file itself; one clamd cannot scan (over the stream
/// limit, so never detected in mail either) is undone.
#[tokio::test(flavor = "multi_thread")]
async fn hash_signatures_are_proven_with_their_file() {
    let setup = Setup::start();
    let small = setup.sig_dir().join("small.bin.src");
    std::fs::write(&small, format!("bad file {}", quarantd_core::id::new_id())).unwrap();
    let stdout = setup
        .signatures(&["add", small.to_str().unwrap(), "--name", "Local.Small"])
        .ok()
        .stdout;
    assert!(stdout.contains("clamd detects the file"), "{stdout}");
    let generation = setup.generation();
    let hsb = setup.file("quarantd.hsb");

    let big = setup.sig_dir().join("big.bin.src");
    std::fs::write(&big, vec![b'z'; 26 * 1024 * 1024]).unwrap();
    let err = setup.add_refused(&[big.to_str().unwrap(), "--name", "Local.Big"]);
    assert!(
        err.contains("could not scan the file") && err.contains("undone"),
        "{err}"
    );
    assert_eq!(setup.file("quarantd.hsb"), hsb);
    assert_eq!(setup.generation(), generation);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_attachment_hits_the_cache() {
    let setup = Setup::start();
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = setup.daemon(&sink).await;
    let attachment = testfile("clam.pdf")
        .iter()
        .map(|b| b ^ 0x5a)
        .collect::<Vec<u8>>();
    for n in 0..3 {
        let reply = send(
            &daemon,
            &with_attachment(&format!("news{n}"), "news.bin", &attachment),
        )
        .await;
        assert_eq!(reply.code, 250, "{reply}");
    }
    let events = daemon.events("Message scanned.");
    let hits: Vec<u64> = events
        .iter()
        .map(|e| e["cache_hits"].as_u64().unwrap())
        .collect();
    assert_eq!(hits, [0, 1, 1], "{events:?}");
    assert_eq!(events[2]["total_cache_hits"], 2);
}

#[test]
fn bad_signature_input_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| signatures(dir.path(), args, &[]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["add", "--sha256", "abc", "--size", "3", "--name", "X"],
            "invalid SHA-256",
        ),
        (
            &[
                "add",
                "--sha256",
                &"a".repeat(64),
                "--size",
                "3",
                "--name",
                "bad name",
            ],
            "invalid signature name",
        ),
        (
            &["add", "--archive-member-name", "a:b", "--name", "X"],
            "invalid archive member regex",
        ),
        (&["add", "/nonexistent/file", "--name", "X"], "cannot read"),
        (&["remove", "Nope"], "no signature named"),
    ];
    for (args, expected) in cases {
        let out = run(args);
        assert_ne!(out.code, 0, "{args:?} succeeded");
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
    run(&[
        "add",
        "--sha256",
        &"a".repeat(64),
        "--size",
        "3",
        "--name",
        "Local.Ok",
    ])
    .ok();
    let dup = run(&[
        "add",
        "--sha256",
        &"b".repeat(64),
        "--size",
        "3",
        "--name",
        "Local.Ok",
    ]);
    assert!(dup.stderr.contains("exists already"), "{}", dup.stderr);
}

/// A scanner that is down makes `inspect` say tempfail with the scanner's own error behind
/// the stage's: the cause is kept, not flattened into "scan failed".
#[test]
fn inspect_names_the_cause_of_a_failed_scan() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarantd.toml");
    let socket = dir.path().join("no-clamd.ctl");
    std::fs::write(
        &config,
        format!("[scan.clamd]\naddress = \"{}\"\n", socket.display()),
    )
    .unwrap();
    let message = dir.path().join("m.eml");
    std::fs::write(&message, common::message("down")).unwrap();
    let (json, out) = inspect_json(&config, &message);
    let out = &out;
    assert_eq!(json["action"], "tempfail", "{out}");
    let reason = json["reasons"][0].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("stage scan failed: no verdict from the scanners: scanner clamd: down"),
        "{out}"
    );
}

/// Issue 11 A3: a detection is kept when another item of the message is over a scanner's
/// limits — the message is held (or rejected) as a virus, with `unscannable` on top, never
/// as merely unscannable.
#[tokio::test(flavor = "multi_thread")]
async fn a_detection_survives_another_item_over_the_size_limit() {
    let setup = Setup::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarantd.toml");
    std::fs::write(
        &config,
        format!(
            "[scan.clamd]\naddress = \"{}\"\nmax_stream_size = 4096\n",
            setup.clamd.socket().display()
        ),
    )
    .unwrap();
    let message = dir.path().join("m.eml");
    std::fs::write(&message, eicar_and("limit", &noise(20_000))).unwrap();
    let (json, out) = inspect_json(&config, &message);
    let out = &out;
    assert_eq!(json["action"], "quarantine", "{out}");
    let reasons = json["reasons"].to_string();
    assert!(reasons.contains("virus:Test.EICAR-Body"), "{out}");
    assert!(reasons.contains("unscannable"), "{out}");
    let findings = json["findings"].as_array().expect("findings kept");
    assert_eq!(findings.len(), 1, "{out}");
    assert!(
        findings[0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Test.EICAR-Body")),
        "{out}"
    );
    let root = &json["parts"][0];
    assert!(
        root["unscannable_reason"]
            .as_str()
            .is_some_and(|r| r.contains("size-limit")),
        "the failure is recorded beside the finding: {out}"
    );

    // The daemon holds it with the virus reason (so the virus approvals apply).
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let scan = format!(
        "{}max_stream_size = 4096\n",
        setup.scan_section(&setup.clamd.socket().display().to_string())
    );
    let daemon = daemon_with_scan(&sink, scan).await;
    let reply = send(&daemon, &eicar_and("limit2", &noise(20_000))).await;
    assert_eq!(reply.code, 250, "{reply}");
    assert!(held_id(&reply.text()).is_some(), "{reply}");
    assert!(reply.text().contains("virus:Test.EICAR-Body"), "{reply}");
    assert!(reply.text().contains("unscannable"), "{reply}");
    assert!(sink.messages().is_empty());
}

/// `quarantd inspect --json --config CONFIG MESSAGE`, which must succeed: its JSON and output.
fn inspect_json(
    config: &std::path::Path,
    message: &std::path::Path,
) -> (serde_json::Value, String) {
    let run = common::cli(&[
        "inspect",
        "--json",
        "--config",
        config.to_str().unwrap(),
        message.to_str().unwrap(),
    ])
    .ok();
    (run.json(), run.stdout)
}
