//! The [`Scanner`] seam and its two combinators, [`AllOf`] and [`Failover`].

use std::future::Future;
use std::pin::Pin;

use crate::error::ScanError;

/// The future every scanner method returns (object-safe, `Send`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub use crate::detection::Detection;

/// The answer of a scanner about one piece of content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found.
    Clean,
    /// Something found (never empty).
    Infected(Vec<Detection>),
}

impl Outcome {
    /// The detections (empty when clean).
    pub fn detections(&self) -> &[Detection] {
        match self {
            Outcome::Clean => &[],
            Outcome::Infected(d) => d,
        }
    }

    /// Clean when `detections` is empty.
    pub fn from_detections(detections: Vec<Detection>) -> Outcome {
        if detections.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Infected(detections)
        }
    }
}

/// A virus scanner: one engine or a combination of engines.
///
/// Test doubles: any type implementing this trait; the pipeline's tests use small ones for
/// fault injection. Implementations must never answer `Clean` when they did not look.
pub trait Scanner: Send + Sync {
    /// The engine's name, as it appears in findings and logs.
    fn name(&self) -> &str;

    /// Scans one piece of content.
    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>>;

    /// The version of the engine's signatures (clamd: its `VERSION` reply), which keys the
    /// verdict cache. `Ok(None)`: unknown, so verdicts of this scanner are never cached.
    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>>;

    /// Scans the items of one message as one batch: asks the signature version, lets
    /// `select` choose from it which items need a scan (the others are answered from the
    /// verdict cache), and scans those. Outcome `i` belongs to `items[i]`; `None` for an
    /// item not selected (or not reached after a failure, which the caller treats as a
    /// failure). The default asks [`Scanner::signature_version`] and then
    /// [`Scanner::scan`] one item after the other, stopping at the first transient failure
    /// (an engine that is down or too slow is so for the next item too) and going on after a
    /// size limit (the next item may hold a detection); clamd overrides it with one session
    /// for the whole batch.
    fn scan_batch<'a>(
        &'a self,
        items: &'a [&'a [u8]],
        select: &'a Select<'a>,
    ) -> BoxFuture<'a, Result<Batch, ScanError>> {
        Box::pin(async move {
            let version = self.signature_version().await?;
            let wanted = select(version.as_deref());
            let mut outcomes: Vec<Option<Result<Outcome, ScanError>>> = Vec::new();
            for (data, want) in items.iter().zip(wanted) {
                if !want {
                    outcomes.push(None);
                    continue;
                }
                let outcome = self.scan(data).await;
                let transient = outcome.as_ref().is_err_and(ScanError::is_transient);
                outcomes.push(Some(outcome));
                if transient {
                    break;
                }
            }
            outcomes.resize_with(items.len(), || None);
            Ok(Batch { version, outcomes })
        })
    }
}

/// Chooses, from the signature version (`None`: unknown), which items of a batch need a
/// scan: one `bool` per item.
pub type Select<'a> = dyn Fn(Option<&str>) -> Vec<bool> + Send + Sync + 'a;

/// What [`Scanner::scan_batch`] gave.
#[derive(Debug)]
pub struct Batch {
    /// The signature version the batch ran under.
    pub version: Option<String>,
    /// One entry per item: `None` when not scanned.
    pub outcomes: Vec<Option<Result<Outcome, ScanError>>>,
}

impl<S: Scanner + ?Sized> Scanner for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        (**self).scan(data)
    }

    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
        (**self).signature_version()
    }

    fn scan_batch<'a>(
        &'a self,
        items: &'a [&'a [u8]],
        select: &'a Select<'a>,
    ) -> BoxFuture<'a, Result<Batch, ScanError>> {
        (**self).scan_batch(items, select)
    }
}

/// Several engines at once: every one must answer; the detections of all are merged. When
/// one fails, the others are still asked, and the failure carries every detection made.
pub struct AllOf {
    name: String,
    scanners: Vec<Box<dyn Scanner>>,
}

impl AllOf {
    /// Asks every scanner in `scanners` (at least one).
    pub fn new(scanners: Vec<Box<dyn Scanner>>) -> Self {
        let name = scanners
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join("+");
        AllOf { name, scanners }
    }
}

impl Scanner for AllOf {
    fn name(&self) -> &str {
        &self.name
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        Box::pin(async move {
            let mut detections = Vec::new();
            let mut failure: Option<ScanError> = None;
            for scanner in &self.scanners {
                match scanner.scan(data).await {
                    Ok(outcome) => detections.extend(outcome.detections().iter().cloned()),
                    Err(mut err) => {
                        detections.append(&mut err.detections);
                        failure.get_or_insert(err);
                    }
                }
            }
            match failure {
                Some(err) => Err(err.with_detections(detections)),
                None => Ok(Outcome::from_detections(detections)),
            }
        })
    }

    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
        Box::pin(async move {
            let mut versions = Vec::new();
            for scanner in &self.scanners {
                match scanner.signature_version().await? {
                    Some(v) => versions.push(format!("{}={v}", scanner.name())),
                    None => return Ok(None),
                }
            }
            Ok(Some(versions.join("|")))
        })
    }
}

/// A primary engine and a backup that is asked only when the primary fails.
pub struct Failover {
    name: String,
    primary: Box<dyn Scanner>,
    backup: Box<dyn Scanner>,
}

impl Failover {
    /// `backup` answers when `primary` fails.
    pub fn new(primary: Box<dyn Scanner>, backup: Box<dyn Scanner>) -> Self {
        let name = format!("{}|{}", primary.name(), backup.name());
        Failover {
            name,
            primary,
            backup,
        }
    }
}

impl Scanner for Failover {
    fn name(&self) -> &str {
        &self.name
    }

    fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
        Box::pin(async move {
            match self.primary.scan(data).await {
                Ok(outcome) => Ok(outcome),
                Err(err) => {
                    tracing::warn!(
                        target: "quarantd::scan",
                        primary = self.primary.name(),
                        backup = self.backup.name(),
                        kind = %err.kind,
                        error = %err,
                        "Primary scanner failed; asking the backup."
                    );
                    // What the primary found before it failed is kept either way.
                    let found = err.detections;
                    match self.backup.scan(data).await {
                        Ok(outcome) if found.is_empty() => Ok(outcome),
                        Ok(outcome) => {
                            let mut all = found;
                            all.extend(outcome.detections().iter().cloned());
                            Ok(Outcome::Infected(all))
                        }
                        Err(backup_err) => Err(backup_err.with_detections(found)),
                    }
                }
            }
        })
    }

    /// Both versions, the primary's as `down` when it does not answer: a verdict cached while
    /// the backup stood in is not reused once the primary is back, and vice versa.
    fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
        Box::pin(async move {
            let primary = match self.primary.signature_version().await {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(None),
                Err(_) => "down".to_string(),
            };
            let Some(backup) = self.backup.signature_version().await.ok().flatten() else {
                return Ok(None);
            };
            Ok(Some(format!("{primary}|backup={backup}")))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::FailureKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scanner double: answers from a fixed script and counts its scans.
    pub(crate) struct Fixed {
        pub name: &'static str,
        pub answer: Result<Outcome, FailureKind>,
        pub version: Option<&'static str>,
        pub scans: AtomicUsize,
    }

    impl Fixed {
        pub(crate) fn new(name: &'static str, answer: Result<Outcome, FailureKind>) -> Self {
            Fixed {
                name,
                answer,
                version: Some("v1"),
                scans: AtomicUsize::new(0),
            }
        }
    }

    impl Scanner for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn scan<'a>(&'a self, _data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            self.scans.fetch_add(1, Ordering::SeqCst);
            let answer = self
                .answer
                .clone()
                .map_err(|kind| ScanError::new(self.name, kind, "scripted"));
            Box::pin(async move { answer })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            let v = match &self.answer {
                Err(FailureKind::Down) => Err(ScanError::new(self.name, FailureKind::Down, "x")),
                _ => Ok(self.version.map(str::to_string)),
            };
            Box::pin(async move { v })
        }
    }

    pub(crate) fn infected(engine: &str, name: &str) -> Outcome {
        Outcome::Infected(vec![Detection {
            engine: engine.into(),
            name: name.into(),
        }])
    }

    #[tokio::test]
    async fn all_of_merges_detections_and_fails_when_one_fails() {
        let all = AllOf::new(vec![
            Box::new(Fixed::new("a", Ok(infected("a", "X")))),
            Box::new(Fixed::new("b", Ok(infected("b", "Y")))),
        ]);
        assert_eq!(all.scan(b"x").await.unwrap().detections().len(), 2);
        assert_eq!(
            all.signature_version().await.unwrap().as_deref(),
            Some("a=v1|b=v1")
        );
        let all = AllOf::new(vec![
            Box::new(Fixed::new("a", Ok(Outcome::Clean))),
            Box::new(Fixed::new("b", Err(FailureKind::Timeout))),
        ]);
        assert_eq!(all.scan(b"x").await.unwrap_err().kind, FailureKind::Timeout);
    }

    /// Found "X" and then hit a limit (clamd with AllowAllMatchScan).
    struct FoundThenLimit;

    impl Scanner for FoundThenLimit {
        fn name(&self) -> &str {
            "p"
        }
        fn scan<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            let err = ScanError::new("p", FailureKind::SizeLimit, "limit")
                .with_detections(infected("p", "X").detections().to_vec());
            Box::pin(async move { Err(err) })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            Box::pin(async { Ok(Some("v1".into())) })
        }
    }

    /// Issue 11 A3: a failure of one engine never drops another engine's detection.
    #[tokio::test]
    async fn detections_survive_a_failing_engine() {
        let all = AllOf::new(vec![
            Box::new(Fixed::new("a", Ok(infected("a", "X")))),
            Box::new(Fixed::new("b", Err(FailureKind::Timeout))),
            Box::new(FoundThenLimit),
        ]);
        let err = all.scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Timeout, "the first failure");
        let names: Vec<&str> = err.detections.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["X", "X"], "{err:?}");
        let over = Failover::new(
            Box::new(FoundThenLimit),
            Box::new(Fixed::new("b", Ok(Outcome::Clean))),
        );
        assert_eq!(over.scan(b"x").await.unwrap(), infected("p", "X"));
        let over = Failover::new(
            Box::new(FoundThenLimit),
            Box::new(Fixed::new("b", Err(FailureKind::Down))),
        );
        let err = over.scan(b"x").await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Down);
        assert_eq!(err.detections, infected("p", "X").detections());
    }

    #[tokio::test]
    async fn failover_asks_the_backup_only_when_the_primary_fails() {
        let ok = Failover::new(
            Box::new(Fixed::new("p", Ok(Outcome::Clean))),
            Box::new(Fixed::new("b", Ok(infected("b", "Y")))),
        );
        assert_eq!(ok.scan(b"x").await.unwrap(), Outcome::Clean);
        let down = Failover::new(
            Box::new(Fixed::new("p", Err(FailureKind::Down))),
            Box::new(Fixed::new("b", Ok(infected("b", "Y")))),
        );
        assert_eq!(down.scan(b"x").await.unwrap(), infected("b", "Y"));
        assert_eq!(
            down.signature_version().await.unwrap().as_deref(),
            Some("down|backup=v1")
        );
        let both = Failover::new(
            Box::new(Fixed::new("p", Err(FailureKind::Down))),
            Box::new(Fixed::new("b", Err(FailureKind::EngineError))),
        );
        assert_eq!(
            both.scan(b"x").await.unwrap_err().kind,
            FailureKind::EngineError
        );
    }
}
