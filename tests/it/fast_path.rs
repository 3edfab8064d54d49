//! Behaviour 1: a token with runway is served with no I/O and without waiting
//! on any fetch in flight.

use std::sync::Arc;
use std::time::Duration;

use testkit::*;
use tinker_auth::AuthTokenProvider;

#[test]
fn fresh_token_is_not_refetched() {
    let server = TokenServer::fresh(900.0);
    let provider = server.builder().build().unwrap();
    assert_eq!(server.hits(), 1, "build performs the first exchange");
    let first = provider.get_token().unwrap().unwrap();
    for _ in 0..10_000 {
        assert!(provider.get_token().unwrap().unwrap().same_as(&first));
    }
    assert_eq!(server.hits(), 1);
    assert_eq!(provider.stats().fetches_started, 1);
}

#[test]
fn fresh_seed_is_served_without_any_exchange() {
    let server = TokenServer::fresh(900.0);
    let seed = jwt_expiring_in(600.0, 900.0);
    let provider = server.builder().seed_token(seed.clone()).build().unwrap();
    assert_eq!(provider.get_token().unwrap().unwrap().as_str(), seed);
    assert_eq!(server.hits(), 0);
}

#[test]
fn readers_of_a_fresh_token_do_not_wait_for_a_fetch_in_flight() {
    let server = TokenServer::fresh(100.0);
    let gate = Gate::new();
    server.hold(&gate);
    // 40 s of a 100 s lifetime left: outside the on-demand window (20 s) but
    // inside the background margin (45-50 s), so the refresh thread fetches
    // at once and its exchange is held at the gate.
    let seed = jwt_expiring_in(40.0, 100.0);
    let provider = Arc::new(
        server
            .builder()
            .seed_token(seed.clone())
            .background_refresh(true)
            .build()
            .unwrap(),
    );
    gate.wait_entered();
    assert_eq!(provider.stats().background, 1);
    // The fetch is provably in flight; readers get the seed at once.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let p = provider.clone();
            std::thread::spawn(move || {
                (0..1000)
                    .map(|_| p.get_token().unwrap().unwrap())
                    .all(|t| t.as_str() == p.get_token().unwrap().unwrap().as_str())
            })
        })
        .collect();
    for r in readers {
        assert!(r.join().unwrap());
    }
    assert_eq!(provider.get_token().unwrap().unwrap().as_str(), seed);
    assert_eq!(provider.stats().waits, 0, "no reader waited on the fetch");
    gate.release(1);
    assert!(wait_until(Duration::from_secs(5), || provider
        .stats()
        .fetches_succeeded
        == 1));
    assert_ne!(provider.get_token().unwrap().unwrap().as_str(), seed);
}
