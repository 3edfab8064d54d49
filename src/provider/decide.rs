//! What to do after an exchange, and what a caller gets after a flight, as
//! pure functions: the locked code in `flight` and `state` reads the state
//! into these views, asks, and applies the answer.

use std::time::{Duration, SystemTime};

use super::policy::{lifetime_and_age, pacing, productive, Pacing, Schedule, RETRY_BASE};
use crate::error::Error;
use crate::jitter;
use crate::jwt::JwtTimes;

/// The token held when an exchange ends, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// Its `exp` claim.
    pub(super) exp: Option<SystemTime>,
    /// Whether the server surely still accepts it now.
    pub(super) usable: bool,
}

/// The token an exchange just returned, scheduled on arrival.
#[derive(Debug, Clone, Copy)]
pub(super) struct Received<'a> {
    /// Its `exp` claim.
    pub(super) exp: SystemTime,
    pub(super) schedule: &'a Schedule,
}

/// Which token to hold after a successful exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Take {
    /// The new one.
    Received,
    /// The held one: the server accepts it for longer than the new one.
    Held,
}

/// Whether an exchange moved things forward; anything but `Productive`
/// extends the streak the pacing backs off on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    Productive,
    /// The new token expires no later than the one held.
    NoFresher,
    /// The new token is fresher, but already due for its background refresh.
    AlreadyDue,
}

impl Progress {
    /// Why the exchange was not productive, for the warning and the cause.
    pub(super) fn reason(self) -> Option<&'static str> {
        match self {
            Progress::Productive => None,
            Progress::NoFresher => {
                Some("token endpoint returned a token no fresher than the one held")
            }
            Progress::AlreadyDue => {
                Some("token endpoint issued a token already inside its refresh window")
            }
        }
    }
}

/// The decision after a successful exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AfterExchange {
    pub(super) take: Take,
    pub(super) progress: Progress,
}

/// After a successful exchange: keep the held token if the server accepts it
/// for longer than the new one (and it is still usable), else take the new
/// one; and pace (as a failure) a token that is no fresher, or already due
/// for its background refresh, so that no claim shape makes anyone re-fetch
/// at once.
pub(super) fn after_exchange(
    held: Option<&Held>,
    received: &Received<'_>,
    now: SystemTime,
) -> AfterExchange {
    let held_exp = held.and_then(|h| h.exp);
    let fresher = held_exp.is_none_or(|old| received.exp > old);
    let keep_held = held.is_some_and(|h| h.usable && h.exp.is_some_and(|old| old > received.exp));
    let progress = if productive(fresher, received.schedule, now) {
        Progress::Productive
    } else if fresher {
        Progress::AlreadyDue
    } else {
        Progress::NoFresher
    };
    AfterExchange {
        take: if keep_held {
            Take::Held
        } else {
            Take::Received
        },
        progress,
    }
}

/// What a caller gets when a refresh failed or was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fallback {
    /// The cached token, which the server still accepts.
    ServeCached,
    /// The error itself: a rejected credential (reported at once, whatever
    /// is cached), or no token at all.
    Fail,
    /// [`Error::Expired`] carrying the error: the cached token is dead.
    Expired,
}

/// After a failed (or skipped) refresh: the cached token while the server
/// still accepts it, else the cause (wrapped in `Expired` when a token is
/// held). A rejected credential is reported at once, and so is the back-off
/// after fresh tokens were rejected unless a token not rejected is held.
/// `held_usable` is `None` without a token.
pub(super) fn fallback(cause: &Error, held_usable: Option<bool>) -> Fallback {
    if matches!(cause, Error::CredentialRejected { .. }) {
        return Fallback::Fail;
    }
    // Fresh tokens are being rejected: a token not (yet) rejected is served,
    // else the cause at once, never as an expiry.
    if matches!(cause, Error::TokensRejected { .. }) {
        return match held_usable {
            Some(true) => Fallback::ServeCached,
            _ => Fallback::Fail,
        };
    }
    match held_usable {
        Some(true) => Fallback::ServeCached,
        Some(false) => Fallback::Expired,
        None => Fallback::Fail,
    }
}

/// What a caller gets once the refresh it needed has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Settle {
    /// The current token.
    Serve,
    /// `Expired`: the exchange succeeded but left no usable token (carrying
    /// the last cause, else "already expired").
    Expired,
    /// The exchange failed: see [`fallback`].
    Fallback,
}

/// Once a flight has ended: its token if usable; after a successful
/// exchange that left no usable token, `Expired`; after a failed one, the
/// fallback.
pub(super) fn settle(exchange_ok: bool, held_usable: Option<bool>) -> Settle {
    match (exchange_ok, held_usable) {
        (true, Some(true)) => Settle::Serve,
        (true, _) => Settle::Expired,
        (false, _) => Settle::Fallback,
    }
}

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
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::jwt::JwtTimes;
    use crate::provider::policy::test_support::*;
    use crate::provider::policy::{Draw, Schedule};

    fn received(iat: f64, lifetime: f64) -> (SystemTime, Schedule) {
        let times: JwtTimes = token(iat, lifetime);
        let schedule = Schedule::new(times, 0.0, U, at(iat), &timing(), Draw::Spread, 0.0);
        (times.exp, schedule)
    }

    fn decide(held: Option<Held>, iat: f64, lifetime: f64, now: f64) -> AfterExchange {
        let (exp, schedule) = received(iat, lifetime);
        after_exchange(
            held.as_ref(),
            &Received {
                exp,
                schedule: &schedule,
            },
            at(now),
        )
    }

    fn held(exp: f64, usable: bool) -> Held {
        Held {
            exp: Some(at(exp)),
            usable,
        }
    }

    #[test]
    fn a_fresher_token_is_taken_and_productive() {
        let d = decide(None, 0.0, 900.0, 0.0);
        assert_eq!(d.take, Take::Received);
        assert_eq!(d.progress, Progress::Productive);
        assert_eq!(d.progress.reason(), None);
        let d = decide(Some(held(100.0, true)), 0.0, 900.0, 0.0);
        assert_eq!(
            d,
            AfterExchange {
                take: Take::Received,
                progress: Progress::Productive
            }
        );
    }

    #[test]
    fn a_held_token_that_outlives_the_new_one_is_kept_and_paced() {
        let d = decide(Some(held(2000.0, true)), 0.0, 900.0, 0.0);
        assert_eq!(d.take, Take::Held);
        assert_eq!(d.progress, Progress::NoFresher);
        assert!(d.progress.reason().unwrap().contains("no fresher"));
        // ...unless the held one is no longer usable (rejected): take the new one.
        let d = decide(Some(held(2000.0, false)), 0.0, 900.0, 0.0);
        assert_eq!(d.take, Take::Received);
        assert_eq!(d.progress, Progress::NoFresher);
    }

    #[test]
    fn the_same_expiry_is_no_fresher() {
        let d = decide(Some(held(900.0, true)), 0.0, 900.0, 0.0);
        assert_eq!(d.take, Take::Received);
        assert_eq!(d.progress, Progress::NoFresher);
        // A held token whose exp is unknown never stands in the way.
        let unknown = Held {
            exp: None,
            usable: true,
        };
        assert_eq!(
            decide(Some(unknown), 0.0, 900.0, 0.0).progress,
            Progress::Productive
        );
    }

    #[test]
    fn a_token_due_on_arrival_is_paced() {
        // Received at 0 but judged at 800: past its background time (600).
        let d = decide(None, 0.0, 900.0, 800.0);
        assert_eq!(d.take, Take::Received);
        assert_eq!(d.progress, Progress::AlreadyDue);
        assert!(d.progress.reason().unwrap().contains("refresh window"));
    }

    #[test]
    fn the_cached_token_is_served_while_usable() {
        let cause = Error::Timeout {
            after: Duration::from_secs(1),
        };
        assert_eq!(fallback(&cause, Some(true)), Fallback::ServeCached);
        assert_eq!(fallback(&cause, Some(false)), Fallback::Expired);
        assert_eq!(fallback(&cause, None), Fallback::Fail);
    }

    #[test]
    fn a_rejected_credential_fails_at_once() {
        let rejected = Error::CredentialRejected {
            status: 401,
            detail: None,
        };
        for held in [Some(true), Some(false), None] {
            assert_eq!(fallback(&rejected, held), Fallback::Fail, "{held:?}");
        }
        // An already wrapped rejection is not wrapped again, nor served over.
        let wrapped = Error::Expired {
            cause: Arc::new(rejected),
        };
        assert_eq!(fallback(&wrapped, Some(true)), Fallback::ServeCached);
    }

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

    #[test]
    fn the_back_off_is_reported_at_once_unless_a_token_not_rejected_is_held() {
        let backing_off = Error::TokensRejected {
            in_a_row: 2,
            retry_in: s(2),
        };
        assert_eq!(fallback(&backing_off, Some(true)), Fallback::ServeCached);
        assert_eq!(fallback(&backing_off, Some(false)), Fallback::Fail);
        assert_eq!(fallback(&backing_off, None), Fallback::Fail);
    }

    #[test]
    fn a_settled_flight_serves_its_token_or_says_why_not() {
        assert_eq!(settle(true, Some(true)), Settle::Serve);
        assert_eq!(settle(true, Some(false)), Settle::Expired);
        assert_eq!(settle(true, None), Settle::Expired);
        for held in [Some(true), Some(false), None] {
            assert_eq!(settle(false, held), Settle::Fallback);
        }
    }
}
