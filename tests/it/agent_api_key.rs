//! An `AuthenticatedAgent` over a provider that cannot refresh (a plain API
//! key), or whose token cannot be had.

use std::sync::Arc;

use mockito::Server;
use serde_json::json;
use tinker_auth::{ApiKeyAuthProvider, AuthTokenProvider, AuthenticatedAgent, Error, Token};

const KEY: &str = "tml-agent-plain-key";

#[test]
fn a_401_surfaces_without_a_retry() {
    let mut server = Server::new();
    let rejected = server
        .mock("POST", "/api/v1/sample")
        .match_header("x-api-key", KEY)
        .with_status(401)
        .with_body(r#"{"detail":"Invalid API key"}"#)
        .expect(1)
        .create();
    let provider = Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
    let api = AuthenticatedAgent::new(server.url(), provider).unwrap();

    let err = api.post("/api/v1/sample", &json!({ "n": 1 })).unwrap_err();
    match &err {
        Error::Authentication { endpoint, detail } => {
            assert_eq!(endpoint, "POST /api/v1/sample");
            assert_eq!(detail.as_deref(), Some("Invalid API key"));
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    rejected.assert();
    let stats = api.stats();
    assert_eq!(
        (stats.attempts, stats.unauthorized, stats.recovered),
        (1, 1, 0)
    );
}

struct Broken;

impl AuthTokenProvider for Broken {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        Err(Error::MissingCredential)
    }
}

#[test]
fn a_provider_error_stops_the_call_before_anything_is_sent() {
    let mut server = Server::new();
    let never = server.mock("GET", "/api/v1/x").expect(0).create();
    let api = AuthenticatedAgent::new(server.url(), Arc::new(Broken)).unwrap();

    let err = api.get("/api/v1/x").unwrap_err();
    assert!(matches!(err, Error::MissingCredential), "{err:?}");
    never.assert();
    assert_eq!(api.stats().attempts, 0);
    assert_eq!(api.stats().failed, 1);
}
