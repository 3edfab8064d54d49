//! Retries of an `AuthenticatedAgent`: which failures, how long it waits,
//! and what bounds it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mockito::{Mock, Server};
use serde_json::json;
use testkit::stand_in::http_date;
use tinker_auth::{ApiKeyAuthProvider, AuthenticatedAgent, AuthenticatedAgentBuilder, Error};

const KEY: &str = "tml-agent-retry-key";
const PATH: &str = "/api/v1/work";

fn builder(url: String) -> AuthenticatedAgentBuilder {
    let provider = Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
    AuthenticatedAgent::builder(url, provider)
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(50))
}

fn status_mock(server: &mut Server, method: &str, status: usize, hits: usize) -> Mock {
    server
        .mock(method, PATH)
        .match_header("x-api-key", KEY)
        .with_status(status)
        .with_body(json!({ "detail": format!("status {status}") }).to_string())
        .expect(hits)
        .create()
}

fn ok_mock(server: &mut Server, method: &str) -> Mock {
    server
        .mock(method, PATH)
        .match_header("x-api-key", KEY)
        .with_status(200)
        .with_body(r#"{"done":true}"#)
        .expect(1)
        .create()
}

#[test]
fn succeeds_on_the_third_attempt_after_two_503s() {
    let mut server = Server::new();
    let unavailable = status_mock(&mut server, "GET", 503, 2);
    let ok = ok_mock(&mut server, "GET");
    let api = builder(server.url()).build().unwrap();

    assert_eq!(api.get(PATH).unwrap(), json!({ "done": true }));
    unavailable.assert();
    ok.assert();
    let stats = api.stats();
    assert_eq!((stats.attempts, stats.retries, stats.failed), (3, 2, 0));
}

#[test]
fn retries_408_409_429_and_5xx() {
    for status in [408, 409, 429, 500, 502, 504] {
        let mut server = Server::new();
        let failing = status_mock(&mut server, "GET", status, 1);
        let ok = ok_mock(&mut server, "GET");
        let api = builder(server.url()).build().unwrap();
        assert_eq!(api.get(PATH).unwrap(), json!({ "done": true }), "{status}");
        failing.assert();
        ok.assert();
    }
}

#[test]
fn other_4xx_fail_at_once_with_status_and_detail() {
    for status in [400, 403, 404, 422] {
        let mut server = Server::new();
        let failing = status_mock(&mut server, "POST", status, 1);
        let api = builder(server.url()).build().unwrap();
        let err = api.post(PATH, &json!({ "x": 1 })).unwrap_err();
        match &err {
            Error::RequestStatus {
                endpoint,
                status: s,
                detail,
            } => {
                assert_eq!(endpoint, "POST /api/v1/work");
                assert_eq!(*s, status as u16);
                assert_eq!(detail.as_deref(), Some(format!("status {status}").as_str()));
            }
            other => panic!("{status}: expected a status error, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("request POST /api/v1/work: server answered {status}: status {status}")
        );
        failing.assert();
        assert_eq!(api.stats().attempts, 1);
    }
}

#[test]
fn retry_after_in_seconds_is_waited() {
    let mut server = Server::new();
    let unavailable = server
        .mock("GET", PATH)
        .with_status(503)
        .with_header("retry-after", "1")
        .expect(1)
        .create();
    let ok = ok_mock(&mut server, "GET");
    let api = builder(server.url()).build().unwrap();

    let started = Instant::now();
    api.get(PATH).unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(990), "{waited:?}");
    unavailable.assert();
    ok.assert();
}

#[test]
fn retry_after_as_an_http_date_is_waited() {
    let mut server = Server::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Two whole seconds past the current one: between 1 and 2 s from now.
    let unavailable = server
        .mock("GET", PATH)
        .with_status(503)
        .with_header("retry-after", &http_date(now + 2))
        .expect(1)
        .create();
    let ok = ok_mock(&mut server, "GET");
    let api = builder(server.url()).build().unwrap();

    let started = Instant::now();
    api.get(PATH).unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    unavailable.assert();
    ok.assert();
}

#[test]
fn max_attempts_bounds_the_retries() {
    let mut server = Server::new();
    let unavailable = status_mock(&mut server, "GET", 503, 3);
    let api = builder(server.url()).max_attempts(3).build().unwrap();

    let err = api.get(PATH).unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, Error::RequestStatus { status: 503, .. }),
                "{last:?}"
            );
        }
        other => panic!("expected exhausted retries, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(
        err.to_string().starts_with("gave up after 3 attempts in "),
        "{err}"
    );
    unavailable.assert();
}

#[test]
fn the_deadline_bounds_backoff_and_retries() {
    let mut server = Server::new();
    let unavailable = server
        .mock("GET", PATH)
        .with_status(503)
        .expect_at_least(2)
        .create();
    let deadline = Duration::from_secs(1);
    let api = builder(server.url())
        .max_attempts(10_000)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(200))
        .deadline(deadline)
        .build()
        .unwrap();

    let started = Instant::now();
    let err = api.get(PATH).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    // Generous slack for a loaded machine; without the deadline this would
    // run for 10 000 attempts.
    assert!(took < deadline + Duration::from_secs(3), "{took:?}");
    unavailable.assert();
}

#[test]
fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let mut server = Server::new();
    let unavailable = server
        .mock("GET", PATH)
        .with_status(429)
        .with_header("retry-after", "30")
        .expect(1)
        .create();
    let api = builder(server.url())
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();

    let started = Instant::now();
    let err = api.get(PATH).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        Error::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(attempts, 1);
            assert!(matches!(*last, Error::RequestStatus { status: 429, .. }));
        }
        other => panic!("expected exhausted retries, got {other:?}"),
    }
    unavailable.assert();
}

#[test]
fn retry_after_is_capped() {
    let mut server = Server::new();
    let unavailable = server
        .mock("GET", PATH)
        .with_status(503)
        .with_header("retry-after", "3600")
        .expect(1)
        .create();
    let ok = ok_mock(&mut server, "GET");
    let api = builder(server.url())
        .max_retry_after(Duration::from_millis(100))
        .build()
        .unwrap();

    api.get(PATH).unwrap();
    unavailable.assert();
    ok.assert();
}

#[test]
fn bodies_are_identical_across_attempts() {
    let mut server = Server::new();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let record = |status: usize, hits: usize, server: &mut Server| {
        let seen = Arc::clone(&seen);
        server
            .mock("POST", PATH)
            .match_header("content-type", "application/json")
            .with_status(status)
            .with_body_from_request(move |req| {
                let body = req.body().unwrap().clone();
                seen.lock().unwrap().push(body.clone());
                body
            })
            .expect(hits)
            .create()
    };
    let unavailable = record(503, 2, &mut server);
    let ok = record(200, 1, &mut server);
    let api = builder(server.url()).build().unwrap();

    let body = json!({ "model": "m", "tokens": [1, 2, 3], "text": "héllo" });
    let echoed = api.post(PATH, &body).unwrap();

    assert_eq!(echoed, body);
    unavailable.assert();
    ok.assert();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], serde_json::to_vec(&body).unwrap());
    assert!(seen.iter().all(|b| *b == seen[0]));
}

#[test]
fn transport_errors_are_retried_then_reported() {
    // A port with nothing listening: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = builder(format!("http://127.0.0.1:{port}"))
        .max_attempts(3)
        .build()
        .unwrap();

    let err = api.get(PATH).unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert!(matches!(**last, Error::RequestTransport { .. }), "{last:?}");
            assert!(
                last.to_string().starts_with("request GET /api/v1/work: "),
                "{last}"
            );
        }
        other => panic!("expected exhausted retries, got {other:?}"),
    }
    assert_eq!(api.stats().retries, 2);
}

/// Accepts connections and never answers, until dropped.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                if let Ok((conn, _)) = listener.accept() {
                    held.push(conn);
                }
                thread::sleep(Duration::from_millis(5));
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_deadline_cuts_off_an_attempt_in_flight() {
    let silent = Silent::start();
    let deadline = Duration::from_millis(800);
    let api = builder(format!("http://127.0.0.1:{}", silent.port))
        .deadline(deadline)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let started = Instant::now();
    let err = api.get(PATH).unwrap_err();
    let took = started.elapsed();
    match &err {
        Error::RetriesExhausted { last, .. } => {
            assert!(matches!(**last, Error::RequestTimeout { .. }), "{last:?}");
        }
        other => panic!("expected exhausted retries, got {other:?}"),
    }
    assert!(took < deadline + Duration::from_secs(3), "{took:?}");
}

#[test]
fn each_attempt_has_its_own_timeout() {
    let silent = Silent::start();
    let api = builder(format!("http://127.0.0.1:{}", silent.port))
        .timeout(Duration::from_millis(200))
        .max_attempts(3)
        .deadline(Duration::from_secs(20))
        .build()
        .unwrap();

    let err = api.get(PATH).unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert!(
                matches!(**last, Error::RequestTimeout { after, .. } if after == Duration::from_millis(200)),
                "{last:?}"
            );
        }
        other => panic!("expected exhausted retries, got {other:?}"),
    }
}
