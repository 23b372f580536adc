//! Interoperability check of the sink with a real SMTP client, swaks.

use std::process::Command;
use std::time::Duration;

use quarantd_testkit::{Outcome, Sink, SinkConfig};

fn swaks_available() -> bool {
    Command::new("swaks")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn swaks_delivers_one_message() {
    assert!(
        swaks_available(),
        "swaks is not installed; run scripts/install-test-deps.sh (or `apt-get install swaks`)"
    );
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let server = format!("127.0.0.1:{}", sink.addr().port());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("swaks")
            .args([
                "--server",
                &server,
                "--to",
                "a@example.org",
                "--from",
                "b@example.org",
                "--helo",
                "swaks.test",
                "--timeout",
                "30",
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("running swaks");
    let transcript = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "swaks failed: {transcript}");

    let msgs = sink.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(msgs.len(), 1, "{transcript}");
    let m = &msgs[0];
    assert_eq!(m.helo, "swaks.test");
    assert_eq!(m.mail_from, "b@example.org");
    assert_eq!(m.rcpts, ["a@example.org"]);
    assert!(m.data.ends_with(b"\r\n"));
    let text = String::from_utf8_lossy(&m.data);
    assert!(text.contains("To: a@example.org"), "{text}");
    assert!(text.contains("From: b@example.org"), "{text}");
    let t = sink.transactions();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].outcome, Outcome::Accepted);
    assert_eq!(sink.connections(), 1);
}
