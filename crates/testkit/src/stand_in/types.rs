//! The stand-in's public vocabulary: paths, defaults, limits, the token
//! endpoint's [`Mode`]s, start-up settings and what a request looked like.

use std::time::Duration;

/// Path of the token exchange endpoint.
pub const TOKEN_PATH: &str = "/api/v1/auth/token";
/// Path of the protected endpoint that echoes the request body back.
pub const ECHO_PATH: &str = "/api/v1/echo";
/// Path of the protected endpoint listing [`SUPPORTED_MODELS`], as the
/// real service's `GET /api/v1/get_server_capabilities` does.
pub const CAPABILITIES_PATH: &str = "/api/v1/get_server_capabilities";
/// Models the stand-in's `get_server_capabilities` lists.
pub const SUPPORTED_MODELS: [&str; 2] = ["stand-in/llama-mini", "stand-in/qwen-tiny"];
/// Requests whose head [`StandIn::requests`](super::StandIn::requests) keeps (the most recent).
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
pub(super) const POLL: Duration = Duration::from_millis(20);
/// How often the acceptor polls its non-blocking listener.
pub(super) const ACCEPT_POLL: Duration = Duration::from_millis(5);

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

/// Start-up settings for [`StandIn::start_with`](super::StandIn::start_with).
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
