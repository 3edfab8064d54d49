//! One host, one token: the flight's detour through the shared cache
//! ([`crate::shared_cache`]) when `shared_cache_dir` or `shared_cache(true)`
//! is set.
//!
//! Inside a flight (the state lock released), after the credential is known:
//!
//! 1. read the entry of (base URL, credential value) without a lock: a token
//!    there that is fresher than the one held and not itself due is adopted
//!    (no exchange);
//! 2. else take the entry's `flock`, waiting at most [`lock_wait`] (at most
//!    [`LOCK_WAIT_MAX`], and at most half of what is left of the flight's
//!    deadline), read again (the holder may just have refreshed), and
//!    exchange only if still needed, writing the new token before unlocking;
//! 3. if the lock stayed held (its holder may be stopped, suspended or
//!    wedged: the kernel keeps the lock as long as the holder lives), read
//!    again, then exchange without the lock and write the result back only
//!    if the lock can be taken at once afterwards (every write is made under
//!    the lock, so a slow writer never replaces a newer entry with an older
//!    one). Sharing is lost while the holder is stuck; availability is not.
//!    The lock is remembered as stuck, and later refreshes only try it once
//!    until it is free again (see [`crate::shared_cache`]).
//!
//! Readers of a fresh token never get here, so they never touch the file. A
//! directory or file the cache refuses (a symlink, not ours, writable by
//! others), or any I/O error, is logged once with `log::warn!` and the
//! provider goes on with its private token, as without the cache.

use std::time::{Duration, Instant};

use super::exchange::Received;
use super::policy::{estimate_offset, Draw, Schedule, CLOCK_RESOLUTION};
use super::sharing::Host;
use super::state::{Shared, Trigger, STEP_SHARED_LOCK};
use crate::error::Error;
use crate::jwt::JwtTimes;
use crate::shared_cache::{CacheLock, Cached, SharedCache};
use crate::token::Token;

/// Longest wait for the entry's lock: a holder that is exchanging normally
/// is done well within it; one that is not may be stuck, and the flight
/// exchanges on its own.
pub(crate) const LOCK_WAIT_MAX: Duration = Duration::from_secs(1);

/// What a flight brought back: a token from the token endpoint, or one
/// another process (or an earlier flight) left in the shared cache.
pub(crate) enum Fetched {
    Exchanged(Received),
    Adopted(Cached),
}

/// How long a flight waits for the entry's lock, given the time `left`
/// until its deadline: at most [`LOCK_WAIT_MAX`], and at most half of
/// `left`, so that the other half remains for an exchange of its own.
pub(crate) fn lock_wait(left: Duration) -> Duration {
    (left / 2).min(LOCK_WAIT_MAX)
}

/// The times a cached token carries.
pub(crate) fn times_of(token: &Token) -> Option<JwtTimes> {
    Some(JwtTimes {
        exp: token.expires_at()?,
        iat: token.issued_at(),
    })
}

impl Shared {
    /// The draw a token installed now gets (see [`Draw`]): routine only after
    /// a background refresh that went as planned, whether it exchanged or
    /// adopted the host's newer token.
    pub(super) fn draw_for(&self, trigger: Trigger, failures: u32, holding: bool) -> Draw {
        if trigger == Trigger::Background && failures == 0 && holding {
            Draw::Routine
        } else {
            Draw::Spread
        }
    }

    /// Whether `cached` should be taken instead of exchanging: fresher than
    /// the token held, and not itself due (neither inside its on-demand
    /// window nor past its background time). An adopted token is installed
    /// with a [`Draw::Routine`] schedule, keeping the phase its writer drew,
    /// so that the processes of a host refresh as one provider; it is judged
    /// here as installed, at the latest time that schedule allows.
    fn adoptable(&self, cached: &Cached) -> bool {
        let Some(times) = times_of(&cached.token) else {
            return false;
        };
        let now = self.clock.now();
        let st = self.state.lock();
        let held_exp = st.current.as_ref().and_then(|c| c.token.expires_at());
        if held_exp.is_some_and(|old| times.exp <= old) {
            return false;
        }
        drop(st);
        let schedule = Schedule::new(
            times,
            cached.clock_offset_secs,
            CLOCK_RESOLUTION,
            now,
            &self.timing,
            Draw::Routine,
            1.0,
        );
        !schedule.needs_refresh(now) && !schedule.refresh_delay(now).is_zero()
    }

    /// The flight's exchange, through the shared cache of `host`.
    pub(super) fn fetch_shared(&self, host: &Host, credential: &str) -> Result<Fetched, Error> {
        let cache = match SharedCache::open(&host.dir, &host.base_url, credential) {
            Ok(cache) => cache,
            Err(e) => {
                host.warn(&e);
                return self.exchange_now(credential).map(Fetched::Exchanged);
            }
        };
        if let Some(c) = cache.read().filter(|c| self.adoptable(c)) {
            return Ok(Fetched::Adopted(c));
        }
        let deadline = {
            let mut st = self.state.lock();
            st.flight_step = STEP_SHARED_LOCK;
            st.flight_deadline
        };
        // The flight's deadline is on the provider's clock; the lock waits in
        // real time.
        let left = deadline.saturating_duration_since(self.clock.instant());
        let locked = cache.lock_within(lock_wait(left));
        let fetched = match locked {
            Ok(Some(guard)) => {
                if let Some(c) = guard.read().filter(|c| self.adoptable(c)) {
                    return Ok(Fetched::Adopted(c));
                }
                let r = self.exchange_now(credential)?;
                self.write_back(host, &guard, &r);
                Ok(Fetched::Exchanged(r))
            }
            Ok(None) => {
                if let Some(c) = cache.read().filter(|c| self.adoptable(c)) {
                    return Ok(Fetched::Adopted(c));
                }
                log::debug!(
                    target: crate::LOG_TARGET_SHARED_CACHE,
                    "shared cache: lock held by another process; exchanging without it"
                );
                let r = self.exchange_now(credential)?;
                if let Ok(Some(guard)) = cache.lock(Instant::now()) {
                    self.write_back(host, &guard, &r);
                }
                Ok(Fetched::Exchanged(r))
            }
            Err(e) => {
                host.warn(&e);
                self.exchange_now(credential).map(Fetched::Exchanged)
            }
        };
        fetched
    }

    /// Writes the token just received into the entry, under its lock,
    /// unless the entry already holds a fresher one (written by a process
    /// that exchanged while this one waited).
    fn write_back(&self, host: &Host, guard: &CacheLock<'_>, r: &Received) {
        let offset = estimate_offset(self.state.lock().offset, &r.clock, true);
        let token = Token::from_parts(r.jwt.clone(), r.times);
        let newer_there = guard
            .read()
            .and_then(|c| c.token.expires_at())
            .is_some_and(|exp| exp > r.times.exp);
        if !newer_there {
            if let Err(e) = guard.write(&token, offset) {
                host.warn(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_wait_is_half_the_time_left_at_most_one_second() {
        assert_eq!(lock_wait(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            lock_wait(Duration::from_millis(600)),
            Duration::from_millis(300)
        );
        assert_eq!(lock_wait(Duration::from_secs(3)), LOCK_WAIT_MAX);
        assert_eq!(lock_wait(Duration::MAX), LOCK_WAIT_MAX);
    }
}
