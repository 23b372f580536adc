//! Who runs a `quarantd quarantine` (or `audit`, `signatures add --from-quarantine`) command:
//! the operating system says, not the command line.
//!
//! * The actor is the **real uid** of the process (`getuid`), named from the password
//!   database; a uid without an entry acts as `uid:N`.
//! * When the real uid is 0 and `SUDO_UID` is set (the command runs through `sudo`, or in a
//!   shell that `sudo -i` opened), the actor is the user behind `sudo`: that uid, named from
//!   the password database. Only root's `SUDO_UID` counts: anybody can set the variable.
//! * `--by NAME` is for **trusted automation** only: it is accepted when the process runs as
//!   root without `SUDO_UID`, and refused otherwise — a person acts as themselves.
//!
//! Names are normalised by [`quarantd_release::Actor`] (case-folded, NFKC, format characters
//! removed), so `Alice` and `alice` are one approver.

use nix::unistd::{getuid, Uid, User};
use quarantd_release::Actor;

/// What the decision needs to know about the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoker<'a> {
    /// The real uid.
    pub real_uid: u32,
    /// `SUDO_UID` from the environment, if set and not empty.
    pub sudo_uid: Option<&'a str>,
    /// `--by NAME`, if given.
    pub by: Option<&'a str>,
}

/// The actor of this process: [`decide`] with the real uid, `SUDO_UID` and the password
/// database. `Err` is the message for a refusal (exit status 2).
pub fn current(by: Option<&str>) -> Result<Actor, String> {
    let sudo_uid = std::env::var("SUDO_UID").ok();
    let invoker = Invoker {
        real_uid: getuid().as_raw(),
        sudo_uid: sudo_uid.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        by,
    };
    decide(&invoker, user_name)
}

/// The login name of `uid` in the password database.
fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// The actor rule (see the module documentation), with the password database as `lookup`.
pub fn decide(who: &Invoker<'_>, lookup: impl Fn(u32) -> Option<String>) -> Result<Actor, String> {
    let uid = match (who.real_uid, who.sudo_uid) {
        (0, Some(sudo)) => sudo
            .parse::<u32>()
            .map_err(|_| format!("SUDO_UID={sudo:?} is not a uid"))?,
        (real, _) => real,
    };
    let trusted = who.real_uid == 0 && who.sudo_uid.is_none();
    let me = || Actor::os_user(uid, lookup(uid).as_deref()).map_err(|e| e.to_string());
    match who.by {
        Some(name) if trusted => Actor::asserted(name).map_err(|e| e.to_string()),
        Some(_) => Err(format!(
            "--by is accepted only from trusted automation running as root (not through \
             sudo); you act as yourself ({}, uid {uid}): leave --by out",
            me()?
        )),
        None => me(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quarantd_release::Source;

    fn passwd(uid: u32) -> Option<String> {
        match uid {
            0 => Some("root".into()),
            1000 => Some("Alice".into()),
            1001 => Some("bob".into()),
            _ => None,
        }
    }

    fn who<'a>(real_uid: u32, sudo_uid: Option<&'a str>, by: Option<&'a str>) -> Invoker<'a> {
        Invoker {
            real_uid,
            sudo_uid,
            by,
        }
    }

    #[test]
    fn a_person_acts_as_their_os_user() {
        let a = decide(&who(1000, None, None), passwd).unwrap();
        assert_eq!(a.name(), "alice");
        assert_eq!(a.source(), &Source::OsUser { uid: 1000 });
        // SUDO_UID of a non-root process is anybody's to set: ignored.
        let a = decide(&who(1000, Some("1001"), None), passwd).unwrap();
        assert_eq!(a.name(), "alice");
        // Through sudo: the person behind it.
        let a = decide(&who(0, Some("1001"), None), passwd).unwrap();
        assert_eq!(
            (a.name(), a.source()),
            ("bob", &Source::OsUser { uid: 1001 })
        );
        // No password entry: the uid.
        assert_eq!(
            decide(&who(4242, None, None), passwd).unwrap().name(),
            "uid:4242"
        );
        assert_eq!(decide(&who(0, None, None), passwd).unwrap().name(), "root");
        assert!(decide(&who(0, Some("bob"), None), passwd).is_err());
    }

    #[test]
    fn by_is_only_for_root_without_sudo() {
        let a = decide(&who(0, None, Some("Carol")), passwd).unwrap();
        assert_eq!((a.name(), a.source()), ("carol", &Source::Asserted));
        for refused in [
            who(1000, None, Some("carol")),
            who(0, Some("1000"), Some("carol")),
        ] {
            let err = decide(&refused, passwd).unwrap_err();
            assert!(
                err.contains("--by is accepted only from trusted automation"),
                "{err}"
            );
            assert!(err.contains("alice"), "{err}");
        }
        let err = decide(&who(0, None, Some("\u{200d} ")), passwd).unwrap_err();
        assert!(err.contains("empty once normalised"), "{err}");
    }
}
