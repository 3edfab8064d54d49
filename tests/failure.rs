//! Behaviour 3: failed refreshes serve the cached token while it is valid,
//! then a clear error with the cause; waiters share one failure; on-demand
//! retries cool down; a rejected credential is its own error.
//!
//! Its own test binary: it installs the process's global logger to check what
//! a failure logs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::*;
use tinker_auth::{AuthTokenProvider, Error};

/// Records warnings for this test binary.
struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.target().starts_with("tinker_auth") {
            self.0
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

fn logs() -> &'static Capture {
    let _ = log::set_logger(&LOGS);
    log::set_max_level(log::LevelFilter::Debug);
    &LOGS
}

fn failing(status: usize) -> TokenServer {
    TokenServer::new(move |_| (status, br#"{"detail":"token service down"}"#.to_vec()))
}

#[test]
fn failure_serves_the_valid_cached_token_and_warns_once() {
    let logs = logs();
    let server = failing(500);
    // 30 s left: inside the window, so every call wants a refresh.
    let seed = jwt_expiring_in(30.0, 900.0);
    let provider = server.builder().seed_token(seed.clone()).build().unwrap();
    for _ in 0..50 {
        assert_eq!(provider.get_token().unwrap().unwrap().as_str(), seed);
    }
    let stats = provider.stats();
    assert_eq!(server.hits(), 1, "the cooldown holds back further attempts");
    assert_eq!(stats.fetches_failed, 1);
    assert_eq!(stats.served_cached, 50);
    let lines = logs.0.lock().unwrap();
    let mine: Vec<_> = lines
        .iter()
        .filter(|(l, m)| {
            // Other tests in this binary fail without a valid cached token.
            *l == log::Level::Warn
                && m.contains("token service down")
                && m.contains("serving the cached token")
        })
        .collect();
    assert_eq!(mine.len(), 1, "{lines:?}");
    assert!(!lines
        .iter()
        .any(|(_, m)| m.contains(KEY) || m.contains(&seed)));
}

#[test]
fn no_token_and_failure_is_an_error_with_the_cause() {
    let server = failing(503);
    let err = server.builder().build().unwrap_err();
    assert!(matches!(err, Error::Status { status: 503, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "token exchange: server answered 503: token service down"
    );
}

#[test]
fn expired_token_and_failure_is_an_expired_error_not_a_dead_jwt() {
    let server = failing(500);
    let seed = jwt_expiring_in(-5.0, 900.0);
    let provider = server.builder().seed_token(seed).build().unwrap();
    let err = provider.get_token().unwrap_err();
    let Error::Expired { cause } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(**cause, Error::Status { status: 500, .. }));
    assert!(err
        .to_string()
        .starts_with("token expired and could not be refreshed: "));
    // The cause is in the message, so `source()` does not repeat it.
    assert!(err.to_string().contains("server answered 500"), "{err}");
    assert!(std::error::Error::source(&err).is_none());
    // During the cooldown the same error comes back without a request.
    assert!(matches!(provider.get_token(), Err(Error::Expired { .. })));
    assert_eq!(server.hits(), 1);
}

#[test]
fn waiters_share_one_failed_fetch() {
    let server = failing(500);
    let gate = Gate::new();
    server.hold(&gate);
    let provider = Arc::new(
        server
            .builder()
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .build()
            .unwrap(),
    );
    let n = 32;
    let handles = together(n, &provider, |p| p.get_token());
    gate.wait_entered();
    assert!(wait_until(Duration::from_secs(10), || provider
        .stats()
        .waits
        >= n as u64 - 1));
    gate.release(1);
    for h in handles {
        let err = h.join().unwrap().unwrap_err();
        assert!(matches!(err, Error::Expired { .. }), "{err:?}");
    }
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_dead_endpoint_sees_about_one_request_a_second() {
    let server = failing(500);
    let provider = Arc::new(
        server
            .builder()
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    let window = Duration::from_millis(3000);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let p = provider.clone();
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while started.elapsed() < window {
                    assert!(p.get_token().is_err());
                    calls += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                calls
            })
        })
        .collect();
    let calls: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let hits = server.hits();
    // Cooldowns of ~0.75-1 s, then ~1.5-2 s: 2 or 3 attempts in 3 s, never a storm.
    assert!(
        (2..=4).contains(&hits),
        "{hits} exchanges for {calls} calls"
    );
    assert!(calls > 100);
}

#[test]
fn recovery_once_the_endpoint_heals() {
    let server = failing(500);
    let provider = server
        .builder()
        .seed_token(jwt_expiring_in(-1.0, 900.0))
        .build()
        .unwrap();
    assert!(provider.get_token().is_err());
    server.respond(|_| (200, body_for(&jwt_expiring_in(900.0, 900.0))));
    assert!(wait_until(Duration::from_secs(3), || provider
        .get_token()
        .is_ok()));
    assert_eq!(provider.stats().fetches_succeeded, 1);
}

#[test]
fn rejected_credential_is_its_own_error_at_once() {
    for status in [401, 403] {
        let server =
            TokenServer::new(move |_| (status, br#"{"detail":"API key revoked"}"#.to_vec()));
        // Even with a valid cached token inside its window, the rejection surfaces.
        let seed = jwt_expiring_in(30.0, 900.0);
        let provider = server.builder().seed_token(seed).build().unwrap();
        let err = provider.get_token().unwrap_err();
        assert!(
            matches!(&err, Error::CredentialRejected { status: s, detail: Some(d) } if *s == status as u16 && d == "API key revoked"),
            "{err:?}"
        );
        assert!(!err.is_transient());
        assert!(!err.to_string().contains(KEY));
    }
}
