//! Templates: one per (event, party, language), minijinja, shipped defaults embedded, a
//! site's directory checked first.
//!
//! A template's first line is `Subject: ...`, then an empty line, then the body. Shipped
//! templates live in `templates/{en,de}/EVENT.PARTY.txt` and include the partials
//! `LANG/_message.txt` (what was held and why), `LANG/_release.txt` (how to ask for release)
//! and `LANG/_footer.txt`. A site overrides any of them, or adds a language, by putting a file
//! of the same name under its templates directory (`DIR/de/quarantined.recipient.txt`).
//! A language without a template for a pair falls back to English.
//!
//! The context ([`Notice`]): `event`, `party`, `lang`, `message` (`id`, `subject`, `from`,
//! `sender`, `recipients`, `date`, `direction`), `recipient`, `reasons` (`part`, `filename`,
//! `reason`, `text` — the reason in plain words of the template's language), `release`
//! (`url`, `token`, `expires`; absent when no token is offered), `actor`, `approvals`
//! (`have`, `needed`), `postmaster`, `hostname`. Printing an undefined value is an error;
//! testing one in `{% if %}` is not.

use std::path::{Path, PathBuf};

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use quarantd_core::{Finding, Part};
use quarantd_policy::{Event, Party};
use serde::Serialize;

use crate::describe::describe;
use crate::embedded::EMBEDDED;
use crate::Error;

/// What the original message was.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    /// Quarantine id.
    pub id: String,
    /// Its `Subject`, decoded.
    pub subject: String,
    /// Its `From`, decoded.
    pub from: String,
    /// Envelope sender; empty for `<>`.
    pub sender: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// When it was received, as text (RFC 5322 date).
    pub date: String,
    /// `inbound`, `outbound` or `internal`.
    pub direction: String,
}

/// One reason a message was held: which part, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Part path (`2/invoice.zip/a.exe`), or `(message)`.
    pub part: String,
    /// The part's file name, when it has one.
    pub filename: Option<String>,
    /// The verdict reason (`executable`, `virus:Eicar-Signature`).
    pub reason: String,
    /// The reason in plain words; filled in the template's language when rendering.
    pub text: String,
}

impl Reason {
    /// The reasons of a verdict, one per part and label (or finding) that gave one of
    /// `verdict_reasons`, in part order, then findings.
    pub fn list(parts: &[Part], findings: &[Finding], verdict_reasons: &[String]) -> Vec<Reason> {
        let wanted = |r: &str| verdict_reasons.iter().any(|v| v == r);
        let mut out: Vec<Reason> = parts
            .iter()
            .flat_map(|p| {
                p.labels
                    .iter()
                    .filter(|l| wanted(l.as_str()))
                    .map(move |l| Reason {
                        part: p.path.to_string(),
                        filename: p.filename.clone(),
                        reason: l.as_str().to_string(),
                        text: String::new(),
                    })
            })
            .collect();
        for f in findings {
            let reason = format!("{}:{}", f.kind, f.name);
            if wanted(&reason) {
                let part = f.part.as_ref();
                out.push(Reason {
                    part: part.map_or_else(|| "(message)".into(), |p| p.to_string()),
                    filename: part.and_then(|pp| {
                        parts
                            .iter()
                            .find(|p| &p.path == pp)
                            .and_then(|p| p.filename.clone())
                    }),
                    reason,
                    text: String::new(),
                });
            }
        }
        out
    }
}

/// An easy-release link offered in a notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseLink {
    /// The full URL with the token; empty when the site has no web front end (the token is
    /// then quoted as a code).
    pub url: String,
    /// The token.
    pub token: String,
    /// Its expiry, as text.
    pub expires: String,
}

/// Approvals of a release so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// Distinct approvals given.
    pub have: u32,
    /// Distinct approvals needed.
    pub needed: u32,
}

/// Everything a template may use (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// The original message.
    pub message: MessageInfo,
    /// The recipient the notification is about (its copy), if one.
    pub recipient: Option<String>,
    /// What was held and why.
    pub reasons: Vec<Reason>,
    /// How to ask for release.
    pub release: Option<ReleaseLink>,
    /// Who acted (released, deleted, asked).
    pub actor: Option<String>,
    /// Approvals, for `approval-needed`.
    pub approvals: Option<Approvals>,
    /// The postmaster address named in the text.
    pub postmaster: String,
    /// This host's name.
    pub hostname: String,
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject, one line, not yet encoded.
    pub subject: String,
    /// The body, `\n` line endings.
    pub body: String,
    /// The template used, e.g. `de/quarantined.recipient.txt`.
    pub template: String,
}

/// The template set: shipped defaults, optionally overridden from a directory.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates(..)")
    }
}

impl Templates {
    /// The shipped templates only.
    pub fn embedded() -> Templates {
        Templates::new(None)
    }

    /// The shipped templates, each overridden by a file of the same name under `dir` when
    /// one exists. Files are read on first use and kept.
    pub fn with_overrides(dir: impl Into<PathBuf>) -> Templates {
        Templates::new(Some(dir.into()))
    }

    fn new(dir: Option<PathBuf>) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_loader(move |name| load(dir.as_deref(), name));
        Templates { env }
    }

    /// Renders the notification of `event` for `party` in `lang` (falling back to `en`).
    pub fn render(
        &self,
        event: Event,
        party: Party,
        lang: &str,
        notice: &Notice,
    ) -> Result<Rendered, Error> {
        let lang = if valid_lang(lang) { lang } else { "en" };
        let file = format!("{}.{}.txt", event.as_str(), party.as_str());
        let (name, template) = match self.env.get_template(&format!("{lang}/{file}")) {
            Ok(t) => (format!("{lang}/{file}"), t),
            Err(e) if e.kind() == ErrorKind::TemplateNotFound => {
                let name = format!("en/{file}");
                let t = self
                    .env
                    .get_template(&name)
                    .map_err(|e| template_error(&name, &e))?;
                (name, t)
            }
            Err(e) => return Err(template_error(&format!("{lang}/{file}"), &e)),
        };
        let text_lang = name.split('/').next().unwrap_or("en");
        let mut notice = notice.clone();
        notice.message.subject = one_line(&notice.message.subject);
        notice.message.from = one_line(&notice.message.from);
        for r in &mut notice.reasons {
            r.text = describe(&r.reason, text_lang);
        }
        let ctx = minijinja::context! {
            event => event.as_str(),
            party => party.as_str(),
            lang => text_lang,
            ..minijinja::Value::from_serialize(&notice)
        };
        let text = template
            .render(ctx)
            .map_err(|e| template_error(&name, &e))?;
        split_subject(&text, &name)
    }

    /// Renders every (event, party) in `lang` with a sample notice: the check a site's
    /// templates get at start-up and in `config check`.
    pub fn check(&self, lang: &str) -> Result<(), Error> {
        let sample = Notice {
            message: MessageInfo {
                id: "sample".into(),
                subject: "Sample".into(),
                recipients: vec!["user@example.org".into()],
                ..MessageInfo::default()
            },
            recipient: Some("user@example.org".into()),
            reasons: vec![Reason {
                part: "2".into(),
                filename: Some("a.exe".into()),
                reason: "executable".into(),
                text: String::new(),
            }],
            release: Some(ReleaseLink::default()),
            actor: Some("postmaster".into()),
            approvals: Some(Approvals { have: 1, needed: 2 }),
            ..Notice::default()
        };
        for event in Event::ALL {
            for party in Party::ALL {
                self.render(event, party, lang, &sample)?;
            }
        }
        Ok(())
    }
}

fn template_error(name: &str, err: &minijinja::Error) -> Error {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::Template {
        name: name.to_string(),
        message,
    }
}

/// Language codes as directory names: `en`, `de`, `pt-BR`.
fn valid_lang(lang: &str) -> bool {
    !lang.is_empty()
        && lang.len() <= 16
        && lang
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The loader: the override directory first, then the embedded set. Names with `..` or an
/// absolute path are not found.
fn load(dir: Option<&Path>, name: &str) -> Result<Option<String>, minijinja::Error> {
    let safe = !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !safe {
        return Ok(None);
    }
    if let Some(dir) = dir {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => return Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", dir.join(name).display()),
                ))
            }
        }
    }
    Ok(EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| (*text).to_string()))
}

/// Splits `Subject: ...`, an empty line, and the body.
fn split_subject(text: &str, name: &str) -> Result<Rendered, Error> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let Some(subject) = first.strip_prefix("Subject:") else {
        return Err(Error::Template {
            name: name.to_string(),
            message: "the first line must be \"Subject: ...\"".into(),
        });
    };
    let body = rest.strip_prefix('\n').unwrap_or(rest);
    Ok(Rendered {
        subject: one_line(subject),
        body: format!("{}\n", body.trim_end_matches('\n')),
        template: name.to_string(),
    })
}

/// Collapses whitespace and control characters, so nothing in a subject can start a header.
pub(crate) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
