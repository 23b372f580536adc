//! Waiting for something to happen instead of sleeping for a guess.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause between two looks; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
/// The longest pause between two looks (a look may start a process).
const MAX_POLL: Duration = Duration::from_millis(100);

/// Looks at `cond` until it holds or `timeout` has passed; whether it held. For a test that
/// waits for another task or process to do something (a log line, a file, an attempt at a
/// sink): it goes on as soon as that happened rather than after a fixed sleep, and waits
/// long on a slow machine only. The pauses are tokio's, so under `tokio::time::pause` the
/// wait is virtual too.
pub async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    wait_until_async(timeout, || std::future::ready(cond())).await
}

/// [`wait_until`] for a condition that has to await (a store query).
pub async fn wait_until_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_POLL;
    loop {
        if cond().await {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn returns_once_the_condition_holds() {
        let start = Instant::now();
        let mut looks = 0;
        assert!(
            super::wait_until(Duration::from_secs(10), || {
                looks += 1;
                start.elapsed() >= Duration::from_millis(300)
            })
            .await
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(400),
            "{took:?}"
        );
        assert!(looks < 12, "the pauses grow: {looks} looks");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_timeout() {
        let start = Instant::now();
        assert!(!super::wait_until(Duration::from_secs(2), || false).await);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(
            super::wait_until(Duration::ZERO, || true).await,
            "looks once"
        );
    }
}
