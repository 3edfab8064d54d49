//! The server's clock offset, estimated from `Date` headers and `iat` claims.

use std::time::{Duration, SystemTime};

/// How far off the server's clock may be from an estimate made with a
/// whole-second `Date` header (or `iat`), before the round trip is counted.
pub(crate) const CLOCK_RESOLUTION: Duration = Duration::from_millis(500);

/// How far a fresh token's `iat` may be from the `Date` header before the
/// `Date` is taken for another clock's (a proxy's, a CDN's) and ignored: both
/// have one-second resolution, and the server takes a moment to answer.
pub(crate) const DATE_IAT_TOLERANCE: f64 = 5.0;

/// How far past a fresh token's `exp` a `Date` must be (or the token's
/// lifetime, if longer) to be taken for another clock's rather than for a
/// server issuing dead tokens. See [`date_fits_claims`].
pub(crate) const FOREIGN_CLOCK_AFTER_EXP: Duration = Duration::from_secs(3600);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::policy::test_support::*;

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
}
