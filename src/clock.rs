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
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }

    /// Moves the time back, as a stepped NTP correction would.
    pub fn rewind(&self, by: Duration) {
        *self.0.lock() -= by;
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
