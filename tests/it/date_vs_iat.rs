//! A `Date` header stamped by another clock (a proxy or CDN) must not steer
//! the provider's estimate of the server's clock away from what a freshly
//! issued token's `iat` says.

use std::sync::Arc;
use std::time::Duration;

use testkit::stand_in::{StandIn, StandInConfig};
use testkit::wait_until;
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

fn provider_behind_a_proxy(date_skew: i64, lifetime: Duration) -> (StandIn, Arc<JwtAuthProvider>) {
    let server = StandIn::start_with(StandInConfig {
        lifetime,
        ..StandInConfig::default()
    });
    server.set_date_skew_secs(date_skew);
    let provider = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .build()
        .expect("a fresh token is served whatever the Date header says");
    (server, Arc::new(provider))
}

fn date_off_by_a_day_is_ignored(date_skew: i64) {
    let (server, provider) = provider_behind_a_proxy(date_skew, Duration::from_secs(900));
    let offset = provider.clock_offset_secs();
    assert!(offset.abs() < 5.0, "offset {offset}");
    let runway = provider.runway().unwrap();
    assert!(runway > Duration::from_secs(890), "{runway:?}");
    provider.get_token().unwrap().unwrap();
    assert_eq!(server.exchanges(), 1);
}

#[test]
fn a_date_header_a_day_ahead_does_not_expire_fresh_tokens() {
    date_off_by_a_day_is_ignored(86_400);
}

#[test]
fn a_date_header_a_day_behind_does_not_lengthen_tokens() {
    date_off_by_a_day_is_ignored(-86_400);
}

fn short_tokens_refresh_as_usual(date_skew: i64) {
    // 4 s tokens: the thread refreshes at ~2 s, so a few in 5 s.
    let (server, provider) = provider_behind_a_proxy(date_skew, Duration::from_secs(4));
    assert!(wait_until(Duration::from_secs(10), || provider
        .stats()
        .background
        >= 2));
    for _ in 0..20 {
        provider.get_token().unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = server.exchanges();
    assert!((3..=8).contains(&n), "{n} exchanges");
}

#[test]
fn short_tokens_behind_a_proxy_a_day_ahead_refresh_as_usual() {
    short_tokens_refresh_as_usual(86_400);
}

#[test]
fn short_tokens_behind_a_proxy_a_day_behind_refresh_as_usual() {
    short_tokens_refresh_as_usual(-86_400);
}

#[test]
fn a_token_issued_already_expired_is_never_served() {
    // The server's own Date is honest; the token it issues expired 30 s ago
    // (iat 90 s ago). That is a dead token, not a proxy's foreign clock.
    let server = StandIn::start_with(StandInConfig::default());
    server.set_mode(testkit::stand_in::Mode::Claims(
        testkit::stand_in::ClaimShape::ExpPast,
    ));
    let err = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .background_refresh(false)
        .build()
        .expect_err("a token the server already rejects is not served");
    assert!(matches!(err, tinker_auth::Error::Expired { .. }), "{err:?}");
}
