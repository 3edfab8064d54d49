//! What an `AuthenticatedAgent` sends and how it reads the answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mockito::{Matcher, Server};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{json, Value};
use tinker_auth::{ApiKeyAuthProvider, AuthTokenProvider, AuthenticatedAgent, Error};
use ureq::http::{HeaderName, Method};

const KEY: &str = "tml-agent-requests-key";

fn provider() -> Arc<dyn AuthTokenProvider> {
    Arc::new(ApiKeyAuthProvider::new(KEY).unwrap())
}

#[test]
fn get_sends_the_token_and_parses_json() {
    let mut server = Server::new();
    let m = server
        .mock("GET", "/api/v1/futures?id=7")
        .match_header("x-api-key", KEY)
        .match_header("accept", "application/json")
        .with_body(r#"{"status":"done","values":[1,2]}"#)
        .create();
    let api = AuthenticatedAgent::new(format!("{}/", server.url()), provider()).unwrap();
    let v = api.get("/api/v1/futures?id=7").unwrap();
    assert_eq!(v, json!({ "status": "done", "values": [1, 2] }));
    m.assert();
}

/// A caller's own request type (serde's derive is not a dependency here, so
/// `Serialize` is written out).
struct Sample<'a> {
    prompt: &'a str,
    max_tokens: u32,
}

impl Serialize for Sample<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Sample", 2)?;
        st.serialize_field("prompt", self.prompt)?;
        st.serialize_field("max_tokens", &self.max_tokens)?;
        st.end()
    }
}

#[test]
fn post_serializes_any_serialize_body() {
    let mut server = Server::new();
    let m = server
        .mock("POST", "/api/v1/sample")
        .match_header("x-api-key", KEY)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(json!({ "prompt": "hi", "max_tokens": 4 })))
        .with_body(r#"{"id":"s-1"}"#)
        .create();
    let api = AuthenticatedAgent::new(server.url(), provider()).unwrap();
    let body = Sample {
        prompt: "hi",
        max_tokens: 4,
    };
    assert_eq!(
        api.post("api/v1/sample", &body).unwrap(),
        json!({ "id": "s-1" })
    );
    m.assert();
}

#[test]
fn raw_responses_are_returned_unread() {
    let mut server = Server::new();
    server
        .mock("GET", "/api/v1/blob")
        .with_header("content-type", "text/plain")
        .with_body("not json at all")
        .create();
    server
        .mock("PUT", "/api/v1/blob")
        .match_body("[1,2]")
        .with_status(204)
        .create();
    let api = AuthenticatedAgent::new(server.url(), provider()).unwrap();
    let mut resp = api.get_response("/api/v1/blob").unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "not json at all");
    let resp = api
        .send(Method::PUT, "/api/v1/blob", Some(b"[1,2]"))
        .unwrap();
    assert_eq!(resp.status(), 204);

    let err = api.get("/api/v1/blob").unwrap_err();
    assert!(matches!(err, Error::ResponseBody { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "request GET /api/v1/blob: 200 response is not json"
    );
}

#[test]
fn an_empty_body_is_null() {
    let mut server = Server::new();
    server.mock("POST", "/api/v1/ack").with_status(200).create();
    let api = AuthenticatedAgent::new(server.url(), provider()).unwrap();
    assert_eq!(api.post("/api/v1/ack", &Value::Null).unwrap(), Value::Null);
}

#[test]
fn the_header_name_is_configurable() {
    let mut server = Server::new();
    let m = server
        .mock("GET", "/x")
        .match_header("authorization-token", KEY)
        .match_header("x-api-key", Matcher::Missing)
        .with_body("{}")
        .create();
    let api = AuthenticatedAgent::builder(server.url(), provider())
        .header_name(HeaderName::from_static("authorization-token"))
        .build()
        .unwrap();
    api.get("/x").unwrap();
    m.assert();
}

#[test]
fn a_callers_own_agent_is_used() {
    let mut server = Server::new();
    let m = server
        .mock("GET", "/x")
        .match_header("x-api-key", KEY)
        .match_header("user-agent", "my-app/1.0")
        .with_status(503)
        .expect(1)
        .create();
    let ok = server
        .mock("GET", "/x")
        .match_header("user-agent", "my-app/1.0")
        .with_body("{}")
        .expect(1)
        .create();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    // Its default turns statuses into errors; the agent overrides that per request.
    let mine: ureq::Agent = ureq::Agent::config_builder()
        .user_agent("my-app/1.0")
        .middleware(
            move |req: ureq::http::Request<ureq::SendBody>,
                  next: ureq::middleware::MiddlewareNext| {
                counter.fetch_add(1, Ordering::SeqCst);
                next.handle(req)
            },
        )
        .build()
        .into();
    let api = AuthenticatedAgent::builder(server.url(), provider())
        .agent(mine)
        .initial_backoff(std::time::Duration::from_millis(10))
        .build()
        .unwrap();
    api.get("/x").unwrap();
    m.assert();
    ok.assert();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[test]
fn insecure_base_urls_are_refused() {
    let err = AuthenticatedAgent::new("http://tinker.example.com", provider()).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}
