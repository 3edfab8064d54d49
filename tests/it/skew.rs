//! Behaviour 6: with the local clock far off the server's, no expired token
//! goes out and the provider fetches about once per lifetime, not per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::*;
use tinker_auth::AuthTokenProvider;

fn skewed(local_minus_server: f64) {
    // mockito's Date header and the minted tokens follow the real clock (the
    // server); the provider's clock is shifted.
    let server = TokenServer::fresh(900.0);
    let provider = server
        .builder()
        .clock(Arc::new(SkewedClock(local_minus_server)))
        .background_refresh(true)
        .build()
        .unwrap();
    let offset = provider.clock_offset_secs();
    assert!(
        (offset + local_minus_server).abs() < 2.0,
        "offset {offset} for skew {local_minus_server}"
    );
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let t = provider.get_token().unwrap().unwrap();
        assert!(runway_of(t.as_str()) > 800.0, "served a stale token");
        calls += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let runway = provider.runway().unwrap().as_secs_f64();
    assert!((850.0..=901.0).contains(&runway), "runway {runway}");
    assert_eq!(server.hits(), 1, "one exchange for {calls} calls");
}

#[test]
fn local_clock_ten_minutes_ahead() {
    skewed(600.0);
}

#[test]
fn local_clock_ten_minutes_behind() {
    skewed(-600.0);
}

#[test]
fn local_clock_880_s_behind_on_a_900_s_token() {
    skewed(-880.0);
}

#[test]
fn seed_with_an_iat_in_our_future_shows_the_clock_is_behind() {
    // No exchange: only the seed's iat tells us the local clock is 880 s behind.
    let server = TokenServer::fresh(900.0);
    let seed = jwt_expiring_in(890.0, 900.0);
    let provider = server
        .builder()
        .clock(Arc::new(SkewedClock(-880.0)))
        .seed_token(seed)
        .build()
        .unwrap();
    // Unbounded, the runway would read 1770 s. With server time >= iat it
    // reads at most the lifetime: 900 s (the seed's iat is 10 s old, so 10 s
    // of the skew stay unseen until the first exchange measures it).
    let runway = provider.runway().unwrap().as_secs_f64();
    assert!(runway <= 900.5, "runway {runway} ignores the iat bound");
    assert_eq!(server.hits(), 0);
}
