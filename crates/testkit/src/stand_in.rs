//! A stand-in for the Tinker API, for tests and examples.
//!
//! [`StandIn`] is a small threaded HTTP/1.1 server bound to `127.0.0.1` on an
//! ephemeral port, built on `std::net` and `std::thread` only. It mints
//! HS256-signed JWTs on `POST /api/v1/auth/token` and guards every other path
//! with them, judging expiry by its own (optionally skewed) clock. Its
//! [`Mode`] can be switched at run time to make the token endpoint misbehave
//! in the ways a client must survive.
//!
//! Tests, benches and examples use it as `testkit::stand_in`. It depends on
//! neither the `tinker-auth` crate nor the rest of `testkit`.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Path of the token exchange endpoint.
pub const TOKEN_PATH: &str = "/api/v1/auth/token";
/// Path of the protected endpoint that echoes the request body back.
pub const ECHO_PATH: &str = "/api/v1/echo";
/// Path of the protected endpoint listing [`SUPPORTED_MODELS`], as the
/// real service's `GET /api/v1/get_server_capabilities` does.
pub const CAPABILITIES_PATH: &str = "/api/v1/get_server_capabilities";
/// Models the stand-in's `get_server_capabilities` lists.
pub const SUPPORTED_MODELS: [&str; 2] = ["stand-in/llama-mini", "stand-in/qwen-tiny"];
/// Requests whose head [`StandIn::requests`] keeps (the most recent).
pub const MAX_SEEN: usize = 1024;

/// A request the stand-in received: method, path and headers (names
/// lower-cased), for tests that check what a client sent.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The target without its query string.
    pub path: String,
    /// Name (lower-case) and value of every header, in order.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// First value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
/// Long-lived credential accepted by default.
pub const DEFAULT_API_KEY: &str = "tml-test-key";
/// HMAC secret used by default to sign JWTs.
pub const DEFAULT_SECRET: &[u8] = b"stand-in-secret";
/// Default JWT lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(4);
/// `sub` claim of every minted JWT.
pub const SUBJECT: &str = "stand-in-user";
/// Size of the body sent in [`Mode::Oversized`].
pub const OVERSIZED_BODY_LEN: usize = 4 * 1024 * 1024;
/// Largest accepted request head (request line plus headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How often blocked server threads look at the stop flag and the mode.
const POLL: Duration = Duration::from_millis(20);
/// How often the acceptor polls its non-blocking listener.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

type HmacSha256 = Hmac<Sha256>;

/// How the token endpoint behaves. Protected endpoints are not affected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// `200 {"jwt": ...}` with a freshly minted token.
    #[default]
    Healthy,
    /// `500 {"detail":"internal error"}`.
    Status500,
    /// `503 {"detail":"service unavailable"}` with `Retry-After`.
    Status503 {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Read the request, then say nothing until the mode changes (the
    /// request is then answered per the new mode) or the server is dropped.
    Hang,
    /// Answer like [`Mode::Healthy`] after the delay (cut short by drop).
    Slow(Duration),
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200 {"token":"x"}`: JSON, but no `jwt` field.
    MissingJwt,
    /// `200` with a correctly signed JWT that has no `exp` claim.
    NoExp,
    /// `200` with the token of the last healthy exchange (minted once if
    /// there was none), over and over.
    SameToken,
    /// `401 {"detail":"API key revoked"}`, even for the right key.
    Rejected,
    /// Close the connection without answering.
    Reset,
    /// `200` with a 4 MiB body: `{"jwt":"<valid token>","pad":"xxx..."}`.
    Oversized,
    /// `200` with a correctly signed JWT whose `iat`/`exp` follow the shape.
    Claims(ClaimShape),
}

/// Claims minted in [`Mode::Claims`], relative to the server's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimShape {
    /// `exp = now + secs`, no `iat`.
    NoIat(i64),
    /// `exp = now + secs`, `iat = exp + 100`: issued after it expires.
    IatAfterExp(i64),
    /// `exp = now + secs`, `iat` a day old.
    OldIat(i64),
    /// `exp` 30 s in the past, `iat` 90 s ago.
    ExpPast,
    /// `exp = now + secs`, `iat = now` (a lifetime of `secs`).
    Lifetime(i64),
    /// `exp` in the year 30000, `iat = now`.
    Year30000,
    /// Fractional `iat = now + 0.25` and `exp = now + secs + 0.75`.
    Float(i64),
}

/// Start-up settings for [`StandIn::start_with`].
#[derive(Clone, Debug)]
pub struct StandInConfig {
    /// Lifetime of minted JWTs, rounded up to whole seconds.
    pub lifetime: Duration,
    /// Offset of the server's clock from system time, in seconds.
    pub skew_secs: i64,
    /// Long-lived credential the token endpoint accepts in `X-API-Key`.
    pub api_key: String,
    /// HS256 signing secret.
    pub secret: Vec<u8>,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            lifetime: DEFAULT_LIFETIME,
            skew_secs: 0,
            api_key: DEFAULT_API_KEY.to_owned(),
            secret: DEFAULT_SECRET.to_vec(),
        }
    }
}

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

    /// The most recent requests received (up to [`MAX_SEEN`]), oldest first.
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

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity((data.len() * 4).div_ceil(3));
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Decodes unpadded (or padded) base64url; `None` if malformed.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Signs `claims` as an HS256 JWT with header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let header = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64url_encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = b64url_encode(&mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Returns the claims of `jwt` if it is a well-formed HS256 JWT whose
/// signature verifies with `secret`. Expiry is not checked.
pub fn verify_hs256(jwt: &str, secret: &[u8]) -> Option<Value> {
    let (signing_input, signature) = jwt.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
    if header.get("alg")? != "HS256" {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&b64url_decode(signature)?).ok()?;
    let claims: Value = serde_json::from_slice(&b64url_decode(payload)?).ok()?;
    claims.is_object().then_some(claims)
}

/// Returns the claims of `jwt` without verifying anything.
pub fn decode_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&b64url_decode(payload)?).ok()
}

/// Formats Unix seconds as an IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_secs: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Rounds a lifetime up to whole seconds.
fn whole_secs(d: Duration) -> i64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Locks a mutex, ignoring poisoning: the guarded data stay consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by the handle and the server threads.
struct Shared {
    api_key: String,
    secret: Vec<u8>,
    mode: Mutex<Mode>,
    lifetime: Mutex<Duration>,
    skew_secs: AtomicI64,
    /// Offset of the `Date` header from the server's clock (a proxy's own clock).
    date_skew_secs: AtomicI64,
    fail_every: AtomicU64,
    /// Every token is rejected on the protected endpoints (see
    /// [`StandIn::set_reject_tokens`]).
    reject_tokens: AtomicBool,
    /// Token of the last healthy exchange, for [`Mode::SameToken`].
    last_token: Mutex<Option<String>>,
    next_jti: AtomicU64,
    stop: AtomicBool,
    /// Clones of open connections, so that drop can shut them down.
    conns: Mutex<HashMap<u64, TcpStream>>,
    counters: Counters,
    /// Heads of the most recent requests.
    seen: Mutex<Vec<SeenRequest>>,
}

#[derive(Default)]
struct Counters {
    /// When each request to the token endpoint arrived (for fleet figures).
    exchange_times: Mutex<Vec<Instant>>,
    exchanges: AtomicU64,
    exchanges_ok: AtomicU64,
    protected_ok: AtomicU64,
    protected_401: AtomicU64,
    protected_total: AtomicU64,
    connections: AtomicU64,
}

/// What a connection does with a request.
enum Action {
    Respond(Response),
    Close,
}

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn detail(status: u16, detail: &str) -> Response {
        Response::json(status, &json!({ "detail": detail }))
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn mode(&self) -> Mode {
        lock(&self.mode).clone()
    }

    fn now_secs(&self) -> i64 {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        unix.saturating_add(self.skew_secs.load(Ordering::SeqCst))
    }

    /// Sleeps for `d` in small steps; `false` if the server stopped meanwhile.
    fn pause(&self, d: Duration) -> bool {
        let mut left = d;
        while !left.is_zero() {
            if self.stopped() {
                return false;
            }
            let step = left.min(POLL);
            thread::sleep(step);
            left -= step;
        }
        !self.stopped()
    }

    fn mint(&self, lifetime: Duration) -> String {
        let now = self.now_secs();
        self.mint_at(now, Some(now.saturating_add(whole_secs(lifetime))))
    }

    fn mint_at(&self, iat: i64, exp: Option<i64>) -> String {
        let jti = self.next_jti.fetch_add(1, Ordering::SeqCst);
        let mut claims = json!({ "sub": SUBJECT, "iat": iat, "jti": jti.to_string() });
        if let Some(exp) = exp {
            claims["exp"] = json!(exp);
        }
        sign_hs256(&claims, &self.secret)
    }

    fn mint_shape(&self, shape: ClaimShape) -> String {
        let now = self.now_secs();
        let jti = self.next_jti.fetch_add(1, Ordering::SeqCst).to_string();
        let claims = match shape {
            ClaimShape::NoIat(s) => json!({ "sub": SUBJECT, "exp": now + s, "jti": jti }),
            ClaimShape::IatAfterExp(s) => {
                json!({ "sub": SUBJECT, "iat": now + s + 100, "exp": now + s, "jti": jti })
            }
            ClaimShape::OldIat(s) => {
                json!({ "sub": SUBJECT, "iat": now - 86_400, "exp": now + s, "jti": jti })
            }
            ClaimShape::ExpPast => {
                json!({ "sub": SUBJECT, "iat": now - 90, "exp": now - 30, "jti": jti })
            }
            ClaimShape::Lifetime(s) => {
                json!({ "sub": SUBJECT, "iat": now, "exp": now + s, "jti": jti })
            }
            ClaimShape::Year30000 => {
                json!({ "sub": SUBJECT, "iat": now, "exp": 884_541_340_800_i64, "jti": jti })
            }
            ClaimShape::Float(s) => json!({
                "sub": SUBJECT,
                "iat": now as f64 + 0.25,
                "exp": (now + s) as f64 + 0.75,
                "jti": jti,
            }),
        };
        sign_hs256(&claims, &self.secret)
    }

    /// Mints a token with the current lifetime and remembers it.
    fn mint_current(&self) -> String {
        let lifetime = *lock(&self.lifetime);
        let token = self.mint(lifetime);
        *lock(&self.last_token) = Some(token.clone());
        token
    }

    fn jwt_ok(&self, token: String) -> Response {
        self.counters.exchanges_ok.fetch_add(1, Ordering::SeqCst);
        Response::json(200, &json!({ "jwt": token }))
    }

    fn handle(&self, req: &Request) -> Action {
        {
            let mut seen = lock(&self.seen);
            if seen.len() >= MAX_SEEN {
                seen.remove(0);
            }
            seen.push(SeenRequest {
                method: req.method.clone(),
                path: req.path().to_owned(),
                headers: req.headers.clone(),
            });
        }
        if req.path() == TOKEN_PATH {
            self.token_exchange(req)
        } else {
            Action::Respond(self.protected(req))
        }
    }

    fn token_exchange(&self, req: &Request) -> Action {
        self.counters.exchanges.fetch_add(1, Ordering::SeqCst);
        lock(&self.counters.exchange_times).push(Instant::now());
        if req.method != "POST" {
            let resp = Response::detail(405, "Method Not Allowed").header("Allow", "POST");
            return Action::Respond(resp);
        }
        if req.header("x-api-key") != Some(self.api_key.as_str()) {
            return Action::Respond(Response::detail(401, "Invalid API key"));
        }
        let resp = loop {
            break match self.mode() {
                Mode::Healthy => self.jwt_ok(self.mint_current()),
                Mode::Status500 => Response::detail(500, "internal error"),
                Mode::Status503 { retry_after_secs } => {
                    Response::detail(503, "service unavailable")
                        .header("Retry-After", retry_after_secs.to_string())
                }
                Mode::Hang => {
                    if !self.pause(POLL) {
                        return Action::Close;
                    }
                    continue;
                }
                Mode::Slow(delay) => {
                    if !self.pause(delay) {
                        return Action::Close;
                    }
                    self.jwt_ok(self.mint_current())
                }
                Mode::Garbage => Response {
                    status: 200,
                    headers: Vec::new(),
                    body: b"<html>definitely not json</html>".to_vec(),
                },
                Mode::MissingJwt => Response::json(200, &json!({ "token": "x" })),
                Mode::NoExp => {
                    let token = self.mint_at(self.now_secs(), None);
                    Response::json(200, &json!({ "jwt": token }))
                }
                Mode::SameToken => {
                    let token = lock(&self.last_token)
                        .get_or_insert_with(|| self.mint(*lock(&self.lifetime)))
                        .clone();
                    self.jwt_ok(token)
                }
                Mode::Rejected => Response::detail(401, "API key revoked"),
                Mode::Reset => return Action::Close,
                Mode::Claims(shape) => {
                    let token = self.mint_shape(shape);
                    self.jwt_ok(token)
                }
                Mode::Oversized => {
                    let token = self.mint(*lock(&self.lifetime));
                    let mut body = format!(r#"{{"jwt":"{token}","pad":""#).into_bytes();
                    body.resize(OVERSIZED_BODY_LEN - 2, b'x');
                    body.extend_from_slice(b"\"}");
                    Response {
                        status: 200,
                        headers: Vec::new(),
                        body,
                    }
                }
            };
        };
        Action::Respond(resp)
    }

    fn protected(&self, req: &Request) -> Response {
        let n = self.counters.protected_total.fetch_add(1, Ordering::SeqCst) + 1;
        let every = self.fail_every.load(Ordering::SeqCst);
        if every > 0 && n.is_multiple_of(every) {
            return Response::detail(503, "service unavailable").header("Retry-After", "0");
        }
        let rejecting = self.reject_tokens.load(Ordering::SeqCst);
        let claims = req
            .header("x-api-key")
            .filter(|_| !rejecting)
            .and_then(|jwt| verify_hs256(jwt, &self.secret))
            .filter(|claims| match claims.get("exp") {
                // A JWT without `exp` does not expire (RFC 7519).
                None => true,
                Some(exp) => exp.as_i64().is_some_and(|exp| self.now_secs() < exp),
            });
        let Some(claims) = claims else {
            self.counters.protected_401.fetch_add(1, Ordering::SeqCst);
            return Response::detail(401, "Invalid JWT")
                .header("WWW-Authenticate", r#"Bearer error="invalid_token""#);
        };
        self.counters.protected_ok.fetch_add(1, Ordering::SeqCst);
        if req.path() == ECHO_PATH {
            return Response {
                status: 200,
                headers: Vec::new(),
                body: req.body.clone(),
            };
        }
        if req.path() == CAPABILITIES_PATH {
            let models: Vec<Value> = SUPPORTED_MODELS
                .iter()
                .map(|m| json!({ "model_name": m }))
                .collect();
            return Response::json(200, &json!({ "supported_models": models }));
        }
        let sub = claims.get("sub").cloned().unwrap_or(Value::Null);
        Response::json(200, &json!({ "ok": true, "sub": sub, "path": req.path() }))
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    while !shared.stopped() {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                // `WouldBlock` when idle; anything else is transient here.
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        workers.retain(|w| !w.is_finished());
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        next_id += 1;
        let id = next_id;
        lock(&shared.conns).insert(id, clone);
        let worker = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("stand-in-conn-{id}"))
                .spawn(move || {
                    serve_connection(&shared, stream);
                    lock(&shared.conns).remove(&id);
                })
        };
        match worker {
            Ok(worker) => workers.push(worker),
            Err(_) => drop(lock(&shared.conns).remove(&id)),
        }
    }
    workers
}

/// Serves requests on one connection until the client closes it, asks to
/// close it, or the server stops.
fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stopped() {
        let req = match read_request(&mut reader) {
            Ok(Some(req)) => req,
            Ok(None) | Err(RequestError::Io) => return,
            Err(RequestError::Reject(status, detail)) => {
                let resp = Response::detail(status, detail);
                let _ = write_response(&mut writer, shared, &resp, true);
                return;
            }
        };
        match shared.handle(&req) {
            Action::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Action::Respond(resp) => {
                let close = req.wants_close();
                if write_response(&mut writer, shared, &resp, close).is_err() || close {
                    return;
                }
            }
        }
    }
}

fn write_response(
    w: &mut TcpStream,
    shared: &Shared,
    resp: &Response,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        resp.status,
        reason(resp.status),
        http_date(
            shared
                .now_secs()
                .saturating_add(shared.date_skew_secs.load(Ordering::SeqCst))
        ),
        resp.body.len(),
    );
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A parsed HTTP/1.x request.
struct Request {
    method: String,
    target: String,
    version: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// First value of a header; `name` must be lower-case.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        let has = |token: &str| {
            self.header("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if self.version == "HTTP/1.0" {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

enum RequestError {
    /// The connection failed or closed mid-request: drop it silently.
    Io,
    /// Answer with this status and detail, then close.
    Reject(u16, &'static str),
}

impl From<io::Error> for RequestError {
    fn from(_: io::Error) -> Self {
        RequestError::Io
    }
}

/// Reads one request; `Ok(None)` if the client closed the connection
/// cleanly before sending one.
fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, RequestError> {
    const BAD: RequestError = RequestError::Reject(400, "Bad Request");
    let mut budget = MAX_HEAD_BYTES;
    let mut line = String::new();
    // Tolerate empty lines before the request line (RFC 9112, 2.2).
    loop {
        match read_line(r, &mut budget, &mut line)? {
            None => return Ok(None),
            Some(()) if line.is_empty() => continue,
            Some(()) => break,
        }
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Err(BAD);
    }
    let (method, target, version) = (method.to_owned(), target.to_owned(), version.to_owned());
    let mut headers = Vec::new();
    loop {
        read_line(r, &mut budget, &mut line)?.ok_or(RequestError::Io)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(BAD)?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut req = Request {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(RequestError::Reject(501, "Transfer-Encoding not supported"));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| BAD)?,
    };
    if len > MAX_BODY_BYTES {
        return Err(RequestError::Reject(413, "Content Too Large"));
    }
    req.body.resize(len, 0);
    r.read_exact(&mut req.body)?;
    Ok(Some(req))
}

/// Reads one CRLF- (or LF-) terminated line into `line`, without the line
/// ending, charging its length to `budget`. `None` on a clean EOF.
fn read_line(
    r: &mut impl BufRead,
    budget: &mut usize,
    line: &mut String,
) -> Result<Option<()>, RequestError> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(RequestError::Reject(431, "Request Header Fields Too Large"));
    }
    *budget -= n;
    if buf.pop() != Some(b'\n') {
        return Err(RequestError::Io);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    *line = String::from_utf8(buf).map_err(|_| RequestError::Reject(400, "Bad Request"))?;
    Ok(Some(()))
}
