//! The fast path's second deadline, on a clock that a wall-clock step cannot
//! move, read as cheaply as the platform allows.
//!
//! The fast path serves a thread's copy of the token while the wall clock is
//! before `refresh_at` (which catches time passing, a suspend and a forward
//! step) and while the monotonic clock is before the same deadline (which
//! stops a wall clock stepped back from extending the token). The wall clock
//! is read precisely; the monotonic check only guards against steps back, so
//! on Linux with the system clock it reads `CLOCK_MONOTONIC_COARSE` (the
//! monotonic time at the last timer tick: no hardware counter read, a few
//! nanoseconds) against a deadline brought forward by two ticks. The coarse
//! clock is one tick behind the precise one when ticks come on time; a tick
//! delayed further (a loaded VM) can let a copy be served a few milliseconds
//! past the monotonic deadline, which matters only if the wall clock was also
//! stepped back, and which is still a whole on-demand window (at least a
//! fifth of the token's lifetime) before its expiry. Elsewhere, and with an
//! injected [`Clock`](crate::Clock), it reads the clock's
//! [`instant`](crate::Clock::instant).

use std::time::Instant;

use crate::clock::ClockSource;

/// Where the fast path reads its monotonic deadline.
#[derive(Debug, Clone, Copy)]
pub(super) enum MonoDeadline {
    /// On the provider clock's [`instant`](ClockSource::instant).
    Instant(Instant),
    /// On `CLOCK_MONOTONIC_COARSE`, already less two ticks of it.
    #[cfg(target_os = "linux")]
    Coarse(std::time::Duration),
}

impl MonoDeadline {
    /// The deadline `at` (on `clock`'s monotonic time), in the form the fast
    /// path reads fastest.
    pub(super) fn new(clock: &ClockSource, at: Instant) -> Self {
        #[cfg(target_os = "linux")]
        if let ClockSource::System = clock {
            if let Some(coarse) = coarse::deadline(at) {
                return MonoDeadline::Coarse(coarse);
            }
        }
        let _ = clock;
        MonoDeadline::Instant(at)
    }

    /// Whether the monotonic time is still before this deadline.
    #[inline]
    pub(super) fn ahead(&self, clock: &ClockSource) -> bool {
        match self {
            MonoDeadline::Instant(at) => clock.instant() < *at,
            #[cfg(target_os = "linux")]
            MonoDeadline::Coarse(at) => coarse::now() < *at,
        }
    }
}

#[cfg(target_os = "linux")]
mod coarse {
    use std::time::{Duration, Instant};

    use rustix::time::{clock_getres, clock_gettime, ClockId, Timespec};

    /// The coarsest tick trusted: beyond it (a kernel with an unusual tick),
    /// the precise clock is read instead.
    const MAX_TICK: Duration = Duration::from_millis(20);

    fn duration(t: Timespec) -> Option<Duration> {
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u32::try_from(t.tv_nsec).ok()?;
        Duration::new(secs, 0).checked_add(Duration::from_nanos(nanos.into()))
    }

    /// `CLOCK_MONOTONIC_COARSE` now: never ahead of `CLOCK_MONOTONIC`, and
    /// one tick behind it while ticks come on time.
    #[inline]
    pub(super) fn now() -> Duration {
        let t = clock_gettime(ClockId::MonotonicCoarse);
        // Never negative on Linux; a garbled value reads as "due".
        duration(t).unwrap_or(Duration::MAX)
    }

    /// `at` (an [`Instant`], which std reads on `CLOCK_MONOTONIC`) on
    /// `CLOCK_MONOTONIC`, less two ticks of the coarse clock: a coarse reading
    /// before it means the precise clock is before `at` unless a tick came
    /// more than a tick late. `None` when the tick
    /// is unknown or too coarse to trust. A deadline past the end of time
    /// (overflow) becomes one already passed: the copy is then not served.
    pub(super) fn deadline(at: Instant) -> Option<Duration> {
        let tick = duration(clock_getres(ClockId::MonotonicCoarse))?;
        if tick.is_zero() || tick > MAX_TICK {
            return None;
        }
        // `CLOCK_MONOTONIC` is read before `Instant::now`, so the remaining
        // time is measured from a later moment: the deadline errs early.
        let base = duration(clock_gettime(ClockId::Monotonic))?;
        let left = at.saturating_duration_since(Instant::now());
        Some(
            base.checked_add(left)
                .map_or(Duration::ZERO, |d| d.saturating_sub(tick.saturating_mul(2))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_deadline_ahead_is_ahead_and_one_passed_is_not() {
        let sys = ClockSource::System;
        let hour = Duration::from_secs(3600);
        assert!(MonoDeadline::new(&sys, Instant::now() + hour).ahead(&sys));
        // A deadline "now" is not asserted: the coarse clock lags by more
        // than its tick when a tick comes late (seen on a loaded VM, about
        // one run in ten). A second past is far beyond any such lag.
        let past = Instant::now().checked_sub(Duration::from_secs(1));
        if let Some(past) = past {
            assert!(!MonoDeadline::new(&sys, past).ahead(&sys));
        }
        #[cfg(target_os = "linux")]
        assert!(
            matches!(
                MonoDeadline::new(&sys, Instant::now()),
                MonoDeadline::Coarse(_)
            ),
            "the system clock on Linux reads the coarse clock"
        );
    }

    #[test]
    fn a_deadline_centuries_away_is_ahead_or_never_served_but_never_panics() {
        let sys = ClockSource::System;
        let far = Instant::now() + crate::clock::NO_LIMIT;
        // Either form is acceptable; computing and reading must not panic.
        let _ = MonoDeadline::new(&sys, far).ahead(&sys);
    }

    #[test]
    fn an_injected_clock_is_read_precisely_on_its_own_instant() {
        let manual = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
        let clock = ClockSource::Injected(Arc::new(manual.clone()));
        let at = manual.instant() + Duration::from_secs(10);
        let d = MonoDeadline::new(&clock, at);
        assert!(matches!(d, MonoDeadline::Instant(_)));
        manual.advance(Duration::from_secs(9));
        assert!(d.ahead(&clock));
        // A wall step does not move it.
        manual.set(UNIX_EPOCH);
        assert!(d.ahead(&clock));
        manual.advance(Duration::from_secs(1));
        assert!(!d.ahead(&clock));
    }
}
