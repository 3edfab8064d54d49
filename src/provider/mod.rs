//! The JWT provider: cached token, single-flight refresh, failure policy.
//!
//! # Locking
//! One `parking_lot::Mutex<State>` guards everything mutable; one `Condvar`
//! announces the end of a fetch. The lock is held only to read or update
//! `State`, never across I/O: the thread that starts a fetch marks it in
//! flight, releases the lock for the exchange, then re-takes it to install the
//! result and wake the waiters. Readers of a fresh token take the lock for a
//! comparison and a clone, so they never wait for a fetch in flight.
//!
//! # The read-mostly fast path
//! Taking that lock on every `get_token` would make concurrent callers bounce
//! the lock's cache line, and the token's reference count, between cores. So
//! each change to the current token (or its schedule) bumps `version`, an
//! atomic written only under the lock, and each thread keeps a copy of the
//! current token, in its own allocation, with its schedule and the version it
//! was copied at ([`ThreadCache`]). A caller whose copy is of the current
//! version and outside its on-demand window returns a clone of it: a clock
//! read, an atomic load and a reference count only this thread touches. Any
//! other caller takes the lock as before, so refreshes, waiters and fallbacks
//! are unchanged and still single-flight.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::clock::ClockSource;
mod builder;
mod exchange;
mod policy;
mod refresher;

pub(crate) use builder::bypasses_proxy;
pub(crate) use builder::token_url;
pub use builder::{JwtAuthProviderBuilder, DEFAULT_TOKEN_PATH};
pub(crate) use exchange::detail_of;

use self::exchange::{Exchange, Received};
use self::policy::{
    age_floor, background_sleep, estimate_offset, flight_deadline, pacing, productive, Pacing,
    Schedule, Timing, CLOCK_RESOLUTION,
};
use self::refresher::Refresher;
use crate::credential::AuthTokenProvider;
use crate::error::Error;
use crate::fork::Origin;
use crate::jitter;
use crate::jwt::jwt_times;
use crate::token::Token;

/// Least time between two warnings about failed refreshes.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Shortest sleep of the background thread, so that no schedule can make it spin.
const MIN_BACKGROUND_SLEEP: Duration = Duration::from_millis(20);

/// Longest sleep of the background thread: it then recomputes its schedule,
/// so that no margin (up to `Duration::MAX`) makes it sleep unbounded.
const MAX_BACKGROUND_SLEEP: Duration = Duration::from_secs(3600);

/// The steps of a refresh flight, as named in [`Error::RefreshTimedOut`].
const STEP_CREDENTIAL: &str = "credential provider";
const STEP_EXCHANGE: &str = "token exchange";

/// Distinct providers a thread keeps a token copy for; a thread using more
/// than this still works, taking the lock more often.
const THREAD_SLOTS: usize = 4;

/// Source of provider ids for [`ThreadCache`]; never reused, so a slot can
/// never be taken for another provider's (unlike an address).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CACHE: RefCell<ThreadCache> = const { RefCell::new(ThreadCache::new()) };
}

/// One thread's copy of a provider's current token.
struct Slot {
    id: u64,
    version: u64,
    /// The wall-clock deadline of the fast path (`schedule.refresh_at`).
    refresh_at: SystemTime,
    /// The same deadline on the monotonic clock, so that a wall clock stepped
    /// back cannot extend it (see [`age_floor`]).
    refresh_at_mono: Instant,
    token: Token,
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
    fn get(&self, id: u64, version: u64, now: SystemTime) -> Option<Token> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            // `!needs_refresh(age_floor(now, ..))`, in two comparisons.
            .filter(|s| {
                s.version == version && now < s.refresh_at && Instant::now() < s.refresh_at_mono
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

/// Counters describing what a provider has done. See [`JwtAuthProvider::stats`].
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
}

/// Who asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    OnDemand,
    Background,
}

/// The token held now and when it needs attention.
struct Current {
    token: Token,
    schedule: Schedule,
    /// Monotonic time of receipt: with `schedule.received`, it keeps a wall
    /// clock stepped back from making the token look younger than it is.
    received_mono: Instant,
}

impl Current {
    /// The wall-clock time to judge this token by (see [`age_floor`]).
    fn now(&self, wall: SystemTime) -> SystemTime {
        age_floor(wall, self.schedule.received, self.received_mono.elapsed())
    }
}

struct State {
    current: Option<Current>,
    /// Estimated `server clock - local clock`, seconds.
    offset: f64,
    /// A fetch is in flight (its thread released the lock for the I/O).
    in_flight: bool,
    /// The process whose thread runs the fetch in flight: in a forked child,
    /// that thread does not exist, and the flight never ends.
    flight_origin: Origin,
    /// When the flight in flight started, and its one deadline (see
    /// [`flight_deadline`]): every waiter waits for exactly this.
    flight_start: Instant,
    flight_deadline: Instant,
    /// The step the flight in flight is in, for the error of its waiters.
    flight_step: &'static str,
    /// Completed fetches; waiters watch it change.
    generation: u64,
    /// How the last completed fetch ended.
    outcome: Result<(), Error>,
    /// Consecutive fetches that were not productive (see [`productive`]).
    failures: u32,
    /// When the last fetch ended, and the gaps [`pacing`] set after it.
    last_end: Option<Instant>,
    pace: Pacing,
    /// Why the last fetch was not productive, while `failures > 0`.
    cause: Option<Error>,
    last_warning: Option<Instant>,
    stats: Stats,
}

pub(crate) struct Shared {
    /// Identifies this provider in the per-thread caches.
    id: u64,
    /// Bumped, under the lock, whenever `State::current` changes.
    version: AtomicU64,
    credential: Box<dyn AuthTokenProvider>,
    exchange: Exchange,
    clock: ClockSource,
    timing: Timing,
    fetch_timeout: Duration,
    state: Mutex<State>,
    fetched: Condvar,
}

/// What a refresh must achieve; re-checked after waiting, since another
/// thread may have achieved it meanwhile.
enum Want {
    /// A token outside its on-demand window.
    Fresh,
    /// Any token newer than the given generation (the background thread's
    /// scheduled refresh, which is due before the on-demand window).
    After(u64),
}

impl State {
    /// The time to judge the current token by (see [`Current::now`]).
    fn now(&self, wall: SystemTime) -> SystemTime {
        self.current.as_ref().map_or(wall, |c| c.now(wall))
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
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            credential,
            exchange,
            clock,
            timing,
            fetch_timeout,
            state: Mutex::new(State {
                current: None,
                offset: 0.0,
                in_flight: false,
                flight_origin: Origin::here(),
                flight_start: Instant::now(),
                flight_deadline: Instant::now(),
                flight_step: STEP_CREDENTIAL,
                generation: 0,
                outcome: Ok(()),
                failures: 0,
                last_end: None,
                pace: pacing(0, timing.retry_delay, 0.0),
                cause: None,
                last_warning: None,
                stats: Stats::default(),
            }),
            fetched: Condvar::new(),
        }
    }

    /// Installs a seed token without an exchange. A garbled seed is dropped,
    /// as if expired: the next `get_token` (or the background thread) fetches.
    pub(crate) fn seed(&self, jwt: String) {
        let now = self.clock.now();
        let mut st = self.state.lock();
        match jwt_times(&jwt) {
            Ok(times) => {
                // A seed's iat may be old, so it only bounds the offset from below.
                if let Some(iat) = times.iat {
                    if let Ok(ahead) = iat.duration_since(now) {
                        st.offset = st.offset.max(ahead.as_secs_f64());
                    }
                }
                let schedule = Schedule::new(
                    times,
                    st.offset,
                    CLOCK_RESOLUTION,
                    now,
                    &self.timing,
                    jitter::unit(),
                );
                let token = Token::from_parts(jwt, times);
                self.set_current(&mut st, token, schedule, Instant::now());
            }
            Err(e) => log::warn!("seed token ignored, fetching a new one: {e}"),
        }
    }

    /// The fast path: the wall clock, an atomic load, the monotonic clock and
    /// a clone of this thread's copy of the token; the lock when that copy is
    /// missing, outdated or due.
    #[inline]
    pub(crate) fn get(&self) -> Result<Token, Error> {
        let now = self.clock.now();
        // A copy made at this version saw the state as it is now: serving it
        // is what the locked path below would do at this instant.
        let version = self.version.load(Ordering::Acquire);
        // `try_with`: during thread teardown the cache may be gone; lock then.
        if let Ok(Some(token)) = CACHE.try_with(|c| c.borrow().get(self.id, version, now)) {
            return Ok(token);
        }
        self.get_locked(now, None)
    }

    /// [`get`](Self::get), returning by `deadline` (see
    /// [`refresh`](Self::refresh) for how a refresh is bounded by it). It
    /// takes the `Arc` to hand a flight to a helper thread.
    pub(crate) fn get_until(self: &Arc<Self>, deadline: Instant) -> Result<Token, Error> {
        let now = self.clock.now();
        // The fast path of `get`.
        let version = self.version.load(Ordering::Acquire);
        if let Ok(Some(token)) = CACHE.try_with(|c| c.borrow().get(self.id, version, now)) {
            return Ok(token);
        }
        self.get_locked(now, Some((deadline, self)))
    }

    #[cold]
    fn get_locked(
        &self,
        now: SystemTime,
        deadline: Option<(Instant, &Arc<Self>)>,
    ) -> Result<Token, Error> {
        let st = self.state.lock();
        if let Some(c) = &st.current {
            if !c.schedule.needs_refresh(c.now(now)) {
                let token = c.token.clone();
                let refresh_at = c.schedule.refresh_at;
                // Overflow (a deadline centuries away) falls back to the
                // receipt: the copy is then never served, and the locked
                // path judges the token on the wall clock instead.
                let refresh_at_mono = c
                    .received_mono
                    .checked_add(
                        refresh_at
                            .duration_since(c.schedule.received)
                            .unwrap_or_default(),
                    )
                    .unwrap_or(c.received_mono);
                let version = self.version.load(Ordering::Relaxed);
                drop(st);
                let slot = Slot {
                    id: self.id,
                    version,
                    // Its own allocation, so that clones on this thread touch
                    // a reference count no other thread does.
                    token: token.detached(),
                    refresh_at,
                    refresh_at_mono,
                };
                let _ = CACHE.try_with(|c| c.borrow_mut().put(slot));
                return Ok(token);
            }
        }
        self.refresh(st, Want::Fresh, Trigger::OnDemand, deadline)
    }

    /// Marks `rejected` unusable if it is still the current token.
    pub(crate) fn invalidate(&self, rejected: &Token) {
        let mut st = self.state.lock();
        let Some(c) = st.current.as_ref().filter(|c| c.token.same_as(rejected)) else {
            return;
        };
        let (token, schedule, received_mono) = (
            c.token.clone(),
            Schedule::dead(c.schedule.received),
            c.received_mono,
        );
        self.set_current(&mut st, token, schedule, received_mono);
    }

    /// The one place the current token or its schedule changes: every change
    /// bumps `version`, which retires the per-thread copies of the old state.
    fn set_current(
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
        self.version.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn stats(&self) -> Stats {
        self.state.lock().stats
    }

    pub(crate) fn token_url(&self) -> &str {
        self.exchange.url()
    }

    /// How long the background thread should sleep, and the generation its
    /// refresh will replace.
    pub(crate) fn next_background(&self) -> (Duration, u64) {
        let wall = self.clock.now();
        let st = self.state.lock();
        let now = st.now(wall);
        let scheduled = st.current.as_ref().map(|c| c.schedule.refresh_delay(now));
        let since_last = st.last_end.map(|t| t.elapsed());
        let delay = background_sleep(scheduled, st.failures, since_last, st.pace.background);
        (
            delay.clamp(MIN_BACKGROUND_SLEEP, MAX_BACKGROUND_SLEEP),
            st.generation,
        )
    }

    /// The background thread's refresh: skipped if any fetch completed since
    /// it was scheduled, since the schedule must then be recomputed.
    pub(crate) fn refresh_in_background(&self, scheduled_after: u64) {
        let st = self.state.lock();
        let want = Want::After(scheduled_after);
        if let Err(e) = self.refresh(st, want, Trigger::Background, None) {
            log::debug!("background refresh: {e}");
        }
    }

    fn wanted(&self, st: &State, want: &Want, now: SystemTime) -> bool {
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
    fn refresh(
        &self,
        mut st: MutexGuard<'_, State>,
        want: Want,
        trigger: Trigger,
        caller: Option<(Instant, &Arc<Self>)>,
    ) -> Result<Token, Error> {
        let deadline = caller.map(|(d, _)| d);
        loop {
            let now = st.now(self.clock.now());
            if !self.wanted(&st, &want, now) {
                return self.settle(&mut st, now);
            }
            if st.in_flight && !st.flight_origin.forked() {
                return self.wait_for_flight(st, deadline, true);
            }
            if trigger == Trigger::OnDemand {
                let mono = Instant::now();
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
                    let _ = self.fetched.wait_until(&mut st, wake);
                    continue;
                }
            }
            let start = Instant::now();
            st.in_flight = true;
            st.flight_origin = Origin::here();
            st.flight_start = start;
            st.flight_deadline =
                flight_deadline(start, self.credential.time_limit(), self.fetch_timeout);
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
                    Err(e) => log::debug!("no helper thread ({e}); refreshing inline"),
                }
            }
            self.fly(&mut st, trigger);
            let now = st.now(self.clock.now());
            return self.settle(&mut st, now);
        }
    }

    /// Runs the flight marked in `st` (lock released for the I/O), installs
    /// its result and wakes the waiters. Panics in the I/O are caught in
    /// [`fetch`](Self::fetch), so the flight always ends.
    fn fly(&self, st: &mut MutexGuard<'_, State>, trigger: Trigger) {
        let result = MutexGuard::unlocked(st, || self.fetch());
        let received_mono = Instant::now();
        let now = self.clock.now();
        self.install(st, result, now, received_mono, trigger);
        st.in_flight = false;
        st.generation += 1;
        self.fetched.notify_all();
    }

    /// Waits for the flight in flight, until its deadline or the caller's,
    /// whichever comes first, and shares its outcome. A caller arriving after
    /// the flight's deadline does not wait at all.
    fn wait_for_flight(
        &self,
        mut st: MutexGuard<'_, State>,
        deadline: Option<Instant>,
        count: bool,
    ) -> Result<Token, Error> {
        if count {
            st.stats.waits += 1;
        }
        let generation = st.generation;
        let flight_deadline = st.flight_deadline;
        let wake = deadline.map_or(flight_deadline, |d| d.min(flight_deadline));
        while st.generation == generation {
            if self.fetched.wait_until(&mut st, wake).timed_out() {
                break;
            }
        }
        let now = st.now(self.clock.now());
        if st.generation == generation {
            let mono = Instant::now();
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

    /// One exchange, with the lock released. Panics become errors so that the
    /// flight always ends and its waiters always wake.
    fn fetch(&self) -> Result<Received, Error> {
        let credential = catch_unwind(AssertUnwindSafe(|| self.credential.get_token()))
            .map_err(|_| Error::Panicked {
                during: "credential provider",
            })??
            .ok_or(Error::MissingCredential)?;
        self.state.lock().flight_step = STEP_EXCHANGE;
        catch_unwind(AssertUnwindSafe(|| {
            self.exchange.fetch(credential.as_str(), &self.clock)
        }))
        .map_err(|_| Error::Panicked {
            during: "token exchange",
        })?
    }

    fn install(
        &self,
        st: &mut State,
        result: Result<Received, Error>,
        now: SystemTime,
        received_mono: Instant,
        trigger: Trigger,
    ) {
        match result {
            Ok(r) => {
                st.stats.fetches_succeeded += 1;
                let held = st.current.as_ref();
                let is_new = held.is_none_or(|c| c.token.as_str() != r.jwt);
                let held_exp = held.and_then(|c| c.token.expires_at());
                let fresher = held_exp.is_none_or(|old| r.times.exp > old);
                // A held token the server accepts for longer than the new one stays.
                let keep_held = held.is_some_and(|c| {
                    c.schedule.usable(c.now(now)) && held_exp.is_some_and(|old| old > r.times.exp)
                });
                st.offset = estimate_offset(st.offset, &r.clock, is_new);
                let schedule = Schedule::new(
                    r.times,
                    st.offset,
                    r.clock.uncertainty(),
                    r.clock.received,
                    &self.timing,
                    jitter::unit(),
                );
                if !keep_held {
                    let token = Token::from_parts(r.jwt, r.times);
                    self.set_current(st, token, schedule, received_mono);
                }
                st.outcome = Ok(());
                if productive(fresher, &schedule, now) {
                    st.failures = 0;
                    st.cause = None;
                    self.paced(st);
                } else {
                    // Rule: a token no fresher than the last (or one already due
                    // for its background refresh) must not trigger another
                    // exchange at once, whoever would start it.
                    let reason = if fresher {
                        "token endpoint issued a token already inside its refresh window"
                    } else {
                        "token endpoint returned a token no fresher than the one held"
                    };
                    self.note_failure(
                        st,
                        Error::BadResponse {
                            reason: reason.into(),
                        },
                    );
                    self.warn(st, now, trigger, reason);
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

    fn note_failure(&self, st: &mut State, cause: Error) {
        st.failures = st.failures.saturating_add(1);
        st.cause = Some(cause);
        self.paced(st);
    }

    /// Starts the pacing gap after the fetch that just ended.
    fn paced(&self, st: &mut State) {
        st.last_end = Some(Instant::now());
        st.pace = pacing(st.failures, self.timing.retry_delay, jitter::unit());
    }

    /// Logs at most one warning per `WARN_INTERVAL`. Error texts never hold secrets.
    fn warn(&self, st: &mut State, now: SystemTime, trigger: Trigger, what: &str) {
        let quiet = st.last_warning.is_some_and(|t| t.elapsed() < WARN_INTERVAL);
        if quiet {
            log::debug!("token refresh ({trigger:?}) failed: {what}");
            return;
        }
        st.last_warning = Some(Instant::now());
        let now = st.now(now);
        match st.current.as_ref().filter(|c| c.schedule.usable(now)) {
            Some(c) => log::warn!(
                "token refresh ({trigger:?}) failed: {what}; serving the cached token, valid for {:.0?} more",
                c.schedule.runway(now)
            ),
            None => log::warn!("token refresh ({trigger:?}) failed: {what}; no valid token is cached"),
        }
    }

    /// The result a caller gets once the refresh it needed is settled.
    fn settle(&self, st: &mut State, now: SystemTime) -> Result<Token, Error> {
        match &st.outcome {
            Ok(()) => match &st.current {
                Some(c) if c.schedule.usable(now) => Ok(c.token.clone()),
                _ => {
                    let cause = match &st.cause {
                        Some(cause) => cause.clone(),
                        None => Error::BadResponse {
                            reason: "token endpoint issued a token that is already expired".into(),
                        },
                    };
                    Err(Error::Expired {
                        cause: Arc::new(cause),
                    })
                }
            },
            Err(e) => {
                let cause = e.clone();
                self.fallback(st, now, cause)
            }
        }
    }

    /// After a failed (or skipped) refresh: the cached token while the server
    /// still accepts it, else an error carrying the cause. A rejected
    /// credential is reported at once.
    fn fallback(&self, st: &mut State, now: SystemTime, cause: Error) -> Result<Token, Error> {
        if matches!(cause, Error::CredentialRejected { .. }) {
            return Err(cause);
        }
        match &st.current {
            Some(c) if c.schedule.usable(now) => {
                st.stats.served_cached += 1;
                Ok(c.token.clone())
            }
            Some(_) => Err(Error::Expired {
                cause: Arc::new(cause),
            }),
            None => Err(cause),
        }
    }

    /// Runway of the current token on the server's clock, for status displays.
    pub(crate) fn runway(&self) -> Option<Duration> {
        let wall = self.clock.now();
        let st = self.state.lock();
        st.current.as_ref().map(|c| c.schedule.runway(c.now(wall)))
    }

    /// The estimated server-minus-local clock offset.
    pub(crate) fn clock_offset(&self) -> f64 {
        self.state.lock().offset
    }
}

/// Keeps a short-lived Tinker JWT fresh for blocking programs.
///
/// `get_token` hands out the cached JWT while it has runway, refreshes it on
/// demand when it is near or past expiry (all concurrent callers sharing one
/// exchange), and a background thread refreshes it well before that. Failed
/// refreshes fall back to the cached token while the server still accepts it,
/// and then to an error that carries the cause.
///
/// Build one with [`JwtAuthProvider::builder`] and share it through an
/// [`Arc`]. Dropping the last handle (or calling [`shutdown`](Self::shutdown))
/// stops the background thread; `get_token` keeps refreshing on demand.
///
/// # After `fork()`
/// A forked child gets a copy of the provider but not its refresh thread
/// (only the thread that called `fork` exists in the child), so there
/// [`background_running`](Self::background_running) is `false` and
/// `get_token` refreshes on demand only. The child never waits on an exchange
/// that the parent had in flight, and opens its own connections instead of
/// sharing the parent's pooled ones. As with any lock, fork only while no
/// other thread is inside `get_token` (its lock is held for microseconds,
/// never across I/O), or build a new provider in the child.
pub struct JwtAuthProvider {
    shared: Arc<Shared>,
    refresher: Mutex<Option<Refresher>>,
}

impl JwtAuthProvider {
    /// A builder for a provider talking to the Tinker API at `base_url`
    /// (e.g. `https://tinker.example.com`).
    pub fn builder(base_url: impl Into<String>) -> JwtAuthProviderBuilder {
        JwtAuthProviderBuilder::new(base_url.into())
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, refresher: Option<Refresher>) -> Self {
        JwtAuthProvider {
            shared,
            refresher: Mutex::new(refresher),
        }
    }

    /// What the provider has done so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// How long the current token has left on the server's clock, if one is held.
    pub fn runway(&self) -> Option<Duration> {
        self.shared.runway()
    }

    /// The estimated offset of the server's clock from the local one
    /// (positive when the server is ahead), in seconds.
    pub fn clock_offset_secs(&self) -> f64 {
        self.shared.clock_offset()
    }

    /// Whether the background refresh thread is running.
    pub fn background_running(&self) -> bool {
        self.refresher
            .lock()
            .as_ref()
            .is_some_and(Refresher::is_running)
    }

    /// Stops the background thread and waits for it (briefly, if it is in the
    /// middle of an exchange). `get_token` keeps working, refreshing on demand.
    /// Calling it again does nothing.
    pub fn shutdown(&self) {
        let refresher = self.refresher.lock().take();
        drop(refresher);
    }
}

impl AuthTokenProvider for JwtAuthProvider {
    /// The cached JWT, refreshed first if it is inside its on-demand window.
    /// Never returns `Ok(None)`.
    fn get_token(&self) -> Result<Option<Token>, Error> {
        self.shared.get().map(Some)
    }

    /// As [`get_token`](Self::get_token), returning by `deadline`: a refresh
    /// in flight is waited for only until then (it runs on, and serves later
    /// callers), and one this call would start runs on a helper thread if it
    /// may outlast the deadline. Fails with [`Error::RefreshTimedOut`] (or
    /// [`Error::Expired`] carrying it) when the deadline comes first and no
    /// usable token is cached.
    fn get_token_until(&self, deadline: Instant) -> Result<Option<Token>, Error> {
        self.shared.get_until(deadline).map(Some)
    }

    /// Marks `token` unusable if it is still the current one, so that the next
    /// `get_token` refreshes (once, however many threads report it).
    fn invalidate(&self, token: &Token) -> bool {
        self.shared.invalidate(token);
        true
    }
}

impl fmt::Debug for JwtAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthProvider")
            .field(
                "token_url",
                &crate::redact::redact_url(self.shared.token_url()),
            )
            .field("stats", &self.stats())
            .field("background_running", &self.background_running())
            .finish_non_exhaustive()
    }
}
