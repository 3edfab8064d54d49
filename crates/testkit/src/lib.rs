//! Test support for `tinker-auth`, shared by its integration tests, benches,
//! examples and the member crates' tests (never by the library's own unit
//! tests: this crate depends on `tinker-auth`).
//!
//! - [`stand_in`]: a loopback HTTP/1.1 stand-in of the Tinker API;
//! - [`tls`] and [`connect_proxy`]: an HTTPS front and a CONNECT proxy on loopback;
//! - [`probe`] and [`stack`]: providers wired to a stand-in, thread and stack probes;
//! - [`host`]: one host's processes sharing a cache directory (Unix);
//! - [`measure`]: the bench measurements behind docs/PERFORMANCE.md;
//! - at the top: JWT minting, a mockito token endpoint that counts its hits, a
//!   gate to hold a response, clocks.
#![warn(missing_docs)]

pub mod connect_proxy;
mod conns;
#[cfg(unix)]
pub mod host;
pub mod measure;
mod pki;
pub mod probe;
pub mod stack;
pub mod stand_in;
pub mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use serde_json::json;
use tinker_auth::{Clock, JwtAuthProvider, JwtAuthProviderBuilder};

/// The API key every mock token endpoint expects.
pub const KEY: &str = "tml-integration-test-key-7f3a";
/// The token exchange path the mock endpoints serve.
pub const TOKEN_PATH: &str = "/api/v1/auth/token";

/// Seconds since the Unix epoch by the system clock.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A JWT with the given claims (unsigned: the provider never verifies).
pub fn jwt_with(claims: serde_json::Value) -> String {
    let header = stand_in::b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = stand_in::b64url_encode(claims.to_string().as_bytes());
    format!("{header}.{payload}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
}

/// A JWT issued `lifetime - runway` seconds ago that expires in `runway`
/// seconds (negative: already expired), by the local clock shifted by `skew`.
pub fn jwt_expiring_in(runway: f64, lifetime: f64) -> String {
    jwt_at(now_secs(), runway, lifetime)
}

/// Like [`jwt_expiring_in`] but relative to the given server time.
pub fn jwt_at(server_now: f64, runway: f64, lifetime: f64) -> String {
    let exp = (server_now + runway).round() as i64;
    let iat = exp - lifetime.round() as i64;
    static JTI: AtomicUsize = AtomicUsize::new(0);
    jwt_with(
        json!({"sub": "test", "iat": iat, "exp": exp, "jti": JTI.fetch_add(1, Ordering::Relaxed)}),
    )
}

/// The token endpoint's JSON body carrying `jwt`.
pub fn body_for(jwt: &str) -> Vec<u8> {
    json!({ "jwt": jwt }).to_string().into_bytes()
}

/// Holds responses until released, and tells when one is being held.
#[derive(Clone)]
pub struct Gate {
    entered_tx: Sender<()>,
    entered_rx: Receiver<()>,
    release_tx: Sender<()>,
    release_rx: Receiver<()>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        let (entered_tx, entered_rx) = crossbeam_channel::unbounded();
        let (release_tx, release_rx) = crossbeam_channel::unbounded();
        Gate {
            entered_tx,
            entered_rx,
            release_tx,
            release_rx,
        }
    }

    /// Called by the server: signals arrival, then blocks until released
    /// (at most 10 s, so a failing test cannot hang the suite).
    pub fn pass(&self) {
        let _ = self.entered_tx.send(());
        let _ = self.release_rx.recv_timeout(Duration::from_secs(10));
    }

    /// Waits until a request is held at the gate.
    pub fn wait_entered(&self) {
        self.entered_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no request reached the gate");
    }

    /// Lets `n` held (or future) requests through.
    pub fn release(&self, n: usize) {
        for _ in 0..n {
            let _ = self.release_tx.send(());
        }
    }
}

type Responder = dyn Fn(usize) -> (usize, Vec<u8>) + Send + Sync;

/// A mockito token endpoint whose answers come from a closure of the hit
/// number, counting hits.
pub struct TokenServer {
    /// The mockito server behind the endpoint (add mocks of other paths to it).
    pub server: mockito::ServerGuard,
    hits: Arc<AtomicUsize>,
    responder: Arc<Mutex<Arc<Responder>>>,
    gate: Arc<Mutex<Option<Gate>>>,
    _mock: mockito::Mock,
}

impl TokenServer {
    /// Answers every exchange with a fresh token of the given lifetime.
    pub fn fresh(lifetime: f64) -> Self {
        Self::new(move |_| (200, body_for(&jwt_expiring_in(lifetime, lifetime))))
    }

    /// Answers with `respond(hit_number)` -> (status, body).
    pub fn new(respond: impl Fn(usize) -> (usize, Vec<u8>) + Send + Sync + 'static) -> Self {
        let mut server = mockito::Server::new();
        let hits = Arc::new(AtomicUsize::new(0));
        let responder: Arc<Mutex<Arc<Responder>>> = Arc::new(Mutex::new(Arc::new(respond)));
        let gate: Arc<Mutex<Option<Gate>>> = Arc::new(Mutex::new(None));
        // One closure decides status and body; mockito asks for them
        // separately, so the status closure counts and caches the answer.
        let last: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
        let (h, r, g, l) = (hits.clone(), responder.clone(), gate.clone(), last.clone());
        let body = last;
        let mock = server
            .mock("POST", TOKEN_PATH)
            .match_header("x-api-key", KEY)
            .match_body("{}")
            .with_status_code_from_request(move |_| {
                let n = h.fetch_add(1, Ordering::SeqCst) + 1;
                let gate = g.lock().unwrap().clone();
                if let Some(gate) = gate {
                    gate.pass();
                }
                let respond = r.lock().unwrap().clone();
                let (status, body) = respond(n);
                *l.lock().unwrap() = body;
                status
            })
            .with_body_from_request(move |_| body.lock().unwrap().clone())
            .with_header("content-type", "application/json")
            .expect_at_least(0)
            .create();
        TokenServer {
            server,
            hits,
            responder,
            gate,
            _mock: mock,
        }
    }

    /// The server's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Exchanges answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Replaces how the endpoint answers from now on.
    pub fn respond(&self, respond: impl Fn(usize) -> (usize, Vec<u8>) + Send + Sync + 'static) {
        *self.responder.lock().unwrap() = Arc::new(respond);
    }

    /// Holds every response at `gate` until released.
    pub fn hold(&self, gate: &Gate) {
        *self.gate.lock().unwrap() = Some(gate.clone());
    }

    /// A builder pointed at this server with the test key, background off.
    pub fn builder(&self) -> JwtAuthProviderBuilder {
        JwtAuthProvider::builder(self.url())
            .api_key(KEY)
            .background_refresh(false)
            .fetch_timeout(Duration::from_secs(5))
    }
}

/// A provider at `base_url` with `key`, holding `seed`, refreshing only on
/// demand (no background thread to race the test).
pub fn seeded_provider(base_url: &str, key: &str, seed: &str) -> Arc<JwtAuthProvider> {
    Arc::new(
        JwtAuthProvider::builder(base_url)
            .api_key(key)
            .seed_token(seed)
            .background_refresh(false)
            .build()
            .unwrap(),
    )
}

/// The system clock shifted by a fixed number of seconds (the local machine
/// running ahead of the server when positive).
#[derive(Debug)]
pub struct SkewedClock(pub f64);

impl Clock for SkewedClock {
    fn now(&self) -> SystemTime {
        let d = Duration::from_secs_f64(self.0.abs());
        if self.0 >= 0.0 {
            SystemTime::now() + d
        } else {
            SystemTime::now() - d
        }
    }
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Seconds until `jwt` expires by the system clock (negative when expired).
pub fn runway_of(jwt: &str) -> f64 {
    let exp = tinker_auth::jwt_expiry(jwt).unwrap();
    match exp.duration_since(SystemTime::now()) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Starts `n` threads, released together by a barrier, each running `f` on
/// the shared value.
pub fn together<S, T>(
    n: usize,
    shared: &Arc<S>,
    f: impl Fn(&S) -> T + Send + Sync + 'static,
) -> Vec<JoinHandle<T>>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    (0..n)
        .map(|_| {
            let (s, b, f) = (shared.clone(), barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(&s)
            })
        })
        .collect()
}

/// A clock's wall time as Unix seconds (a `ManualClock`'s, in the tests that
/// move one).
pub fn unix_secs(clock: &impl tinker_auth::Clock) -> f64 {
    clock
        .now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
