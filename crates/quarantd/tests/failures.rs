//! Every failure becomes the right answer upstream: relay down, relay refusals, limits,
//! timeouts, a panicking stage, the allow-list and shutdown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{message, Daemon, Extra};
use quarantd_core::Decomposed;
use quarantd_pipeline::{Decompose, StageError};
use quarantd_runtime::ShutdownSignal;
use quarantd_testkit::{Client, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

async fn client(daemon: &Daemon) -> Client {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    client
}

#[tokio::test]
async fn relay_not_listening_gives_4xx() {
    let nowhere = quarantd_testkit::free_addr();
    let daemon = Daemon::start(nowhere, Extra::default()).await;
    let mut c = client(&daemon).await;
    let reply = c.cmd("MAIL FROM:<a@example.org>").await.unwrap();
    assert_eq!(reply.code, 451, "{reply}");
    assert!(reply.text().starts_with("4.4.1"), "{reply}");
}

#[tokio::test]
async fn relay_refusals_at_rcpt_are_passed_per_recipient() {
    let sink = Sink::start(SinkConfig {
        rcpt_replies: vec![
            (
                "unknown".into(),
                "550 5.1.1 <unknown@example.org>: user unknown".into(),
            ),
            ("full".into(), "452 4.2.2 mailbox full".into()),
        ],
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut c = client(&daemon).await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await.unwrap().code, 250);
    let ok = c.cmd("RCPT TO:<ok@example.org>").await.unwrap();
    let unknown = c.cmd("RCPT TO:<unknown@example.org>").await.unwrap();
    let full = c.cmd("RCPT TO:<full@example.org>").await.unwrap();
    assert_eq!((ok.code, unknown.code, full.code), (250, 550, 452));
    assert_eq!(unknown.text(), "5.1.1 <unknown@example.org>: user unknown");
    assert_eq!(c.data(&message("partial")).await.unwrap().code, 250);
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(
        got[0].rcpts,
        ["ok@example.org"],
        "only the recipient downstream accepted gets the message"
    );
}

#[tokio::test]
async fn relay_refusals_at_data_are_passed_with_their_class_and_text() {
    for (relay_reply, code) in [
        ("554 5.7.1 policy says no", 554),
        ("451 4.3.0 try later", 451),
    ] {
        let sink = Sink::start(SinkConfig {
            data_reply: Some(relay_reply.into()),
            ..SinkConfig::default()
        })
        .await
        .unwrap();
        let daemon = Daemon::start(sink.addr(), Extra::default()).await;
        let mut c = client(&daemon).await;
        let reply = c
            .send_message("a@example.org", &["b@example.org"], &message("data"))
            .await
            .unwrap();
        assert_eq!(reply.code, code, "{reply}");
        assert_eq!(
            reply.text(),
            relay_reply[4..],
            "downstream's text is passed on"
        );
        let event = daemon.wait_for_log("Message processed.", WAIT).await;
        assert!(
            event.contains(if code == 554 {
                "\"outcome\":\"reject\""
            } else {
                "\"outcome\":\"tempfail\""
            }),
            "{event}"
        );
    }
}

#[tokio::test]
async fn relay_that_never_answers_after_data_gives_4xx() {
    let sink = Sink::start(SinkConfig {
        never_answer_data: true,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let extra = Extra {
        relay: "data_timeout_secs = 1",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = client(&daemon).await;
    let reply = c
        .send_message("a@example.org", &["b@example.org"], &message("stall"))
        .await
        .unwrap();
    assert_eq!(reply.code, 451, "{reply}");
}

#[tokio::test]
async fn relay_refusal_at_mail_is_passed() {
    let sink = Sink::start(SinkConfig {
        mail_reply: Some("552 5.3.4 message too big for relay".into()),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut c = client(&daemon).await;
    let reply = c.cmd("MAIL FROM:<a@example.org>").await.unwrap();
    assert_eq!(reply.code, 552, "{reply}");
}

#[tokio::test]
async fn oversize_message_gets_552_and_nothing_is_delivered() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "max_message_size = 1000",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = client(&daemon).await;
    let declared = c.cmd("MAIL FROM:<a@example.org> SIZE=5000").await.unwrap();
    assert_eq!(declared.code, 552, "{declared}");
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(3000));
    let reply = c
        .send_message("a@example.org", &["b@example.org"], big.as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.code, 552, "{reply}");
    assert!(reply.text().starts_with("5.3.4"));
    let small = c
        .send_message("a@example.org", &["b@example.org"], &message("small"))
        .await
        .unwrap();
    assert_eq!(
        small.code, 250,
        "the session goes on after an oversize message: {small}"
    );
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert!(String::from_utf8_lossy(&got[0].data).contains("body small"));
}

#[tokio::test]
async fn too_many_recipients_gets_452() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "max_recipients = 2",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = client(&daemon).await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await.unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<r1@example.org>").await.unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<r2@example.org>").await.unwrap().code, 250);
    let third = c.cmd("RCPT TO:<r3@example.org>").await.unwrap();
    assert_eq!(third.code, 452, "{third}");
    assert!(third.text().starts_with("4.5.3"));
    assert_eq!(c.data(&message("two")).await.unwrap().code, 250);
    assert_eq!(sink.wait_for_messages(1, WAIT).await[0].rcpts.len(), 2);
}

#[tokio::test]
async fn idle_client_times_out_with_421() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "command_timeout_secs = 1",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = client(&daemon).await;
    let reply = c.read_reply().await.unwrap();
    assert_eq!(reply.code, 421, "{reply}");
    assert!(reply.text().starts_with("4.4.2"), "{reply}");
}

#[tokio::test]
async fn sessions_over_the_limit_get_421() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "max_sessions = 2",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let _a = client(&daemon).await;
    let _b = client(&daemon).await;
    let mut third = Client::connect(daemon.addr).await.unwrap();
    let reply = third.read_reply().await.unwrap();
    assert_eq!(reply.code, 421, "no slot freed within the wait: {reply}");
    assert!(reply.text().starts_with("4.7.0"), "{reply}");
    // A connection that arrives while all slots are taken waits for one to free up.
    let mut fourth = Client::connect(daemon.addr).await.unwrap();
    drop(_a);
    let greeting = fourth.read_reply().await.unwrap();
    assert_eq!(
        greeting.code, 220,
        "a freed session slot is handed to the waiting client: {greeting}"
    );
}

#[tokio::test]
async fn clients_outside_the_allow_list_are_refused() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "allowed_clients = [\"127.0.0.2\"]",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = Client::connect(daemon.addr).await.unwrap();
    assert_eq!(c.read_reply().await.unwrap().code, 554);
}

#[tokio::test]
async fn xforward_from_a_client_not_allowed_is_refused() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "xforward_clients = [\"127.0.0.2\"]",
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = Client::connect(daemon.addr).await.unwrap();
    let ehlo = c.handshake("mx").await.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("XFORWARD")));
    assert_eq!(c.cmd("XFORWARD ADDR=192.0.2.1").await.unwrap().code, 550);
}

#[tokio::test]
async fn protocol_errors_get_clear_replies() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut c = Client::connect(daemon.addr).await.unwrap();
    c.read_reply().await.unwrap();
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org>").await.unwrap().code,
        503,
        "EHLO first"
    );
    c.cmd("EHLO mx").await.unwrap();
    assert_eq!(c.cmd("RCPT TO:<b@example.org>").await.unwrap().code, 503);
    assert_eq!(c.cmd("DATA").await.unwrap().code, 503);
    assert_eq!(c.cmd("FOO bar").await.unwrap().code, 502);
    assert_eq!(
        c.cmd("MAIL FROM:<not an address").await.unwrap().code / 100,
        5
    );
    assert_eq!(
        c.cmd(&format!("NOOP {}", "x".repeat(5000)))
            .await
            .unwrap()
            .code,
        500
    );
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").await.unwrap().code, 250);
    assert_eq!(c.cmd("DATA").await.unwrap().code, 554, "no recipients");
    assert_eq!(c.cmd("RSET").await.unwrap().code, 250);
    assert_eq!(c.cmd("QUIT").await.unwrap().code, 221);
}

/// `serve::run` in this process on `raw` with `decompose` as its decomposition stage.
async fn serve_with(
    sink: &Sink,
    raw: quarantd_config::RawConfig,
    decompose: Box<dyn Decompose>,
) -> (
    std::net::SocketAddr,
    ShutdownSignal,
    tokio::task::JoinHandle<()>,
) {
    common::serve_in_process(sink.addr(), raw, |s| s.decompose = decompose, None).await
}

/// Fault injection: a decomposer that panics on a marker, otherwise the real one.
struct PanickyDecompose;

impl Decompose for PanickyDecompose {
    fn decompose(&self, raw: &[u8]) -> Result<Decomposed, StageError> {
        if raw.windows(17).any(|w| w == b"X-Test: panic-now") {
            panic!("injected panic in decompose");
        }
        Ok(quarantd_mime::decompose(
            raw,
            &quarantd_mime::Limits::default(),
        ))
    }
}

#[tokio::test]
async fn a_panicking_stage_gives_4xx_and_the_next_message_passes() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let raw = quarantd_config::RawConfig::default();
    let (addr, shutdown, server) = serve_with(&sink, raw, Box::new(PanickyDecompose)).await;

    let mut c = Client::connect(addr).await.unwrap();
    c.handshake("mx").await.unwrap();
    let bad = b"Subject: boom\r\nX-Test: panic-now\r\n\r\nbody\r\n";
    let reply = c
        .send_message("a@example.org", &["b@example.org"], bad)
        .await
        .unwrap();
    assert_eq!(reply.code, 451, "{reply}");
    assert!(reply.text().contains("decompose"), "{reply}");
    let good = c
        .send_message("a@example.org", &["b@example.org"], &message("after-panic"))
        .await
        .unwrap();
    assert_eq!(good.code, 250, "{good}");
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert!(String::from_utf8_lossy(&got[0].data).contains("after-panic"));
    assert!(sink
        .messages()
        .iter()
        .all(|m| !String::from_utf8_lossy(&m.data).contains("panic-now")));
    shutdown.trigger();
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
}

/// Fault injection: a decomposer that stays busy for `busy` whatever the timeout says (as
/// a parser stuck in hostile structure would), counting how many run at once.
struct StuckDecompose {
    busy: Duration,
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

impl Decompose for StuckDecompose {
    fn decompose(&self, raw: &[u8]) -> Result<Decomposed, StageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.busy);
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(quarantd_mime::decompose(
            raw,
            &quarantd_mime::Limits::default(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_analysis_keeps_its_permit_until_its_thread_ends() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut raw = quarantd_config::RawConfig::default();
    raw.analysis.workers = 1;
    raw.analysis.timeout_secs = 1;
    let most = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let stuck = Box::new(StuckDecompose {
        busy: Duration::from_secs(2),
        running: Arc::new(AtomicUsize::new(0)),
        most: Arc::clone(&most),
        calls: Arc::clone(&calls),
    });
    let (addr, shutdown, server) = serve_with(&sink, raw, stuck).await;
    let retries = (0..3).map(|i| async move {
        let mut c = Client::connect(addr).await.unwrap();
        c.handshake("mx").await.unwrap();
        let body = message(&format!("retry {i}"));
        c.send_message("a@example.org", &["b@example.org"], &body)
            .await
            .unwrap()
    });
    let replies = futures_join(retries).await;
    for reply in &replies {
        assert_eq!(reply.code, 451, "a timed-out analysis is a 4xx: {reply}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "while the one worker is busy the others are deferred, not kept waiting for it"
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "a stuck analysis still holds its worker: no second thread beside it"
    );
    assert!(sink.messages().is_empty());
    shutdown.trigger();
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
}

/// A bzip2 stream of 200 MiB of zeros (177 bytes): with the ratio limit lifted, unpacking
/// it keeps an analysis thread busy long after a 1 s analysis timeout has answered.
const SLOW_BOMB: &[u8] = include_bytes!("data/zeros-200mib.bz2");

#[tokio::test]
async fn sigterm_exits_while_an_analysis_thread_is_still_busy() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "drain_timeout_secs = 1",
        analysis: "timeout_secs = 1\nmax_time_secs = 300\nmax_ratio = 100000000\nmax_unpacked_bytes = 268435456",
        ..Extra::default()
    };
    let mut daemon = Daemon::start(sink.addr(), extra).await;
    let mut c = client(&daemon).await;
    let mut raw =
        b"Subject: slow\r\nContent-Type: application/octet-stream; name=\"z.bz2\"\r\n\r\n".to_vec();
    raw.extend_from_slice(SLOW_BOMB);
    raw.extend_from_slice(b"\r\n");
    let reply = c
        .send_message("a@example.org", &["b@example.org"], &raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 451, "{reply}");
    c.cmd("QUIT").await.unwrap();
    daemon.terminate();
    assert!(
        daemon.wait_exit(Duration::from_secs(5)).await,
        "the process exits after the drain, not when the busy thread is done"
    );
    assert!(sink.messages().is_empty());
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn sigterm_finishes_messages_in_flight_and_refuses_the_rest() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let mut daemon = Daemon::start(sink.addr(), Extra::default()).await;
    let mut idle = client(&daemon).await;
    let mut busy = client(&daemon).await;
    assert_eq!(
        busy.cmd("MAIL FROM:<a@example.org>").await.unwrap().code,
        250
    );
    assert_eq!(busy.cmd("RCPT TO:<b@example.org>").await.unwrap().code, 250);
    assert_eq!(busy.cmd("DATA").await.unwrap().code, 354);
    busy.send_raw(b"Subject: in flight\r\n\r\nfirst half\r\n")
        .await
        .unwrap();

    daemon.terminate();
    daemon.wait_for_log("Shutting down", WAIT).await;
    let bye = idle.read_reply().await.unwrap();
    assert_eq!(
        bye.code, 421,
        "an idle session is told the service is going away: {bye}"
    );

    busy.send_raw(b"second half\r\n.\r\n").await.unwrap();
    let done = busy.read_reply().await.unwrap();
    assert_eq!(done.code, 250, "the message in flight is finished: {done}");
    let got = sink.wait_for_messages(1, WAIT).await;
    assert!(String::from_utf8_lossy(&got[0].data).contains("second half"));
    assert!(daemon.wait_exit(WAIT).await, "clean exit");
    assert!(
        tokio::net::TcpStream::connect(daemon.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn after_the_drain_deadline_unfinished_sessions_get_421() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        server: "drain_timeout_secs = 1",
        ..Extra::default()
    };
    let mut daemon = Daemon::start(sink.addr(), extra).await;
    let mut slow = client(&daemon).await;
    assert_eq!(
        slow.cmd("MAIL FROM:<a@example.org>").await.unwrap().code,
        250
    );
    assert_eq!(slow.cmd("RCPT TO:<b@example.org>").await.unwrap().code, 250);
    assert_eq!(slow.cmd("DATA").await.unwrap().code, 354);
    slow.send_raw(b"Subject: never finished\r\n\r\n")
        .await
        .unwrap();
    daemon.terminate();
    let reply = slow.read_reply().await.unwrap();
    assert_eq!(reply.code, 421, "{reply}");
    assert!(daemon.wait_exit(WAIT).await);
    assert!(
        sink.messages().is_empty(),
        "nothing half-received is delivered"
    );
}
