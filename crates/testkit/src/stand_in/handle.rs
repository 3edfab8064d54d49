//! [`StandIn`]: starting the server, switching its behaviour, reading its
//! counters, and stopping it on drop.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::http::accept_loop;
use super::server::{lock, Counters, Shared};
use super::types::{Mode, SeenRequest, StandInConfig};

/// A running stand-in server. Dropping it stops the server promptly: the
/// acceptor exits, open connections are shut down and all threads joined.
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl StandIn {
    /// Starts a server with default settings: lifetime 4 s, no skew, key
    /// `tml-test-key`.
    pub fn start() -> StandIn {
        StandIn::start_with(StandInConfig::default())
    }

    /// Starts a server with the given settings.
    ///
    /// # Panics
    /// If no loopback port can be bound or no thread spawned.
    pub fn start_with(cfg: StandInConfig) -> StandIn {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            api_key: cfg.api_key,
            secret: cfg.secret,
            mode: Mutex::new(Mode::Healthy),
            lifetime: Mutex::new(cfg.lifetime),
            skew_secs: AtomicI64::new(cfg.skew_secs),
            date_skew_secs: AtomicI64::new(0),
            fail_every: AtomicU64::new(0),
            reject_tokens: AtomicBool::new(false),
            last_token: Mutex::new(None),
            next_jti: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            seen: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("stand-in-accept".to_owned())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("spawn the acceptor thread")
        };
        StandIn {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The long-lived credential the token endpoint accepts.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// The HS256 signing secret.
    pub fn secret(&self) -> Vec<u8> {
        self.shared.secret.clone()
    }

    /// Switches the behaviour of the token endpoint.
    pub fn set_mode(&self, m: Mode) {
        *lock(&self.shared.mode) = m;
    }

    /// The current behaviour of the token endpoint.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Sets the lifetime of tokens minted from now on (rounded up to whole
    /// seconds).
    pub fn set_lifetime(&self, d: Duration) {
        *lock(&self.shared.lifetime) = d;
    }

    /// Sets the offset of the server's clock from system time.
    pub fn set_skew_secs(&self, s: i64) {
        self.shared.skew_secs.store(s, Ordering::SeqCst);
    }

    /// Shifts the `Date` header (only) from the server's clock, as a proxy or
    /// CDN stamping its own clock would; tokens still follow the server's.
    pub fn set_date_skew_secs(&self, s: i64) {
        self.shared.date_skew_secs.store(s, Ordering::SeqCst);
    }

    /// Makes every `n`th protected request (by [`StandIn::protected_total`])
    /// fail with `503` and `Retry-After: 0`; `0` turns this off.
    pub fn set_protected_fail_every(&self, n: u64) {
        self.shared.fail_every.store(n, Ordering::SeqCst);
    }

    /// Makes the protected endpoints answer `401` to every token, fresh ones
    /// included (access revoked, or the API and the token endpoint
    /// disagreeing on the signing key), while the token endpoint keeps
    /// minting; `false` turns this off.
    pub fn set_reject_tokens(&self, reject: bool) {
        self.shared.reject_tokens.store(reject, Ordering::SeqCst);
    }

    /// The server's clock: Unix seconds plus skew.
    pub fn now_secs(&self) -> i64 {
        self.shared.now_secs()
    }

    /// Mints a token valid by the server's clock for `lifetime` (rounded up
    /// to whole seconds).
    pub fn mint(&self, lifetime: Duration) -> String {
        self.shared.mint(lifetime)
    }

    /// Mints a correctly signed token that expired 30 s ago by the server's
    /// clock.
    pub fn mint_expired(&self) -> String {
        let now = self.shared.now_secs();
        self.shared.mint_at(now - 90, Some(now - 30))
    }

    /// Requests to the token path, whatever the mode or the outcome.
    pub fn exchanges(&self) -> u64 {
        self.shared.counters.exchanges.load(Ordering::SeqCst)
    }

    /// Exchanges answered `200` with a usable JWT (modes `Healthy`, `Slow`,
    /// `SameToken`).
    pub fn exchanges_ok(&self) -> u64 {
        self.shared.counters.exchanges_ok.load(Ordering::SeqCst)
    }

    /// Protected requests answered `200`.
    pub fn protected_ok(&self) -> u64 {
        self.shared.counters.protected_ok.load(Ordering::SeqCst)
    }

    /// Protected requests answered `401 Invalid JWT`.
    pub fn protected_401(&self) -> u64 {
        self.shared.counters.protected_401.load(Ordering::SeqCst)
    }

    /// All protected requests, including those failed with `503`.
    pub fn protected_total(&self) -> u64 {
        self.shared.counters.protected_total.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.counters.connections.load(Ordering::SeqCst)
    }

    /// The most recent requests received (up to [`MAX_SEEN`](super::MAX_SEEN)), oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.seen).clone()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        let c = &self.shared.counters;
        for counter in [
            &c.exchanges,
            &c.exchanges_ok,
            &c.protected_ok,
            &c.protected_401,
            &c.protected_total,
            &c.connections,
        ] {
            counter.store(0, Ordering::SeqCst);
        }
        lock(&c.exchange_times).clear();
    }

    /// When each request to the token endpoint arrived, in order (cleared by
    /// [`StandIn::reset_counters`]).
    pub fn exchange_times(&self) -> Vec<Instant> {
        lock(&self.shared.counters.exchange_times).clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The acceptor polls the stop flag; once it has returned no new
        // connection can be registered.
        let workers = match self.acceptor.take().map(JoinHandle::join) {
            Some(Ok(workers)) => workers,
            _ => Vec::new(),
        };
        // Unblock workers stuck in a read or write; those hanging or sleeping
        // notice the stop flag within `POLL`.
        for conn in lock(&self.shared.conns).values() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        for worker in workers {
            let _ = worker.join();
        }
    }
}
