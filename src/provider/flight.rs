//! Refresh flights: who leads one, who waits for it, and how it ends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::decide::{self, after_exchange, Held, Take};
use super::exchange::Received;
use super::host::{self, Fetched};
use super::policy::{
    background_sleep, estimate_offset, flight_deadline, Draw, Schedule, CLOCK_RESOLUTION,
};
use super::refresher;
use super::rejected;
use super::single_flight::{self, sync::MutexGuard, FlightClock, Ledger, Marks, Waited};
use super::state::{Shared, State, Trigger, Want, STEP_CREDENTIAL, STEP_EXCHANGE};
use crate::clock::ClockSource;
use crate::error::Error;
use crate::jitter;
use crate::token::Token;

/// Longest sleep of the background thread: it then recomputes its schedule,
/// so that no margin (up to `Duration::MAX`) makes it sleep unbounded.
const MAX_BACKGROUND_SLEEP: Duration = Duration::from_secs(3600);

/// The provider's state holds its single flight (see [`single_flight`]).
impl Ledger for State {
    type Instant = Instant;

    fn marks(&mut self) -> Marks<'_, Instant> {
        Marks {
            in_flight: &mut self.in_flight,
            origin: &mut self.flight_origin,
            start: &mut self.flight_start,
            deadline: &mut self.flight_deadline,
            generation: &mut self.generation,
        }
    }

    fn panicked(&mut self) {
        self.outcome = Err(Error::Panicked {
            during: "installing a token",
        });
    }
}

impl FlightClock for ClockSource {
    type Instant = Instant;

    fn left(&self, until: Instant) -> Duration {
        until.saturating_duration_since(self.instant())
    }
}

impl Shared {
    /// How long the background thread should sleep (at most
    /// [`MAX_BACKGROUND_SLEEP`]), on the provider's monotonic clock from the
    /// instant returned with it, and the generation its refresh will replace.
    pub(crate) fn next_background(&self) -> (Duration, Instant, u64) {
        let wall = self.clock.now();
        let st = self.state.lock();
        let mono = self.clock.instant();
        let now = st.now(wall, mono);
        let scheduled = st.current.as_ref().map(|c| c.schedule.refresh_delay(now));
        let since_last = st.last_end.map(|t| mono.saturating_duration_since(t));
        let delay = background_sleep(scheduled, st.failures, since_last, st.pace.background);
        (delay.min(MAX_BACKGROUND_SLEEP), mono, st.generation)
    }

    /// The background thread's refresh: skipped if any fetch completed since
    /// it was scheduled, since the schedule must then be recomputed.
    pub(crate) fn refresh_in_background(&self, scheduled_after: u64) {
        let st = self.state.lock();
        let want = Want::After(scheduled_after);
        if let Err(e) = self.refresh(st, want, Trigger::Background, None) {
            log::debug!(target: crate::LOG_TARGET_REFRESH, "background refresh: {e}");
        }
    }

    pub(super) fn wanted(&self, st: &State, want: &Want, now: SystemTime) -> bool {
        match want {
            Want::Fresh => st
                .current
                .as_ref()
                .is_none_or(|c| c.schedule.needs_refresh(now)),
            Want::After(generation) => st.generation == *generation,
        }
    }

    /// Brings about `want`, leading a flight or waiting for the one in flight.
    ///
    /// # Deadlines
    /// A caller's `deadline` (none for `get_token`) bounds everything it
    /// waits for: a flight in flight, or the pacing gap before the next one.
    /// A flight has its own deadline, set when it starts ([`flight_deadline`])
    /// and stored in the state; waiters wait until the earlier of the two, and
    /// once it has passed new callers do not wait again: they get the cached
    /// token while usable, else [`Error::RefreshTimedOut`] naming the step and
    /// the limit. A caller whose deadline comes before the flight's would have
    /// to block past it while leading, so its flight runs on a helper thread
    /// and it waits with its deadline; the flight runs on and serves later
    /// callers. Background flights and callers without a deadline lead
    /// inline.
    pub(super) fn refresh(
        &self,
        mut st: MutexGuard<'_, State>,
        want: Want,
        trigger: Trigger,
        caller: Option<(Instant, &Arc<Self>)>,
    ) -> Result<Token, Error> {
        let deadline = caller.map(|(d, _)| d);
        loop {
            let now = st.now(self.clock.now(), self.clock.instant());
            if !self.wanted(&st, &want, now) {
                return self.settle(&mut st, now);
            }
            if single_flight::busy(&mut *st) {
                return self.wait_for_flight(st, deadline, true);
            }
            if trigger == Trigger::OnDemand {
                let mono = self.clock.instant();
                // Overflow cannot happen (the gap is at most a few seconds);
                // it would mean no pacing.
                let paced_until = st
                    .last_end
                    .and_then(|t| t.checked_add(st.pace.on_demand))
                    .filter(|&until| mono < until);
                if let Some(until) = paced_until {
                    if st.failures > 0 {
                        let cause = st.cause.clone().unwrap_or(Error::BadResponse {
                            reason: "token endpoint is cooling down".into(),
                        });
                        return self.fallback(&mut st, now, cause);
                    }
                    // Backing off after rejected tokens: no waiting for an
                    // exchange that cannot help.
                    if rejected::backing_off(st.rejected) {
                        let cause = self.tokens_rejected(&st);
                        return self.fallback(&mut st, now, cause);
                    }
                    // Paced after a productive exchange (its token rejected or
                    // aged within a second of receipt): serve the token while
                    // usable, else wait out the gap.
                    if let Some(c) = st.current.as_ref().filter(|c| c.schedule.usable(now)) {
                        return Ok(c.token.clone());
                    }
                    let wake = deadline.map_or(until, |d| d.min(until));
                    if mono >= wake {
                        let cause = Error::RefreshTimedOut {
                            step: "pacing gap",
                            limit: "the caller's deadline",
                            after: Duration::ZERO,
                        };
                        return self.fallback(&mut st, now, cause);
                    }
                    let _ = self
                        .fetched
                        .wait_for(&mut st, wake.saturating_duration_since(mono));
                    continue;
                }
            }
            let start = self.clock.instant();
            let until = flight_deadline(start, self.credential.time_limit(), self.fetch_timeout);
            single_flight::begin(&mut *st, start, until);
            st.flight_step = STEP_CREDENTIAL;
            st.stats.fetches_started += 1;
            match trigger {
                Trigger::OnDemand => st.stats.on_demand += 1,
                Trigger::Background => st.stats.background += 1,
            }
            if let Some((_, this)) = caller.filter(|&(d, _)| d < st.flight_deadline) {
                let shared = Arc::clone(this);
                let helper = std::thread::Builder::new()
                    .name("tinker-flight".into())
                    .stack_size(refresher::STACK_SIZE)
                    .spawn(move || {
                        let mut st = shared.state.lock();
                        shared.fly(&mut st, trigger);
                    });
                match helper {
                    Ok(_) => return self.wait_for_flight(st, deadline, false),
                    Err(e) => log::debug!(
                        target: crate::LOG_TARGET_REFRESH,
                        "no helper thread ({e}); refreshing inline"
                    ),
                }
            }
            self.fly(&mut st, trigger);
            let now = st.now(self.clock.now(), self.clock.instant());
            return self.settle(&mut st, now);
        }
    }

    /// Runs the flight marked in `st` (lock released for the I/O), installs
    /// its result and wakes the waiters. Panics in the I/O are caught in
    /// [`fetch`](Self::fetch); whatever else happens, [`single_flight::fly`]
    /// ends the flight when this returns or unwinds.
    pub(super) fn fly(&self, st: &mut MutexGuard<'_, State>, trigger: Trigger) {
        single_flight::fly(
            st,
            &self.fetched,
            || self.fetch(),
            |st, result| {
                let received_mono = self.clock.instant();
                let now = self.clock.now();
                self.install(st, result, now, received_mono, trigger);
            },
        );
    }

    /// Waits for the flight in flight, until its deadline or the caller's,
    /// whichever comes first, and shares its outcome. A caller arriving after
    /// the flight's deadline does not wait at all.
    pub(super) fn wait_for_flight(
        &self,
        mut st: MutexGuard<'_, State>,
        deadline: Option<Instant>,
        count: bool,
    ) -> Result<Token, Error> {
        if count {
            st.stats.waits += 1;
        }
        let flight_deadline = st.flight_deadline;
        let waited = single_flight::wait(&mut st, &self.fetched, &self.clock, deadline);
        let now = st.now(self.clock.now(), self.clock.instant());
        if waited == Waited::TimedOut {
            let mono = self.clock.instant();
            let limit = if mono >= flight_deadline {
                "its deadline (credential time limit + fetch_timeout + 1 s)"
            } else {
                "the caller's deadline"
            };
            let cause = Error::RefreshTimedOut {
                step: st.flight_step,
                limit,
                after: mono.saturating_duration_since(st.flight_start),
            };
            return self.fallback(&mut st, now, cause);
        }
        self.settle(&mut st, now)
    }

    /// One exchange (or, with a shared cache, possibly none: see
    /// [`super::host`]), with the lock released. Panics become errors so
    /// that the flight always ends and its waiters always wake.
    pub(super) fn fetch(&self) -> Result<Fetched, Error> {
        let credential = catch_unwind(AssertUnwindSafe(|| self.credential.get_token()))
            .map_err(|_| Error::Panicked {
                during: "credential provider",
            })??
            .ok_or(Error::MissingCredential)?;
        match &self.host {
            Some(host) => catch_unwind(AssertUnwindSafe(|| {
                self.fetch_shared(host, credential.as_str())
            }))
            .map_err(|_| Error::Panicked {
                during: "shared cache",
            })?,
            None => self
                .exchange_now(credential.as_str())
                .map(Fetched::Exchanged),
        }
    }

    /// The exchange itself, panics caught.
    pub(super) fn exchange_now(&self, credential: &str) -> Result<Received, Error> {
        self.state.lock().flight_step = STEP_EXCHANGE;
        catch_unwind(AssertUnwindSafe(|| {
            self.exchange.fetch(credential, &self.clock)
        }))
        .map_err(|_| Error::Panicked {
            during: "token exchange",
        })?
    }

    /// Applies an exchange's result to the state (see [`decide::after_exchange`]).
    pub(super) fn install(
        &self,
        st: &mut State,
        result: Result<Fetched, Error>,
        now: SystemTime,
        received_mono: Instant,
        trigger: Trigger,
    ) {
        #[cfg(test)]
        if tests::PANIC_IN_INSTALL.with(|p| p.replace(false)) {
            panic!("injected panic in install");
        }
        match result {
            Ok(fetched) => {
                // The token held was not rejected soon: a streak of rejected
                // tokens is over (see `rejected::outlived_probation`).
                self.end_streak_if_proven(st, now);
                let held = st.current.as_ref().map(|c| Held {
                    exp: c.token.expires_at(),
                    usable: c.schedule.usable(c.now(now, self.clock.instant())),
                });
                // A token another process of this host wrote was drawn there:
                // keeping its phase (routine) keeps the host one provider.
                let adopted = matches!(fetched, Fetched::Adopted(_));
                let (jwt, times, uncertainty, received) = match fetched {
                    Fetched::Exchanged(r) => {
                        st.stats.fetches_succeeded += 1;
                        let is_new = st
                            .current
                            .as_ref()
                            .is_none_or(|c| c.token.as_str() != r.jwt);
                        st.offset = estimate_offset(st.offset, &r.clock, is_new);
                        (r.jwt, r.times, r.clock.uncertainty(), r.clock.received)
                    }
                    Fetched::Adopted(c) => {
                        // Not an exchange: the flight took the host's token.
                        let s = &mut st.stats;
                        s.fetches_started = s.fetches_started.saturating_sub(1);
                        match trigger {
                            Trigger::OnDemand => s.on_demand = s.on_demand.saturating_sub(1),
                            Trigger::Background => s.background = s.background.saturating_sub(1),
                        }
                        s.shared_adopted += 1;
                        // Written by a process on this host: same local clock.
                        st.offset = c.clock_offset_secs;
                        let times = host::times_of(&c.token).expect("adopted tokens have an exp");
                        (c.token.as_str().to_owned(), times, CLOCK_RESOLUTION, now)
                    }
                };
                // Routine after a background refresh that went as planned, or
                // for the host's token: the fleet may be in step after anything
                // else.
                let draw = if adopted {
                    Draw::Routine
                } else {
                    self.draw_for(trigger, st.failures.max(st.rejected), st.current.is_some())
                };
                let schedule = Schedule::new(
                    times,
                    st.offset,
                    uncertainty,
                    received,
                    &self.timing,
                    draw,
                    jitter::unit(),
                );
                let decision = after_exchange(
                    held.as_ref(),
                    &decide::Received {
                        exp: times.exp,
                        schedule: &schedule,
                    },
                    now,
                );
                if decision.take == Take::Received {
                    let token = Token::from_parts(jwt, times);
                    self.set_current(st, token, schedule, received_mono);
                    st.ours = !adopted;
                }
                st.outcome = Ok(());
                if let Some(reason) = decision.progress.reason() {
                    // A token no fresher than the last (or one already due for
                    // its background refresh) must not trigger another
                    // exchange at once, whoever would start it.
                    self.note_failure(
                        st,
                        Error::BadResponse {
                            reason: reason.into(),
                        },
                    );
                    self.warn(st, now, trigger, reason);
                } else {
                    st.failures = 0;
                    st.cause = None;
                    self.paced(st);
                }
            }
            Err(e) => {
                st.stats.fetches_failed += 1;
                st.outcome = Err(e.clone());
                let text = e.to_string();
                self.note_failure(st, e);
                self.warn(st, now, trigger, &text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::exchange::Exchange;
    use super::super::policy::Timing;
    use crate::clock::ClockSource;
    use crate::error::Error;
    use crate::ApiKeyAuthProvider;

    use super::Shared;

    thread_local! {
        /// Makes the next `install` on this thread panic.
        pub(super) static PANIC_IN_INSTALL: Cell<bool> = const { Cell::new(false) };
    }

    #[test]
    fn a_panic_while_installing_still_ends_the_flight() {
        // Nothing listens on port 1: the exchange fails at once.
        let shared = Arc::new(Shared::new(
            Box::new(ApiKeyAuthProvider::new("tml-test").unwrap()),
            Exchange::new("http://127.0.0.1:1/t".into(), Duration::from_secs(5)),
            ClockSource::System,
            Timing {
                refresh_before_expiry: Duration::from_secs(300),
                refresh_on_demand_within: Duration::from_secs(60),
                retry_delay: Duration::from_secs(60),
            },
            Duration::from_secs(5),
        ));
        PANIC_IN_INSTALL.with(|p| p.set(true));
        assert!(catch_unwind(AssertUnwindSafe(|| shared.get())).is_err());
        {
            let st = shared.state.lock();
            assert!(!st.in_flight, "the flight ended");
            assert_eq!(st.generation, 1);
            assert!(matches!(st.outcome, Err(Error::Panicked { .. })));
        }
        // The provider stays usable: the next caller is not left waiting.
        let waiter = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.get())
        };
        assert!(waiter.join().unwrap().is_err());
    }
}
