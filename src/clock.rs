//! Wall-clock time, injectable so tests can move, skew and jump it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// A source of wall-clock time.
///
/// The provider reads it to judge a token's runway. Production code uses
/// [`SystemClock`]; tests inject a [`ManualClock`] (or their own) to move time
/// forward, skew it against the server, or jump it back.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
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
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tinker_auth::{Clock, ManualClock};
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_005));
/// clock.rewind(Duration::from_secs(10));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(995));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Sets the time.
    pub fn set(&self, to: SystemTime) {
        *self.0.lock() = to;
    }

    /// Moves the time forward.
    ///
    /// # Panics
    /// When the result is not a representable `SystemTime` (a test asking for
    /// `Duration::MAX`, say); the clock is then left where it was.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock();
        *t = t
            .checked_add(by)
            .expect("ManualClock::advance: past the latest representable time");
    }

    /// Moves the time back, as a stepped NTP correction would.
    ///
    /// # Panics
    /// When the result is not a representable `SystemTime`; the clock is then
    /// left where it was.
    pub fn rewind(&self, by: Duration) {
        let mut t = self.0.lock();
        *t = t
            .checked_sub(by)
            .expect("ManualClock::rewind: before the earliest representable time");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock()
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
