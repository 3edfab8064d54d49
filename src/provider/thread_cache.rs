//! The per-thread copies of a provider's current token: the fast path.
//!
//! See the module docs of `provider` ("The read-mostly fast path").

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::fast_clock::MonoDeadline;
use crate::clock::ClockSource;
use crate::token::Token;

/// Distinct providers a thread keeps a token copy for; a thread using more
/// than this still works, taking the lock more often.
const THREAD_SLOTS: usize = 4;

/// Source of provider ids for [`ThreadCache`]; never reused, so a slot can
/// never be taken for another provider's (unlike an address).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh provider id (see [`NEXT_ID`]).
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    static CACHE: RefCell<ThreadCache> = const { RefCell::new(ThreadCache::new()) };
}

/// This thread's copy of provider `id`'s token, if it is of `version` and
/// not yet due at `now` (wall) and on `clock`'s monotonic time (read coarsely
/// where it can be, see [`MonoDeadline`]).
#[inline]
pub(super) fn cached(id: u64, version: u64, now: SystemTime, clock: &ClockSource) -> Option<Token> {
    // `try_with`: during thread teardown the cache may be gone; lock then.
    CACHE
        .try_with(|c| c.borrow().get(id, version, now, clock))
        .ok()
        .flatten()
}

/// Stores this thread's copy of a provider's token.
pub(super) fn store(slot: Slot) {
    let _ = CACHE.try_with(|c| c.borrow_mut().put(slot));
}

/// One thread's copy of a provider's current token.
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) version: u64,
    /// The wall-clock deadline of the fast path (`schedule.refresh_at`).
    pub(super) refresh_at: SystemTime,
    /// The same deadline on the monotonic clock, so that a wall clock stepped
    /// back cannot extend it (see [`age_floor`](super::policy::age_floor)),
    /// in the form cheapest to read (see [`MonoDeadline`]).
    pub(super) refresh_at_mono: MonoDeadline,
    pub(super) token: Token,
}

/// A thread's copies of the current tokens of the providers it uses (at most
/// [`THREAD_SLOTS`], replaced round-robin). A copy may outlive its provider
/// until this thread uses another provider or exits; it is a JWT the server
/// stops accepting at its expiry, and the caller held clones of it anyway.
struct ThreadCache {
    slots: Vec<Slot>,
    next: usize,
}

impl ThreadCache {
    const fn new() -> Self {
        ThreadCache {
            slots: Vec::new(),
            next: 0,
        }
    }

    #[inline]
    fn get(&self, id: u64, version: u64, now: SystemTime, clock: &ClockSource) -> Option<Token> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            // `!needs_refresh(age_floor(now, ..))`, in two comparisons.
            .filter(|s| {
                s.version == version && now < s.refresh_at && s.refresh_at_mono.ahead(clock)
            })
            .map(|s| s.token.clone())
    }

    fn put(&mut self, slot: Slot) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.id == slot.id) {
            *s = slot;
        } else if self.slots.len() < THREAD_SLOTS {
            self.slots.push(slot);
        } else {
            self.slots[self.next] = slot;
            self.next = (self.next + 1) % THREAD_SLOTS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const HOUR: Duration = Duration::from_secs(3600);

    /// A cache holding one copy whose wall deadline is `wall` and whose
    /// monotonic deadline is `mono`, both on the system clock.
    fn holding(wall: SystemTime, mono: Instant) -> ThreadCache {
        let mut c = ThreadCache::new();
        c.put(Slot {
            id: 1,
            version: 1,
            refresh_at: wall,
            refresh_at_mono: MonoDeadline::new(&ClockSource::System, mono),
            token: Token::new("x.y.z"),
        });
        c
    }

    #[test]
    fn the_system_clock_serves_a_copy_only_before_both_deadlines() {
        let sys = ClockSource::System;
        let now = SystemTime::now();
        let c = holding(now + HOUR, Instant::now() + HOUR);
        assert!(c.get(1, 1, now, &sys).is_some());
        assert!(c.get(1, 2, now, &sys).is_none(), "another version");
        assert!(c.get(2, 1, now, &sys).is_none(), "another provider");
        // A wall clock stepped forward past the deadline: the lock judges.
        assert!(c.get(1, 1, now + HOUR, &sys).is_none());
    }

    #[test]
    fn a_wall_clock_stepped_back_never_extends_a_copy_on_the_system_clock() {
        // The wall clock says an hour is left (it was stepped back), the
        // monotonic clock says the deadline has passed: not served.
        let sys = ClockSource::System;
        let now = SystemTime::now();
        let c = holding(now + HOUR, Instant::now());
        assert!(c.get(1, 1, now, &sys).is_none());
        if let Some(past) = Instant::now().checked_sub(Duration::from_secs(5)) {
            assert!(holding(now + HOUR, past).get(1, 1, now, &sys).is_none());
        }
    }
}
