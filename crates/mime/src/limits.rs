//! The named limits of one decomposition and the running account against them.

use std::time::{Duration, Instant};

use quarantd_cap::Cap;

/// Named limits of the decomposition. Reaching one labels the affected part `unscannable`
/// with the reason; it is never an error.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deepest nesting of messages, multiparts, archives and embedded objects followed.
    pub max_depth: usize,
    /// Most parts (MIME parts, archive members, embedded objects) recorded per message.
    pub max_parts: usize,
    /// Most bytes unpacked from archives, compressed streams and embedded objects per
    /// message, all members together.
    pub max_total_unpacked: u64,
    /// Highest compression ratio (unpacked / packed) of one member once it is larger than
    /// [`Limits::ratio_grace`].
    pub max_ratio: u64,
    /// Unpacked size below which the compression ratio is not checked: small files of
    /// zeros compress well without being bombs.
    pub ratio_grace: u64,
    /// Longest time spent on one message; checked between members.
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_parts: 10_000,
            max_total_unpacked: 256 * 1024 * 1024,
            max_ratio: 100,
            ratio_grace: 1024 * 1024,
            max_time: Duration::from_secs(30),
        }
    }
}

/// How many steps of a parser loop (entries, objects, records) pass between two looks at
/// the clock: often enough to stop within milliseconds, rarely enough to cost nothing.
const STEPS_PER_CLOCK_CHECK: u64 = 256;

/// The running account of one message against its [`Limits`].
#[derive(Debug)]
pub(crate) struct Account<'l> {
    pub limits: &'l Limits,
    /// `None` when `max_time` reaches past what an `Instant` holds: no deadline.
    deadline: Option<Instant>,
    unpacked: u64,
    steps: u64,
    timed_out: bool,
}

impl<'l> Account<'l> {
    pub fn new(limits: &'l Limits) -> Self {
        Account {
            limits,
            deadline: Instant::now().checked_add(limits.max_time),
            unpacked: 0,
            steps: 0,
            timed_out: false,
        }
    }

    /// The cap for the next member, `packed` bytes long in its container.
    pub fn cap(&self, packed: u64) -> Cap {
        let left = self.limits.max_total_unpacked.saturating_sub(self.unpacked);
        let by_ratio = packed
            .saturating_mul(self.limits.max_ratio)
            .max(self.limits.ratio_grace);
        let deadline = self.deadline;
        if by_ratio < left {
            Cap {
                bytes: by_ratio,
                reason: format!(
                    "compression ratio over {} (member of {packed} packed bytes)",
                    self.limits.max_ratio
                ),
                deadline,
            }
        } else {
            Cap {
                bytes: left,
                reason: format!(
                    "more than {} bytes unpacked from the message",
                    self.limits.max_total_unpacked
                ),
                deadline,
            }
        }
    }

    /// Records `bytes` unpacked.
    pub fn charge(&mut self, bytes: u64) {
        self.unpacked = self.unpacked.saturating_add(bytes);
    }

    /// The reason to stop, when the time limit has passed. Once passed, it stays passed.
    pub fn out_of_time(&mut self) -> Option<String> {
        if !self.timed_out && self.deadline.is_some_and(|d| Instant::now() > d) {
            self.timed_out = true;
        }
        self.timed_out.then(|| {
            format!(
                "time limit of {:?} per message reached",
                self.limits.max_time
            )
        })
    }

    /// One step of a parser loop over attacker-controlled structure (an object, a
    /// directory entry, a record): the reason to stop when the time is up. Looks at the
    /// clock every [`STEPS_PER_CLOCK_CHECK`] steps.
    pub fn step(&mut self) -> Option<String> {
        self.steps += 1;
        if self.timed_out || self.steps.is_multiple_of(STEPS_PER_CLOCK_CHECK) {
            return self.out_of_time();
        }
        None
    }
}
