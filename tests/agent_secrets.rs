//! No token or key in any error message or log line of the request layer.
//!
//! This file is its own test binary because it installs a global `log::Log`
//! that records every line at every level, and holds a single test so that
//! nothing else logs concurrently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mockito::{Matcher, Server};
use serde_json::json;
use testkit::stand_in::sign_hs256;
use tinker_auth::{
    ApiKeyAuthProvider, AuthMiddleware, AuthTokenProvider, AuthenticatedAgent, Error,
};

const KEY: &str = "tml-very-secret-agent-key";

static LINES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        let line = format!("{} {}: {}", r.level(), r.target(), r.args());
        LINES.lock().unwrap().push((r.target().to_owned(), line));
    }
    fn flush(&self) {}
}

fn jwt(lifetime: i64) -> String {
    static JTI: AtomicU64 = AtomicU64::new(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let jti = JTI.fetch_add(1, Ordering::SeqCst);
    sign_hs256(
        &json!({ "sub": "u", "iat": now, "exp": now + lifetime, "jti": jti.to_string() }),
        b"secret",
    )
}

/// Every text an error offers: Display, Debug and its sources'.
fn texts(e: &Error) -> Vec<String> {
    let mut out = vec![e.to_string(), format!("{e:?}"), format!("{e:#?}")];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push(s.to_string());
        source = s.source();
    }
    out
}

#[test]
fn no_secret_in_errors_or_logs() {
    log::set_boxed_logger(Box::new(Capture)).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let (old, new, other) = (jwt(600), jwt(900), jwt(900));
    let mut secrets = vec![KEY.to_owned(), old.clone(), new.clone(), other.clone()];
    for t in [&old, &new, &other] {
        secrets.push(t.rsplit('.').next().unwrap().to_owned()); // the signature alone
    }
    let mut errors: Vec<Error> = Vec::new();
    let mut shown: Vec<String> = Vec::new();

    let mut server = Server::new();
    server
        .mock("POST", "/api/v1/auth/token")
        .with_body(json!({ "jwt": new }).to_string())
        .create();
    // A 401 recovered with a fresh token.
    server
        .mock("GET", Matcher::Regex("^/api/v1/ok".into()))
        .match_header("x-api-key", old.as_str())
        .with_status(401)
        .with_header("www-authenticate", r#"Bearer error="invalid_token""#)
        .with_body(r#"{"detail":"Invalid JWT"}"#)
        .create();
    server
        .mock("GET", Matcher::Regex("^/api/v1/ok".into()))
        .match_header("x-api-key", new.as_str())
        .with_body("{}")
        .create();
    // Retries, then an error whose detail echoes the token back.
    server
        .mock("POST", "/api/v1/flaky")
        .with_status(503)
        .with_header("retry-after", "0")
        .expect(2)
        .create();
    server
        .mock("POST", "/api/v1/flaky")
        .with_status(400)
        .with_body(json!({ "detail": format!("bad request from {new}") }).to_string())
        .create();
    // Always rejected.
    server
        .mock("GET", "/api/v1/denied")
        .with_status(401)
        .with_body(r#"{"detail":"Invalid JWT"}"#)
        .create();
    // Retries that run out.
    server.mock("GET", "/api/v1/down").with_status(502).create();

    let provider = testkit::seeded_provider(&server.url(), KEY, &old);
    let api = AuthenticatedAgent::builder(server.url(), provider.clone())
        .initial_backoff(Duration::from_millis(5))
        .max_attempts(3)
        .build()
        .unwrap();
    // (A query string is the caller's: ureq itself prints it at trace level.)
    api.get("/api/v1/ok?cursor=abc").unwrap();
    errors.push(api.post("/api/v1/flaky", &json!({ "k": KEY })).unwrap_err());
    errors.push(api.get("/api/v1/denied").unwrap_err());
    errors.push(api.get("/api/v1/down").unwrap_err());
    shown.push(format!("{api:?} {provider:?}"));

    // A plain key rejected, and a transport failure.
    let plain = Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
    let api = AuthenticatedAgent::new(server.url(), plain.clone()).unwrap();
    errors.push(api.get("/api/v1/denied").unwrap_err());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let api = AuthenticatedAgent::builder(format!("http://{closed}"), plain.clone())
        .max_attempts(2)
        .build()
        .unwrap();
    errors.push(api.get("/api/v1/x").unwrap_err());
    shown.push(format!("{api:?} {plain:?}"));

    // A 401 whose refresh fails: the exchange echoes the key in its detail.
    let mut failing = Server::new();
    failing
        .mock("POST", "/api/v1/auth/token")
        .with_status(500)
        .with_body(json!({ "detail": format!("cannot exchange {KEY}") }).to_string())
        .create();
    failing
        .mock("GET", Matcher::Any)
        .with_status(401)
        .with_body(r#"{"detail":"Invalid JWT"}"#)
        .create();
    let provider = testkit::seeded_provider(&failing.url(), KEY, &other);
    let api = AuthenticatedAgent::new(failing.url(), provider.clone()).unwrap();
    errors.push(api.get("/api/v1/y").unwrap_err());

    // The middleware reporting a 401.
    server
        .mock("GET", "/api/v1/z")
        .with_status(401)
        .with_body(r#"{"detail":"Invalid JWT"}"#)
        .create();
    let provider = testkit::seeded_provider(&server.url(), KEY, &old);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .middleware(AuthMiddleware::new(provider as Arc<dyn AuthTokenProvider>))
        .build()
        .into();
    if let Err(e) = agent.get(format!("{}/api/v1/z", server.url())).call() {
        shown.push(format!("{e} {e:?}"));
    }

    assert_eq!(errors.len(), 6);
    assert!(matches!(
        errors[0],
        Error::RequestStatus { status: 400, .. }
    ));
    assert!(matches!(errors[1], Error::Authentication { .. }));
    assert!(matches!(errors[2], Error::RetriesExhausted { .. }));
    assert!(matches!(errors[3], Error::Authentication { .. }));
    assert!(matches!(errors[4], Error::RetriesExhausted { .. }));
    assert!(
        matches!(errors[5], Error::Expired { .. }),
        "{:?}",
        errors[5]
    );
    for e in &errors {
        shown.extend(texts(e));
    }
    for text in &shown {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret in: {text}");
        }
    }
    assert!(shown
        .iter()
        .any(|t| t.contains("bad request from <redacted>")));

    let lines = LINES.lock().unwrap();
    // Two sources are left out, on purpose:
    // - the mock server's request log quotes every header it receives; it is
    //   the other side of the wire, not this crate or its HTTP client;
    // - ureq-proto's TRACE-level wire dump (target `ureq_proto`) hex-dumps
    //   every byte sent and received, headers and token responses included,
    //   16 bytes a line. No client can redact that: it must stay off in
    //   production (see docs/USAGE.md, "Authenticated requests").
    let ours: Vec<&String> = lines
        .iter()
        .filter(|(target, _)| !target.starts_with("mockito") && !target.starts_with("ureq_proto"))
        .map(|(_, line)| line)
        .collect();
    // Any 12 consecutive characters of a secret count, so that a secret cut
    // across lines or truncated is caught too.
    let fragments: Vec<&str> = secrets
        .iter()
        .flat_map(|s| (0..=s.len() - 12).map(move |i| &s[i..i + 12]))
        .filter(|f| !"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".contains(f)) // the public JWT header
        .collect();
    for line in &ours {
        for f in &fragments {
            assert!(
                !line.contains(f),
                "a secret's fragment {f:?} in a log line: {line}"
            );
        }
    }
    // The capture saw the lines that matter, so the check above is not vacuous.
    let has = |needle: &str| ours.iter().any(|l| l.contains(needle));
    assert!(has(
        "DEBUG tinker_auth::agent: request POST /api/v1/flaky: attempt 1 answered 503; retrying in"
    ));
    assert!(has("re-sending once with a fresh token"));
    assert!(has("tinker_auth::middleware"));
    assert!(has("WARN tinker_auth::refresh"));
    assert!(
        ours.iter().any(|l| l.contains(" ureq")),
        "ureq's own lines were captured"
    );
}
