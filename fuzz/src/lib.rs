//! The invariants the fuzz targets in `fuzz_targets/` assert, shared by them: one function
//! per kind of entry point. A target is `fuzz_target!(|data| check_x(data))`; a failed
//! assertion or a panic is a crash libFuzzer keeps under `fuzz/artifacts/<target>/`.

use std::time::{Duration, Instant};

use quarantd_core::{Decomposed, Label};
use quarantd_mime::Limits;

/// The limits every container target decomposes under: small, so that a limit is reached
/// within the inputs a fuzzer makes.
pub fn limits() -> Limits {
    Limits {
        max_depth: 8,
        max_parts: 500,
        max_total_unpacked: 8 * 1024 * 1024,
        max_ratio: 100,
        ratio_grace: 256 * 1024,
        max_time: Duration::from_secs(1),
    }
}

/// Time allowed past `max_time`: one decoder step may run on past the deadline (the RAR
/// VM's own instruction limit takes about 200 ms in a release build), and the sanitizer
/// build is 20–30 times slower — the same 10 s libFuzzer's own timeout gives.
const TIME_GRACE: Duration = Duration::from_secs(9);

/// Opens `data` as the container `format` (forced, whatever its magic), then classifies the
/// tree: no panic, and the tree respects [`limits`].
pub fn check_container(format: &str, data: &[u8]) {
    contain_decoder_panics();
    let limits = limits();
    let started = Instant::now();
    let opened = std::panic::catch_unwind(|| quarantd_mime::decompose_as(format, data, &limits));
    let Ok(tree) = opened else {
        // A format crate's own panic, let through by the hook: `Walker::open` contains it
        // in production (the part is `unscannable`), so it is no crash of quarantd's.
        return;
    };
    let tree = tree.expect("a known format name");
    let elapsed = started.elapsed();
    assert!(
        elapsed <= limits.max_time + TIME_GRACE,
        "{format}: took {elapsed:?}, the limit is {:?}",
        limits.max_time
    );
    check_tree(format, &tree, &limits);
    let classified = quarantd_classify::classify(tree);
    assert!(!classified.parts.is_empty());
}

/// Lets a panic inside a format crate (`cab`, `fatfs`, `zip`, ... — code under the cargo
/// registry) unwind, as it does in production up to `Walker::open`'s `catch_unwind`; every
/// other panic (quarantd's own code) still goes to libFuzzer's hook, which aborts: a crash.
fn contain_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_dependency = info
                .location()
                .is_some_and(|l| l.file().contains("/.cargo/registry/"));
            if !in_dependency {
                abort(info);
            }
        }));
    });
}

/// The invariants of a decomposed tree rooted at the path `root`.
pub fn check_tree(root: &str, tree: &Decomposed, limits: &Limits) {
    assert!(!tree.parts.is_empty(), "the container itself is a part");
    assert_eq!(tree.parts[0].part.path.0, root);
    assert!(
        tree.parts.len() <= limits.max_parts,
        "{} parts, the limit is {}",
        tree.parts.len(),
        limits.max_parts
    );
    let mut unpacked = 0u64;
    for data in &tree.parts[1..] {
        let part = &data.part;
        assert_eq!(part.size, data.content.len() as u64, "{}", part.path);
        unpacked += part.size;
        let below = part
            .path
            .0
            .strip_prefix(root)
            .and_then(|p| p.strip_prefix('/'));
        let below = below.unwrap_or_else(|| panic!("{} is not below {root}", part.path));
        assert!(
            !below.is_empty() && below.split('/').all(|s| !s.is_empty()),
            "empty segment in {}",
            part.path
        );
        assert!(!below.chars().any(char::is_control), "{:?}", part.path.0);
    }
    assert!(
        unpacked <= limits.max_total_unpacked,
        "{unpacked} bytes in members, the limit is {}",
        limits.max_total_unpacked
    );
    for data in &tree.parts {
        let part = &data.part;
        assert_eq!(
            part.labels.contains(&Label::Unscannable),
            part.unscannable_reason.is_some(),
            "{}: unscannable label and reason go together",
            part.path
        );
    }
}

/// Each line of `data` as a command line of the inbound session: an error is a 5xx reply of
/// one line; MAIL and RCPT go downstream as one line each that reads back as the same command;
/// XFORWARD as [`check_xforward_attrs`] says.
pub fn check_smtp_commands(data: &[u8]) {
    use quarantd_smtp::fuzzing::{self, Command};
    for line in data.split_inclusive(|&b| b == b'\n') {
        match fuzzing::command(line) {
            Err(reply) => check_error_reply(&reply),
            Ok(Command::Mail { address, params }) => {
                let down = fuzzing::mail_command(&address, &params);
                let again = reparse(&down);
                // As for ORCPT below: only values that can have come from xtext read back.
                if params
                    .envid
                    .as_deref()
                    .is_none_or(|e| e.chars().all(|c| u32::from(c) <= 0xff))
                {
                    assert_eq!(again, Command::Mail { address, params }, "{down:?}");
                }
            }
            Ok(Command::Rcpt(rcpt)) => {
                let down = fuzzing::rcpt_command(&rcpt);
                let again = reparse(&down);
                // xtext is ASCII: `smtp-proto` decodes each `+XX` to U+00XX, which goes back
                // as the same byte. A character above U+00FF came from raw non-ASCII bytes
                // in the parameter (not xtext at all); it goes down as its UTF-8 in xtext,
                // one line, but cannot read back as the same characters.
                if rcpt
                    .orcpt
                    .as_deref()
                    .is_none_or(|o| o.chars().all(|c| u32::from(c) <= 0xff))
                {
                    assert_eq!(again, Command::Rcpt(rcpt), "{down:?}");
                }
            }
            Ok(Command::XForward(attrs)) => check_xforward_attrs(attrs),
            Ok(Command::Other(_)) => {}
        }
    }
}

/// `data` (up to its first line end) after `XFORWARD `: accepted attributes have known names,
/// and go downstream in commands within the line limit that read back as the same attributes.
pub fn check_xforward(data: &[u8]) {
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut line = b"XFORWARD ".to_vec();
    line.extend_from_slice(first);
    line.extend_from_slice(b"\r\n");
    match quarantd_smtp::fuzzing::command(&line) {
        Ok(quarantd_smtp::fuzzing::Command::XForward(attrs)) => check_xforward_attrs(attrs),
        Ok(other) => panic!("an XFORWARD line parsed as {other:?}"),
        Err(reply) => check_error_reply(&reply),
    }
}

const XFORWARD_NAMES: [&str; 7] = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"];

fn check_xforward_attrs(attrs: Vec<(String, String)>) {
    use quarantd_smtp::fuzzing::{self, Command, MAX_XFORWARD_LINE};
    assert!(!attrs.is_empty());
    let mut kept = quarantd_core::XForward::default();
    for (name, value) in &attrs {
        assert!(XFORWARD_NAMES.contains(&name.as_str()), "{name}");
        kept.set(name, value);
    }
    let mut sent = Vec::new();
    for down in fuzzing::xforward_commands(&kept) {
        let Command::XForward(part) = reparse(&down) else {
            panic!("{down:?} is not an XFORWARD command");
        };
        assert!(
            down.len() <= MAX_XFORWARD_LINE || part.len() == 1,
            "{} bytes with {} attributes",
            down.len(),
            part.len()
        );
        sent.extend(part);
    }
    assert_eq!(sent, kept.0);
}

/// A line the relay client sends, read back by the server's parser: one line, understood.
fn reparse(down: &str) -> quarantd_smtp::fuzzing::Command {
    assert!(!down.contains(['\r', '\n']), "{down:?} has a line break");
    let line = format!("{down}\r\n");
    quarantd_smtp::fuzzing::command(line.as_bytes())
        .unwrap_or_else(|reply| panic!("{down:?} sent downstream is refused: {reply}"))
}

fn check_error_reply(reply: &quarantd_smtp::Reply) {
    assert!(reply.is_permanent(), "{reply}");
    let wire = reply.to_wire();
    assert!(wire.ends_with(b"\r\n"));
    assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1, "{reply}");
    let parsed = quarantd_smtp::Reply::parse_line(&wire);
    assert!(matches!(parsed, Some((code, true, _)) if code == reply.code));
}

/// clamd's reply parser: the named maximum holds, every name found is a name (not empty, no
/// control characters), and a clean verdict only comes from `OK` records.
pub fn check_clamd_reply(data: &[u8]) {
    use quarantd_scan::clamd::reply::{
        parse_scan_reply, parse_version, ReplyError, ScanReply, MAX_REPLY,
    };
    let parsed = parse_scan_reply(data);
    if data.len() > MAX_REPLY {
        assert_eq!(parsed, Err(ReplyError::TooLong));
        return;
    }
    let found = match &parsed {
        Err(e) => {
            assert_eq!(*e, ReplyError::Empty);
            assert!(quarantd_scan::clamd::reply::records_of(data)
                .next()
                .is_none());
            &[][..]
        }
        Ok(ScanReply::Clean) => {
            assert!(
                quarantd_scan::clamd::reply::records_of(data).all(|r| r.ends_with("OK")),
                "{data:?}"
            );
            &[][..]
        }
        Ok(ScanReply::Found(found)) => {
            assert!(!found.is_empty());
            &found[..]
        }
        Ok(ScanReply::SizeLimit { found, .. } | ScanReply::Error { found, .. }) => &found[..],
    };
    for name in found {
        assert!(!name.is_empty(), "an empty name found in {data:?}");
        assert!(!name.chars().any(char::is_control), "{name:?}");
    }
    if let Ok(version) = parse_version(data) {
        assert!(!version.is_empty() && !version.contains(['\0', '\n']));
    }
}

/// Release tokens: whatever `data` is as a token, `verify` never accepts it unsigned; claims
/// made of `data` round-trip through `issue` and `verify`, and any change to their token, or
/// another key, is refused.
pub fn check_token(data: &[u8]) {
    use quarantd_release::token::{issue, verify, Claims, TokenAction, TokenError, MAX_TOKEN_LEN};
    use std::time::UNIX_EPOCH;
    let key = quarantd_release::token::TokenKey::new([7u8; 32]).expect("a long key");
    let other = quarantd_release::token::TokenKey::new([8u8; 32]).expect("a long key");
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let text = String::from_utf8_lossy(data);
    if let Ok(claims) = verify(&text, &key, now) {
        assert_eq!(verify(&issue(&claims, &key), &key, now), Ok(claims));
    }
    let Some((head, rest)) = data.split_first_chunk::<9>() else {
        return;
    };
    let (message, recipient) = match rest.iter().position(|&b| b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let action = if head[8] & 1 == 0 {
        TokenAction::Release
    } else {
        TokenAction::RequestRelease
    };
    let claims = Claims {
        message: String::from_utf8_lossy(message).into_owned(),
        recipient: String::from_utf8_lossy(recipient).into_owned(),
        action,
        expires: u64::from_le_bytes(head[..8].try_into().expect("8 bytes")) >> 33,
    };
    let token = issue(&claims, &key);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    let verified = verify(&token, &key, now);
    if token.len() > MAX_TOKEN_LEN {
        assert_eq!(verified, Err(TokenError::Malformed("too long")));
        return;
    }
    if claims.expires <= 1_700_000_000 {
        assert_eq!(
            verified,
            Err(TokenError::Expired {
                expired: claims.expires
            })
        );
        return;
    }
    assert_eq!(verified.as_ref(), Ok(&claims));
    assert!(claims
        .check_use(action, Some(&claims.message), Some(&claims.recipient))
        .is_ok());
    assert!(
        verify(&token, &other, now).is_err(),
        "accepted with another key"
    );
    let at = usize::from(head[0]) * 256 + usize::from(head[1]);
    let mut altered = token.into_bytes();
    let at = at % altered.len();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ASCII");
    assert!(
        verify(&altered, &key, now).is_err(),
        "accepted altered {altered}"
    );
}
