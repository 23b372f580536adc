//! Who acts on the quarantine: an [`Actor`] is a normalised name and how the front end knows
//! it. Front ends construct one after establishing the identity — the CLI from the operating
//! system's user (`getuid`, or the user behind `sudo`), trusted automation from an asserted
//! name, the web UI from its own login ([`Actor::authenticated`]) — and hand it to every
//! [`crate::Workflow`] step that records a person. The name is what the audit log records
//! and what four-eyes approvals compare: two approvals by names that normalise alike are
//! one person's.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::Error;

/// Longest name, in characters, after normalisation.
pub const MAX_NAME_CHARS: usize = 256;

/// How a front end knows who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The operating-system account running the command: the real uid, or for a command run
    /// through `sudo` the uid of the person behind it.
    OsUser {
        /// The uid.
        uid: u32,
    },
    /// A name given by trusted automation (the CLI's `--by NAME`, accepted only from root
    /// not running through `sudo`).
    Asserted,
    /// An identity a front end authenticated itself (the web UI after its login).
    Authenticated {
        /// Which front end (`web`, ...).
        front_end: String,
    },
}

/// A person (or trusted automation) acting on the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    name: String,
    source: Source,
}

impl Actor {
    /// The operating-system user `uid` named `name` in the password database; a uid without
    /// an entry acts as `uid:N`.
    pub fn os_user(uid: u32, name: Option<&str>) -> Result<Actor, Error> {
        let name = match name {
            Some(name) => checked_name(name)?,
            None => format!("uid:{uid}"),
        };
        Ok(Actor {
            name,
            source: Source::OsUser { uid },
        })
    }

    /// A name asserted by trusted automation.
    pub fn asserted(name: &str) -> Result<Actor, Error> {
        Ok(Actor {
            name: checked_name(name)?,
            source: Source::Asserted,
        })
    }

    /// An identity `front_end` authenticated (the seam for the web UI: it calls this only
    /// after its login succeeded).
    pub fn authenticated(front_end: &str, name: &str) -> Result<Actor, Error> {
        Ok(Actor {
            name: checked_name(name)?,
            source: Source::Authenticated {
                front_end: front_end.to_string(),
            },
        })
    }

    /// The normalised name: what the audit log records and approvals compare.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the front end knows it.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A name as given, normalised and checked: not empty once normalised, at most
/// [`MAX_NAME_CHARS`], no control characters and no `:` (the audit log's own actors are
/// `node:HOST` and `rcpt:ADDRESS`; nobody may pass for them).
fn checked_name(given: &str) -> Result<String, Error> {
    let invalid = |why: &'static str| Error::InvalidActor {
        given: given.chars().take(MAX_NAME_CHARS).collect(),
        why,
    };
    let name = normalize_name(given).ok_or_else(|| invalid("it is empty once normalised"))?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid("it is too long"));
    }
    if name.chars().any(|c| c.is_control() || c == ':') {
        return Err(invalid("it contains a control character or ':'"));
    }
    Ok(name)
}

/// A name as compared and stored: Unicode format characters (general category Cf: zero-width
/// joiners, bidirectional controls, ...) removed, compatibility caseless form (NFKC of the
/// case-folded text, as Unicode's D146 defines it: `NFKC(fold(NFKC(fold(NFD(x)))))`, then
/// lower case), surrounding white space trimmed. `None` when nothing is left.
pub fn normalize_name(raw: &str) -> Option<String> {
    let visible: String = raw.chars().filter(|c| !is_format(*c)).collect();
    let once = caseless::default_case_fold_str(&visible.nfd().collect::<String>());
    let twice = caseless::default_case_fold_str(&once.nfkc().collect::<String>());
    let folded: String = twice
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect();
    let name: String = folded.chars().filter(|c| !is_format(*c)).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn is_format(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_alike_are_one_name() {
        let cases: &[(&str, &str)] = &[
            ("alice", "alice"),
            ("Alice", "alice"),
            ("  ALICE\t", "alice"),
            ("ali\u{200d}ce", "alice"), // zero-width joiner
            ("\u{202e}alice", "alice"), // right-to-left override
            ("al\u{00ad}ice", "alice"), // soft hyphen
            ("\u{feff}alice", "alice"), // byte order mark
            ("ａｌｉｃｅ", "alice"),    // fullwidth
            ("\u{212a}arl", "karl"),    // Kelvin sign
            ("Stra\u{00df}e", "strasse"),
            ("STRASSE", "strasse"),
            ("\u{fb01}ona", "fiona"), // ligature fi
            ("Jose\u{0301}", "jos\u{e9}"),
            ("Ꭰlice", "ꭰlice"), // Cherokee folds to upper case; stored in lower case
        ];
        for (given, want) in cases {
            assert_eq!(normalize_name(given).as_deref(), Some(*want), "{given:?}");
        }
    }

    #[test]
    fn normalised_names_are_stable() {
        for given in [
            "Alice",
            "ＡＬＩＣＥ",
            "Ꭰlice",
            "İstanbul",
            "ǅemal",
            "Σίσυφος",
            "ﬃ",
        ] {
            let once = normalize_name(given).unwrap();
            assert_eq!(
                normalize_name(&once).as_deref(),
                Some(once.as_str()),
                "{given}"
            );
            assert_eq!(
                once.to_lowercase(),
                once,
                "the store's lower case keeps it: {given}"
            );
        }
    }

    #[test]
    fn empty_and_spoofing_names_are_refused() {
        for given in ["", "   ", "\u{200d}\u{200b}", "\u{2066}\u{2069}"] {
            assert!(Actor::asserted(given).is_err(), "{given:?}");
        }
        assert!(Actor::asserted("node:mx1").is_err());
        assert!(Actor::asserted("rcpt:bob@example.org").is_err());
        assert!(Actor::asserted("al\nice").is_err());
        assert!(Actor::asserted(&"a".repeat(MAX_NAME_CHARS + 1)).is_err());
        let web = Actor::authenticated("web", "Alice@Corp.example").unwrap();
        assert_eq!(web.name(), "alice@corp.example");
        assert_eq!(
            web.source(),
            &Source::Authenticated {
                front_end: "web".into()
            }
        );
        let os = Actor::os_user(1000, Some("Alice")).unwrap();
        assert_eq!(
            (os.name(), os.source()),
            ("alice", &Source::OsUser { uid: 1000 })
        );
        assert_eq!(Actor::os_user(4242, None).unwrap().name(), "uid:4242");
    }
}
