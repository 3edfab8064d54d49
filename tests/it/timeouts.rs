//! Behaviour 8: every exchange is bounded; callers waiting on a hung endpoint
//! return within `fetch_timeout` plus one second.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::*;
use tinker_auth::{AuthTokenProvider, Error, JwtAuthProvider};

/// Accepts connections and never answers; returns the base URL.
fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(64) {
            held.push(conn);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    url
}

const TIMEOUT: Duration = Duration::from_millis(500);

#[test]
fn build_against_a_hung_endpoint_fails_with_a_timeout() {
    let started = Instant::now();
    let err = JwtAuthProvider::builder(black_hole())
        .api_key(KEY)
        .fetch_timeout(TIMEOUT)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("token exchange: timed out after"));
    assert!(started.elapsed() < TIMEOUT + Duration::from_secs(1));
}

#[test]
fn waiting_callers_return_within_the_bound() {
    let provider = Arc::new(
        JwtAuthProvider::builder(black_hole())
            .api_key(KEY)
            .fetch_timeout(TIMEOUT)
            .background_refresh(false)
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .build()
            .unwrap(),
    );
    let handles = together(8, &provider, |p| {
        let started = Instant::now();
        let r = p.get_token();
        (r, started.elapsed())
    });
    for h in handles {
        let (r, took) = h.join().unwrap();
        assert!(matches!(r, Err(Error::Expired { .. })), "{r:?}");
        assert!(took < TIMEOUT + Duration::from_secs(1), "{took:?}");
    }
    assert_eq!(provider.stats().fetches_started, 1);
}

#[test]
fn a_hung_exchange_with_a_valid_token_still_serves_it() {
    let seed = jwt_expiring_in(30.0, 900.0);
    let provider = JwtAuthProvider::builder(black_hole())
        .api_key(KEY)
        .fetch_timeout(TIMEOUT)
        .background_refresh(false)
        .seed_token(seed.clone())
        .build()
        .unwrap();
    assert_eq!(provider.get_token().unwrap().unwrap().as_str(), seed);
}
