//! One host, one token: the flight's detour through the shared cache
//! ([`crate::shared_cache`]) when `shared_cache_dir` or `shared_cache(true)`
//! is set.
//!
//! Inside a flight (the state lock released), after the credential is known:
//!
//! 1. read the entry of (base URL, credential value) without a lock: a token
//!    there that is fresher than the one held and not itself due is adopted
//!    (no exchange);
//! 2. else take the entry's `flock` (waiting at most until the flight's
//!    deadline), read again (the holder may just have refreshed), and
//!    exchange only if still needed, writing the new token before unlocking.
//!
//! Readers of a fresh token never get here, so they never touch the file. A
//! directory or file the cache refuses (a symlink, not ours, writable by
//! others), or any I/O error, is logged once with `log::warn!` and the
//! provider goes on with its private token, as without the cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::exchange::Received;
use super::policy::{estimate_offset, Draw, Schedule, CLOCK_RESOLUTION};
use super::state::{Shared, Trigger, STEP_SHARED_LOCK};
use crate::error::Error;
use crate::jwt::JwtTimes;
use crate::shared_cache::{Cached, SharedCache};
use crate::token::Token;

/// Where this provider shares its token, and whether it has warned yet.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) dir: PathBuf,
    pub(crate) base_url: String,
    warned: AtomicBool,
}

/// What a flight brought back: a token from the token endpoint, or one
/// another process (or an earlier flight) left in the shared cache.
pub(crate) enum Fetched {
    Exchanged(Received),
    Adopted(Cached),
}

impl Host {
    pub(crate) fn new(dir: PathBuf, base_url: &str) -> Self {
        Host {
            dir,
            base_url: base_url.to_owned(),
            warned: AtomicBool::new(false),
        }
    }

    /// Warns once per provider (then at debug level): the provider keeps its
    /// private token, which works, only without sharing.
    fn warn(&self, e: &Error) {
        if self.warned.swap(true, Ordering::Relaxed) {
            log::debug!(target: crate::LOG_TARGET_SHARED_CACHE, "{e}; using a private token");
        } else {
            log::warn!(target: crate::LOG_TARGET_SHARED_CACHE, "{e}; using a private token");
        }
    }
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
        let (deadline, started) = {
            let mut st = self.state.lock();
            st.flight_step = STEP_SHARED_LOCK;
            (st.flight_deadline, st.flight_start)
        };
        // The flight's deadline is on the provider's clock; the lock waits in
        // real time.
        let left = deadline.saturating_duration_since(self.clock.instant());
        let real_deadline = Instant::now()
            .checked_add(left)
            .unwrap_or_else(Instant::now);
        let locked = cache.lock(real_deadline);
        let result = match locked {
            Ok(Some(guard)) => {
                if let Some(c) = guard.read().filter(|c| self.adoptable(c)) {
                    return Ok(Fetched::Adopted(c));
                }
                let r = self.exchange_now(credential)?;
                let offset = estimate_offset(self.state.lock().offset, &r.clock, true);
                let token = Token::from_parts(r.jwt.clone(), r.times);
                // Never replace a fresher entry (written by a process that
                // did not wait for the lock, after a timeout).
                let newer_there = guard
                    .read()
                    .and_then(|c| c.token.expires_at())
                    .is_some_and(|exp| exp > r.times.exp);
                if !newer_there {
                    if let Err(e) = guard.write(&token, offset) {
                        host.warn(&e);
                    }
                }
                Ok(Fetched::Exchanged(r))
            }
            Ok(None) => {
                if let Some(c) = cache.read().filter(|c| self.adoptable(c)) {
                    return Ok(Fetched::Adopted(c));
                }
                Err(Error::RefreshTimedOut {
                    step: STEP_SHARED_LOCK,
                    limit: "its deadline (credential time limit + fetch_timeout + 1 s)",
                    after: self.clock.instant().saturating_duration_since(started),
                })
            }
            Err(e) => {
                host.warn(&e);
                self.exchange_now(credential).map(Fetched::Exchanged)
            }
        };
        result
    }
}
