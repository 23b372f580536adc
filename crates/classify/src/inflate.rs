//! The one place this crate inflates a raw zlib stream (PowerPoint's compressed
//! `ExOleObjStg`, ActiveMime), always under a byte cap, through the one capped decompressor
//! (`quarantd_cap::zlib`). Zip members are read through the `zip` crate under
//! [`crate::limits::MAX_ZIP_MEMBER`] and [`crate::limits::MAX_ZIP_TOTAL`].
//!
//! Both also draw on the message's [`Budget`]: bytes inflated by all parts together, and a
//! deadline. The budget of the message being classified is kept for the length of one
//! [`scoped`] call on the classifying thread (classification is synchronous and never
//! leaves that thread), so that every nested analyser — an OLE file in a zip in an XML
//! part — draws on it without each signature carrying it.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// What classification may spend on one message, all parts together.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Most bytes inflated (Office package members, compressed OLE objects, ActiveMime).
    pub max_inflated: u64,
    /// Longest time; parts not reached by then are `unscannable`.
    pub max_time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_inflated: 256 * 1024 * 1024,
            max_time: Duration::from_secs(30),
        }
    }
}

/// The account of the message being classified on this thread.
#[derive(Debug, Clone, Copy)]
struct Account {
    left: u64,
    max: u64,
    /// `None` when `max_time` reaches past what an `Instant` holds: no deadline.
    deadline: Option<Instant>,
    /// The budget cut an inflation short since the last [`take_cut`].
    cut: bool,
}

thread_local! {
    static ACCOUNT: Cell<Option<Account>> = const { Cell::new(None) };
}

/// Runs `f` with `budget` as the message's account; the previous account (none, outside
/// classification) is back afterwards, also when `f` panics.
pub(crate) fn scoped<R>(budget: &Budget, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Account>);
    impl Drop for Restore {
        fn drop(&mut self) {
            ACCOUNT.with(|a| a.set(self.0));
        }
    }
    let account = Account {
        left: budget.max_inflated,
        max: budget.max_inflated,
        deadline: Instant::now().checked_add(budget.max_time),
        cut: false,
    };
    let _restore = Restore(ACCOUNT.with(|a| a.replace(Some(account))));
    f()
}

/// Of `want` bytes, how many the message's budget still allows (all, outside a scope).
pub(crate) fn allowance(want: u64) -> u64 {
    ACCOUNT.with(|a| a.get()).map_or(want, |acc| {
        if acc.deadline.is_some_and(|d| Instant::now() >= d) {
            0
        } else {
            want.min(acc.left)
        }
    })
}

/// Records `bytes` inflated under an allowance of `allowed` out of `wanted`: when the
/// budget, not the caller's own cap, stopped it, the cut is remembered.
pub(crate) fn charge(bytes: u64, allowed: u64, wanted: u64) {
    ACCOUNT.with(|a| {
        if let Some(mut acc) = a.get() {
            acc.left = acc.left.saturating_sub(bytes);
            acc.cut |= allowed < wanted && bytes >= allowed;
            a.set(Some(acc));
        }
    });
}

/// Why the budget is used up, if it is.
pub(crate) fn exhausted() -> Option<String> {
    let acc = ACCOUNT.with(|a| a.get())?;
    if acc.deadline.is_some_and(|d| Instant::now() >= d) {
        Some("classification time per message used up".to_string())
    } else if acc.left == 0 {
        Some(format!(
            "more than {} bytes inflated by classification of the message",
            acc.max
        ))
    } else {
        None
    }
}

/// Whether the budget cut an inflation short since the last call, and why.
pub(crate) fn take_cut() -> Option<String> {
    let cut = ACCOUNT.with(|a| {
        let mut acc = a.get()?;
        let cut = std::mem::replace(&mut acc.cut, false);
        a.set(Some(acc));
        Some(cut)
    })?;
    cut.then(|| exhausted().unwrap_or_else(|| "classification budget used up".to_string()))
}

/// Inflates a zlib stream, at most `cap` bytes out. A stream that ends early or has no
/// checksum (PowerPoint often writes them so) yields what inflated before the error;
/// `None` when nothing did.
pub(crate) fn zlib(data: &[u8], cap: u64) -> Option<Vec<u8>> {
    let allowed = allowance(cap);
    let out = quarantd_cap::zlib(data, &quarantd_cap::Cap::bytes(allowed, ""), 0);
    charge(out.bytes.len() as u64, allowed, cap);
    (out.error.is_none() || !out.bytes.is_empty()).then_some(out.bytes)
}
