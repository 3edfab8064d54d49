//! `AuthMiddleware` on a caller's own `ureq` agent.

use std::sync::Arc;

use mockito::{Matcher, Server};
use serde_json::json;
use tinker_auth::{AuthMiddleware, AuthTokenProvider, Error, JwtAuthProvider, Token};

/// A JWT living `lifetime` seconds from now; each call gives a new one.
fn jwt(lifetime: f64) -> String {
    testkit::jwt_expiring_in(lifetime, lifetime)
}

const KEY: &str = "tml-middleware-key";

fn agent(provider: Arc<dyn AuthTokenProvider>, status_as_error: bool) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(status_as_error)
        .middleware(AuthMiddleware::new(provider))
        .build()
        .into()
}

/// With either setting of `http_status_as_error`, a 401 makes the next
/// request carry a fresh token, at the cost of one exchange; the rejected
/// request itself is not re-sent.
#[test]
fn a_401_makes_the_next_request_carry_a_fresh_token() {
    for status_as_error in [false, true] {
        let mut server = Server::new();
        let (old, new) = (jwt(600.0), jwt(900.0));
        let exchange = server
            .mock("POST", "/api/v1/auth/token")
            .with_body(json!({ "jwt": new }).to_string())
            .expect(1)
            .create();
        let rejected = server
            .mock("GET", "/api/v1/x")
            .match_header("x-api-key", old.as_str())
            .with_status(401)
            .with_body(r#"{"detail":"Invalid JWT"}"#)
            .expect(1)
            .create();
        let accepted = server
            .mock("GET", "/api/v1/x")
            .match_header("x-api-key", new.as_str())
            .with_body("{}")
            .expect(2)
            .create();
        let provider = Arc::new(
            JwtAuthProvider::builder(server.url())
                .api_key(KEY)
                .seed_token(old.as_str())
                .background_refresh(false)
                .build()
                .unwrap(),
        );
        let agent = agent(provider.clone(), status_as_error);
        let url = format!("{}/api/v1/x", server.url());

        let first = agent.get(&url).call();
        if status_as_error {
            assert!(
                matches!(first, Err(ureq::Error::StatusCode(401))),
                "{first:?}"
            );
        } else {
            assert_eq!(first.unwrap().status(), 401);
        }
        assert_eq!(agent.get(&url).call().unwrap().status(), 200);
        assert_eq!(agent.get(&url).call().unwrap().status(), 200);

        exchange.assert();
        rejected.assert();
        accepted.assert();
        assert_eq!(provider.stats().fetches_started, 1);
    }
}

#[test]
fn the_header_replaces_any_set_by_the_caller() {
    let mut server = Server::new();
    let m = server
        .mock("GET", "/x")
        .match_header("x-api-key", "tml-right")
        .with_body("{}")
        .create();
    let provider = Arc::new(tinker_auth::ApiKeyAuthProvider::new("tml-right").unwrap());
    let agent = agent(provider, true);
    agent
        .get(format!("{}/x", server.url()))
        .header("x-api-key", "tml-wrong")
        .call()
        .unwrap();
    m.assert();
}

struct Broken;

impl AuthTokenProvider for Broken {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        Err(Error::MissingCredential)
    }
}

#[test]
fn a_provider_error_fails_the_request_unsent() {
    let mut server = Server::new();
    let never = server.mock("GET", Matcher::Any).expect(0).create();
    let agent = agent(Arc::new(Broken), true);
    let err = agent.get(format!("{}/x", server.url())).call().unwrap_err();
    match err {
        ureq::Error::Other(e) => {
            let e = e.downcast::<Error>().expect("the crate's error inside");
            assert!(matches!(*e, Error::MissingCredential));
        }
        other => panic!("expected Other, got {other:?}"),
    }
    never.assert();
}
