//! The schedule's rules, with made-up times.

use super::*;
use crate::provider::policy::offset::ClockSample;
use crate::provider::policy::test_support::*;
use std::time::UNIX_EPOCH;

#[test]
fn on_demand_windows_follow_the_margin_and_shrink_with_short_lifetimes() {
    let t = timing();
    assert_eq!(on_demand_window(&t, Some(s(3600))), s(60));
    assert_eq!(on_demand_window(&t, None), s(60));
    assert_eq!(on_demand_window(&t, Some(s(3))), Duration::from_millis(600));
    assert_eq!(on_demand_window(&t, Some(s(200))), s(40));
}

#[test]
fn lifetime_is_exp_minus_a_sane_iat_else_the_runway_at_receipt() {
    assert_eq!(lifetime_and_age(token(0.0, 900.0), at(0.0)), (s(900), s(0)));
    // A token adopted 300 s into its life.
    assert_eq!(
        lifetime_and_age(token(0.0, 900.0), at(300.0)),
        (s(900), s(300))
    );
    let no_iat = JwtTimes {
        exp: at(120.0),
        iat: None,
    };
    assert_eq!(lifetime_and_age(no_iat, at(0.0)), (s(120), s(0)));
    // iat after exp, or well ahead of the server's clock: not believed.
    let after = JwtTimes {
        exp: at(120.0),
        iat: Some(at(200.0)),
    };
    assert_eq!(lifetime_and_age(after, at(0.0)), (s(120), s(0)));
    assert_eq!(
        lifetime_and_age(token(60.0, 900.0), at(0.0)),
        (s(960), s(0))
    );
    // A second ahead (whole-second claims): believed, age zero.
    assert_eq!(lifetime_and_age(token(1.0, 900.0), at(0.0)), (s(900), s(0)));
    // Expired at receipt, no iat: no lifetime left.
    let gone = JwtTimes {
        exp: at(-5.0),
        iat: None,
    };
    assert_eq!(lifetime_and_age(gone, at(0.0)), (s(0), s(0)));
}

#[test]
fn fresh_token_needs_no_refresh_until_its_window() {
    let sched = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
    assert!(!sched.needs_refresh(at(0.0)));
    assert!(!sched.needs_refresh(at(839.9)));
    assert!(sched.needs_refresh(at(840.0)));
    assert!(sched.needs_refresh(at(2000.0)));
    assert!(sched.usable(at(899.0)));
    assert!(!sched.usable(at(900.0)));
    // The last instant it is served is just before `usable_until`, never at it.
    let until = sched.usable_until;
    assert!(!sched.usable(until));
    assert!(sched.usable(until - Duration::from_nanos(1)));
    assert_eq!(sched.runway(at(890.0)), s(10));
    assert_eq!(sched.runway(at(990.0)), Duration::ZERO);
}

#[test]
fn four_second_token_refreshes_at_half_life_less_the_uncertainty() {
    let t = timing();
    let sched = Schedule::new(token(0.0, 4.0), 0.0, U, at(0.0), &t, Draw::Routine, 0.0);
    // Routinely at the late edge, 4 / 2 - 0.5; on demand in the last fifth.
    assert_eq!(sched.refresh_delay(at(0.0)), Duration::from_millis(1500));
    // Which leaves half the lifetime of service after it.
    assert_eq!(
        sched.usable_until.duration_since(sched.background_at).ok(),
        Some(s(2))
    );
    assert!(!sched.needs_refresh(at(3.1)));
    assert!(sched.needs_refresh(at(3.2)));
    // Received half a second after its (whole-second) iat: the same edge,
    // on the token's age, half a second sooner after receipt.
    let late = Schedule::new(token(0.0, 4.0), 0.0, U, at(0.5), &t, Draw::Routine, 0.0);
    assert_eq!(late.refresh_delay(at(0.5)), Duration::from_millis(1000));
    // Three seconds: the pacing gap comes first, then 1.5 s of service less the uncertainty.
    let sched = Schedule::new(token(0.0, 3.0), 0.0, U, at(0.0), &t, Draw::Routine, 0.0);
    assert_eq!(sched.refresh_delay(at(0.0)), Duration::from_millis(1000));
    assert!(!sched.needs_refresh(at(2.3)));
    assert!(sched.needs_refresh(at(2.4)));
}

#[test]
fn routine_refreshes_at_the_late_edge_and_spread_ones_over_a_period() {
    let t = timing();
    let new = |draw, r| Schedule::new(token(0.0, 900.0), 0.0, U, at(0.0), &t, draw, r);
    // 449.5 s leaves half the lifetime and the clock's uncertainty.
    assert_eq!(
        new(Draw::Routine, 0.9).refresh_delay(at(0.0)),
        Duration::from_millis(449_500)
    );
    // A spread draw over [0, 449.5 s], never inside the 1 s pacing gap.
    assert_eq!(
        new(Draw::Spread, 0.5).refresh_delay(at(0.0)),
        Duration::from_millis(224_750)
    );
    let d = new(Draw::Spread, 0.0).refresh_delay(at(0.0)).as_secs_f64();
    assert!((1.0..=1.001).contains(&d), "{d}");
    let d = new(Draw::Spread, 0.999_999)
        .refresh_delay(at(0.0))
        .as_secs_f64();
    assert!((449.4..=449.5).contains(&d), "{d}");
    // A margin over half the lifetime moves the late edge back, to at most a
    // fifth of the lifetime; one under it changes nothing.
    let narrow = Timing {
        refresh_before_expiry: s(120),
        ..t
    };
    let routine = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &narrow,
        Draw::Routine,
        0.0,
    );
    assert_eq!(
        routine.refresh_delay(at(0.0)),
        Duration::from_millis(449_500)
    );
    let wide = Timing {
        refresh_before_expiry: s(600),
        ..t
    };
    let routine = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &wide,
        Draw::Routine,
        0.0,
    );
    assert_eq!(routine.refresh_delay(at(0.0)), s(300));
}

#[test]
fn no_draw_falls_within_the_pacing_gap_after_arrival() {
    let t = timing();
    // Adopted 200 s into a 900 s life (floor 201 s, late edge 449.5 s).
    let adopted = |r| Schedule::new(token(-200.0, 900.0), 0.0, U, at(0.0), &t, Draw::Spread, r);
    // 224.75 s would do, kept; 0.3 (134.85 s) is before the floor: drawn
    // again over [201 s, 449.5 s], the sample rescaled (0.3 * 449.5 / 201
    // of the way).
    let d = adopted(0.5).refresh_delay(at(0.0)).as_secs_f64();
    assert!((d - 24.75).abs() < 0.01, "{d}");
    let d = adopted(0.3).refresh_delay(at(0.0)).as_secs_f64();
    let want = 1.0 + 248.5 * (0.3 * 449.5 / 201.0);
    assert!((d - want).abs() < 0.01, "{d} {want}");
    // Drawn at the top: the late edge.
    let d = adopted(0.999_999).refresh_delay(at(0.0)).as_secs_f64();
    assert!((249.4..=249.5).contains(&d), "{d}");
    // Routine, the host's token: at the late edge.
    let routine = Schedule::new(
        token(-200.0, 900.0),
        0.0,
        U,
        at(0.0),
        &t,
        Draw::Routine,
        0.0,
    );
    assert_eq!(
        routine.refresh_delay(at(0.0)),
        Duration::from_millis(249_500)
    );
    // Past the late edge: due at once.
    let old = Schedule::new(token(-800.0, 900.0), 0.0, U, at(0.0), &t, Draw::Spread, 0.5);
    assert_eq!(old.refresh_delay(at(0.0)), Duration::ZERO);
    // Adopted past the late edge: due at once, routine or not.
    let past = Schedule::new(
        token(-500.0, 900.0),
        0.0,
        U,
        at(0.0),
        &t,
        Draw::Routine,
        0.0,
    );
    assert_eq!(past.refresh_delay(at(0.0)), Duration::ZERO);
    // A 6 s token (late edge 2.5 s): a draw in its first second is drawn
    // again over [1 s, 2.5 s], never onto the 1 s pacing floor itself.
    let short = Schedule::new(token(0.0, 6.0), 0.0, U, at(0.0), &t, Draw::Spread, 0.1);
    let d = short.refresh_delay(at(0.0)).as_secs_f64();
    let want = 1.0 + 1.5 * (0.1 * 2.5);
    assert!((d - want).abs() < 0.01, "{d} {want}");
    // No iat: scheduled on the runway at receipt, like a fresh token.
    let no_iat = JwtTimes {
        exp: at(900.0),
        iat: None,
    };
    let routine = Schedule::new(no_iat, 0.0, U, at(0.0), &t, Draw::Routine, 0.0);
    assert_eq!(
        routine.refresh_delay(at(0.0)),
        Duration::from_millis(449_500)
    );
}

#[test]
fn refresh_delay_is_zero_once_due() {
    let sched = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
    assert_eq!(sched.refresh_delay(at(600.0)), Duration::ZERO);
    assert_eq!(sched.refresh_delay(at(5000.0)), Duration::ZERO);
}

#[test]
fn a_wall_clock_stepped_back_cannot_make_a_token_younger() {
    let sched = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
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
    let sched = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
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
    let sched = Schedule::new(
        token(0.0, 900.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
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
        Draw::Spread,
        0.0,
    );
    assert!(!sched.usable(at(898.6)));
    // Never less than the on-demand window: the fast path serves the token
    // until `refresh_at`, so the fallback must not end earlier.
    let short = Schedule::new(
        token(0.0, 2.0),
        0.0,
        U,
        at(0.0),
        &timing(),
        Draw::Spread,
        0.0,
    );
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
    let sched = Schedule::new(
        token(0.0, 900.0),
        880.0,
        U,
        at(-880.0),
        &t,
        Draw::Spread,
        0.0,
    );
    assert_eq!(sched.runway(at(-880.0)), s(900));
    assert!(!sched.usable(at(20.0)));
    // Local 600 s ahead.
    let sched = Schedule::new(
        token(0.0, 900.0),
        -600.0,
        U,
        at(600.0),
        &t,
        Draw::Spread,
        0.0,
    );
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
                    let sched = Schedule::new(times, 0.0, U, at(0.0), &t, Draw::Spread, r);
                    assert!(sched.refresh_at <= sched.expires);
                    assert!(sched.background_at <= sched.expires);
                    let _ = sched.refresh_delay(at(0.0));
                }
            }
        }
    }
}
