//! The phases of a listener's life, as its sessions see them.

use tokio::sync::watch;

/// Where a [`Listener`](crate::Listener) is in its life; phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Accepting and serving.
    Running,
    /// Shutdown began: no new sessions; sessions finish the work in hand (SMTP: the open
    /// transaction) and stop between requests.
    Draining,
    /// The drain deadline passed: every session still waiting for its client stops now.
    Abort,
}

/// A session's view of its listener's [`Phase`].
#[derive(Debug, Clone)]
pub struct PhaseWatch(watch::Receiver<Phase>);

impl PhaseWatch {
    pub(crate) fn new(phase: watch::Receiver<Phase>) -> Self {
        PhaseWatch(phase)
    }

    /// A watch that stays at `phase` for good: for a session served outside a listener (a
    /// test driving one session over an in-memory stream).
    pub fn fixed(phase: Phase) -> Self {
        PhaseWatch(watch::channel(phase).1)
    }

    /// The phase now.
    pub fn current(&self) -> Phase {
        *self.0.borrow()
    }

    /// Returns once the listener has reached `at` (or a later phase); never, if the listener
    /// is gone without reaching it.
    pub async fn reached(&self, at: Phase) {
        let mut phase = self.0.clone();
        if phase.wait_for(|p| *p >= at).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn reached_waits_for_the_phase_and_returns_at_once_past_it() {
        let (tx, rx) = watch::channel(Phase::Running);
        let watch = PhaseWatch::new(rx);
        let early = tokio::time::timeout(Duration::from_secs(1), watch.reached(Phase::Draining));
        assert!(early.await.is_err(), "still running");
        tx.send_replace(Phase::Abort);
        watch.reached(Phase::Draining).await;
        watch.reached(Phase::Abort).await;
        assert_eq!(watch.current(), Phase::Abort);
    }

    #[tokio::test(start_paused = true)]
    async fn a_listener_gone_before_the_phase_never_reaches_it() {
        let (tx, rx) = watch::channel(Phase::Draining);
        let watch = PhaseWatch::new(rx);
        drop(tx);
        watch.reached(Phase::Draining).await;
        let never = tokio::time::timeout(Duration::from_secs(60), watch.reached(Phase::Abort));
        assert!(never.await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_watch_stays_at_its_phase() {
        let watch = PhaseWatch::fixed(Phase::Running);
        assert_eq!(watch.current(), Phase::Running);
        watch.reached(Phase::Running).await;
        let never = tokio::time::timeout(Duration::from_secs(60), watch.reached(Phase::Draining));
        assert!(never.await.is_err());
    }
}
