//! Reading the token: the fast path, the locked path, seeding and invalidation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::fast_clock::MonoDeadline;
use super::policy::{Draw, Schedule, CLOCK_RESOLUTION};
use super::rejected::{self, Rejection};
use super::state::{Shared, Trigger, Want};
use super::thread_cache::{self, Slot};
use crate::error::Error;
use crate::jitter;
use crate::jwt::jwt_times;
use crate::token::Token;

impl Shared {
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
                    Draw::Spread,
                    jitter::unit(),
                );
                let token = Token::from_parts(jwt, times);
                let received_mono = self.clock.instant();
                self.set_current(&mut st, token, schedule, received_mono);
                st.ours = false;
            }
            Err(e) => log::warn!(
                target: crate::LOG_TARGET_PROVIDER,
                "seed token ignored, fetching a new one: {e}"
            ),
        }
    }

    /// The fast path: the wall clock, an atomic load, the monotonic clock
    /// (its coarse form on Linux, see `MonoDeadline`) and a clone of this
    /// thread's copy of the token; the lock when that copy is missing,
    /// outdated or due.
    #[inline]
    pub(crate) fn get(&self) -> Result<Token, Error> {
        let now = self.clock.now();
        // A copy made at this version saw the state as it is now: serving it
        // is what the locked path below would do at this instant.
        let version = self.version.load(Ordering::Acquire);
        if let Some(token) = thread_cache::cached(self.id, version, now, &self.clock) {
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
        if let Some(token) = thread_cache::cached(self.id, version, now, &self.clock) {
            return Ok(token);
        }
        self.get_locked(now, Some((deadline, self)))
    }

    #[cold]
    pub(super) fn get_locked(
        &self,
        now: SystemTime,
        deadline: Option<(Instant, &Arc<Self>)>,
    ) -> Result<Token, Error> {
        let st = self.state.lock();
        if let Some(c) = &st.current {
            if !c.schedule.needs_refresh(c.now(now, self.clock.instant())) {
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
                    refresh_at_mono: MonoDeadline::new(&self.clock, refresh_at_mono),
                };
                thread_cache::store(slot);
                return Ok(token);
            }
        }
        self.refresh(st, Want::Fresh, Trigger::OnDemand, deadline)
    }

    /// Marks `rejected` unusable if it is still the current token, and judges
    /// the rejection (see [`rejected::rejection`]): a token from this
    /// provider's exchange rejected within its probation makes that exchange
    /// unproductive, so the pacing backs off, and from the second such token
    /// in a row callers are told so at once (see [`Error::TokensRejected`])
    /// until the next exchange may start.
    pub(crate) fn invalidate(&self, rejected: &Token) {
        let wall = self.clock.now();
        let mut st = self.state.lock();
        let Some(c) = st.current.as_ref().filter(|c| c.token.same_as(rejected)) else {
            return;
        };
        let (token, schedule, received_mono) = (
            c.token.clone(),
            Schedule::dead(c.schedule.received),
            c.received_mono,
        );
        let judged = self.reported(&st, wall).map(|t| rejected::rejection(&t));
        match judged {
            Some(Rejection::Soon) => {
                st.rejected = st.rejected.saturating_add(1);
                // The gap runs from the end of the exchange that brought it.
                self.repace(&mut st);
                let cause = self.tokens_rejected(&st);
                log::debug!(target: crate::LOG_TARGET_REFRESH, "{cause}");
                st.cause = Some(cause);
            }
            Some(Rejection::Late) if st.rejected > 0 => self.end_streak(&mut st),
            _ => {}
        }
        self.set_current(&mut st, token, schedule, received_mono);
    }

    /// Reports that the API accepted `token`: one accepted request ends a
    /// streak of rejected tokens. An atomic load while there is none.
    pub(crate) fn accepted(&self, token: &Token) {
        if !self.rejecting.load(Ordering::Relaxed) {
            return;
        }
        let mut st = self.state.lock();
        let current = st.current.as_ref().is_some_and(|c| c.token.same_as(token));
        if current && st.rejected > 0 {
            log::debug!(
                target: crate::LOG_TARGET_REFRESH,
                "a token was accepted again; the back-off after rejected tokens ends"
            );
            self.end_streak(&mut st);
        }
    }
}
