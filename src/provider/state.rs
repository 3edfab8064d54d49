//! The provider's mutable state, the shared core that holds it, and what a
//! caller gets once a refresh is settled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::decide::{self, Fallback, Settle};
use super::exchange::Exchange;
use super::policy::{age_floor, pacing, shift, Pacing, Schedule, Timing};
use super::rejected::{self, Reported};
use super::sharing::Host;
use super::single_flight;
use super::single_flight::sync::{AtomicU64, Condvar, Mutex};
use super::thread_cache::next_id;
use crate::auth_provider::AuthTokenProvider;
use crate::clock::ClockSource;
use crate::error::Error;
use crate::fork::Origin;
use crate::jitter;
use crate::token::Token;

/// Least time between two warnings about failed refreshes.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// The steps of a refresh flight, as named in [`Error::RefreshTimedOut`].
pub(super) const STEP_CREDENTIAL: &str = "credential provider";
pub(super) const STEP_EXCHANGE: &str = "token exchange";
pub(super) const STEP_SHARED_LOCK: &str = "shared cache lock (another process is refreshing)";

/// Counters describing what a provider has done. See [`JwtAuthProvider::stats`](crate::JwtAuthProvider::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Token exchanges started.
    pub fetches_started: u64,
    /// Exchanges that returned a usable JWT.
    pub fetches_succeeded: u64,
    /// Exchanges that failed (transport, status, body, credential or panic).
    pub fetches_failed: u64,
    /// Exchanges started by a caller of `get_token` (including `build`).
    pub on_demand: u64,
    /// Exchanges started by the background thread.
    pub background: u64,
    /// Times a caller waited for an exchange another thread had in flight.
    pub waits: u64,
    /// Times the cached token was served because a refresh failed or was cooling down.
    pub served_cached: u64,
    /// Refreshes that took a token another process (or provider) had left in
    /// the shared cache instead of exchanging (not counted as exchanges).
    pub shared_adopted: u64,
}

/// Who asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    OnDemand,
    Background,
}

/// The token held now and when it needs attention.
pub(super) struct Current {
    pub(super) token: Token,
    pub(super) schedule: Schedule,
    /// Monotonic time of receipt: with `schedule.received`, it keeps a wall
    /// clock stepped back from making the token look younger than it is.
    pub(super) received_mono: Instant,
}

impl Current {
    /// The wall-clock time to judge this token by (see [`age_floor`]).
    pub(super) fn now(&self, wall: SystemTime, mono: Instant) -> SystemTime {
        let age = mono.saturating_duration_since(self.received_mono);
        age_floor(wall, self.schedule.received, age)
    }
}

pub(super) struct State {
    pub(super) current: Option<Current>,
    /// Estimated `server clock - local clock`, seconds.
    pub(super) offset: f64,
    /// A fetch is in flight (its thread released the lock for the I/O).
    pub(super) in_flight: bool,
    /// The process whose thread runs the fetch in flight: in a forked child,
    /// that thread does not exist, and the flight never ends.
    pub(super) flight_origin: Origin,
    /// When the flight in flight started, and its one deadline (see
    /// [`flight_deadline`](super::policy::flight_deadline)): every waiter waits for exactly this.
    pub(super) flight_start: Instant,
    pub(super) flight_deadline: Instant,
    /// The step the flight in flight is in, for the error of its waiters.
    pub(super) flight_step: &'static str,
    /// Completed fetches; waiters watch it change.
    pub(super) generation: u64,
    /// How the last completed fetch ended.
    pub(super) outcome: Result<(), Error>,
    /// Consecutive fetches that were not productive (see [`productive`](super::policy::productive)).
    pub(super) failures: u32,
    /// When the last fetch ended, and the gaps [`pacing`] set after it.
    pub(super) last_end: Option<Instant>,
    pub(super) pace: Pacing,
    /// Why the last fetch was not productive, while `failures > 0` (or
    /// `rejected > 0`).
    pub(super) cause: Option<Error>,
    /// Consecutive exchanges whose token the API rejected soon after
    /// receipt (see [`rejected::rejection`]); the pacing backs off on it as on
    /// `failures`. Zero once a token is accepted or outlives its probation.
    pub(super) rejected: u32,
    /// The current token came from this provider's own exchange (not a
    /// seed, nor the shared cache): only such a token's rejection is judged.
    pub(super) ours: bool,
    pub(super) last_warning: Option<Instant>,
    pub(super) stats: Stats,
}

pub(crate) struct Shared {
    /// Identifies this provider in the per-thread caches.
    pub(super) id: u64,
    /// Bumped, under the lock, whenever `State::current` changes.
    pub(super) version: AtomicU64,
    pub(super) credential: Box<dyn AuthTokenProvider>,
    pub(super) exchange: Exchange,
    pub(super) clock: ClockSource,
    pub(super) timing: Timing,
    pub(super) fetch_timeout: Duration,
    /// The shared cache this provider uses, if any (see [`super::host`]).
    pub(super) host: Option<Host>,
    pub(super) state: Mutex<State>,
    pub(super) fetched: Condvar,
    /// `State::rejected > 0`, readable without the lock, so that reporting
    /// an accepted token costs one atomic load while all is well.
    pub(super) rejecting: AtomicBool,
}

/// What a refresh must achieve; re-checked after waiting, since another
/// thread may have achieved it meanwhile.
pub(super) enum Want {
    /// A token outside its on-demand window.
    Fresh,
    /// Any token newer than the given generation (the background thread's
    /// scheduled refresh, which is due before the on-demand window).
    After(u64),
}

impl State {
    /// The time to judge the current token by (see [`Current::now`]).
    pub(super) fn now(&self, wall: SystemTime, mono: Instant) -> SystemTime {
        self.current.as_ref().map_or(wall, |c| c.now(wall, mono))
    }
}

impl Shared {
    pub(crate) fn new(
        credential: Box<dyn AuthTokenProvider>,
        exchange: Exchange,
        clock: ClockSource,
        timing: Timing,
        fetch_timeout: Duration,
    ) -> Self {
        let start = clock.instant();
        Shared {
            id: next_id(),
            version: AtomicU64::new(0),
            credential,
            exchange,
            clock,
            timing,
            fetch_timeout,
            host: None,
            state: Mutex::new(State {
                current: None,
                offset: 0.0,
                in_flight: false,
                flight_origin: Origin::here(),
                flight_start: start,
                flight_deadline: start,
                flight_step: STEP_CREDENTIAL,
                generation: 0,
                outcome: Ok(()),
                failures: 0,
                last_end: None,
                pace: pacing(0, timing.retry_delay, 0.0),
                cause: None,
                rejected: 0,
                ours: false,
                last_warning: None,
                stats: Stats::default(),
            }),
            fetched: Condvar::new(),
            rejecting: AtomicBool::new(false),
        }
    }

    /// The one place the current token or its schedule changes: every change
    /// bumps `version`, which retires the per-thread copies of the old state.
    pub(super) fn set_current(
        &self,
        st: &mut State,
        token: Token,
        schedule: Schedule,
        received_mono: Instant,
    ) {
        st.current = Some(Current {
            token,
            schedule,
            received_mono,
        });
        single_flight::publish(&self.version);
    }

    pub(crate) fn stats(&self) -> Stats {
        self.state.lock().stats
    }

    pub(crate) fn token_url(&self) -> &str {
        self.exchange.url()
    }

    /// Runway of the current token on the server's clock, for status displays.
    pub(crate) fn runway(&self) -> Option<Duration> {
        let wall = self.clock.now();
        let st = self.state.lock();
        st.current
            .as_ref()
            .map(|c| c.schedule.runway(c.now(wall, self.clock.instant())))
    }

    /// The estimated server-minus-local clock offset.
    pub(crate) fn clock_offset(&self) -> f64 {
        self.state.lock().offset
    }

    pub(super) fn note_failure(&self, st: &mut State, cause: Error) {
        st.failures = st.failures.saturating_add(1);
        st.cause = Some(cause);
        self.paced(st);
    }

    /// Starts the pacing gap after the fetch that just ended.
    pub(super) fn paced(&self, st: &mut State) {
        st.last_end = Some(self.clock.instant());
        self.repace(st);
    }

    /// Recomputes the pacing gap after the last fetch (which keeps its end)
    /// from the streaks (see [`rejected::pace`]).
    pub(super) fn repace(&self, st: &mut State) {
        let r = jitter::unit();
        st.pace = rejected::pace(st.failures, st.rejected, self.timing.retry_delay, r);
        self.rejecting.store(st.rejected > 0, Ordering::Relaxed);
    }

    /// The current token as a rejection would be judged now (see
    /// [`rejected::rejection`]); `None` without one.
    pub(super) fn reported(&self, st: &State, wall: SystemTime) -> Option<Reported> {
        let c = st.current.as_ref()?;
        let mono = self.clock.instant();
        let now = c.now(wall, mono);
        let exp = c.token.expires_at()?;
        let times = crate::jwt::JwtTimes {
            exp,
            iat: c.token.issued_at(),
        };
        let since_receipt = mono.saturating_duration_since(c.received_mono);
        let (age, lifetime) = rejected::age_and_lifetime(
            times,
            shift(c.schedule.received, st.offset),
            shift(now, st.offset),
            since_receipt,
        );
        Some(Reported {
            ours: st.ours,
            usable: c.schedule.usable(now),
            age,
            lifetime,
        })
    }

    /// Ends a streak of rejected tokens once the current token has outlived
    /// its probation unrejected.
    pub(super) fn end_streak_if_proven(&self, st: &mut State, wall: SystemTime) {
        if st.rejected == 0 {
            return;
        }
        if self
            .reported(st, wall)
            .is_some_and(|t| rejected::outlived_probation(&t))
        {
            self.end_streak(st);
        }
    }

    /// A token was accepted (or outlived its probation): the streak of
    /// rejected tokens is over, and the pacing gap shrinks back.
    pub(super) fn end_streak(&self, st: &mut State) {
        st.rejected = 0;
        if st.failures == 0 {
            st.cause = None;
        }
        self.repace(st);
    }

    /// The error of a caller paced after rejected tokens.
    pub(super) fn tokens_rejected(&self, st: &State) -> Error {
        let mono = self.clock.instant();
        let retry_in = st
            .last_end
            .and_then(|t| t.checked_add(st.pace.on_demand))
            .map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(mono)
            });
        Error::TokensRejected {
            in_a_row: st.rejected,
            retry_in,
        }
    }

    /// Logs at most one warning per `WARN_INTERVAL`. Error texts never hold secrets.
    pub(super) fn warn(&self, st: &mut State, now: SystemTime, trigger: Trigger, what: &str) {
        let mono = self.clock.instant();
        let quiet = st
            .last_warning
            .is_some_and(|t| mono.saturating_duration_since(t) < WARN_INTERVAL);
        if quiet {
            log::debug!(target: crate::LOG_TARGET_REFRESH, "token refresh ({trigger:?}) failed: {what}");
            return;
        }
        st.last_warning = Some(mono);
        let now = st.now(now, self.clock.instant());
        match st.current.as_ref().filter(|c| c.schedule.usable(now)) {
            Some(c) => log::warn!(
                target: crate::LOG_TARGET_REFRESH,
                "token refresh ({trigger:?}) failed: {what}; serving the cached token, valid for {:.0?} more",
                c.schedule.runway(now)
            ),
            None => log::warn!(
                target: crate::LOG_TARGET_REFRESH,
                "token refresh ({trigger:?}) failed: {what}; no valid token is cached"
            ),
        }
    }

    /// The result a caller gets once the refresh it needed is settled (see
    /// [`decide::settle`]).
    pub(super) fn settle(&self, st: &mut State, now: SystemTime) -> Result<Token, Error> {
        let held_usable = st.current.as_ref().map(|c| c.schedule.usable(now));
        let decision = decide::settle(st.outcome.is_ok(), held_usable);
        if decision == Settle::Fallback {
            let cause = st
                .outcome
                .clone()
                .err()
                .unwrap_or_else(|| Error::BadResponse {
                    reason: "token endpoint failed".into(),
                });
            return self.fallback(st, now, cause);
        }
        match (decision, &st.current) {
            (Settle::Serve, Some(c)) => Ok(c.token.clone()),
            _ => {
                let cause = st.cause.clone().unwrap_or_else(|| Error::BadResponse {
                    reason: "token endpoint issued a token that is already expired".into(),
                });
                // Its token was rejected meanwhile: say so, not "expired".
                if matches!(cause, Error::TokensRejected { .. }) {
                    return Err(cause);
                }
                Err(Error::Expired {
                    cause: Arc::new(cause),
                })
            }
        }
    }

    /// After a failed (or skipped) refresh (see [`decide::fallback`]).
    pub(super) fn fallback(
        &self,
        st: &mut State,
        now: SystemTime,
        cause: Error,
    ) -> Result<Token, Error> {
        let held_usable = st.current.as_ref().map(|c| c.schedule.usable(now));
        match (decide::fallback(&cause, held_usable), &st.current) {
            (Fallback::ServeCached, Some(c)) => {
                st.stats.served_cached += 1;
                Ok(c.token.clone())
            }
            (Fallback::Expired, _) => Err(Error::Expired {
                cause: Arc::new(cause),
            }),
            _ => Err(cause),
        }
    }
}
