//! Pacing between exchanges, backoff after failures, and the deadlines of
//! refresh flights.

use std::time::{Duration, Instant, SystemTime};

use super::limits::MIN_EXCHANGE_GAP;
use super::schedule::Schedule;
use crate::jitter;

/// First cooldown after a failed on-demand refresh, and its cap.
pub(crate) const COOLDOWN_BASE: Duration = Duration::from_secs(1);
pub(crate) const COOLDOWN_CAP: Duration = Duration::from_secs(4);

/// First background retry after a failure; later ones double up to `retry_delay`.
pub(crate) const RETRY_BASE: Duration = Duration::from_secs(1);

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

/// Exponential backoff with jitter: `min(cap, base * 2^(failures-1))` scaled
/// by a factor in `[0.5, 1)` drawn from `r` in `[0, 1)`.
///
/// The jitter is wide so that a fleet whose refreshes failed together (an
/// outage of the token endpoint) does not retry together: after a few
/// failures each provider's retries fall anywhere in the back half of the
/// backoff, and when the endpoint returns the fleet comes back over up to
/// half a `retry_delay` rather than in one burst. Each provider still gets a
/// fresh token by its next retry, at most `retry_delay` after the endpoint
/// returns (at most [`COOLDOWN_CAP`] for a caller).
pub(crate) fn backoff(failures: u32, base: Duration, cap: Duration, r: f64) -> Duration {
    let raw = jitter::doubling(failures, base, cap);
    // NaN as the top of the range, as ever; `scale` never goes past `raw`.
    let r = if r.is_nan() { 1.0 } else { r };
    jitter::scale(raw, 0.5 + 0.5 * r.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::JwtTimes;
    use crate::provider::policy::test_support::*;
    use crate::provider::policy::Draw;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let b = |n, r| backoff(n, s(1), s(4), r);
        assert_eq!(b(1, 0.0), Duration::from_millis(500));
        assert!(b(1, 0.999) < s(1));
        assert_eq!(b(2, 0.0), s(1));
        assert_eq!(b(2, 0.5), Duration::from_millis(1500));
        assert_eq!(b(3, 0.0), s(2));
        assert_eq!(b(3, 0.5), s(3));
        assert_eq!(b(30, 0.0), s(2));
        assert!(b(30, 0.999) < s(4));
        assert!(b(u32::MAX, 0.5) <= s(4));
        // NaN as the top of the range.
        assert!(b(3, f64::NAN) >= b(3, 0.999_999) && b(3, f64::NAN) <= s(4));
        assert_eq!(
            backoff(1, s(1), Duration::from_millis(200), 0.0),
            Duration::from_millis(100)
        );
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
        // The first backoffs (0.5-1 s, 1-2 s) are never under the one-second gap.
        assert_eq!(
            p(1, 0.0),
            Pacing {
                on_demand: s(1),
                background: s(1)
            }
        );
        assert_eq!(p(2, 0.0).on_demand, s(1));
        assert_eq!(p(3, 0.0).on_demand, s(2));
        assert_eq!(p(3, 0.5).background, s(3));
        // Callers cool down at most 4 s; the thread backs off to retry_delay.
        assert!(p(10, 0.999).on_demand < s(4));
        assert_eq!(p(10, 0.0).background, s(30));
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
        let good = Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &t, Draw::Spread, 0.0);
        assert!(productive(true, &good, at(0.0)));
        assert!(!productive(false, &good, at(0.0)));
        // No iat: scheduled on its runway at receipt, like a fresh token.
        let no_iat = JwtTimes {
            exp: at(120.0),
            iat: None,
        };
        let fine = Schedule::new(no_iat, 0.0, U, at(0.0), &t, Draw::Spread, 0.0);
        assert!(productive(true, &fine, at(0.0)));
        // No iat and exp already past: due on arrival.
        let near = JwtTimes {
            exp: at(-1.0),
            iat: None,
        };
        let due = Schedule::new(near, 0.0, U, at(0.0), &t, Draw::Spread, 0.0);
        assert!(!productive(true, &due, at(0.0)));
        // An iat a day old: a lifetime of a day, past its whole window on arrival.
        let old = JwtTimes {
            exp: at(120.0),
            iat: Some(at(-86_400.0)),
        };
        let due = Schedule::new(old, 0.0, U, at(0.0), &t, Draw::Spread, 0.0);
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
    fn far_future_is_a_century_and_nearer_deadlines_are_exact() {
        assert!(FAR_FUTURE >= s(100 * 365 * 86_400));
        let now = Instant::now();
        let fifty_years = s(50 * 365 * 86_400);
        assert_eq!(deadline_after(now, fifty_years), now + fifty_years);
    }

    #[test]
    fn the_top_of_the_jitter_range_is_the_raw_backoff_at_most() {
        // NaN, and a sample of 1 or more, read as the top of the range.
        for r in [f64::NAN, 1.0, 2.0] {
            assert_eq!(backoff(1, s(1), s(4), r), s(1), "{r}");
            assert_eq!(backoff(3, s(1), s(4), r), s(4), "{r}");
        }
        assert_eq!(backoff(1, s(2), s(4), 0.5), Duration::from_millis(1500));
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
}
