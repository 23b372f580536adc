//! Making a change take effect: clamd must load it (a fresh canary proves that) and, for a
//! new signature, detect its sample under the new name; only then is the generation
//! recorded for the daemons. A change clamd does not confirm is undone.
//!
//! Why undo rather than keep: a signature clamd loaded but does not fire is dead, and one
//! clamd could not load may make it refuse its *whole* database (every later reload,
//! freshclam's included, keeps failing while the line is there). Neither may stay silently.

use std::time::Duration;

use super::{Canary, Change, Sample, SignatureError};
use crate::clamd::reply::ScanReply;
use crate::clamd::Clamd;

/// What [`publish`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new generation.
    pub generation: String,
    /// clamd detected the new canary (it scans with the new files) and the sample, if any.
    pub confirmed: bool,
    /// Why it was not confirmed, when it was not (no clamd given).
    pub warning: Option<String>,
}

/// Makes `change` take effect. With `clamd`: writes a new canary, sends `RELOAD`, waits up to
/// `wait` until clamd detects the canary (its reload is asynchronous), then scans `sample`
/// (if any) and requires the changed signature's name in the answer; only then records the
/// new generation, so daemons drop their cached verdicts. If clamd does not confirm either,
/// the change is undone, clamd is asked to reload the previous files, the generation stays
/// as it was, and the error says what happened. Without `clamd`, the files are kept and the
/// generation is recorded unconfirmed (the daemons then cache no verdicts for their grace
/// period), with a warning.
pub async fn publish(
    change: Change<'_>,
    sample: Option<&Sample>,
    clamd: Option<&Clamd>,
    wait: Duration,
) -> Result<Published, SignatureError> {
    let dir = change.dir();
    let canary = dir.write_canary()?;
    let Some(clamd) = clamd else {
        dir.write_generation(&canary.id)?;
        return Ok(Published {
            generation: canary.id,
            confirmed: false,
            warning: Some(
                "no clamd given: the files are written but not loaded, and no sample was \
                 scanned; clamd loads them at its next reload"
                    .into(),
            ),
        });
    };
    let proof = match confirm_reload(clamd, &canary, wait).await {
        Ok(()) => prove(clamd, &change, sample).await,
        Err(reason) => Err(reason),
    };
    match proof {
        Ok(()) => {
            dir.write_generation(&canary.id)?;
            Ok(Published {
                generation: canary.id,
                confirmed: true,
                warning: None,
            })
        }
        Err(reason) => Err(SignatureError::Unconfirmed {
            reason,
            undo: undo(&change, clamd, wait).await,
        }),
    }
}

/// Sends `RELOAD` and scans the canary until clamd reports it or `wait` has passed.
async fn confirm_reload(clamd: &Clamd, canary: &Canary, wait: Duration) -> Result<(), String> {
    clamd
        .reload()
        .await
        .map_err(|e| format!("RELOAD failed: {e}"))?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let last = match clamd.instream(&canary.content).await {
            Ok(ScanReply::Found(names)) if names.iter().any(|n| n.starts_with(&canary.name)) => {
                return Ok(())
            }
            Ok(reply) => format!("{reply:?}"),
            Err(err) => err.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "clamd did not load the new signature files within {wait:?} (last answer to \
                 the canary: {last}; see clamd's log for a database that failed to load)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scans the sample once (clamd runs the new database now) and requires the changed
/// signature's name in the answer.
async fn prove(clamd: &Clamd, change: &Change<'_>, sample: Option<&Sample>) -> Result<(), String> {
    let Some(sample) = sample else {
        return Ok(());
    };
    let name = &change.signature().name;
    let what = sample.describe();
    let hint = sample.hint().map(|h| format!(" ({h})")).unwrap_or_default();
    match clamd.instream(&sample.content()).await {
        Ok(ScanReply::Found(names)) if names.iter().any(|n| reports(n, name)) => Ok(()),
        Ok(ScanReply::Found(names)) => Err(format!(
            "clamd reports {what} as {} and not as {name} (it names only the first match), so \
             {name} cannot be proven: give a sample only {name} detects",
            names.join(", ")
        )),
        Ok(ScanReply::Clean) => Err(format!(
            "clamd loaded {name} but does not detect {what}: the signature would never \
             fire{hint}"
        )),
        Ok(other) => Err(format!("clamd could not scan {what}: {other:?}")),
        Err(err) => Err(format!("clamd could not scan {what}: {err}")),
    }
}

/// True when clamd's name `reported` is the signature `name` (clamd appends `.UNOFFICIAL`).
fn reports(reported: &str, name: &str) -> bool {
    reported
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest == ".UNOFFICIAL")
}

/// Puts the files back and asks clamd to load them; says what became of the change.
async fn undo(change: &Change<'_>, clamd: &Clamd, wait: Duration) -> String {
    if let Err(err) = change.undo() {
        return format!(
            "undoing the change failed too ({err}): check {} by hand",
            change.dir().path().display()
        );
    }
    let reloaded = match change.dir().write_canary() {
        Ok(canary) => confirm_reload(clamd, &canary, wait).await,
        Err(err) => Err(err.to_string()),
    };
    match reloaded {
        Ok(()) => "the change was undone and clamd reloaded the previous signatures; the \
                   generation is unchanged"
            .into(),
        Err(reason) => format!(
            "the change was undone in the files, but clamd did not confirm reloading them \
             ({reason}); the generation is unchanged"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_names_are_ours_only_exactly() {
        assert!(reports("Local.X.UNOFFICIAL", "Local.X"));
        assert!(reports("Local.X", "Local.X"));
        assert!(!reports("Local.X2.UNOFFICIAL", "Local.X"));
        assert!(!reports("Other", "Local.X"));
    }
}
