//! Every wait has a deadline, and the right one: an agent's request deadline
//! bounds the token it waits for, and a refresh flight (credential plus
//! exchange) has one deadline, set when it starts, that all its waiters share.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::stand_in::{Mode, StandIn, StandInConfig};
use testkit::{jwt_expiring_in, wait_until};
use tinker_auth::{
    AuthTokenProvider, AuthenticatedAgent, CredentialCmdAuthProvider, Error, JwtAuthProvider, Token,
};

/// A provider holding an expired token, refreshing on demand only.
fn expired_provider(server: &StandIn, fetch_timeout: Duration) -> Arc<JwtAuthProvider> {
    Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .background_refresh(false)
            .fetch_timeout(fetch_timeout)
            .build()
            .unwrap(),
    )
}

#[test]
fn an_agent_deadline_bounds_the_token_fetch() {
    // Long enough to outlive the slow exchange's uncertainty about the clock.
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(60),
        ..StandInConfig::default()
    });
    server.set_mode(Mode::Slow(Duration::from_secs(4)));
    let provider = expired_provider(&server, Duration::from_secs(10));
    let agent = AuthenticatedAgent::builder(server.url(), provider.clone())
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = agent.get("/api/v1/ping").unwrap_err();
    let took = started.elapsed();
    eprintln!("returned after {took:.2?}: {err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}: {err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    // The flight was not abandoned: it completes and serves later callers.
    assert!(wait_until(Duration::from_secs(10), || provider
        .runway()
        .is_some_and(|r| r > Duration::from_secs(2))));
    server.set_mode(Mode::Healthy);
    agent.get("/api/v1/ping").unwrap();
    assert_eq!(provider.stats().fetches_started, 1);
    assert_eq!(server.exchanges(), 1);
}

#[test]
fn a_token_deadline_with_nothing_to_wait_for_costs_nothing() {
    let server = StandIn::start();
    let provider = expired_provider(&server, Duration::from_secs(5));
    let past = Instant::now();
    // A fresh token is served even past the caller's deadline: no wait is needed.
    provider.get_token().unwrap().unwrap();
    assert!(provider.get_token_until(past).unwrap().is_some());
}

/// A credential command that takes longer than `fetch_timeout + 1 s` (the
/// waiters' old bound), well within its own timeout.
#[test]
fn waiters_wait_for_a_slow_credential_command_within_its_timeout() {
    let server = StandIn::start();
    let key = server.api_key();
    let cmd = CredentialCmdAuthProvider::new(format!("sleep 2; echo {key}"))
        .unwrap()
        .timeout(Duration::from_secs(10));
    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .credential(cmd)
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .background_refresh(false)
            .fetch_timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    );
    let handles = testkit::together(4, &provider, |p| p.get_token());
    for h in handles {
        let r = h.join().unwrap();
        assert!(matches!(r, Ok(Some(_))), "{r:?}");
    }
    assert_eq!(server.exchanges(), 1);
}

/// A credential provider with no stated time limit that hangs past the flight.
struct Sluggish(String, Duration);

impl AuthTokenProvider for Sluggish {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        thread::sleep(self.1);
        Ok(Some(Token::new(self.0.clone())))
    }
}

#[test]
fn callers_after_the_flight_deadline_do_not_wait_again() {
    let server = StandIn::start();
    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .credential(Sluggish(server.api_key(), Duration::from_secs(4)))
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .background_refresh(false)
            .fetch_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let leader = {
        let p = provider.clone();
        thread::spawn(move || p.get_token())
    };
    assert!(wait_until(Duration::from_secs(5), || provider
        .stats()
        .fetches_started
        == 1));
    // The first waiter waits for the flight's deadline, then says which step ran over.
    let started = Instant::now();
    let err = provider.get_token().unwrap_err();
    let first = started.elapsed();
    let text = err.to_string();
    assert!(text.contains("credential provider"), "{text}");
    assert!(text.contains("fetch_timeout"), "{text}");
    // A later caller finds the deadline passed and does not wait again.
    let started = Instant::now();
    let err = provider.get_token().unwrap_err();
    let second = started.elapsed();
    eprintln!("first waiter {first:.2?}, second {second:.2?}: {err}");
    assert!(second < Duration::from_millis(500), "{second:?}");
    // The flight still completes and its token serves everyone.
    assert!(leader.join().unwrap().is_ok());
    provider.get_token().unwrap().unwrap();
    assert_eq!(server.exchanges(), 1);
}
