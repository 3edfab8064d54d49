//! The single flight: who leads a refresh, who waits for it and until when,
//! how it ends on every way out (a panic included), how its outcome reaches
//! its waiters, and how a change of token is published to the fast path.
//!
//! Nothing here knows of tokens, HTTP or the wall clock: the provider's
//! [`State`](super::state::State) lends its flight fields through
//! [`Ledger`], and the provider's clock is read through [`FlightClock`]. The
//! model in `model.rs` runs this very code on loom's `Mutex`, `Condvar` and
//! atomics, chosen in [`sync`] by a cfg as tokio does (`tinker_auth_loom`,
//! not `loom`, which would also switch tokio, a test dependency, to its own
//! model build), with a logical clock. Run it (seconds, once built) with:
//!
//! ```text
//! RUSTFLAGS="--cfg tinker_auth_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tinker-auth --release --lib single_flight::model -- --nocapture --test-threads=1
//! ```
//!
//! # The protocol
//! Under the state's lock: a caller that needs a refresh and finds a flight
//! [`busy`] waits ([`wait`]); otherwise it marks one ([`begin`]) and leads it
//! ([`fly`]): the fetch runs with the lock released, its result is installed
//! under the lock, and the flight ends (`in_flight` cleared, `generation`
//! bumped, every waiter woken) when `fly` returns or unwinds. A waiter waits
//! for `generation` to change, until the flight's deadline or its own,
//! whichever comes first, and never waits again once that has passed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::fork::Origin;

pub(crate) mod sync;

#[cfg(all(test, tinker_auth_loom))]
mod model;

use self::sync::{AtomicU64, Condvar, MutexGuard};

/// The flight fields of the state the lock guards.
pub(crate) struct Marks<'a, I> {
    /// A fetch is in flight (its leader released the lock for the I/O).
    pub(crate) in_flight: &'a mut bool,
    /// The process whose thread leads the flight: a forked child never
    /// waits for it, as that thread does not exist there.
    pub(crate) origin: &'a mut Origin,
    /// When the flight started, and its one deadline.
    pub(crate) start: &'a mut I,
    pub(crate) deadline: &'a mut I,
    /// Completed flights; waiters watch it change.
    pub(crate) generation: &'a mut u64,
}

/// A state that holds a single flight.
pub(crate) trait Ledger {
    /// The clock's instants (`std::time::Instant`, or the model's ticks).
    type Instant: Copy + Ord;

    /// The flight fields.
    fn marks(&mut self) -> Marks<'_, Self::Instant>;

    /// Records that the leader panicked: the outcome its waiters get.
    fn panicked(&mut self);
}

/// The clock deadlines are judged on.
pub(crate) trait FlightClock {
    type Instant: Copy + Ord;

    /// How long a timed wait must last to reach `until` (zero once passed).
    fn left(&self, until: Self::Instant) -> Duration;
}

/// How a wait for a flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The flight ended: its outcome (or a later one) is in the state.
    Ended,
    /// The flight's deadline or the caller's passed first.
    TimedOut,
}

/// Whether a flight is in flight that this process can wait for.
pub(crate) fn busy<S: Ledger>(st: &mut S) -> bool {
    let m = st.marks();
    *m.in_flight && !m.origin.forked()
}

/// Marks a flight started at `start`, which ends by `deadline`; the caller
/// then leads it with [`fly`].
pub(crate) fn begin<S: Ledger>(st: &mut S, start: S::Instant, deadline: S::Instant) {
    let m = st.marks();
    *m.in_flight = true;
    *m.origin = Origin::here();
    *m.start = start;
    *m.deadline = deadline;
}

/// Runs the flight marked in `st`: `fetch` with the lock released, then
/// `install` with it held. [`FlightEnd`] ends the flight when this returns
/// or unwinds.
pub(crate) fn fly<S: Ledger, R>(
    st: &mut MutexGuard<'_, S>,
    fetched: &Condvar,
    fetch: impl FnOnce() -> R,
    install: impl FnOnce(&mut S, R),
) {
    let end = FlightEnd { st, fetched };
    let result = MutexGuard::unlocked(end.st, fetch);
    install(end.st, result);
}

/// Ends the flight it was made for when dropped, on every way out of
/// [`fly`]: clears `in_flight`, bumps `generation` and wakes the waiters. A
/// panic after the fetch (while installing its result, with the lock held:
/// `parking_lot` does not poison) thus still ends the flight, its waiters
/// getting the outcome [`Ledger::panicked`] records instead of waiting for a
/// flight that will never end; the panic goes on to the thread that led it.
struct FlightEnd<'a, 'g, S: Ledger> {
    st: &'a mut MutexGuard<'g, S>,
    fetched: &'a Condvar,
}

impl<S: Ledger> Drop for FlightEnd<'_, '_, S> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.st.panicked();
        }
        let m = self.st.marks();
        *m.in_flight = false;
        *m.generation = m.generation.wrapping_add(1);
        self.fetched.notify_all();
    }
}

/// Waits for the flight in flight until its deadline or the caller's
/// `deadline`, whichever comes first. A caller arriving after that does not
/// wait at all.
pub(crate) fn wait<S, C>(
    st: &mut MutexGuard<'_, S>,
    fetched: &Condvar,
    clock: &C,
    deadline: Option<S::Instant>,
) -> Waited
where
    S: Ledger,
    C: FlightClock<Instant = S::Instant>,
{
    let (generation, flight_deadline) = {
        let m = st.marks();
        (*m.generation, *m.deadline)
    };
    let wake = deadline.map_or(flight_deadline, |d| d.min(flight_deadline));
    // The wake-up is on the provider's clock; the wait takes what is left of
    // it in real time (the same, with the system clock).
    while *st.marks().generation == generation {
        let left = clock.left(wake);
        if left.is_zero() || fetched.wait_for(st, left).timed_out() {
            break;
        }
    }
    if *st.marks().generation == generation {
        Waited::TimedOut
    } else {
        Waited::Ended
    }
}

/// Publishes a change of the current token (or its schedule) to the fast
/// path: called under the lock, it retires every per-thread copy.
pub(crate) fn publish(version: &AtomicU64) {
    version.fetch_add(1, Ordering::Release);
}
