//! Scanning one message: plan the items, ask the cache, scan the rest, name the findings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use quarantd_core::{Finding, PartData, PartPath};

use crate::cache::{CacheLimits, VerdictCache};
use crate::error::{FailureKind, ScanError};
use crate::generation::GenerationWatch;
use crate::plan::{plan, Item};
use crate::scanner::{Detection, Outcome, Scanner};

/// Settings of a [`MessageScanner`].
#[derive(Debug, Clone, Default)]
pub struct MessageScannerConfig {
    /// Also send the raw message (besides the decoded leaves); see [`crate::plan`].
    pub send_raw: bool,
    /// Bounds of the verdict cache.
    pub cache: CacheLimits,
}

/// What scanning one message gave: every detection of every item, and beside them every
/// item that could not be scanned. A failure never hides a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageReport {
    /// One finding per detection, with engine, name and part.
    pub findings: Vec<Finding>,
    /// The items no verdict came for, each failure naming its part (`... (part 2)`). Not
    /// empty means the message was not fully scanned: never clean.
    pub failures: Vec<ScanError>,
    /// Items planned.
    pub items: usize,
    /// Items answered from the verdict cache.
    pub cache_hits: usize,
    /// Items sent to the scanners.
    pub scanned: usize,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct ScanStats {
    /// Messages scanned.
    pub messages: AtomicU64,
    /// Items sent to the scanners.
    pub scanned: AtomicU64,
    /// Items answered from the cache.
    pub cache_hits: AtomicU64,
    /// Scans that failed.
    pub failures: AtomicU64,
}

/// Scans messages with one (possibly combined) [`Scanner`], a verdict cache and the
/// generation of quarantd's own signatures.
pub struct MessageScanner {
    scanner: Box<dyn Scanner>,
    generation: GenerationWatch,
    cache: VerdictCache,
    config: MessageScannerConfig,
    stats: ScanStats,
}

impl MessageScanner {
    /// A message scanner asking `scanner`.
    pub fn new(
        scanner: Box<dyn Scanner>,
        generation: GenerationWatch,
        config: MessageScannerConfig,
    ) -> Self {
        MessageScanner {
            scanner,
            generation,
            cache: VerdictCache::new(config.cache),
            config,
            stats: ScanStats::default(),
        }
    }

    /// The engine (or combination) asked.
    pub fn engine(&self) -> &str {
        self.scanner.name()
    }

    /// The counters since start.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// Scans the message `raw` decomposed into `parts`. An item that fails is recorded in
    /// [`MessageReport::failures`] (its detail names the part) and the other items are still
    /// scanned, so that every detection is reported beside the failures; `Err` only when the
    /// scanner gave no verdict at all (down before the first item). Nothing is ever assumed
    /// clean: the caller must treat failures as such.
    pub async fn scan_message(
        &self,
        raw: &[u8],
        parts: &[PartData],
    ) -> Result<MessageReport, ScanError> {
        let started = Instant::now();
        let items = plan(raw, parts, self.config.send_raw);
        let mut report = MessageReport {
            items: items.len(),
            ..MessageReport::default()
        };
        if items.is_empty() {
            return Ok(report);
        }
        let result = self.scan_items(&items, &mut report).await;
        self.count(&report, result.is_err() || !report.failures.is_empty());
        result?;
        tracing::info!(
            target: "quarantd::scan",
            engine = self.scanner.name(),
            items = report.items,
            scanned = report.scanned,
            cache_hits = report.cache_hits,
            total_cache_hits = self.stats.cache_hits.load(Ordering::Relaxed),
            findings = report.findings.len(),
            failures = report.failures.len(),
            us = started.elapsed().as_micros() as u64,
            "Message scanned."
        );
        Ok(report)
    }

    async fn scan_items(
        &self,
        items: &[Item<'_>],
        report: &mut MessageReport,
    ) -> Result<(), ScanError> {
        // Identical items of one message are scanned once: `unique` holds the first of each.
        let shas: Vec<[u8; 32]> = items.iter().map(|item| item.sha256).collect();
        let mut first_of: HashMap<[u8; 32], usize> = HashMap::new();
        let mut unique = Vec::new();
        let slot: Vec<usize> = shas
            .iter()
            .enumerate()
            .map(|(i, sha)| {
                *first_of.entry(*sha).or_insert_with(|| {
                    unique.push(i);
                    unique.len() - 1
                })
            })
            .collect();
        let generation = self.generation.current();
        // Filled by `select` once the engine's version is known (in the scanner's session).
        let hits: Mutex<(Option<String>, Vec<Option<Outcome>>)> =
            Mutex::new((None, vec![None; unique.len()]));
        let select = |version: Option<&str>| -> Vec<bool> {
            let epoch = version.map(|v| format!("{v}#own={}", generation.value));
            let mut hits = hits.lock().unwrap_or_else(|e| e.into_inner());
            let wanted = unique
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    let cached = epoch.as_deref().and_then(|e| self.cache.get(e, &shas[i]));
                    let wanted = cached.is_none();
                    hits.1[k] = cached;
                    wanted
                })
                .collect();
            hits.0 = epoch;
            wanted
        };
        let data: Vec<&[u8]> = unique.iter().map(|&i| items[i].data).collect();
        let batch = self.scanner.scan_batch(&data, &select).await?;
        let (epoch, mut cached) = hits.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut scanned = batch.outcomes.into_iter();
        // Per unique item: its detections, and its failure when it got no verdict.
        let mut verdicts: Vec<(Vec<Detection>, Option<ScanError>)> = Vec::new();
        for (k, &i) in unique.iter().enumerate() {
            let item = &items[i];
            let verdict = match (cached[k].take(), scanned.next().flatten()) {
                (Some(outcome), _) => {
                    report.cache_hits += 1;
                    tracing::debug!(target: "quarantd::scan", part = %item.path, "Verdict cache hit.");
                    (outcome.detections().to_vec(), None)
                }
                (None, Some(Ok(outcome))) => {
                    report.scanned += 1;
                    if let (Some(epoch), true) = (epoch.as_deref(), generation.settled) {
                        self.cache.put(epoch, shas[i], outcome.clone());
                    }
                    (outcome.detections().to_vec(), None)
                }
                (None, Some(Err(mut err))) => {
                    report.scanned += 1;
                    let found = std::mem::take(&mut err.detections);
                    (found, Some(in_part(err, &item.path)))
                }
                (None, None) => (Vec::new(), Some(self.no_verdict(&item.path))),
            };
            verdicts.push(verdict);
        }
        for (item, &k) in items.iter().zip(&slot) {
            let (detections, _) = &verdicts[k];
            report.findings.extend(detections.iter().map(|d| Finding {
                kind: "virus".into(),
                engine: d.engine.clone(),
                name: printable(&d.name),
                part: Some(item.path.clone()),
            }));
        }
        report
            .failures
            .extend(verdicts.into_iter().filter_map(|(_, failure)| failure));
        Ok(())
    }

    /// The failure of an item the scanner gave no verdict for.
    fn no_verdict(&self, path: &PartPath) -> ScanError {
        in_part(
            ScanError::new(
                self.scanner.name(),
                FailureKind::EngineError,
                "no verdict for this part",
            ),
            path,
        )
    }

    fn count(&self, report: &MessageReport, failed: bool) {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        self.stats
            .scanned
            .fetch_add(report.scanned as u64, Ordering::Relaxed);
        self.stats
            .cache_hits
            .fetch_add(report.cache_hits as u64, Ordering::Relaxed);
        if failed {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A scanner's name for a detection with every control character (CR, LF, ESC, …) a space:
/// the name goes into headers, logs, the store and notifications, and a scanner's output is
/// not to be trusted with line breaks.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

fn in_part(mut err: ScanError, path: &PartPath) -> ScanError {
    err.detail = format!("{} (part {path})", err.detail);
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::tests::{infected, Fixed};
    use crate::scanner::{BoxFuture, Detection};
    use quarantd_core::Part;
    use std::sync::Arc;
    use std::time::Duration;

    fn part(path: &str, content: &[u8]) -> PartData {
        PartData {
            part: Part::new(PartPath(path.into()), content.len() as u64, String::new()),
            content: content.to_vec(),
        }
    }

    /// Infected when the content contains "evil"; counts scans; version is settable.
    struct Evil {
        scans: Arc<AtomicU64>,
        version: Arc<std::sync::Mutex<String>>,
    }

    impl Scanner for Evil {
        fn name(&self) -> &str {
            "evil"
        }
        fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            self.scans.fetch_add(1, Ordering::SeqCst);
            let bad = data.windows(4).any(|w| w == b"evil");
            Box::pin(async move {
                Ok(if bad {
                    Outcome::Infected(vec![Detection {
                        engine: "evil".into(),
                        name: "Test.Evil".into(),
                    }])
                } else {
                    Outcome::Clean
                })
            })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            let v = self.version.lock().unwrap().clone();
            Box::pin(async move { Ok(Some(v)) })
        }
    }

    fn evil() -> (
        MessageScanner,
        Arc<AtomicU64>,
        Arc<std::sync::Mutex<String>>,
    ) {
        let scans = Arc::new(AtomicU64::new(0));
        let version = Arc::new(std::sync::Mutex::new("v1".to_string()));
        let scanner = MessageScanner::new(
            Box::new(Evil {
                scans: Arc::clone(&scans),
                version: Arc::clone(&version),
            }),
            GenerationWatch::new(None, Duration::ZERO),
            MessageScannerConfig::default(),
        );
        (scanner, scans, version)
    }

    #[tokio::test]
    async fn findings_name_engine_virus_and_part() {
        let (scanner, _, _) = evil();
        let parts = [
            part("", b""),
            part("1", b"text"),
            part("2", b"an evil thing"),
        ];
        let report = scanner.scan_message(b"raw", &parts).await.unwrap();
        assert_eq!(
            report.findings,
            [Finding {
                kind: "virus".into(),
                engine: "evil".into(),
                name: "Test.Evil".into(),
                part: Some(PartPath("2".into())),
            }]
        );
    }

    #[test]
    fn finding_names_have_no_control_characters() {
        assert_eq!(
            printable("Evil\r\nX-Injected: yes\u{1b}"),
            "Evil  X-Injected: yes"
        );
        assert_eq!(printable("Eicar-Signature"), "Eicar-Signature");
    }

    #[tokio::test]
    async fn a_repeated_attachment_is_scanned_once_until_the_version_changes() {
        let (scanner, scans, version) = evil();
        let msg = |text: &str| {
            [
                part("", b""),
                part("1", text.as_bytes()),
                part("2", b"newsletter.pdf"),
            ]
        };
        scanner.scan_message(b"r", &msg("to a")).await.unwrap();
        let second = scanner.scan_message(b"r", &msg("to b")).await.unwrap();
        assert_eq!((second.scanned, second.cache_hits), (1, 1));
        assert_eq!(scans.load(Ordering::SeqCst), 3);
        *version.lock().unwrap() = "v2".into();
        let third = scanner.scan_message(b"r", &msg("to b")).await.unwrap();
        assert_eq!((third.scanned, third.cache_hits), (2, 0));
    }

    #[tokio::test]
    async fn identical_parts_in_one_message_are_scanned_once() {
        let (scanner, scans, _) = evil();
        let parts = [part("", b""), part("1", b"evil"), part("2", b"evil")];
        let report = scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!(report.findings.len(), 2);
        assert_eq!(scans.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_are_reported_per_part_and_never_cached() {
        let scanner = MessageScanner::new(
            Box::new(Fixed::new("down", Err(FailureKind::Timeout))),
            GenerationWatch::new(None, Duration::ZERO),
            MessageScannerConfig::default(),
        );
        let parts = [part("", b""), part("1", b"x")];
        let report = scanner.scan_message(b"r", &parts).await.unwrap();
        assert!(report.findings.is_empty());
        assert_eq!(report.failures.len(), 1, "{report:?}");
        let err = &report.failures[0];
        assert_eq!(err.kind, FailureKind::Timeout);
        assert!(err.detail.contains("(part 1)"), "{err}");
        assert_eq!(scanner.stats().failures.load(Ordering::Relaxed), 1);
        let again = scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!((again.cache_hits, again.failures.len()), (0, 1));
    }

    /// Infected when the content contains "evil"; over its size limit when longer than 16
    /// bytes; down (transient) when it contains "down".
    struct Limited;

    impl Scanner for Limited {
        fn name(&self) -> &str {
            "limited"
        }
        fn scan<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<Outcome, ScanError>> {
            let answer = if data.windows(4).any(|w| w == b"down") {
                Err(ScanError::new("limited", FailureKind::Down, "went away"))
            } else if data.len() > 16 {
                Err(ScanError::new("limited", FailureKind::SizeLimit, "too big"))
            } else if data.windows(4).any(|w| w == b"evil") {
                Ok(infected("limited", "Test.Evil"))
            } else {
                Ok(Outcome::Clean)
            };
            Box::pin(async move { answer })
        }
        fn signature_version(&self) -> BoxFuture<'_, Result<Option<String>, ScanError>> {
            Box::pin(async { Ok(Some("v".into())) })
        }
    }

    /// Issue 11 A3: a detection is kept whatever order the items fail in.
    #[tokio::test]
    async fn a_detection_is_kept_beside_another_items_failure() {
        let scanner = MessageScanner::new(
            Box::new(Limited),
            GenerationWatch::new(None, Duration::ZERO),
            MessageScannerConfig::default(),
        );
        let big = [b'x'; 64];
        for parts in [
            vec![part("", b""), part("1", &big), part("2", b"evil")],
            vec![part("", b""), part("1", b"evil"), part("2", &big)],
        ] {
            let report = scanner.scan_message(b"r", &parts).await.unwrap();
            assert_eq!(report.findings.len(), 1, "{report:?}");
            assert_eq!(report.findings[0].name, "Test.Evil");
            assert_eq!(report.failures.len(), 1, "{report:?}");
            assert_eq!(report.failures[0].kind, FailureKind::SizeLimit);
        }
        // A transient failure first stops the batch (the engine is gone): the items after
        // it are failures too, never clean; a detection before it is kept.
        let parts = [
            part("", b""),
            part("1", b"evil"),
            part("2", b"down"),
            part("3", b"ok"),
        ];
        let report = scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!(report.findings.len(), 1, "{report:?}");
        let kinds: Vec<FailureKind> = report.failures.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FailureKind::Down, FailureKind::EngineError]);
    }

    #[tokio::test]
    async fn no_version_means_no_cache() {
        let mut fixed = Fixed::new("nover", Ok(infected("nover", "X")));
        fixed.version = None;
        let scanner = MessageScanner::new(
            Box::new(fixed),
            GenerationWatch::new(None, Duration::ZERO),
            MessageScannerConfig::default(),
        );
        let parts = [part("", b""), part("1", b"x")];
        scanner.scan_message(b"r", &parts).await.unwrap();
        let again = scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!(again.cache_hits, 0);
    }

    #[tokio::test]
    async fn no_verdict_is_stored_during_the_grace_period_after_a_generation_change() {
        let dir = std::env::temp_dir().join(format!("qmsg-{}", quarantd_core::id::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let scans = Arc::new(AtomicU64::new(0));
        let scanner = MessageScanner::new(
            Box::new(Evil {
                scans: Arc::clone(&scans),
                version: Arc::new(std::sync::Mutex::new("v".into())),
            }),
            GenerationWatch::new(Some(&dir), Duration::from_secs(3600)),
            MessageScannerConfig::default(),
        );
        let parts = [part("", b""), part("1", b"x")];
        scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!(
            scanner.scan_message(b"r", &parts).await.unwrap().cache_hits,
            1
        );
        crate::signatures::atomic_write(&dir.join(crate::generation::GENERATION_FILE), b"2")
            .unwrap();
        scanner.scan_message(b"r", &parts).await.unwrap();
        let after = scanner.scan_message(b"r", &parts).await.unwrap();
        assert_eq!(
            after.cache_hits, 0,
            "nothing stored while clamd may still reload"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
