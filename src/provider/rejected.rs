//! What a rejected token means for the pacing, as pure functions: a token
//! from this provider's own exchange that the API rejects (401) within its
//! probation makes that exchange unproductive, and the one pacing rule backs
//! off on the streak of such tokens. The locked code in `access`, `state`
//! and `flight` reads the state into these views, asks, and applies the
//! answer.

use std::time::{Duration, SystemTime};

use super::policy::{lifetime_and_age, pacing, Pacing, RETRY_BASE};
use crate::jitter;
use crate::jwt::JwtTimes;

/// Longest probation of a token: see [`probation`].
pub(super) const PROBATION_CAP: Duration = Duration::from_secs(60);

/// How long a token from this provider's own exchange is on probation after
/// its receipt: a quarter of its lifetime, at most [`PROBATION_CAP`]. A token
/// the API rejects (401) within it was rejected "soon": the exchange that
/// brought it did not help, and counts as unproductive. A token rejected
/// later was, most likely, accepted meanwhile: its rejection is news (a
/// revocation, a key rotation) and a new exchange may help at once.
pub(super) fn probation(lifetime: Duration) -> Duration {
    PROBATION_CAP.min(lifetime / 4)
}

/// A token's age and lifetime, for judging its rejection. The age is the
/// longer of the time since its receipt and since its `iat` (on the
/// server's clock: `now` and `received` shifted by the offset), so that a
/// token issued long ago is never "fresh"; the lifetime is `exp - iat`, or
/// without a sane `iat` its runway at receipt.
pub(super) fn age_and_lifetime(
    times: JwtTimes,
    received: SystemTime,
    now: SystemTime,
    since_receipt: Duration,
) -> (Duration, Duration) {
    let (lifetime, _) = lifetime_and_age(times, received);
    let (_, since_iat) = lifetime_and_age(times, now);
    (since_iat.max(since_receipt), lifetime)
}

/// The token reported rejected (401), as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reported {
    /// It came from this provider's own exchange (not a seed, nor a token
    /// adopted from the shared cache).
    pub(super) ours: bool,
    /// Whether it was still usable: not already rejected, nor expired.
    pub(super) usable: bool,
    /// From [`age_and_lifetime`].
    pub(super) age: Duration,
    pub(super) lifetime: Duration,
}

/// What a rejection of the current token means for the pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// Rejected within its probation: its exchange was unproductive, the
    /// streak of rejected tokens grows.
    Soon,
    /// Rejected after its probation: the streak (if any) is over.
    Late,
    /// Not ours, or already unusable: no news for the pacing.
    Stale,
}

/// Judges a rejection of the current token (see [`probation`]).
pub(super) fn rejection(t: &Reported) -> Rejection {
    if !t.ours || !t.usable {
        Rejection::Stale
    } else if t.age < probation(t.lifetime) {
        Rejection::Soon
    } else {
        Rejection::Late
    }
}

/// Whether a streak of rejected tokens is over because the current token
/// (ours, still usable) has outlived its probation without a rejection.
pub(super) fn outlived_probation(t: &Reported) -> bool {
    t.ours && t.usable && t.age >= probation(t.lifetime)
}

/// Whether callers paced after `rejected` tokens in a row were rejected soon
/// fail at once instead of waiting for the next exchange: from the second.
/// The first rejected fresh token costs what any rejected token does (the
/// one-second gap, then one exchange): one rejection may be a race (a key
/// rotation reaching the API before the token endpoint); two in a row are a
/// pattern, and waiting for a third token cannot help.
pub(super) fn backing_off(rejected: u32) -> bool {
    rejected >= 2
}

/// The gap after `rejected` tokens in a row were rejected soon: doubling from
/// 1 s up to `retry_delay` (at least 1 s), jittered *upward* by up to a
/// quarter, so that once capped a provider exchanges at most once per
/// `retry_delay`, and a fleet rejected together does not come back together.
pub(super) fn rejection_gap(rejected: u32, retry_delay: Duration, r: f64) -> Duration {
    let raw = jitter::doubling(rejected, RETRY_BASE, retry_delay.max(RETRY_BASE));
    let r = if r.is_nan() { 1.0 } else { r };
    raw.saturating_add(jitter::scale(raw, 0.25 * r.clamp(0.0, 1.0)))
}

/// The one pacing rule ([`pacing`]) after `failures` unproductive exchanges
/// and `rejected` tokens rejected soon: while tokens are being rejected,
/// callers are not served the (rejected) cached token, so they back off as
/// the background thread does, by at least [`rejection_gap`].
pub(super) fn pace(failures: u32, rejected: u32, retry_delay: Duration, r: f64) -> Pacing {
    let p = pacing(failures.max(rejected), retry_delay, r);
    if rejected == 0 {
        return p;
    }
    let gap = rejection_gap(rejected, retry_delay, r);
    Pacing {
        on_demand: p.background.max(gap),
        background: p.background.max(gap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::policy::test_support::*;

    fn reported(ours: bool, usable: bool, age: u64, lifetime: u64) -> Reported {
        Reported {
            ours,
            usable,
            age: s(age),
            lifetime: s(lifetime),
        }
    }

    #[test]
    fn probation_is_a_quarter_of_the_lifetime_at_most_a_minute() {
        assert_eq!(probation(s(900)), s(60));
        assert_eq!(probation(s(86_400)), s(60));
        assert_eq!(probation(s(4)), s(1));
        assert_eq!(probation(Duration::ZERO), Duration::ZERO);
        assert_eq!(probation(Duration::MAX), PROBATION_CAP);
    }

    #[test]
    fn a_token_of_ours_rejected_within_its_probation_was_rejected_soon() {
        assert_eq!(rejection(&reported(true, true, 0, 900)), Rejection::Soon);
        assert_eq!(rejection(&reported(true, true, 59, 900)), Rejection::Soon);
        assert_eq!(rejection(&reported(true, true, 60, 900)), Rejection::Late);
        assert_eq!(rejection(&reported(true, true, 2, 4)), Rejection::Late);
        // Seeded or adopted, or already rejected (or expired): no news.
        assert_eq!(rejection(&reported(false, true, 0, 900)), Rejection::Stale);
        assert_eq!(rejection(&reported(true, false, 0, 900)), Rejection::Stale);
        // A token with no lifetime left to judge has no probation.
        assert_eq!(rejection(&reported(true, true, 0, 0)), Rejection::Late);
        assert!(!outlived_probation(&reported(true, true, 59, 900)));
        assert!(outlived_probation(&reported(true, true, 60, 900)));
        assert!(!outlived_probation(&reported(true, false, 600, 900)));
        assert!(!outlived_probation(&reported(false, true, 600, 900)));
    }

    #[test]
    fn the_age_is_the_longer_of_since_receipt_and_since_issue() {
        // Exchanged at 0, judged at 10: ten seconds either way.
        let t = token(0.0, 900.0);
        assert_eq!(
            age_and_lifetime(t, at(0.0), at(10.0), s(10)),
            (s(10), s(900))
        );
        // Adopted (received now) but issued 800 s ago: old.
        let old = token(-800.0, 900.0);
        assert_eq!(
            age_and_lifetime(old, at(0.0), at(1.0), s(1)),
            (s(801), s(900))
        );
        // No iat: the receipt decides; the lifetime is the runway at receipt.
        let no_iat = JwtTimes {
            exp: at(120.0),
            iat: None,
        };
        assert_eq!(
            age_and_lifetime(no_iat, at(0.0), at(30.0), s(30)),
            (s(30), s(120))
        );
        // A clock far off or a receipt long ago saturates, never panics.
        let _ = age_and_lifetime(t, at(1e9), at(-1e9), Duration::MAX);
    }

    #[test]
    fn the_back_off_after_rejected_tokens_doubles_to_retry_delay_jittered_upward() {
        let g = |n, r| rejection_gap(n, s(60), r);
        assert_eq!(g(1, 0.0), s(1));
        assert!(g(1, 0.999) < Duration::from_millis(1250));
        assert_eq!(g(2, 0.0), s(2));
        assert_eq!(g(6, 0.0), s(32));
        assert_eq!(g(7, 0.0), s(60));
        assert_eq!(g(7, 1.0), s(75));
        assert_eq!(g(u32::MAX, f64::NAN), s(75));
        // Never below retry_delay once capped: at most one exchange per retry_delay.
        for r in [0.0, 0.3, 0.999, -1.0, 2.0] {
            assert!(g(40, r) >= s(60), "{r}");
        }
        // Extreme knobs: at least 1 s, saturating at Duration::MAX.
        assert_eq!(rejection_gap(3, Duration::ZERO, 0.0), s(1));
        assert_eq!(rejection_gap(3, Duration::from_nanos(1), 0.0), s(1));
        assert_eq!(rejection_gap(0, s(60), 0.0), s(1));
        assert_eq!(
            rejection_gap(40, Duration::MAX, 1.0),
            s(1 << 30) + s(1 << 28)
        );
        assert!(rejection_gap(u32::MAX, Duration::MAX, 1.0) < Duration::MAX);
    }

    #[test]
    fn while_tokens_are_rejected_callers_back_off_as_the_thread_does() {
        // No rejections: the one pacing rule unchanged.
        for n in [0, 1, 3, 10] {
            assert_eq!(pace(n, 0, s(60), 0.5), pacing(n, s(60), 0.5));
        }
        // Rejections: callers wait as long as the thread, past the 4 s cap.
        let p = pace(0, 10, s(60), 0.0);
        assert_eq!(p.on_demand, s(60));
        assert_eq!(p.background, s(60));
        assert_eq!(pace(0, 1, s(60), 0.0).on_demand, s(1));
        // Failed exchanges during a streak: the longer of the two.
        assert_eq!(
            pace(7, 1, s(60), 0.0).on_demand,
            pacing(7, s(60), 0.0).background
        );
        for retry in [Duration::ZERO, Duration::MAX] {
            for n in [1, 40, u32::MAX] {
                let p = pace(n, n, retry, 0.5);
                assert!(p.on_demand >= s(1) && p.on_demand == p.background);
            }
        }
    }

    #[test]
    fn callers_fail_at_once_from_the_second_rejected_token_in_a_row() {
        assert!(!backing_off(0));
        assert!(!backing_off(1));
        assert!(backing_off(2));
        assert!(backing_off(u32::MAX));
    }
}
