//! Timing judged on an injected `ManualClock`: the on-demand window, a wall
//! clock stepped back, and the cooldown after a failed refresh, each checked
//! in an instant instead of by sleeping through real 900 s tokens.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testkit::unix_secs as secs;
use testkit::{body_for, jwt_at, TokenServer};
use tinker_auth::{AuthTokenProvider, Clock, ManualClock};

/// A token endpoint issuing 900 s tokens on the manual clock's time (its
/// `Date` header, on the real clock, then contradicts the claims and is
/// ignored), and the clock, starting at the real time.
fn server_on(clock: &ManualClock) -> TokenServer {
    let c = clock.clone();
    TokenServer::new(move |_| (200, body_for(&jwt_at(secs(&c), 900.0, 900.0))))
}

#[test]
fn the_on_demand_window_opens_on_the_manual_clock() {
    let clock = ManualClock::new(SystemTime::now());
    let server = server_on(&clock);
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(server.hits(), 1);
    let first = provider.get_token().unwrap().unwrap();
    // 800 s on: 100 s of runway, outside the 60 s window; no exchange.
    clock.advance(Duration::from_secs(800));
    assert!(provider.get_token().unwrap().unwrap().same_as(&first));
    assert_eq!(server.hits(), 1);
    // 850 s on: inside the window; one exchange, a new token.
    clock.advance(Duration::from_secs(50));
    let second = provider.get_token().unwrap().unwrap();
    assert_eq!(server.hits(), 2);
    assert!(!second.same_as(&first));
    let runway = provider.runway().unwrap();
    assert!(runway > Duration::from_secs(890), "{runway:?}");
}

#[test]
fn a_wall_clock_stepped_back_does_not_make_the_token_younger() {
    let clock = ManualClock::new(SystemTime::now());
    let server = server_on(&clock);
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    // 850 s pass (both clocks), then the wall clock is set back to the
    // start: the monotonic age still puts the token in its window.
    clock.advance(Duration::from_secs(850));
    clock.rewind(Duration::from_secs(850));
    provider.get_token().unwrap();
    assert_eq!(server.hits(), 2);
}

#[test]
fn the_cooldown_after_a_failure_runs_on_the_manual_clock() {
    let clock = ManualClock::new(SystemTime::now());
    let server = server_on(&clock);
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    server.respond(|_| (503, br#"{"detail":"down"}"#.to_vec()));
    // Inside the window with 50 s of runway: the refresh fails, the cached
    // token is served.
    clock.advance(Duration::from_secs(850));
    let cached = provider.get_token().unwrap().unwrap();
    assert_eq!(server.hits(), 2);
    // Cooling down (at least 1 s after a failure): no exchange, the cached
    // token again, however often it is asked for.
    for _ in 0..10 {
        assert!(provider.get_token().unwrap().unwrap().same_as(&cached));
    }
    assert_eq!(server.hits(), 2);
    // The second failure's cooldown is at most 4 s: 5 s on, the next caller tries again.
    clock.advance(Duration::from_secs(5));
    provider.get_token().unwrap();
    assert_eq!(server.hits(), 3);
    let stats = provider.stats();
    assert_eq!(stats.fetches_failed, 2);
    assert!(stats.served_cached >= 11, "{stats:?}");
    // Healed: after the cooldown, a fresh token.
    let c = clock.clone();
    server.respond(move |_| (200, body_for(&jwt_at(secs(&c), 900.0, 900.0))));
    clock.advance(Duration::from_secs(5));
    let fresh = provider.get_token().unwrap().unwrap();
    assert!(!fresh.same_as(&cached));
    assert_eq!(server.hits(), 4);
}

#[test]
fn manual_clock_moves_the_monotonic_time_only_when_advanced() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
    let start = clock.instant();
    clock.advance(Duration::from_secs(3));
    clock.set(UNIX_EPOCH);
    clock.rewind(Duration::ZERO);
    assert_eq!(clock.instant() - start, Duration::from_secs(3));
    assert_eq!(clock.now(), UNIX_EPOCH);
}
