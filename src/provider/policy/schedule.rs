//! A token's deadlines on the local wall clock: the on-demand window, the
//! background margin, when it stops being usable, and a wall clock stepped
//! back or forward.

use std::time::{Duration, SystemTime};

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

/// How long before expiry the background thread refreshes:
/// `min(refresh_before_expiry, lifetime / 2)`.
pub(crate) fn background_margin(t: &Timing, lifetime: Option<Duration>) -> Duration {
    match lifetime {
        Some(l) => t.refresh_before_expiry.min(l / 2),
        None => t.refresh_before_expiry,
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
        let jitter = Duration::try_from_secs_f64(margin.as_secs_f64() * 0.1 * r.clamp(0.0, 1.0))
            .unwrap_or_default();
        let margin = margin.saturating_sub(jitter);
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
    use crate::provider::policy::offset::ClockSample;
    use crate::provider::policy::test_support::*;
    use std::time::UNIX_EPOCH;

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
            exp: None,
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
    fn schedules_survive_extreme_margins() {
        let ns = Duration::from_nanos(1);
        for margin in [Duration::ZERO, ns, s(1), Duration::MAX] {
            for window in [Duration::ZERO, ns, s(1), Duration::MAX] {
                let t = Timing {
                    refresh_before_expiry: margin,
                    refresh_on_demand_within: window,
                    retry_delay: margin,
                };
                for times in [
                    token(0.0, 900.0),
                    JwtTimes {
                        exp: at(900.0),
                        iat: None,
                    },
                    JwtTimes {
                        exp: UNIX_EPOCH + Duration::from_secs(100_000_000_000),
                        iat: None,
                    },
                ] {
                    for r in [0.0, 0.999, 1.0] {
                        let sched = Schedule::new(times, 0.0, U, at(0.0), &t, r);
                        assert!(sched.refresh_at <= sched.expires);
                        assert!(sched.background_at <= sched.expires);
                        let _ = sched.refresh_delay(at(0.0));
                    }
                }
            }
        }
    }
}
