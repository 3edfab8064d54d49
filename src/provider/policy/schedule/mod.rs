//! A token's deadlines on the local wall clock: the on-demand window, the
//! background margin, when it stops being usable, and a wall clock stepped
//! back or forward.

use std::time::{Duration, SystemTime};

use super::limits::MIN_EXCHANGE_GAP;
use super::spread::{background_age_from, Draw};
use crate::jwt::JwtTimes;

/// The configured refresh margins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) refresh_before_expiry: Duration,
    pub(crate) refresh_on_demand_within: Duration,
    pub(crate) retry_delay: Duration,
}

/// How long before expiry `get_token` stops handing out the cached token and
/// refreshes: `min(refresh_on_demand_within, lifetime / 5)`.
pub(crate) fn on_demand_window(t: &Timing, lifetime: Option<Duration>) -> Duration {
    match lifetime {
        Some(l) => t.refresh_on_demand_within.min(l / 5),
        None => t.refresh_on_demand_within,
    }
}

/// How far an `iat` may lie ahead of the server's clock (as estimated at
/// receipt) and still be believed: `iat` and `Date` are whole seconds.
pub(crate) const IAT_SLACK: Duration = Duration::from_secs(5);

/// A token's lifetime and its age on arrival, on the server's clock
/// (`server_now`): `exp - iat` and `server_now - iat` when `iat` is sane,
/// else the runway at receipt and zero.
pub(crate) fn lifetime_and_age(times: JwtTimes, server_now: SystemTime) -> (Duration, Duration) {
    let sane = times.iat.filter(|&iat| {
        iat <= times.exp && iat <= server_now.checked_add(IAT_SLACK).unwrap_or(server_now)
    });
    match sane {
        Some(iat) => (
            times.exp.duration_since(iat).unwrap_or_default(),
            server_now.duration_since(iat).unwrap_or_default(),
        ),
        None => (
            times.exp.duration_since(server_now).unwrap_or_default(),
            Duration::ZERO,
        ),
    }
}

/// Shifts `t` by `secs` seconds (either sign), saturating at the epoch.
pub(crate) fn shift(t: SystemTime, secs: f64) -> SystemTime {
    if !secs.is_finite() {
        return t;
    }
    let d = Duration::from_secs_f64(secs.abs().min(1e10));
    if secs >= 0.0 {
        t.checked_add(d).unwrap_or(t)
    } else {
        t.checked_sub(d)
            .unwrap_or(SystemTime::UNIX_EPOCH)
            .max(SystemTime::UNIX_EPOCH)
    }
}

/// The local time to judge a token by: the wall clock, but never earlier than
/// its receipt plus the monotonic time elapsed since.
///
/// A wall clock stepped back (by any amount) would otherwise make the token
/// look younger and have it served past its expiry; a wall clock moved
/// forward (a suspend, which the monotonic clock does not count, or a step)
/// ages the token with it, which at worst refreshes it early.
#[inline]
pub(crate) fn age_floor(
    wall: SystemTime,
    received: SystemTime,
    since_receipt: Duration,
) -> SystemTime {
    wall.max(received.checked_add(since_receipt).unwrap_or(wall))
}

/// A token's deadlines on the *local* wall clock, computed once at receipt so
/// that the fast path is two comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Local time the token was received (or seeded).
    pub(crate) received: SystemTime,
    /// From here on `get_token` refreshes on demand.
    pub(crate) refresh_at: SystemTime,
    /// The background thread refreshes from here on.
    pub(crate) background_at: SystemTime,
    /// Local time at which the server stops accepting the token (estimated).
    pub(crate) expires: SystemTime,
    /// Last moment the cached token is handed out after a failed refresh:
    /// `expires` less the offset estimate's uncertainty, so that a token the
    /// server may already reject is never served. Never before `refresh_at`,
    /// so the fast path and the fallback agree.
    pub(crate) usable_until: SystemTime,
}

impl Schedule {
    /// Schedules a token received at local time `received`, given the server's
    /// clock offset (known to within `uncertainty`), how its background
    /// refresh is drawn (see [`spread`](super::spread)) and a sample `r` in
    /// `[0, 1)`.
    ///
    /// The background thread refreshes the token at an age (time since its
    /// `iat`) no later than its late edge, half its lifetime less
    /// `uncertainty` (or earlier, for a larger `refresh_before_expiry`): at
    /// that edge for a [`Draw::Routine`] refresh, uniformly from issue to it
    /// for a [`Draw::Spread`] one. The rule and its reasons are in
    /// [`spread`](super::spread). The lifetime is `exp - iat` when `iat` is
    /// sane (not after `exp`, not ahead of the server's clock at receipt by
    /// more than [`IAT_SLACK`]), else the runway at receipt (age zero).
    pub(crate) fn new(
        times: JwtTimes,
        offset: f64,
        uncertainty: Duration,
        received: SystemTime,
        t: &Timing,
        draw: Draw,
        r: f64,
    ) -> Self {
        let expires = shift(times.exp, -offset);
        let window = on_demand_window(t, times.lifetime());
        let (lifetime, age_now) = lifetime_and_age(times, shift(received, offset));
        let floor = age_now.saturating_add(MIN_EXCHANGE_GAP);
        let age = background_age_from(t, lifetime, uncertainty, draw, r, floor);
        let before = |d: Duration| expires.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH);
        Schedule {
            received,
            refresh_at: before(window),
            // `age <= lifetime`, so this is at or before `expires`.
            background_at: before(lifetime.saturating_sub(age)),
            expires,
            usable_until: before(uncertainty.min(window)),
        }
    }

    /// A schedule that is always due and never usable (rejected or garbled tokens).
    pub(crate) fn dead(received: SystemTime) -> Self {
        let epoch = SystemTime::UNIX_EPOCH;
        Schedule {
            received,
            refresh_at: epoch,
            background_at: epoch,
            expires: epoch,
            usable_until: epoch,
        }
    }

    /// The fast-path rule: the token is at or inside its on-demand window.
    /// `now` is the time from [`age_floor`].
    #[inline]
    pub(crate) fn needs_refresh(&self, now: SystemTime) -> bool {
        now >= self.refresh_at
    }

    /// Whether the server surely still accepts the token now.
    pub(crate) fn usable(&self, now: SystemTime) -> bool {
        now < self.usable_until
    }

    /// How long the token has left before the server rejects it.
    pub(crate) fn runway(&self, now: SystemTime) -> Duration {
        self.expires.duration_since(now).unwrap_or_default()
    }

    /// How long the background thread should sleep before refreshing.
    pub(crate) fn refresh_delay(&self, now: SystemTime) -> Duration {
        self.background_at.duration_since(now).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
