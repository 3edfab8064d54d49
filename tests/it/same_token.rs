//! Behaviour 5: an endpoint that returns a token no fresher than the one held
//! is not asked again at once.

use std::time::{Duration, Instant};

use testkit::*;
use tinker_auth::AuthTokenProvider;

#[test]
fn the_same_token_again_does_not_trigger_a_storm() {
    // The server keeps handing out one token with 20 s left (inside the 60 s window).
    let stale = jwt_expiring_in(20.0, 900.0);
    let s = stale.clone();
    let server = TokenServer::new(move |_| (200, body_for(&s)));
    let provider = server.builder().background_refresh(true).build().unwrap();
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(provider.get_token().unwrap().unwrap().as_str(), stale);
        calls += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    // Backoff from ~1 s: build + about two more, never one per call.
    let hits = server.hits();
    assert!(
        (2..=5).contains(&hits),
        "{hits} exchanges for {calls} calls"
    );
}

#[test]
fn an_older_token_is_not_refetched_in_a_loop_nor_served() {
    // The first token is already inside its window (30 s of 900 s left), and
    // the server then regresses to one expiring sooner.
    let good = jwt_expiring_in(30.0, 900.0);
    let older = jwt_expiring_in(10.0, 900.0);
    let (g, o) = (good.clone(), older.clone());
    let server = TokenServer::new(move |n| (200, body_for(if n == 1 { &g } else { &o })));
    let provider = server.builder().build().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1600) {
        let t = provider.get_token().unwrap().unwrap();
        assert_eq!(t.as_str(), good, "the longer-lived token is kept");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Build, then one retry after the first cooldown (1 s, the pacing
    // floor); the second (1-2 s more) has not ended by 1.6 s.
    assert_eq!(server.hits(), 2);
}
