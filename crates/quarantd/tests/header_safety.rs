//! Issue 11 A11: no value folded into quarantd's own headers can add a header line. A
//! command-line scanner whose virus name carries CR/LF and a header of its own (here: a
//! sloppy `virus_regex`) reaches the `X-Quarantd-Verdict` of a message the policy tags; the
//! delivered message must have no injected header line.

mod common;

use common::{Daemon, Extra};
use quarantd_testkit::{Client, Sink, SinkConfig};

/// A scanner that reports `Evil<CR><LF>X-Injected: yes<CR>X-Also: yes<ESC>` for a marker;
/// `[policy]` tags inbound viruses.
const SECTIONS: &str = "[policy]\n[policy.default.inbound]\nvirus = \"tag\"\n\
    [[scan.command]]\nname = \"sloppy\"\n\
    command = [\"/bin/sh\", \"-c\", \"if grep -q INJECT-MARKER \\\"$1\\\"; then printf 'FOUND: Evil\\\\r\\\\nX-Injected: yes\\\\rX-Also: yes\\\\033;\\\\n'; exit 1; fi; exit 0\", \"sh\", \"{}\"]\n\
    clean_exit_codes = [0]\ninfected_exit_codes = [1]\nvirus_regex = \"FOUND: ([^;]+);\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virus_name_cannot_inject_header_lines() {
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let extra = Extra {
        scan: SECTIONS.into(),
        ..Extra::default()
    };
    let daemon = Daemon::start(sink.addr(), extra).await;
    let mut client = Client::connect(daemon.addr).await.unwrap();
    client.handshake("mx.example.org").await.unwrap();
    let raw = b"From: s@example.net\r\nTo: b@example.org\r\nSubject: inject\r\n\r\nhello INJECT-MARKER\r\n";
    let reply = client
        .send_message("s@example.net", &["b@example.org"], raw)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply}");
    let msgs = sink
        .wait_for_messages(1, std::time::Duration::from_secs(20))
        .await;
    let data = &msgs[0].data;
    let head_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = &data[..head_end + 2];
    let text = String::from_utf8_lossy(head);
    assert!(text.contains("X-Quarantd-Verdict: tag"), "{text}");
    assert!(text.contains("Evil"), "the name is still there: {text}");
    // Every line ends CRLF (no bare CR or LF) and none but quarantd's starts a new field
    // besides those the message came with.
    for (i, &b) in head.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR in {text:?}"),
            b'\n' => assert_eq!(head.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF"),
            b'\t' => {}
            c => assert!(c >= 0x20 && c != 0x7f, "control byte {c:#x} in {text:?}"),
        }
    }
    let fields: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "X-Quarantd",
            "X-Quarantd-Verdict",
            "X-Quarantd-Warning",
            "From",
            "To",
            "Subject"
        ],
        "{text:?}"
    );
    client.cmd("QUIT").await.ok();
}
