//! Easy-release tokens: round trip, tampering, expiry, misuse.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use quarantd_release::token::{issue, verify, Claims, TokenAction, TokenError, TokenKey};

fn key() -> TokenKey {
    TokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
}

#[test]
fn tokens_round_trip_and_are_url_safe() {
    let now = UNIX_EPOCH + Duration::from_secs(1_772_546_709);
    let claims = Claims::new(
        "msgid",
        "Bob@Example.org",
        TokenAction::RequestRelease,
        now,
        Duration::from_secs(3600),
    );
    let token = issue(&claims, &key());
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "{token}"
    );
    let got = verify(&token, &key(), now + Duration::from_secs(3599)).unwrap();
    assert_eq!(got, claims);
    assert_eq!(got.expires_at(), now + Duration::from_secs(3600));
    got.check_use(
        TokenAction::RequestRelease,
        Some("msgid"),
        Some("bob@example.ORG"),
    )
    .unwrap();
    got.check_use(TokenAction::RequestRelease, None, None)
        .unwrap();
}

#[test]
fn tampered_expired_malformed_and_misused_tokens_are_told_apart() {
    let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let claims = Claims::new(
        "msgid",
        "bob@example.org",
        TokenAction::Release,
        now,
        Duration::from_secs(60),
    );
    let token = issue(&claims, &key());
    let (head, tag) = token.rsplit_once('.').unwrap();
    let (version, payload) = head.split_once('.').unwrap();
    // Another recipient's claims, re-encoded under the old signature.
    let forged_claims = Claims {
        recipient: "mallory@example.org".into(),
        ..claims.clone()
    };
    let forged = issue(&forged_claims, &key());
    let forged_payload = forged.split('.').nth(1).unwrap();
    let flip = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        b[3] = if b[3] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let other_key = TokenKey::new(vec![7u8; 32]).unwrap();
    let k0 = key();
    let cases: Vec<(String, &TokenKey, SystemTime, TokenError)> = vec![
        (
            format!("{version}.{forged_payload}.{tag}"),
            &k0,
            now,
            TokenError::Tampered,
        ),
        (
            format!("{version}.{}.{tag}", flip(payload)),
            &k0,
            now,
            TokenError::Tampered,
        ),
        (
            format!("{version}.{payload}.{}", flip(tag)),
            &k0,
            now,
            TokenError::Tampered,
        ),
        (token.clone(), &other_key, now, TokenError::Tampered),
        (
            format!("{version}.{payload}"),
            &k0,
            now,
            TokenError::Malformed("not three dot-separated fields"),
        ),
        (
            format!("{token}.x"),
            &k0,
            now,
            TokenError::Malformed("not three dot-separated fields"),
        ),
        (
            format!("v2.{payload}.{tag}"),
            &k0,
            now,
            TokenError::Malformed("unknown version"),
        ),
        (
            format!("{version}.{payload}.{tag}!"),
            &k0,
            now,
            TokenError::Malformed("bad signature encoding"),
        ),
        (
            "x".repeat(5000),
            &k0,
            now,
            TokenError::Malformed("too long"),
        ),
        (
            String::new(),
            &k0,
            now,
            TokenError::Malformed("not three dot-separated fields"),
        ),
        (
            token.clone(),
            &k0,
            now + Duration::from_secs(60),
            TokenError::Expired { expired: 1_000_060 },
        ),
    ];
    for (t, k, at, expected) in cases {
        assert_eq!(verify(&t, k, at), Err(expected.clone()), "{t}");
    }
    assert!(
        verify(&format!("  {token}\n"), &key(), now).is_ok(),
        "surrounding blanks are fine"
    );
    let got = verify(&token, &key(), now).unwrap();
    let misuse = |a, m, r| match got.check_use(a, m, r) {
        Err(TokenError::Misused(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        misuse(TokenAction::RequestRelease, None, None),
        "the token allows release, not request-release"
    );
    assert_eq!(
        misuse(TokenAction::Release, Some("other"), None),
        "the token is for another message"
    );
    assert_eq!(
        misuse(TokenAction::Release, None, Some("eve@example.org")),
        "the token is for another recipient"
    );
    assert_eq!(
        TokenKey::new(vec![1u8; 31]).unwrap_err(),
        TokenError::WeakKey { len: 31 }
    );
    assert_eq!(TokenKey::generate_hex().len(), 64);
}
