//! Every decision about time, as pure functions of their inputs and `now`.
//!
//! Nothing here reads a clock or takes a lock, so each rule is unit-tested
//! directly with made-up times: skewed, jumped and near-expiry alike.

use std::time::{Duration, Instant, SystemTime};

use crate::jwt::JwtTimes;

/// How far off the server's clock may be from an estimate made with a
/// whole-second `Date` header (or `iat`), before the round trip is counted.
pub(crate) const CLOCK_RESOLUTION: Duration = Duration::from_millis(500);

/// First cooldown after a failed on-demand refresh, and its cap.
pub(crate) const COOLDOWN_BASE: Duration = Duration::from_secs(1);
pub(crate) const COOLDOWN_CAP: Duration = Duration::from_secs(4);

/// First background retry after a failure; later ones double up to `retry_delay`.
pub(crate) const RETRY_BASE: Duration = Duration::from_secs(1);

/// Least time between the end of one exchange and the start of the next,
/// whoever starts it: a token endpoint issuing tokens that live about a second
/// (or that look so) costs at most about one exchange a second.
pub(crate) const MIN_EXCHANGE_GAP: Duration = Duration::from_secs(1);

/// How far a fresh token's `iat` may be from the `Date` header before the
/// `Date` is taken for another clock's (a proxy's, a CDN's) and ignored: both
/// have one-second resolution, and the server takes a moment to answer.
pub(crate) const DATE_IAT_TOLERANCE: f64 = 5.0;

/// How far past a fresh token's `exp` a `Date` must be (or the token's
/// lifetime, if longer) to be taken for another clock's rather than for a
/// server issuing dead tokens. See [`date_fits_claims`].
pub(crate) const FOREIGN_CLOCK_AFTER_EXP: Duration = Duration::from_secs(3600);

/// Longest span an `Instant` deadline is set ahead: a configured
/// `Duration::MAX` means "no bound", which `Instant + Duration` cannot hold.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `now + d` for a deadline, capped at [`FAR_FUTURE`] instead of overflowing.
pub(crate) fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR_FUTURE))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// The deadline of a refresh flight starting at `start`: the credential
/// provider's own time limit (zero when it states none), plus `fetch_timeout`
/// for the exchange, plus a second to install the result. Waiters wait for
/// exactly this; the flight is the one thing that can end it earlier.
pub(crate) fn flight_deadline(
    start: Instant,
    credential_limit: Option<Duration>,
    fetch_timeout: Duration,
) -> Instant {
    let budget = credential_limit
        .unwrap_or_default()
        .saturating_add(fetch_timeout)
        .saturating_add(Duration::from_secs(1));
    deadline_after(start, budget)
}

/// The one pacing rule, for every trigger. After an exchange, the next one
/// (on demand or in the background) starts no sooner than this after it
/// ended: [`MIN_EXCHANGE_GAP`] after a productive exchange, and after `streak`
/// unproductive ones in a row (failed, no fresher token, or a token already
/// due for its background refresh on arrival), a jittered backoff doubling
/// from 1 s: capped at [`COOLDOWN_CAP`] for callers (who are served the cached
/// token meanwhile, or the cause), at `retry_delay` for the background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    pub(crate) on_demand: Duration,
    pub(crate) background: Duration,
}

pub(crate) fn pacing(streak: u32, retry_delay: Duration, r: f64) -> Pacing {
    if streak == 0 {
        return Pacing {
            on_demand: MIN_EXCHANGE_GAP,
            background: MIN_EXCHANGE_GAP,
        };
    }
    let background_cap = retry_delay.max(RETRY_BASE);
    Pacing {
        on_demand: backoff(streak, COOLDOWN_BASE, COOLDOWN_CAP, r).max(MIN_EXCHANGE_GAP),
        background: backoff(streak, RETRY_BASE, background_cap, r).max(MIN_EXCHANGE_GAP),
    }
}

/// Whether an exchange moved things forward: a fresher token that is not
/// already due for its background refresh. Anything else extends the streak
/// that [`pacing`] backs off on, so no claim shape can make the background
/// thread re-fetch at once.
pub(crate) fn productive(fresher: bool, schedule: &Schedule, now: SystemTime) -> bool {
    fresher && !schedule.refresh_delay(now).is_zero()
}

/// How long the background thread sleeps: until the token's background time
/// (`scheduled`, none without a token) and at least until the pacing gap
/// since the last exchange (`since_last`, none before any) has passed; after
/// unproductive exchanges the gap alone decides.
pub(crate) fn background_sleep(
    scheduled: Option<Duration>,
    streak: u32,
    since_last: Option<Duration>,
    gap: Duration,
) -> Duration {
    let paced = since_last.map_or(Duration::ZERO, |e| gap.saturating_sub(e));
    if streak > 0 {
        paced
    } else {
        scheduled.unwrap_or_default().max(paced)
    }
}

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
    let factor = 0.75 + 0.25 * r.clamp(0.0, 1.0 - f64::EPSILON);
    // `mul_f64` panics where rounding takes `Duration::MAX` past itself.
    Duration::try_from_secs_f64(raw.as_secs_f64() * factor)
        .unwrap_or(raw)
        .min(raw)
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
    /// `exp` of the token just issued.
    pub(crate) exp: Option<SystemTime>,
}

impl ClockSample {
    /// Bound on the error of [`estimate_offset`] for this sample: half the
    /// `Date` header's one-second resolution plus half the round trip.
    pub(crate) fn uncertainty(&self) -> Duration {
        CLOCK_RESOLUTION
            .saturating_add(self.received.duration_since(self.sent).unwrap_or_default() / 2)
    }
}

/// Estimates the server's clock offset (`server - local`, seconds).
///
/// - `Date` is the primary source: second resolution, stamped while the
///   response was produced, so server time then lies in `[date, date + 1)`,
///   and local time then is taken as the midpoint of the exchange. But when
///   it contradicts a fresh token's claims (see [`date_fits_claims`]), it was
///   stamped by another clock (a proxy or CDN setting its own `Date`), and the
///   token's `iat` stands in for it: a `Date` a day ahead would otherwise make
///   every fresh token look expired on arrival.
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
    let local_mid = s.sent.checked_add(half_trip).unwrap_or(s.received);
    let fresh_iat = s.iat.filter(|_| iat_is_fresh);
    let date = s.date.filter(|&date| match (fresh_iat, s.exp) {
        (Some(iat), Some(exp)) => date_fits_claims(date, iat, exp),
        _ => true,
    });
    let estimate = match (date, fresh_iat) {
        (Some(date), _) => signed_secs(date, local_mid) + 0.5,
        (None, Some(iat)) => signed_secs(iat, local_mid) + 0.5,
        _ => previous,
    };
    match s.iat {
        Some(iat) => estimate.max(signed_secs(iat, s.received)),
        None => estimate,
    }
}

/// Whether a `Date` header can come from the clock that issued a fresh token
/// with these claims. A server issues a token at its `iat` by its own clock,
/// give or take [`DATE_IAT_TOLERANCE`], so a `Date` before that was stamped by
/// another clock. A `Date` after `exp` means one of two things: a server that
/// issued a token already dead (the `Date` is right, and the token must not be
/// served), or a proxy whose clock is far ahead (the claims are right). Only a
/// `Date` more than [`FOREIGN_CLOCK_AFTER_EXP`] (or the token's lifetime, if
/// longer) past `exp` is taken for another clock; closer than that, `Date` wins.
///
/// A `Date` between `iat` and `exp` wins even when far from `iat`: a server may
/// hand out a token it issued minutes ago, whose `iat` would make it look
/// younger than it is (and be served past its expiry) if taken for the
/// server's clock.
pub(crate) fn date_fits_claims(date: SystemTime, iat: SystemTime, exp: SystemTime) -> bool {
    let lifetime = signed_secs(exp, iat).max(0.0);
    let past_exp = FOREIGN_CLOCK_AFTER_EXP.as_secs_f64().max(lifetime);
    signed_secs(date, iat) >= -DATE_IAT_TOLERANCE && signed_secs(date, exp) <= past_exp
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

    fn sample(local: f64, date: Option<f64>, iat: Option<f64>) -> ClockSample {
        ClockSample {
            sent: at(local - 0.1),
            received: at(local + 0.1),
            date: date.map(at),
            iat: iat.map(at),
            exp: iat.map(|iat| at(iat + 900.0)),
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

    #[test]
    fn a_date_that_contradicts_a_fresh_tokens_claims_is_another_clock() {
        let day = 86_400.0;
        // A proxy's Date a day ahead, or a day behind: the fresh iat wins.
        let off = estimate_offset(0.0, &sample(0.0, Some(day), Some(0.0)), true);
        assert!(off.abs() < 1.0, "{off}");
        let off = estimate_offset(0.0, &sample(0.0, Some(-day), Some(0.0)), true);
        assert!(off.abs() < 1.0, "{off}");
        // The same, with the local clock 600 s ahead of the server.
        let off = estimate_offset(0.0, &sample(600.0, Some(day), Some(0.0)), true);
        assert!((off + 599.5).abs() < 0.01, "{off}");
        // Within the tolerance, Date keeps its finer reading.
        let off = estimate_offset(0.0, &sample(0.0, Some(3.0), Some(0.0)), true);
        assert!((off - 3.5).abs() < 0.01, "{off}");
        // A Date within the token's validity wins even far from iat: a server
        // handing out a token it issued 500 s ago must not make it look younger.
        let off = estimate_offset(0.0, &sample(0.0, Some(0.0), Some(-500.0)), true);
        assert!(off.abs() < 1.0, "{off}");
        // A token that is not fresh says nothing about the Date.
        let off = estimate_offset(0.0, &sample(0.0, Some(day), Some(0.0)), false);
        assert!((off - day - 0.5).abs() < 0.01, "{off}");
        assert!(date_fits_claims(at(0.0), at(0.0), at(900.0)));
        assert!(date_fits_claims(at(904.0), at(0.0), at(900.0)));
        // Past exp by less than an hour: a dead token, not a foreign clock.
        assert!(date_fits_claims(at(906.0), at(0.0), at(900.0)));
        assert!(date_fits_claims(at(900.0 + 3600.0), at(0.0), at(900.0)));
        assert!(!date_fits_claims(at(900.0 + 3601.0), at(0.0), at(900.0)));
        // A day-long token: its lifetime is the bound.
        assert!(date_fits_claims(at(2.0 * 86_400.0), at(0.0), at(86_400.0)));
        assert!(!date_fits_claims(
            at(2.0 * 86_400.0 + 1.0),
            at(0.0),
            at(86_400.0)
        ));
        // A proxy a day ahead of a 900 s token.
        assert!(!date_fits_claims(at(86_400.0), at(0.0), at(900.0)));
        assert!(!date_fits_claims(at(-6.0), at(0.0), at(900.0)));
    }

    #[test]
    fn pacing_is_a_second_after_a_good_exchange_and_backs_off_after_bad_ones() {
        let p = |n, r| pacing(n, s(60), r);
        assert_eq!(
            p(0, 0.5),
            Pacing {
                on_demand: s(1),
                background: s(1)
            }
        );
        // The first backoff (0.75-1 s) is never under the one-second gap.
        assert_eq!(
            p(1, 0.0),
            Pacing {
                on_demand: s(1),
                background: s(1)
            }
        );
        assert_eq!(p(3, 0.0).on_demand, s(3));
        assert_eq!(p(3, 0.0).background, s(3));
        // Callers cool down at most 4 s; the thread backs off to retry_delay.
        assert!(p(10, 0.999).on_demand < s(4));
        assert_eq!(p(10, 0.0).background, s(45));
        assert!(p(u32::MAX, 0.999).background < s(60));
    }

    #[test]
    fn pacing_survives_extreme_retry_delays() {
        for retry in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            for n in [0, 1, 2, 40, u32::MAX] {
                for r in [0.0, 0.5, 1.0, f64::NAN] {
                    let p = pacing(n, retry, r);
                    assert!(p.on_demand >= MIN_EXCHANGE_GAP && p.on_demand <= COOLDOWN_CAP);
                    assert!(p.background >= MIN_EXCHANGE_GAP, "{retry:?} {n} {r}");
                }
            }
        }
        assert!(pacing(40, Duration::MAX, 0.0).background > s(1_000_000));
    }

    #[test]
    fn a_token_already_due_for_its_background_refresh_is_not_productive() {
        let t = timing();
        let good = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &t, 0.0);
        assert!(productive(true, &good, at(0.0)));
        assert!(!productive(false, &good, at(0.0)));
        // No iat: the 300 s margin applies to a 120 s token, due on arrival.
        let no_iat = JwtTimes {
            exp: at(120.0),
            iat: None,
        };
        let due = Schedule::new(no_iat, 0.0, U, at(0.0), &t, 0.0);
        assert!(!productive(true, &due, at(0.0)));
        // An iat a day old: a lifetime of a day, the same margin, the same verdict.
        let old = JwtTimes {
            exp: at(120.0),
            iat: Some(at(-86_400.0)),
        };
        let due = Schedule::new(old, 0.0, U, at(0.0), &t, 0.0);
        assert!(!productive(true, &due, at(0.0)));
    }

    #[test]
    fn the_background_thread_sleeps_at_least_its_pacing_gap() {
        let bs = background_sleep;
        // Schedule first when all is well, but never within the gap.
        assert_eq!(bs(Some(s(600)), 0, Some(s(0)), s(1)), s(600));
        assert_eq!(bs(Some(s(0)), 0, Some(Duration::ZERO), s(1)), s(1));
        assert_eq!(bs(Some(s(0)), 0, Some(s(5)), s(1)), Duration::ZERO);
        assert_eq!(bs(None, 0, None, s(1)), Duration::ZERO);
        // After unproductive exchanges the backoff alone decides.
        assert_eq!(bs(Some(s(600)), 2, Some(s(1)), s(2)), s(1));
        assert_eq!(bs(Some(s(0)), 3, Some(s(0)), s(4)), s(4));
        assert_eq!(
            bs(Some(s(0)), 3, Some(Duration::MAX), Duration::MAX),
            Duration::ZERO
        );
        assert_eq!(
            bs(Some(Duration::MAX), 0, Some(s(0)), Duration::MAX),
            Duration::MAX
        );
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::ZERO), now);
        assert_eq!(
            deadline_after(now, Duration::from_nanos(1)),
            now + Duration::from_nanos(1)
        );
        assert_eq!(deadline_after(now, Duration::MAX), now + FAR_FUTURE);
        let d = flight_deadline(now, None, s(30));
        assert_eq!(d, now + s(31));
        assert_eq!(flight_deadline(now, Some(s(30)), s(30)), now + s(61));
        assert_eq!(flight_deadline(now, None, Duration::ZERO), now + s(1));
        assert_eq!(
            flight_deadline(now, Some(Duration::MAX), s(1)),
            now + FAR_FUTURE
        );
        assert_eq!(flight_deadline(now, None, Duration::MAX), now + FAR_FUTURE);
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

    #[test]
    fn time_arithmetic_saturates_at_the_extremes() {
        assert_eq!(backoff(1, Duration::MAX, Duration::MAX, 1.0), Duration::MAX);
        assert!(backoff(1, Duration::MAX, Duration::MAX, 0.0) < Duration::MAX);
        assert_eq!(backoff(5, Duration::ZERO, s(4), 0.5), Duration::ZERO);
        assert!(
            backoff(5, Duration::from_nanos(1), Duration::from_nanos(1), 0.0)
                <= Duration::from_nanos(1)
        );
        assert_eq!(shift(at(0.0), f64::NAN), at(0.0));
        assert_eq!(shift(at(0.0), f64::INFINITY), at(0.0));
        assert_eq!(shift(at(0.0), -1e300), UNIX_EPOCH);
        assert_eq!(age_floor(at(5.0), at(0.0), Duration::MAX), at(5.0));
        let wide = ClockSample {
            sent: UNIX_EPOCH,
            received: at(0.0),
            date: None,
            iat: None,
            exp: None,
        };
        let _ = wide.uncertainty();
        let backwards = ClockSample {
            sent: at(10.0),
            received: at(0.0),
            date: Some(at(5.0)),
            iat: Some(at(5.0)),
            exp: Some(at(905.0)),
        };
        assert!(estimate_offset(0.0, &backwards, true).is_finite());
    }
}
