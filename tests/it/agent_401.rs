//! An `AuthenticatedAgent` answered `401`: one exchange, one re-send, and a
//! clean authentication error when the fresh token is rejected too.

use std::cell::Cell;
use std::sync::{Arc, Barrier};
use std::thread;

use mockito::{Matcher, Server};
use serde_json::json;
use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, Error, JwtAuthProvider, Token};

/// A JWT living `lifetime` seconds from now; each call gives a new one.
fn jwt(lifetime: f64) -> String {
    testkit::jwt_expiring_in(lifetime, lifetime)
}

const KEY: &str = "tml-agent-401-key";
const PATH: &str = "/api/v1/thing";

fn exchange_returning(server: &mut Server, jwt: &str) -> mockito::Mock {
    server
        .mock("POST", "/api/v1/auth/token")
        .match_header("x-api-key", KEY)
        .with_status(200)
        .with_body(json!({ "jwt": jwt }).to_string())
}

fn rejecting(server: &mut Server, token: Matcher) -> mockito::Mock {
    server
        .mock("GET", Matcher::Regex(format!("^{PATH}")))
        .match_header("x-api-key", token)
        .with_status(401)
        .with_header("www-authenticate", r#"Bearer error="invalid_token""#)
        .with_body(r#"{"detail":"Invalid JWT"}"#)
}

#[test]
fn a_401_then_200_costs_one_exchange_and_succeeds() {
    let mut server = Server::new();
    let (old, new) = (jwt(600.0), jwt(900.0));
    let exchange = exchange_returning(&mut server, &new).expect(1).create();
    let rejected = rejecting(&mut server, Matcher::Exact(old.clone()))
        .expect(1)
        .create();
    let accepted = server
        .mock("GET", PATH)
        .match_header("x-api-key", new.as_str())
        .with_status(200)
        .with_body(r#"{"ok":true}"#)
        .expect(1)
        .create();

    let provider = testkit::seeded_provider(&server.url(), KEY, &old);
    let api = AuthenticatedAgent::new(server.url(), provider.clone()).unwrap();
    assert_eq!(api.get(PATH).unwrap(), json!({ "ok": true }));

    exchange.assert();
    rejected.assert();
    accepted.assert();
    assert_eq!(provider.stats().fetches_started, 1);
    let stats = api.stats();
    assert_eq!(
        (stats.attempts, stats.unauthorized, stats.recovered),
        (2, 1, 1)
    );
    assert_eq!((stats.retries, stats.failed), (0, 0));
}

#[test]
fn a_second_401_is_an_authentication_error_naming_the_endpoint() {
    let mut server = Server::new();
    let (old, new) = (jwt(600.0), jwt(900.0));
    let exchange = exchange_returning(&mut server, &new)
        .expect_at_most(2)
        .create();
    let rejected = rejecting(&mut server, Matcher::Any).expect(2).create();

    let provider = testkit::seeded_provider(&server.url(), KEY, &old);
    let api = AuthenticatedAgent::new(server.url(), provider.clone()).unwrap();
    let err = api.get(&format!("{PATH}?cursor=abc")).unwrap_err();

    match &err {
        Error::Authentication { endpoint, detail } => {
            assert_eq!(endpoint, "GET /api/v1/thing");
            assert_eq!(detail.as_deref(), Some("Invalid JWT"));
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "request GET /api/v1/thing: authentication failed (401): Invalid JWT"
    );
    assert!(!err.is_transient());
    exchange.assert();
    rejected.assert();
    assert!(provider.stats().fetches_started <= 2);
    assert_eq!(api.stats().failed, 1);
}

/// Hands out the inner provider's tokens, but makes each thread's first
/// `get_token` wait until every thread holds one, so that all of them send
/// (and have rejected) the same token before any refresh can start.
struct AllHoldTheSameToken {
    inner: Arc<JwtAuthProvider>,
    barrier: Barrier,
}

thread_local! {
    static WAITED: Cell<bool> = const { Cell::new(false) };
}

impl AuthTokenProvider for AllHoldTheSameToken {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        let token = self.inner.get_token();
        if !WAITED.with(|w| w.replace(true)) {
            self.barrier.wait();
        }
        token
    }

    fn invalidate(&self, token: &Token) -> bool {
        self.inner.invalidate(token)
    }
}

#[test]
fn two_hundred_threads_rejected_with_one_token_cost_one_exchange() {
    const THREADS: usize = 200;
    let mut server = Server::new();
    let (old, new) = (jwt(600.0), jwt(900.0));
    let exchange = exchange_returning(&mut server, &new).expect(1).create();
    let rejected = rejecting(&mut server, Matcher::Exact(old.clone()))
        .expect(THREADS)
        .create();
    let accepted = server
        .mock("GET", PATH)
        .match_header("x-api-key", new.as_str())
        .with_status(200)
        .with_body(r#"{"ok":true}"#)
        .expect(THREADS)
        .create();

    let jwt_provider = testkit::seeded_provider(&server.url(), KEY, &old);
    let gate = Arc::new(AllHoldTheSameToken {
        inner: jwt_provider.clone(),
        barrier: Barrier::new(THREADS),
    });
    let api = AuthenticatedAgent::new(server.url(), gate).unwrap();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let api = api.clone();
            thread::spawn(move || api.get(PATH))
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap().unwrap(), json!({ "ok": true }));
    }

    exchange.assert();
    rejected.assert();
    accepted.assert();
    assert_eq!(jwt_provider.stats().fetches_started, 1);
    let stats = api.stats();
    assert_eq!(stats.requests, THREADS as u64);
    assert_eq!(stats.unauthorized, THREADS as u64);
    assert_eq!(stats.recovered, THREADS as u64);
    assert_eq!(stats.failed, 0);
}
