//! Helpers for the reliability suite: a provider wired to a stand-in, a
//! protected request sent the way a client would, and checks of a served
//! token against the server's clock.
//!
//! Unlike `stand_in.rs`, this file uses the `tinker-auth` crate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tinker_auth::{AuthTokenProvider, Error, JwtAuthProvider, JwtAuthProviderBuilder, Token};

use crate::stand_in::StandIn;

/// Protected path the suite calls (any path other than the token path is protected).
pub const PING_PATH: &str = "/api/v1/ping";

/// A token lifetime for tests that demand that a healthy server's tokens
/// never fail a caller, on a loaded machine too: 8 s.
///
/// The background refresh comes at the age that leaves half the lifetime
/// plus the clock uncertainty (0.5 s plus half the round trip), but never
/// within the one-second pacing gap of the token's arrival, and a token
/// arrives up to a second old (whole-second `iat`) plus the round trip.
/// Under about 4 s the refresh age sits at that gap: a token that arrives
/// late on a loaded machine is already due, counts as unproductive, and two
/// in a row back the pacing off past the held token's life, so callers get
/// `Expired` from a healthy server (3 s tokens did, once in ten suite runs
/// with a core kept busy). An 8 s token is refreshed at an age of about
/// 3.4 s, which leaves it two seconds of lateness to spare.
pub const STEADY_LIFETIME: Duration = Duration::from_secs(8);

/// The most exchanges one provider should make over `elapsed` with tokens of
/// `lifetime` (at least 6 s) from a healthy loopback server.
///
/// Routine refreshes come at the age `lifetime / 2 - U` (U, the clock
/// uncertainty: 0.5 s plus half the round trip) of tokens that arrive up to
/// 1 s plus the round trip old, so they are at least `lifetime / 2 - 2 s`
/// apart for round trips up to a third of a second; two more for the first
/// exchange and the spread draw after it (which may come one pacing gap
/// later). A provider stuck at the one-second pacing floor makes `elapsed`
/// exchanges in seconds, well above this for 8 s tokens.
pub fn exchange_bound(lifetime: Duration, elapsed: Duration) -> u64 {
    let period = (lifetime.as_secs_f64() / 2.0 - 2.0).max(1.0);
    (elapsed.as_secs_f64() / period).ceil() as u64 + 2
}

/// A builder aimed at `s` with its key and short, test-sized timeouts:
/// exchanges give up after 1 s, background retries back off to at most 2 s.
pub fn builder(s: &StandIn) -> JwtAuthProviderBuilder {
    JwtAuthProvider::builder(s.url())
        .api_key(s.api_key())
        .fetch_timeout(Duration::from_secs(1))
        .retry_delay(Duration::from_secs(2))
}

/// An HTTP agent for protected requests: statuses are values, 5 s timeout.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// Sends `GET /api/v1/ping` with `jwt` in `X-API-Key`; returns the status.
pub fn call_protected(agent: &ureq::Agent, s: &StandIn, jwt: &str) -> u16 {
    let mut resp = agent
        .get(format!("{}{PING_PATH}", s.url()))
        .header("X-API-Key", jwt)
        .call()
        .expect("protected request reaches the stand-in");
    let _ = resp.body_mut().read_to_vec();
    resp.status().as_u16()
}

/// Seconds since the epoch, with fractions, on this machine's clock.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// The token's `exp` in seconds since the epoch.
pub fn exp_secs(t: &Token) -> f64 {
    t.expires_at()
        .expect("a JWT has an expiry")
        .duration_since(UNIX_EPOCH)
        .expect("exp after 1970")
        .as_secs_f64()
}

/// Whether the stand-in, whose clock runs `skew` seconds ahead of ours, would
/// reject `t` as expired at this instant (it rejects once its clock reaches `exp`).
pub fn dead_on_server(t: &Token, skew: i64) -> bool {
    unix_now() + skew as f64 >= exp_secs(t)
}

/// One timed `get_token`.
pub struct Call {
    /// What `get_token` returned.
    pub result: Result<Token, Error>,
    /// How long the call took.
    pub took: Duration,
    /// Whether the returned token was already dead on the server when the call returned.
    pub served_dead: bool,
    /// Seconds the token had left on the server's clock when the call returned
    /// (negative when it was dead); zero for errors.
    pub runway: f64,
}

/// Calls `get_token`, timing it and judging the token against the server's clock.
pub fn timed_get(p: &impl AuthTokenProvider, skew: i64) -> Call {
    let start = Instant::now();
    let result = p
        .get_token()
        .map(|t| t.expect("a JWT provider never answers Ok(None)"));
    let took = start.elapsed();
    let runway = result
        .as_ref()
        .map_or(0.0, |t| exp_secs(t) - (unix_now() + skew as f64));
    Call {
        served_dead: result.is_ok() && runway <= 0.0,
        result,
        took,
        runway,
    }
}

/// The number of threads of this process, from `/proc/self/status`.
#[cfg(target_os = "linux")]
pub fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line")
}
