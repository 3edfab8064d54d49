//! When the background thread refreshes a token: at half-life, spread across
//! a fleet. This is the one place the refresh rule is written down.
//!
//! # The rule
//!
//! A token of lifetime `L` (`exp - iat`) is refreshed in the background no
//! later than its *late edge*, the age that still leaves
//!
//! ```text
//! max(L/2 + U, min(refresh_before_expiry, 4L/5))
//! ```
//!
//! before expiry, where `U` is the uncertainty of the server's clock offset
//! (half a second plus half the exchange's round trip): the cached token is
//! served only while the server surely accepts it, `U` before its estimated
//! expiry. With the default `refresh_before_expiry` of zero the late edge is
//! `L/2 - U`, so an outage of the token endpoint that starts at the worst
//! moment (just before a routine refresh) costs no request for at least
//! `L/2`: 450 s of a 900 s token, 3 s of a 6 s one, 12 h of a day-long one.
//! A larger `refresh_before_expiry` moves the edge earlier (it leaves that
//! margin, up to four fifths of the lifetime); it never moves it later.
//! Tokens too short for that (under about 3 s, where `L/2 - U` is inside the
//! 1 s pacing gap) are refreshed at `min(1 s, 3L/5)` of their age instead,
//! so that a fresh one is never due on arrival.
//!
//! The price is about two exchanges per provider per lifetime, which a token
//! endpoint serves cheaply; a training job killed by a stale JWT is not
//! cheap. With whole-second `iat`/`exp` claims (the server's clock taken to
//! be half a second into the second they name) a routine refresh comes
//! `L/2 - 1 s` after the exchange before it: 2.004 exchanges per lifetime for
//! 900 s tokens, 3 for 6 s ones, 4 for 4 s ones (one a second, the pacing
//! floor).
//!
//! # The spread
//!
//! A training job starts hundreds of processes at once, each with its own
//! provider, and each gets its first token at the same moment. If every
//! provider then refreshed at the same point of each token's life, plus a
//! little jitter, the fleet would hit the token endpoint in bursts for hours.
//! The rule makes the spread once, when providers may be in step, and keeps
//! it:
//!
//! - A [`Draw::Routine`] refresh (the previous one went as planned, or the
//!   token was adopted from the host's shared cache, whose writer drew its
//!   phase) happens at the late edge, with no jitter: a fleet already spread
//!   stays spread.
//! - A [`Draw::Spread`] refresh (a provider's first token, or the first after
//!   a failure, an unproductive exchange or an on-demand refresh: the moments
//!   when a fleet may be in step) is drawn uniformly over one whole period,
//!   from issue to the late edge. Providers started together (or recovering
//!   together from an outage) thus refresh at phases spread evenly over one
//!   period, and the routine refreshes that follow keep those phases. Each
//!   such draw costs at most one early exchange.
//!
//! Whatever the draw, the refresh comes no sooner than
//! [`MIN_EXCHANGE_GAP`] after the exchange that
//! brought the token (see [`background_age_from`]).
//!
//! Jittering every routine refresh would not spread the fleet further: it
//! only adds noise, so that the busiest few seconds of a day hold twice the
//! mean rate or more. Tested by simulation below, against the late-edge
//! schedule this crate used before (`L - min(120 s, 2L/5)`), a fixed 300 s
//! margin and the Python SDK's `L * U(0.45, 0.55)`.

use std::time::Duration;

use super::limits::MIN_EXCHANGE_GAP;
use super::Timing;

/// How a token's background refresh time is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    /// At the late edge: the previous refresh went as planned, or the token
    /// is the host's (adopted from the shared cache, its writer drew it).
    Routine,
    /// Uniform over one period, from issue to the late edge: the first token,
    /// or the first after a failed, unproductive or on-demand refresh.
    Spread,
}

/// The age (time since issue) at which a token of this lifetime still has
/// `max(lifetime / 2 + headroom, min(refresh_before_expiry, 4 * lifetime /
/// 5))` left (`headroom`, the clock uncertainty, at most half the lifetime),
/// but no earlier than `min(MIN_EXCHANGE_GAP, 3 * lifetime / 5)`: the latest
/// background refresh, and the period of a provider's routine refreshes.
pub(crate) fn late_edge(t: &Timing, lifetime: Duration, headroom: Duration) -> Duration {
    let half = lifetime / 2;
    let margin = t.refresh_before_expiry.min(lifetime / 5 * 4);
    let left = half.saturating_add(headroom.min(half)).max(margin);
    // Tokens too short for half a lifetime beyond the pacing gap (under
    // about 3 s): not before the gap, or three fifths of the lifetime.
    let least = MIN_EXCHANGE_GAP.min(lifetime / 5 * 3);
    lifetime.saturating_sub(left).max(least)
}

/// The age at which the background thread refreshes a token of this
/// lifetime, for a sample `r` in `[0, 1)` (used only by [`Draw::Spread`]).
pub(crate) fn background_age(
    t: &Timing,
    lifetime: Duration,
    headroom: Duration,
    draw: Draw,
    r: f64,
) -> Duration {
    let late = late_edge(t, lifetime, headroom);
    match draw {
        Draw::Routine => late,
        Draw::Spread => Duration::try_from_secs_f64(late.as_secs_f64() * unit(r))
            .unwrap_or(late)
            .min(late),
    }
}

/// [`background_age`], no earlier than `floor`: the age the token will have
/// when the pacing gap after the exchange that brought it has passed (its age
/// on arrival, larger for a seed or a token adopted from the shared cache,
/// plus [`MIN_EXCHANGE_GAP`]). What
/// [`Schedule::new`](super::Schedule::new) calls.
///
/// A draw before `floor` is drawn again, uniformly over `[floor, late]` (the
/// same sample rescaled, so the result stays uniform and deterministic);
/// with `floor` past the late edge, the late edge (due at once). The late edge
/// is never passed.
pub(crate) fn background_age_from(
    t: &Timing,
    lifetime: Duration,
    headroom: Duration,
    draw: Draw,
    r: f64,
    floor: Duration,
) -> Duration {
    let age = background_age(t, lifetime, headroom, draw, r);
    if age >= floor {
        return age;
    }
    let late = late_edge(t, lifetime, headroom);
    if floor >= late {
        return late;
    }
    // `age < floor < late`, so `late` is positive and the Spread draw's `r`
    // was below `floor / late`: rescaled, it is uniform in `[0, 1)` again.
    let rescaled = match draw {
        Draw::Spread => unit(r) * late.as_secs_f64() / floor.as_secs_f64(),
        Draw::Routine => 0.0,
    };
    let left = late - floor;
    let ahead = Duration::try_from_secs_f64(left.as_secs_f64() * unit(rescaled))
        .unwrap_or(left)
        .min(left);
    floor + ahead
}

/// `r` clamped to `[0, 1]`, NaN as 0.
fn unit(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else {
        r.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod sim;

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(before: u64) -> Timing {
        Timing {
            refresh_before_expiry: Duration::from_secs(before),
            refresh_on_demand_within: Duration::from_secs(60),
            retry_delay: Duration::from_secs(60),
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    const U: Duration = Duration::from_millis(500);

    #[test]
    fn the_late_edge_leaves_half_the_lifetime_and_the_uncertainty() {
        let t = timing(0);
        assert_eq!(late_edge(&t, s(900.0), U), s(449.5));
        assert_eq!(late_edge(&t, s(6.0), U), s(2.5));
        assert_eq!(late_edge(&t, s(86_400.0), U), s(43_199.5));
        assert_eq!(late_edge(&t, s(900.0), Duration::ZERO), s(450.0));
        // Too short for half a lifetime beyond the 1 s pacing gap: at the
        // gap, or three fifths of the lifetime.
        assert_eq!(late_edge(&t, s(3.0), U), s(1.0));
        assert_eq!(late_edge(&t, s(2.0), U), s(1.0));
        assert_eq!(late_edge(&t, s(1.0), U), s(0.6));
        assert_eq!(late_edge(&t, s(0.8), Duration::MAX), s(0.48));
        // A margin under half the lifetime changes nothing.
        assert_eq!(late_edge(&timing(120), s(900.0), U), s(449.5));
        assert_eq!(late_edge(&timing(450), s(900.0), U), s(449.5));
        // A larger one moves the late edge earlier, to a fifth of the lifetime at most.
        assert_eq!(late_edge(&timing(600), s(900.0), U), s(300.0));
        assert_eq!(late_edge(&timing(10_000), s(900.0), U), s(180.0));
    }

    #[test]
    fn routine_refreshes_at_the_late_edge_and_spread_ones_cover_a_period() {
        let t = timing(0);
        let l = s(900.0);
        assert_eq!(background_age(&t, l, U, Draw::Routine, 0.3), s(449.5));
        assert_eq!(background_age(&t, l, U, Draw::Spread, 0.0), s(0.0));
        assert_eq!(background_age(&t, l, U, Draw::Spread, 0.5), s(224.75));
        let top = background_age(&t, l, U, Draw::Spread, 0.999_999);
        assert!(top <= s(449.5) && top > s(449.4), "{top:?}");
    }

    #[test]
    fn a_draw_before_the_floor_is_drawn_again_after_it_never_past_the_late_edge() {
        let t = timing(0);
        let l = s(900.0);
        // r = 0.05 would be 22.475 s; with a floor of 100 s, it is rescaled
        // over [100 s, 449.5 s]: 0.05 * 449.5 / 100 = 0.22475 of the way.
        let age = background_age_from(&t, l, U, Draw::Spread, 0.05, s(100.0));
        let want = 100.0 + 0.224_75 * 349.5;
        assert!((age.as_secs_f64() - want).abs() < 1e-6, "{age:?} {want}");
        // Routine below the floor: the floor itself.
        assert_eq!(
            background_age_from(&t, l, U, Draw::Routine, 0.5, s(800.0)),
            s(449.5)
        );
        for r in [0.0, 0.2, 0.5, 0.99] {
            let age = background_age_from(&t, l, U, Draw::Spread, r, s(300.0));
            assert!(age >= s(300.0) && age <= s(449.5), "{r}: {age:?}");
        }
    }

    #[test]
    fn every_input_extreme_gives_an_age_within_the_lifetime() {
        let knobs = [Duration::ZERO, Duration::from_nanos(1), Duration::MAX];
        let lifetimes = [
            Duration::ZERO,
            Duration::from_nanos(1),
            s(1.0),
            Duration::MAX,
        ];
        let samples = [0.0, 0.5, 0.999, 1.0, -1.0, f64::NAN, f64::INFINITY];
        for before in knobs {
            for lifetime in lifetimes {
                let t = Timing {
                    refresh_before_expiry: before,
                    refresh_on_demand_within: before,
                    retry_delay: before,
                };
                for headroom in knobs {
                    let late = late_edge(&t, lifetime, headroom);
                    let most = (lifetime / 2).max(lifetime / 5 * 3);
                    assert!(late <= lifetime && late <= most + Duration::from_nanos(1));
                    for r in samples {
                        for draw in [Draw::Routine, Draw::Spread] {
                            let age = background_age(&t, lifetime, headroom, draw, r);
                            assert!(age <= late, "{before:?} {lifetime:?} {r} {draw:?}");
                            for floor in knobs.into_iter().chain(lifetimes) {
                                let age =
                                    background_age_from(&t, lifetime, headroom, draw, r, floor);
                                assert!(age <= late, "{before:?} {lifetime:?} {r} {floor:?}");
                            }
                        }
                    }
                }
            }
        }
    }
}
