//! The content filter's transport through the real binary: what goes in comes out, with the
//! envelope, DSN parameters and XFORWARD attributes, plus quarantd's headers only.

mod common;

use std::time::Duration;

use common::{message, strip_added_headers, Daemon, Extra};
use quarantd_testkit::{wait_until, Client, Received, Sink, SinkConfig};

const WAIT: Duration = Duration::from_secs(20);

async fn setup() -> (Sink, Daemon) {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let daemon = Daemon::start(sink.addr(), Extra::default()).await;
    (sink, daemon)
}

/// Sends `body` from a@example.org to b@example.org, expects 250 and the one message the
/// sink then has.
async fn pass_one(daemon: &Daemon, sink: &Sink, body: &[u8]) -> Vec<Received> {
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    let reply = client
        .send_message("a@example.org", &["b@example.org"], body)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let got = sink.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    got
}

#[tokio::test]
async fn delivered_bytes_are_sent_bytes_plus_added_headers() {
    let (sink, daemon) = setup().await;
    let body = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: round trip\r\n\r\n\
.leading dot line\r\n..two dots\r\n.\r\nbare 8-bit: \xe4\xf6\xfc \xff\r\nlast line without dot\r\n";
    let got = pass_one(&daemon, &sink, body).await;
    assert_eq!(strip_added_headers(&got[0].data), body);
    let headers =
        String::from_utf8_lossy(&got[0].data[..got[0].data.len() - body.len()]).into_owned();
    assert!(
        headers.starts_with("X-Quarantd: quarantd 0.1.0 on filter.test; id="),
        "{headers}"
    );
    assert!(
        headers.contains("X-Quarantd-Verdict: pass\r\n"),
        "{headers}"
    );
    assert_eq!(got[0].mail_from, "a@example.org");
    assert_eq!(got[0].rcpts, ["b@example.org"]);
}

#[tokio::test]
async fn forged_quarantd_headers_are_replaced_by_ours() {
    let (sink, daemon) = setup().await;
    let body = b"From: a@example.org\r\nX-Quarantd-Verdict: pass\r\n\t(trust me)\r\n\
X-Quarantd: quarantd 0.1.0 on forged.example; id=x\r\nSubject: forged\r\n\r\n\
X-Quarantd-Verdict: a body line is not a header\r\n";
    let got = pass_one(&daemon, &sink, body).await;
    let text = String::from_utf8_lossy(&got[0].data).into_owned();
    assert_eq!(
        strip_added_headers(&got[0].data),
        b"From: a@example.org\r\nSubject: forged\r\n\r\n\
X-Quarantd-Verdict: a body line is not a header\r\n",
        "{text}"
    );
    assert_eq!(text.matches("X-Quarantd: ").count(), 1, "{text}");
    assert!(!text.contains("forged.example"), "{text}");
    assert!(!text.contains("trust me"), "{text}");
}

#[tokio::test]
async fn envelope_dsn_parameters_and_xforward_arrive_downstream() {
    let (sink, daemon) = setup().await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    let ehlo = client.handshake("mx.example.org").await.unwrap();
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "SIZE 52428800",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l == ext),
            "EHLO lacks {ext}: {ehlo}"
        );
    }
    assert!(
        ehlo.lines.iter().any(|l| l.starts_with("XFORWARD ")),
        "{ehlo}"
    );
    let xf = client
        .cmd("XFORWARD NAME=client.example.net ADDR=192.0.2.7 PORT=4711 PROTO=ESMTP HELO=client.example.net")
        .await
        .unwrap();
    assert_eq!(xf.code, 250);
    let xf = client
        .cmd("XFORWARD IDENT=4ABC12DEF SOURCE=REMOTE")
        .await
        .unwrap();
    assert_eq!(xf.code, 250);
    let mail = client
        .cmd("MAIL FROM:<sender@example.org> BODY=8BITMIME RET=HDRS ENVID=env+2B42 SIZE=300")
        .await
        .unwrap();
    assert_eq!(mail.code, 250, "{mail}");
    let r1 = client
        .cmd("RCPT TO:<one@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;one@example.org")
        .await
        .unwrap();
    assert_eq!(r1.code, 250);
    let r2 = client
        .cmd("RCPT TO:<two@example.org> NOTIFY=NEVER")
        .await
        .unwrap();
    assert_eq!(r2.code, 250);
    let r3 = client.cmd("RCPT TO:<three@example.org>").await.unwrap();
    assert_eq!(r3.code, 250);
    let done = client.data(&message("dsn")).await.unwrap();
    assert_eq!(done.code, 250, "{done}");

    let got = &sink.wait_for_messages(1, WAIT).await[0];
    assert_eq!(
        got.mail_from_line,
        "MAIL FROM:<sender@example.org> BODY=8BITMIME SIZE=300 RET=HDRS ENVID=env+2B42"
    );
    assert_eq!(
        got.rcpt_lines,
        [
            "RCPT TO:<one@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;one@example.org",
            "RCPT TO:<two@example.org> NOTIFY=NEVER",
            "RCPT TO:<three@example.org>",
        ]
    );
    let attr = |name: &str| {
        got.xforward
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(attr("NAME").as_deref(), Some("client.example.net"));
    assert_eq!(attr("ADDR").as_deref(), Some("192.0.2.7"));
    assert_eq!(attr("PORT").as_deref(), Some("4711"));
    assert_eq!(attr("HELO").as_deref(), Some("client.example.net"));
    assert_eq!(attr("IDENT").as_deref(), Some("4ABC12DEF"));
    assert_eq!(attr("SOURCE").as_deref(), Some("REMOTE"));

    let line = daemon.wait_for_log("Message processed.", WAIT).await;
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["queue_id"], "4ABC12DEF");
    assert_eq!(event["client"], "192.0.2.7");
    assert_eq!(event["sender"], "sender@example.org");
    assert_eq!(
        event["recipients"],
        "one@example.org,two@example.org,three@example.org"
    );
    assert_eq!(event["verdict"], "pass");
    assert!(event["size"].as_u64().unwrap() > 0);
    assert!(event["ms"].is_u64());
}

#[tokio::test]
async fn smtputf8_and_null_sender_round_trip() {
    let (sink, daemon) = setup().await;
    let body =
        "From: jörg@bücher.example\r\nSubject: Grüße\r\n\r\nUTF-8 body: 日本語\r\n".as_bytes();
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    assert_eq!(
        client
            .cmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8")
            .await
            .unwrap()
            .code,
        250
    );
    assert_eq!(
        client
            .cmd("RCPT TO:<empfänger@bücher.example>")
            .await
            .unwrap()
            .code,
        250
    );
    assert_eq!(client.data(body).await.unwrap().code, 250);
    let reply = client
        .send_message("", &["postmaster@example.org"], &message("bounce"))
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let got = sink.wait_for_messages(2, WAIT).await;
    assert_eq!(
        got[0].mail_from_line,
        "MAIL FROM:<jörg@bücher.example> SMTPUTF8"
    );
    assert_eq!(got[0].rcpts, ["empfänger@bücher.example"]);
    assert_eq!(strip_added_headers(&got[0].data), body);
    assert_eq!(got[1].mail_from, "");
}

#[tokio::test]
async fn pipelining_client_and_connection_reuse() {
    let (sink, daemon) = setup().await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    for i in 0..5 {
        let replies = client
            .send_message_pipelined(
                "a@example.org",
                &["b@example.org", "c@example.org"],
                &message(&format!("p{i}")),
            )
            .await
            .unwrap();
        let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, [250, 250, 250, 354, 250], "{replies:?}");
    }
    let got = sink.wait_for_messages(5, WAIT).await;
    assert_eq!(got.len(), 5);
    assert!(got
        .iter()
        .all(|m| m.rcpts == ["b@example.org", "c@example.org"]));
    assert_eq!(
        sink.connections(),
        1,
        "the relay connection is reused between messages"
    );
}

#[tokio::test]
async fn swaks_through_quarantd_into_smtp_sink() {
    let sink_addr = quarantd_testkit::free_addr();
    let dump = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dump.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let dump_file = dump.path().join("dump");
    let mut smtp_sink = tokio::process::Command::new("/usr/sbin/smtp-sink")
        .args(["-u", "nobody", "-D"])
        .arg(&dump_file)
        .arg(sink_addr.to_string())
        .arg("10")
        .kill_on_drop(true)
        .spawn()
        .expect("smtp-sink is installed (scripts/install-test-deps.sh installs postfix)");
    wait_listening(sink_addr).await;
    let daemon = Daemon::start(sink_addr, Extra::default()).await;
    let out = tokio::process::Command::new("swaks")
        .args([
            "--server",
            &daemon.addr.to_string(),
            "--from",
            "a@example.org",
            "--to",
            "b@example.org,c@example.org",
        ])
        .args([
            "--header",
            "Subject: swaks test",
            "--body",
            "hello from swaks",
            "--pipeline",
        ])
        .output()
        .await
        .expect("swaks is installed (scripts/install-test-deps.sh)");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "swaks failed:\n{transcript}");
    assert!(transcript.contains("<-  250 2.0.0 Ok: "), "{transcript}");
    daemon.wait_for_log("Message processed.", WAIT).await;
    let dumped = wait_file_contains(&dump_file, "hello from swaks").await;
    assert!(dumped.contains("X-Quarantd-Verdict: pass"), "{dumped}");
    assert!(
        dumped.contains("X-Rcpt-Args: <b@example.org>")
            && dumped.contains("X-Rcpt-Args: <c@example.org>"),
        "{dumped}"
    );
    smtp_sink.kill().await.ok();
}

#[tokio::test]
async fn smtp_source_load_arrives_complete() {
    let (sink, daemon) = setup().await;
    let out = tokio::process::Command::new("/usr/sbin/smtp-source")
        .args([
            "-s",
            "10",
            "-m",
            "200",
            "-l",
            "2000",
            "-t",
            "rcpt@example.org",
            "-f",
            "from@example.org",
        ])
        .arg(daemon.addr.to_string())
        .output()
        .await
        .expect("smtp-source is installed (scripts/install-test-deps.sh installs postfix)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sink.wait_for_messages(200, WAIT).await;
    assert_eq!(got.len(), 200);
    assert_eq!(daemon.events("Message processed.").len(), 200);
}

async fn wait_listening(addr: std::net::SocketAddr) {
    let listening = wait_until(WAIT, || std::net::TcpStream::connect(addr).is_ok()).await;
    assert!(listening, "nothing listens on {addr}");
}

async fn wait_file_contains(path: &std::path::Path, needle: &str) -> String {
    let mut text = String::new();
    let found = wait_until(WAIT, || {
        text = std::fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        text.contains(needle)
    })
    .await;
    assert!(found, "{} never contained {needle:?}", path.display());
    text
}
