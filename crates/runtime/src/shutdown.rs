//! The signal that starts a graceful shutdown.

use std::sync::Arc;

use tokio::sync::watch;

/// Starts the graceful shutdown of every [`Listener`](crate::Listener) serving with it when
/// triggered: each stops accepting and drains. Clones are the same signal; triggering it
/// before a listener runs makes that listener stop at once.
#[derive(Clone)]
pub struct ShutdownSignal(Arc<watch::Sender<bool>>);

impl ShutdownSignal {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        ShutdownSignal(Arc::new(watch::Sender::new(false)))
    }

    /// Begins the shutdown: stop accepting, drain, then abort the rest.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Returns once the signal is triggered.
    pub(crate) async fn triggered(&self) {
        let mut triggered = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = triggered.wait_for(|on| *on).await;
    }
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_sees_the_trigger_even_one_that_comes_late() {
        let signal = ShutdownSignal::new();
        let (a, b) = (signal.clone(), signal.clone());
        let first = tokio::spawn(async move { a.triggered().await });
        let second = tokio::spawn(async move { b.triggered().await });
        tokio::task::yield_now().await;
        signal.trigger();
        first.await.unwrap();
        second.await.unwrap();
        signal.triggered().await;
    }
}
