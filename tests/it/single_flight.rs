//! Behaviour 2: at or under the window, expired, garbled or absent, the token
//! is refreshed once, however many threads ask.

use std::sync::Arc;
use std::time::Duration;

use testkit::*;
use tinker_auth::AuthTokenProvider;

fn stampede(threads: usize, seed: Option<String>) {
    let server = TokenServer::fresh(900.0);
    let gate = Gate::new();
    server.hold(&gate);
    let mut builder = server.builder();
    if let Some(seed) = seed {
        builder = builder.seed_token(seed);
    } else {
        // Without a seed, build() itself must fetch; let that one through.
        gate.release(1);
    }
    let provider = Arc::new(builder.build().unwrap());
    let before = server.hits();
    if before == 1 {
        // Make the built token due: invalidate it as a 401 would.
        let t = provider.get_token().unwrap().unwrap();
        provider.invalidate(&t);
    }
    let handles = together(threads, &provider, |p| p.get_token().unwrap().unwrap());
    // Hold the one exchange until every other thread is waiting on it.
    gate.wait_entered();
    assert!(
        wait_until(Duration::from_secs(10), || provider.stats().waits
            >= threads as u64 - 1),
        "{:?}",
        provider.stats()
    );
    gate.release(1);
    let tokens: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(server.hits(), before + 1, "exactly one exchange");
    assert!(tokens.iter().all(|t| t.same_as(&tokens[0])));
    assert!(runway_of(tokens[0].as_str()) > 800.0);
}

#[test]
fn thirty_two_threads_with_an_expired_token_share_one_exchange() {
    stampede(32, Some(jwt_expiring_in(-10.0, 900.0)));
}

#[test]
fn five_callers_near_expiry_share_one_exchange() {
    // 30 s left of 900: inside the 60 s on-demand window.
    stampede(5, Some(jwt_expiring_in(30.0, 900.0)));
}

#[test]
fn garbled_seed_is_treated_as_expired() {
    stampede(8, Some("not-a-jwt".into()));
}

#[test]
fn rejected_token_is_replaced_once_for_64_threads() {
    stampede(64, None);
}

#[test]
fn near_expiry_cached_token_is_refetched() {
    let server = TokenServer::fresh(900.0);
    let seed = jwt_expiring_in(59.0, 900.0);
    let provider = server.builder().seed_token(seed.clone()).build().unwrap();
    let t = provider.get_token().unwrap().unwrap();
    assert_ne!(t.as_str(), seed);
    assert_eq!(server.hits(), 1);
    assert_eq!(provider.stats().on_demand, 1);
}

#[test]
fn outside_the_window_the_seed_is_kept() {
    let server = TokenServer::fresh(900.0);
    let seed = jwt_expiring_in(61.0, 900.0);
    let provider = server.builder().seed_token(seed.clone()).build().unwrap();
    assert_eq!(provider.get_token().unwrap().unwrap().as_str(), seed);
    assert_eq!(server.hits(), 0);
}

#[test]
fn short_tokens_use_a_fifth_of_their_lifetime_as_window() {
    // A 3 s token is refreshed in its last 0.6 s, not on every call.
    let server = TokenServer::fresh(3.0);
    let provider = server.builder().build().unwrap();
    let mut calls = 0u32;
    let deadline = std::time::Instant::now() + Duration::from_millis(4500);
    while std::time::Instant::now() < deadline {
        let t = provider.get_token().unwrap().unwrap();
        assert!(runway_of(t.as_str()) > 0.0, "served an expired token");
        calls += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    // ~1.5 lifetimes: the first exchange plus one or two refreshes.
    let hits = server.hits();
    assert!(
        (2..=4).contains(&hits),
        "{hits} exchanges for {calls} calls"
    );
}
