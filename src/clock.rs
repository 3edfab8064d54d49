//! Wall-clock and monotonic time, injectable so tests can move, skew and jump them.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

/// A source of wall-clock and monotonic time.
///
/// The provider reads the wall clock to judge a token's runway, and the
/// monotonic one for everything measured from a moment it saw: a token's age
/// (so that a wall clock stepped back cannot make it younger), the pacing
/// between exchanges, cooldowns, warnings and the deadlines of refreshes.
/// Production code uses [`SystemClock`]; tests inject a [`ManualClock`] (or
/// their own) to move time forward, skew it against the server, or jump it
/// back.
///
/// Waits by callers still take real time: a wait until a deadline on this
/// clock lasts as long, in real time, as the clock says is left when it
/// starts. With an injected clock, the deadline given to
/// [`get_token_until`](crate::AuthTokenProvider::get_token_until) is read on
/// this clock's [`instant`](Clock::instant).
///
/// The background refresh thread waits on this clock instead: it refreshes
/// once [`instant`](Clock::instant) reaches the time it was due, however
/// much real time that takes. It wakes as soon as a [`ManualClock`] is
/// [advanced](ManualClock::advance), and re-reads any other injected clock at
/// least every 50 ms of real time (so one whose `instant` follows
/// [`Instant::now`] is followed to within that). A refresh due in less than
/// 20 ms (due at once, say) first waits 20 ms of real time, on any clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current monotonic time. Defaults to [`Instant::now`], so that a
    /// clock moving only the wall clock needs not implement it.
    fn instant(&self) -> Instant {
        Instant::now()
    }

    /// Not part of the public API (its type cannot be named outside this
    /// crate, so only [`ManualClock`] provides it): a subscription to this
    /// clock's moves, for the background thread. Defaults to `None`.
    #[doc(hidden)]
    fn subscribe_moves(&self) -> Option<sealed::Moves> {
        None
    }
}

mod sealed {
    /// A subscription to a clock's moves: a message (coalesced) after each.
    #[derive(Debug)]
    pub struct Moves(pub(crate) crossbeam_channel::Receiver<()>);
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// [`advance`](Self::advance) moves the wall clock and the monotonic clock
/// together, as time passing does; [`set`](Self::set) and
/// [`rewind`](Self::rewind) move the wall clock alone, as a step of the
/// system clock (an NTP correction, `date -s`) does.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tinker_auth::{Clock, ManualClock};
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// let start = clock.instant();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_005));
/// assert_eq!(clock.instant() - start, Duration::from_secs(5));
/// clock.rewind(Duration::from_secs(10));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(995));
/// assert_eq!(clock.instant() - start, Duration::from_secs(5));
/// ```
///
/// A provider's background thread waiting on a `ManualClock` wakes when it is
/// moved, and refreshes once [`advance`](Self::advance) has brought the
/// monotonic time to the refresh's due time (see [`Clock`]).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<ManualInner>);

#[derive(Debug)]
struct ManualInner {
    time: Mutex<(SystemTime, Instant)>,
    /// Told (without blocking) after every move; dropped once their
    /// receiver is gone.
    watchers: Mutex<Vec<Sender<()>>>,
}

impl ManualClock {
    /// A clock standing at `start`; its monotonic time starts at the real
    /// [`Instant::now`].
    pub fn new(start: SystemTime) -> Self {
        ManualClock(Arc::new(ManualInner {
            time: Mutex::new((start, Instant::now())),
            watchers: Mutex::new(Vec::new()),
        }))
    }

    /// Tells every watcher that the clock moved. A watcher with a message
    /// still pending needs no second one.
    fn moved(&self) {
        self.0
            .watchers
            .lock()
            .retain(|w| !w.try_send(()).is_err_and(|e| e.is_disconnected()));
    }

    /// Sets the wall-clock time (a step: the monotonic time stays).
    pub fn set(&self, to: SystemTime) {
        self.0.time.lock().0 = to;
        self.moved();
    }

    /// Moves both clocks forward.
    ///
    /// # Panics
    /// When the result is not a representable `SystemTime` or `Instant` (a
    /// test asking for `Duration::MAX`, say); the clock is then left where it
    /// was.
    pub fn advance(&self, by: Duration) {
        {
            let mut t = self.0.time.lock();
            let wall =
                t.0.checked_add(by)
                    .expect("ManualClock::advance: past the latest representable time");
            let mono =
                t.1.checked_add(by)
                    .expect("ManualClock::advance: past the latest representable instant");
            *t = (wall, mono);
        }
        self.moved();
    }

    /// Moves the wall-clock time back, as a stepped NTP correction would;
    /// the monotonic time stays.
    ///
    /// # Panics
    /// When the result is not a representable `SystemTime`; the clock is then
    /// left where it was.
    pub fn rewind(&self, by: Duration) {
        {
            let mut t = self.0.time.lock();
            t.0 =
                t.0.checked_sub(by)
                    .expect("ManualClock::rewind: before the earliest representable time");
        }
        self.moved();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.0.time.lock().0
    }

    fn instant(&self) -> Instant {
        self.0.time.lock().1
    }

    fn subscribe_moves(&self) -> Option<sealed::Moves> {
        let (tx, rx) = bounded(1);
        self.0.watchers.lock().push(tx);
        Some(sealed::Moves(rx))
    }
}

/// The longest timeout this crate hands to anything that adds it to an
/// `Instant` (ureq's deadlines, a waiter's): a century, longer than any
/// process runs yet small enough to add to any instant. Longer settings,
/// `Duration::MAX` included, mean "no limit" and are clamped to it.
pub(crate) const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `timeout`, clamped to [`NO_LIMIT`].
pub(crate) fn clamp_timeout(timeout: Duration) -> Duration {
    timeout.min(NO_LIMIT)
}

/// The provider's clock: the system clock without dynamic dispatch, or an injected one.
#[derive(Debug, Clone)]
pub(crate) enum ClockSource {
    System,
    Injected(Arc<dyn Clock>),
}

impl ClockSource {
    #[inline]
    pub(crate) fn now(&self) -> SystemTime {
        match self {
            ClockSource::System => SystemTime::now(),
            ClockSource::Injected(c) => c.now(),
        }
    }

    /// The monotonic time: [`Instant::now`] for the system clock.
    #[inline]
    pub(crate) fn instant(&self) -> Instant {
        match self {
            ClockSource::System => Instant::now(),
            ClockSource::Injected(c) => c.instant(),
        }
    }

    /// A message after each move of an injected clock that tells of them
    /// (a [`ManualClock`]); `None` for the others.
    pub(crate) fn subscribe_moves(&self) -> Option<Receiver<()>> {
        match self {
            ClockSource::System => None,
            ClockSource::Injected(c) => c.subscribe_moves().map(|m| m.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::time::UNIX_EPOCH;

    #[test]
    fn manual_clock_refuses_to_leave_the_representable_range() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let c = ManualClock::new(start);
        assert!(catch_unwind(AssertUnwindSafe(|| c.advance(Duration::MAX))).is_err());
        assert!(catch_unwind(AssertUnwindSafe(|| c.rewind(Duration::MAX))).is_err());
        assert_eq!(c.now(), start, "left where it was");
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), start + Duration::from_secs(1));
    }

    #[test]
    fn manual_clock_tells_its_watchers_of_each_move_until_they_leave() {
        let c = ManualClock::new(UNIX_EPOCH);
        let source = ClockSource::Injected(Arc::new(c.clone()));
        let moves = source.subscribe_moves().expect("a manual clock tells");
        assert!(moves.try_recv().is_err(), "no move yet");
        // Moves coalesce into one pending message.
        c.advance(Duration::from_secs(1));
        c.set(UNIX_EPOCH);
        c.rewind(Duration::ZERO);
        assert!(moves.try_recv().is_ok());
        assert!(moves.try_recv().is_err());
        drop(moves);
        c.advance(Duration::from_secs(1));
        assert!(c.0.watchers.lock().is_empty(), "a gone watcher is dropped");
        assert!(ClockSource::System.subscribe_moves().is_none());
        let custom = ClockSource::Injected(Arc::new(SystemClock));
        assert!(custom.subscribe_moves().is_none());
    }

    #[test]
    fn no_limit_fits_after_any_instant_of_a_running_process() {
        assert_eq!(clamp_timeout(Duration::MAX), NO_LIMIT);
        assert_eq!(
            clamp_timeout(Duration::from_nanos(1)),
            Duration::from_nanos(1)
        );
        assert!(std::time::Instant::now().checked_add(NO_LIMIT).is_some());
        assert!(SystemTime::now().checked_add(NO_LIMIT).is_some());
    }
}
