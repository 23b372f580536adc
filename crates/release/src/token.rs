//! Easy-release tokens: HMAC-SHA256 over (message, recipient, action, expiry), URL-safe.
//!
//! ```text
//! v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "quarantd-release-v1." + claims part))>
//! ```
//!
//! [`verify`] checks the MAC first (in constant time, `hmac`'s `verify_slice`), so nothing of
//! an unauthenticated token is interpreted; then the expiry. [`Claims::check_use`] then checks
//! at use time that the token is used for what it was issued for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";
const DOMAIN: &[u8] = b"quarantd-release-v1.";
/// The longest token [`verify`] looks at; anything longer is malformed.
pub const MAX_TOKEN_LEN: usize = 2048;
/// The shortest key accepted: 32 bytes (256 bits).
pub const MIN_KEY_LEN: usize = 32;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenAction {
    /// Ask for release (postmasters approve): `Workflow::request_release`.
    RequestRelease,
    /// Release the recipient's own copy where the rules allow: `Workflow::release_as_recipient`.
    Release,
}

impl TokenAction {
    /// The action's name in tokens and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAction::RequestRelease => "request-release",
            TokenAction::Release => "release",
        }
    }
}

/// The secret key tokens are signed with (at least [`MIN_KEY_LEN`] bytes).
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from secret bytes, e.g. a key file's content.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<TokenKey, TokenError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_LEN {
            return Err(TokenError::WeakKey { len: bytes.len() });
        }
        Ok(TokenKey(bytes))
    }

    /// A new random key of 32 bytes, hex encoded (64 characters) for a key file.
    ///
    /// # Panics
    /// Only when the operating system has no random source.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        getrandom_fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(DOMAIN);
        mac
    }
}

fn getrandom_fill(bytes: &mut [u8]) {
    getrandom::fill(bytes).expect("the operating system's random source is unavailable");
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// Quarantine message id.
    #[serde(rename = "m")]
    pub message: String,
    /// The recipient whose copy it concerns.
    #[serde(rename = "r")]
    pub recipient: String,
    /// What it allows.
    #[serde(rename = "a")]
    pub action: TokenAction,
    /// Expiry, seconds since the Unix epoch.
    #[serde(rename = "e")]
    pub expires: u64,
}

impl Claims {
    /// Claims valid for `validity` from `now`.
    pub fn new(
        message: &str,
        recipient: &str,
        action: TokenAction,
        now: SystemTime,
        validity: Duration,
    ) -> Claims {
        Claims {
            message: message.to_string(),
            recipient: recipient.to_string(),
            action,
            expires: unix(now).saturating_add(validity.as_secs()),
        }
    }

    /// The expiry as a time.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires)
    }

    /// Checks, at use time, that the token is used for what it was issued: this action, and
    /// (when the caller knows them) this message and recipient (recipients compared without
    /// regard to case).
    pub fn check_use(
        &self,
        action: TokenAction,
        message: Option<&str>,
        recipient: Option<&str>,
    ) -> Result<(), TokenError> {
        if self.action != action {
            return Err(TokenError::Misused(format!(
                "the token allows {}, not {}",
                self.action.as_str(),
                action.as_str()
            )));
        }
        if message.is_some_and(|m| m != self.message) {
            return Err(TokenError::Misused(
                "the token is for another message".into(),
            ));
        }
        if recipient.is_some_and(|r| !r.trim().eq_ignore_ascii_case(self.recipient.trim())) {
            return Err(TokenError::Misused(
                "the token is for another recipient".into(),
            ));
        }
        Ok(())
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all (cut off, wrong format, bad encoding).
    #[error("the token is malformed ({0}); copy the whole link or code")]
    Malformed(&'static str),
    /// The signature does not match: altered, or signed with another key.
    #[error("the token is not valid (its signature does not match)")]
    Tampered,
    /// Past its expiry.
    #[error("the token expired at {expired} (seconds since 1970); ask the postmaster")]
    Expired {
        /// Expiry, seconds since the Unix epoch.
        expired: u64,
    },
    /// Genuine, but used for something it was not issued for.
    #[error("the token cannot be used here: {0}")]
    Misused(String),
    /// The configured key is too short.
    #[error("the token key has {len} bytes; at least 32 are needed")]
    WeakKey {
        /// Its length.
        len: usize,
    },
}

/// Signs claims into a URL-safe token.
pub fn issue(claims: &Claims, key: &TokenKey) -> String {
    let json = serde_json::to_vec(claims).expect("claims serialise");
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{VERSION}.{payload}.{tag}")
}

/// Checks a token's signature and expiry and returns its claims.
pub fn verify(token: &str, key: &TokenKey, now: SystemTime) -> Result<Claims, TokenError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let mut fields = token.split('.');
    let (Some(version), Some(payload), Some(tag), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated fields"));
    };
    if version != VERSION {
        return Err(TokenError::Malformed("unknown version"));
    }
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed("bad signature encoding"))?;
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    mac.verify_slice(&tag).map_err(|_| TokenError::Tampered)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("bad claims encoding"))?;
    let claims: Claims =
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("bad claims"))?;
    if unix(now) >= claims.expires {
        return Err(TokenError::Expired {
            expired: claims.expires,
        });
    }
    Ok(claims)
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
