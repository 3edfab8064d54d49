//! What to do after an exchange, and what a caller gets after a flight, as
//! pure functions: the locked code in `flight` and `state` reads the state
//! into these views, asks, and applies the answer.

use std::time::SystemTime;

use super::policy::{productive, Schedule};
use crate::error::Error;

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
