//! Sliding-window counters in fixed buckets: memory bounded by the span over the bucket.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// A count over the last `span`, kept in buckets of `bucket` (at most span / bucket + 1).
#[derive(Debug, Clone)]
pub struct Window {
    bucket: Duration,
    buckets: usize,
    /// (bucket number since `origin`, count), oldest first.
    counts: VecDeque<(u64, u64)>,
}

impl Window {
    /// An empty window of `span` in buckets of `bucket`.
    pub fn new(span: Duration, bucket: Duration) -> Self {
        let buckets = (span.as_secs() / bucket.as_secs().max(1)).max(1) as usize;
        Window {
            bucket,
            buckets,
            counts: VecDeque::new(),
        }
    }

    fn number(&self, origin: Instant, now: Instant) -> u64 {
        let since = now.saturating_duration_since(origin);
        since.as_secs() / self.bucket.as_secs().max(1)
    }

    /// Forgets buckets older than the span.
    fn slide(&mut self, current: u64) {
        let oldest = current.saturating_sub(self.buckets as u64 - 1);
        while self.counts.front().is_some_and(|(n, _)| *n < oldest) {
            self.counts.pop_front();
        }
    }

    /// The count over the span ending `now`.
    pub fn count(&mut self, origin: Instant, now: Instant) -> u64 {
        self.slide(self.number(origin, now));
        self.counts.iter().map(|(_, c)| c).sum()
    }

    /// Adds `n` at `now`.
    pub fn add(&mut self, origin: Instant, now: Instant, n: u64) {
        let current = self.number(origin, now);
        self.slide(current);
        match self.counts.back_mut() {
            Some((number, count)) if *number == current => *count += n,
            _ => self.counts.push_back((current, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn counts_slide_out_bucket_by_bucket() {
        let origin = Instant::now();
        let mut hour = Window::new(Duration::from_secs(3600), Duration::from_secs(60));
        hour.add(origin, Instant::now(), 5);
        tokio::time::advance(Duration::from_secs(1800)).await;
        hour.add(origin, Instant::now(), 2);
        assert_eq!(hour.count(origin, Instant::now()), 7);
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert_eq!(
            hour.count(origin, Instant::now()),
            2,
            "the first bucket left"
        );
        tokio::time::advance(Duration::from_secs(1800)).await;
        assert_eq!(hour.count(origin, Instant::now()), 0);
        assert!(hour.counts.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_by_the_buckets() {
        let origin = Instant::now();
        let mut minute = Window::new(Duration::from_secs(60), Duration::from_secs(5));
        for _ in 0..1000 {
            minute.add(origin, Instant::now(), 1);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert!(minute.counts.len() <= 12, "{}", minute.counts.len());
        assert!(minute.count(origin, Instant::now()) <= 60);
    }
}
