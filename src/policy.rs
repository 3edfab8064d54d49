//! Every decision about time, as pure functions of their inputs and `now`.
//!
//! Nothing here reads a clock or takes a lock, so each rule is unit-tested
//! directly with made-up times: skewed, jumped and near-expiry alike.

use std::time::{Duration, SystemTime};

use crate::jwt::JwtTimes;

/// How far off the server's clock may be from an estimate made with a
/// whole-second `Date` header (or `iat`), before the round trip is counted.
pub(crate) const CLOCK_RESOLUTION: Duration = Duration::from_millis(500);

/// First cooldown after a failed on-demand refresh, and its cap.
pub(crate) const COOLDOWN_BASE: Duration = Duration::from_secs(1);
pub(crate) const COOLDOWN_CAP: Duration = Duration::from_secs(4);

/// First background retry after a failure; later ones double up to `retry_delay`.
pub(crate) const RETRY_BASE: Duration = Duration::from_secs(1);

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

/// How long before expiry the background thread refreshes:
/// `min(refresh_before_expiry, lifetime / 2)`.
pub(crate) fn background_margin(t: &Timing, lifetime: Option<Duration>) -> Duration {
    match lifetime {
        Some(l) => t.refresh_before_expiry.min(l / 2),
        None => t.refresh_before_expiry,
    }
}

/// Exponential backoff with jitter: `min(cap, base * 2^(failures-1))` scaled
/// by a factor in `[0.75, 1)` drawn from `r` in `[0, 1)`.
pub(crate) fn backoff(failures: u32, base: Duration, cap: Duration, r: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let raw = base.saturating_mul(1u32 << doublings).min(cap);
    raw.mul_f64(0.75 + 0.25 * r.clamp(0.0, 1.0))
}

/// Shifts `t` by `secs` seconds (either sign), saturating at the epoch.
pub(crate) fn shift(t: SystemTime, secs: f64) -> SystemTime {
    let d = Duration::from_secs_f64(secs.abs().min(1e10));
    if secs >= 0.0 {
        t + d
    } else {
        t.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

fn signed_secs(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// What one exchange tells us about the server's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClockSample {
    /// Local time the request went out.
    pub(crate) sent: SystemTime,
    /// Local time the response arrived.
    pub(crate) received: SystemTime,
    /// The response's `Date` header.
    pub(crate) date: Option<SystemTime>,
    /// `iat` of the token just issued.
    pub(crate) iat: Option<SystemTime>,
}

impl ClockSample {
    /// Bound on the error of [`estimate_offset`] for this sample: half the
    /// `Date` header's one-second resolution plus half the round trip.
    pub(crate) fn uncertainty(&self) -> Duration {
        CLOCK_RESOLUTION + self.received.duration_since(self.sent).unwrap_or_default() / 2
    }
}

/// Estimates the server's clock offset (`server - local`, seconds).
///
/// - `Date` is the primary source: second resolution, stamped while the
///   response was produced, so server time then lies in `[date, date + 1)`,
///   and local time then is taken as the midpoint of the exchange.
/// - Without `Date`, the `iat` of a token the server has just issued stands in
///   for it, but only when `iat_is_fresh` (the token is new to us: a server
///   that hands back a cached token would make its `iat` look like a slow clock).
/// - In every case `iat` is a lower bound: a token cannot be issued after we
///   received it, so the server's clock reads at least `iat` at receipt. An old
///   `iat` only weakens the bound; it never makes a token look longer-lived.
///
/// Without any source, `previous` is kept.
pub(crate) fn estimate_offset(previous: f64, s: &ClockSample, iat_is_fresh: bool) -> f64 {
    let half_trip = s.received.duration_since(s.sent).unwrap_or_default() / 2;
    let local_mid = s.sent + half_trip;
    let estimate = match (s.date, s.iat) {
        (Some(date), _) => signed_secs(date, local_mid) + 0.5,
        (None, Some(iat)) if iat_is_fresh => signed_secs(iat, local_mid) + 0.5,
        _ => previous,
    };
    match s.iat {
        Some(iat) => estimate.max(signed_secs(iat, s.received)),
        None => estimate,
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
    wall.max(received + since_receipt)
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
    /// clock offset (known to within `uncertainty`) and a jitter sample `r`
    /// in `[0, 1)`.
    ///
    /// The background thread wakes `margin - jitter` before expiry, where the
    /// jitter is up to 10% of the margin, so a fleet of providers started
    /// together does not refresh in lockstep.
    pub(crate) fn new(
        times: JwtTimes,
        offset: f64,
        uncertainty: Duration,
        received: SystemTime,
        t: &Timing,
        r: f64,
    ) -> Self {
        let lifetime = times.lifetime();
        let expires = shift(times.exp, -offset);
        let window = on_demand_window(t, lifetime);
        let margin = background_margin(t, lifetime);
        let margin = margin.saturating_sub(margin.mul_f64(0.1 * r.clamp(0.0, 1.0)));
        let before = |d: Duration| expires.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH);
        Schedule {
            received,
            refresh_at: before(window),
            background_at: before(margin),
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
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const T0: u64 = 1_700_000_000;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(T0 as f64 + secs)
    }

    /// The clock uncertainty of a loopback exchange.
    const U: Duration = CLOCK_RESOLUTION;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn timing() -> Timing {
        Timing {
            refresh_before_expiry: s(300),
            refresh_on_demand_within: s(60),
            retry_delay: s(60),
        }
    }

    fn token(iat: f64, lifetime: f64) -> JwtTimes {
        JwtTimes {
            exp: at(iat + lifetime),
            iat: Some(at(iat)),
        }
    }

    #[test]
    fn windows_follow_the_configured_margins_for_long_tokens() {
        let t = timing();
        assert_eq!(on_demand_window(&t, Some(s(3600))), s(60));
        assert_eq!(background_margin(&t, Some(s(3600))), s(300));
        assert_eq!(on_demand_window(&t, None), s(60));
        assert_eq!(background_margin(&t, None), s(300));
    }

    #[test]
    fn windows_shrink_with_short_lifetimes() {
        let t = timing();
        assert_eq!(on_demand_window(&t, Some(s(3))), Duration::from_millis(600));
        assert_eq!(
            background_margin(&t, Some(s(3))),
            Duration::from_millis(1500)
        );
        assert_eq!(on_demand_window(&t, Some(s(200))), s(40));
        assert_eq!(background_margin(&t, Some(s(200))), s(100));
    }

    #[test]
    fn fresh_token_needs_no_refresh_until_its_window() {
        let sched = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &timing(), 0.0);
        assert!(!sched.needs_refresh(at(0.0)));
        assert!(!sched.needs_refresh(at(839.9)));
        assert!(sched.needs_refresh(at(840.0)));
        assert!(sched.needs_refresh(at(2000.0)));
        assert!(sched.usable(at(899.0)));
        assert!(!sched.usable(at(900.0)));
        assert_eq!(sched.runway(at(890.0)), s(10));
        assert_eq!(sched.runway(at(990.0)), Duration::ZERO);
    }

    #[test]
    fn three_second_token_refreshes_about_twice_a_lifetime() {
        let sched = Schedule::new(token(0.0, 3.0), 0.0, U, at(0.0), &timing(), 0.0);
        // Background at half-life, on demand in the last fifth.
        assert_eq!(sched.refresh_delay(at(0.0)), Duration::from_millis(1500));
        assert!(!sched.needs_refresh(at(2.3)));
        assert!(sched.needs_refresh(at(2.4)));
    }

    #[test]
    fn background_jitter_is_at_most_a_tenth_of_the_margin() {
        let t = timing();
        let early = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &t, 0.0);
        let late = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &t, 0.999_999);
        assert_eq!(early.refresh_delay(at(0.0)), s(600));
        let d = late.refresh_delay(at(0.0)).as_secs_f64();
        assert!((629.9..=630.0).contains(&d), "{d}");
    }

    #[test]
    fn refresh_delay_is_zero_once_due() {
        let sched = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &timing(), 0.0);
        assert_eq!(sched.refresh_delay(at(600.0)), Duration::ZERO);
        assert_eq!(sched.refresh_delay(at(5000.0)), Duration::ZERO);
    }

    #[test]
    fn a_wall_clock_stepped_back_cannot_make_a_token_younger() {
        let sched = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &timing(), 0.0);
        // 850 s have passed (monotonic), but the wall clock was set back 100 s.
        let now = age_floor(at(750.0), sched.received, s(850));
        assert_eq!(now, at(850.0));
        assert!(sched.needs_refresh(now));
        // Stepped back past the receipt itself: still judged by the monotonic age.
        let now = age_floor(at(-500.0), sched.received, s(900));
        assert!(!sched.usable(now));
    }

    #[test]
    fn a_wall_clock_moved_forward_ages_the_token_with_it() {
        // A suspend (the monotonic clock stood still) or a forward step.
        let sched = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &timing(), 0.0);
        let now = age_floor(at(2000.0), sched.received, s(10));
        assert_eq!(now, at(2000.0));
        assert!(sched.needs_refresh(now) && !sched.usable(now));
        // No step at all: the wall clock is taken as it is.
        assert_eq!(age_floor(at(10.0), sched.received, s(10)), at(10.0));
    }

    #[test]
    fn a_token_the_server_may_already_reject_is_not_served() {
        // The offset is known to ±0.5 s: the server may reject the token up
        // to 0.5 s before its estimated expiry, so it is not served then.
        let sched = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &timing(), 0.0);
        assert!(sched.usable(at(899.4)));
        assert!(!sched.usable(at(899.6)));
        let slow = ClockSample {
            sent: at(-2.0),
            received: at(0.0),
            date: Some(at(-1.0)),
            iat: None,
        };
        assert_eq!(slow.uncertainty(), Duration::from_millis(1500));
        let sched = Schedule::new(
            token(0.0, 900.0),
            0.0,
            slow.uncertainty(),
            at(0.0),
            &timing(),
            0.0,
        );
        assert!(!sched.usable(at(898.6)));
        // Never less than the on-demand window: the fast path serves the token
        // until `refresh_at`, so the fallback must not end earlier.
        let short = Schedule::new(token(0.0, 2.0), 0.0, U, at(0.0), &timing(), 0.0);
        assert_eq!(short.usable_until, short.refresh_at);
        assert!(short.usable(at(1.55)));
    }

    #[test]
    fn dead_schedule_is_due_and_unusable() {
        let sched = Schedule::dead(at(0.0));
        assert!(sched.needs_refresh(at(0.0)));
        assert!(!sched.usable(at(0.0)));
    }

    fn sample(local: f64, date: Option<f64>, iat: Option<f64>) -> ClockSample {
        ClockSample {
            sent: at(local - 0.1),
            received: at(local + 0.1),
            date: date.map(at),
            iat: iat.map(at),
        }
    }

    #[test]
    fn date_header_measures_skew_either_way() {
        // Local clock 600 s ahead of the server.
        let off = estimate_offset(0.0, &sample(600.0, Some(0.0), Some(0.0)), true);
        assert!((off + 599.5).abs() < 0.01, "{off}");
        // Local clock 880 s behind the server.
        let off = estimate_offset(0.0, &sample(-880.0, Some(0.0), Some(0.0)), true);
        assert!((off - 880.5).abs() < 0.2, "{off}");
    }

    #[test]
    fn an_old_iat_is_only_a_lower_bound() {
        // Server returned a token issued 500 s ago; Date says no skew.
        let off = estimate_offset(0.0, &sample(0.0, Some(0.0), Some(-500.0)), false);
        assert!(off.abs() < 1.0, "{off}");
        // Without Date an old iat is not taken as the server's time...
        let off = estimate_offset(0.0, &sample(0.0, None, Some(-500.0)), false);
        assert_eq!(off, 0.0);
        // ...but an iat in our future proves the local clock is behind.
        let off = estimate_offset(0.0, &sample(0.0, None, Some(880.0)), false);
        assert!((off - 879.9).abs() < 0.01, "{off}");
    }

    #[test]
    fn fresh_iat_stands_in_for_a_missing_date() {
        let off = estimate_offset(0.0, &sample(600.0, None, Some(0.0)), true);
        assert!((off + 599.5).abs() < 0.01, "{off}");
        let off = estimate_offset(42.0, &sample(0.0, None, None), true);
        assert_eq!(off, 42.0);
    }

    #[test]
    fn skewed_schedules_measure_runway_on_the_servers_clock() {
        let t = timing();
        // Local 880 s behind: the server's exp is 880 s earlier on our clock.
        let sched = Schedule::new(token(0.0, 900.0), 880.0, U, at(-880.0), &t, 0.0);
        assert_eq!(sched.runway(at(-880.0)), s(900));
        assert!(!sched.usable(at(20.0)));
        // Local 600 s ahead.
        let sched = Schedule::new(token(0.0, 900.0), -600.0, U, at(600.0), &t, 0.0);
        assert_eq!(sched.runway(at(600.0)), s(900));
        assert!(!sched.needs_refresh(at(600.0)));
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let b = |n, r| backoff(n, s(1), s(4), r);
        assert_eq!(b(1, 0.0), Duration::from_millis(750));
        assert!(b(1, 0.999) < s(1));
        assert_eq!(b(2, 0.0), Duration::from_millis(1500));
        assert_eq!(b(3, 0.0), s(3));
        assert!(b(30, 0.999) < s(4));
        assert!(b(u32::MAX, 0.5) <= s(4));
        assert_eq!(
            backoff(1, s(1), Duration::from_millis(200), 0.0),
            Duration::from_millis(150)
        );
    }
}
