//! The verdict cache: what a scanner said about content, keyed by the content's SHA-256,
//! valid for one *epoch* (the engines' signature versions plus the generation of quarantd's
//! own signatures). A new epoch empties the cache, so no verdict outlives a signature change.
//!
//! Bounded in entries and in bytes; when full, entries go in the order they came, except that
//! one used since it was last looked at gets a second chance (the CLOCK approximation of
//! least-recently-used): the attachment of a newsletter still arriving stays while one-off
//! attachments make room. Lookups and inserts stay O(1) (eviction amortized) and the bound
//! exact.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::scanner::{Detection, Outcome};

/// Bytes an entry costs besides its detection names (key, map and queue slots).
const ENTRY_OVERHEAD: usize = 32 + 32 + 48;

/// Bounds of the cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Most entries (0 turns the cache off).
    pub max_entries: usize,
    /// Most bytes accounted to entries.
    pub max_bytes: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_entries: 100_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// See the module documentation. Shared between tasks (a mutex held for O(1) work).
pub struct VerdictCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
}

struct Entry {
    outcome: Outcome,
    /// Looked up since eviction last passed it.
    used: bool,
}

#[derive(Default)]
struct Inner {
    epoch: String,
    map: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
    bytes: usize,
}

impl VerdictCache {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Self {
        VerdictCache {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict on `sha256` in `epoch`, if known.
    pub fn get(&self, epoch: &str, sha256: &[u8; 32]) -> Option<Outcome> {
        let mut inner = self.lock();
        inner.enter(epoch);
        let entry = inner.map.get_mut(sha256)?;
        entry.used = true;
        Some(entry.outcome.clone())
    }

    /// Remembers a verdict on `sha256` in `epoch`, evicting the oldest entries if needed.
    pub fn put(&self, epoch: &str, sha256: [u8; 32], outcome: Outcome) {
        let cost = cost(&outcome);
        if self.limits.max_entries == 0 || cost > self.limits.max_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.enter(epoch);
        if inner.map.contains_key(&sha256) {
            return;
        }
        while inner.map.len() >= self.limits.max_entries
            || inner.bytes + cost > self.limits.max_bytes
        {
            if !inner.evict_one() {
                break;
            }
        }
        inner.bytes += cost;
        inner.order.push_back(sha256);
        inner.map.insert(
            sha256,
            Entry {
                outcome,
                used: false,
            },
        );
    }

    /// Entries and bytes in use.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

impl Inner {
    /// Switches to `epoch`, forgetting everything of another one.
    fn enter(&mut self, epoch: &str) {
        if self.epoch != epoch {
            self.epoch = epoch.to_string();
            self.map.clear();
            self.order.clear();
            self.bytes = 0;
        }
    }

    /// Removes the oldest entry not used since eviction last passed it; used ones go to the
    /// back with their mark cleared (each at most once per pass, so this ends).
    fn evict_one(&mut self) -> bool {
        while let Some(key) = self.order.pop_front() {
            match self.map.get_mut(&key) {
                Some(entry) if entry.used => {
                    entry.used = false;
                    self.order.push_back(key);
                }
                Some(_) => {
                    if let Some(entry) = self.map.remove(&key) {
                        self.bytes -= cost(&entry.outcome);
                    }
                    return true;
                }
                None => {}
            }
        }
        false
    }
}

fn cost(outcome: &Outcome) -> usize {
    ENTRY_OVERHEAD
        + outcome
            .detections()
            .iter()
            .map(|Detection { engine, name }| engine.len() + name.len() + 48)
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn hits_within_an_epoch_and_forgets_on_a_new_one() {
        let cache = VerdictCache::new(CacheLimits::default());
        cache.put("v1", key(1), Outcome::Clean);
        assert_eq!(cache.get("v1", &key(1)), Some(Outcome::Clean));
        assert_eq!(cache.get("v2", &key(1)), None);
        assert_eq!(
            cache.get("v1", &key(1)),
            None,
            "the old epoch is gone for good"
        );
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let cache = VerdictCache::new(CacheLimits {
            max_entries: 3,
            max_bytes: usize::MAX,
        });
        for n in 0..10 {
            cache.put("e", key(n), Outcome::Clean);
        }
        assert_eq!(cache.usage().0, 3);
        assert_eq!(cache.get("e", &key(9)), Some(Outcome::Clean));
        assert_eq!(cache.get("e", &key(0)), None);

        let cache = VerdictCache::new(CacheLimits {
            max_entries: 1000,
            max_bytes: 3 * ENTRY_OVERHEAD,
        });
        for n in 0..10 {
            cache.put("e", key(n), Outcome::Clean);
        }
        let (entries, bytes) = cache.usage();
        assert_eq!(entries, 3);
        assert!(bytes <= 3 * ENTRY_OVERHEAD);
    }

    #[test]
    fn an_entry_in_use_stays_while_one_off_entries_make_room() {
        let cache = VerdictCache::new(CacheLimits {
            max_entries: 3,
            max_bytes: usize::MAX,
        });
        // The newsletter attachment (0) came first and keeps being looked up.
        cache.put("e", key(0), Outcome::Clean);
        for n in 1..50 {
            assert_eq!(cache.get("e", &key(0)), Some(Outcome::Clean), "round {n}");
            cache.put("e", key(n), Outcome::Clean);
        }
        assert_eq!(cache.usage().0, 3);
        assert_eq!(cache.get("e", &key(49)), Some(Outcome::Clean));
        assert_eq!(cache.get("e", &key(1)), None, "one-off entries went");
        // Once it is no longer used, it goes like any other.
        for n in 50..60 {
            cache.put("e", key(n), Outcome::Clean);
        }
        assert_eq!(cache.get("e", &key(0)), None);
        assert_eq!(cache.usage().0, 3);
    }

    #[test]
    fn zero_entries_turns_it_off() {
        let cache = VerdictCache::new(CacheLimits {
            max_entries: 0,
            max_bytes: 1000,
        });
        cache.put("e", key(1), Outcome::Clean);
        assert_eq!(cache.get("e", &key(1)), None);
    }
}
