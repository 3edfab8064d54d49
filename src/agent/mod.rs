//! [`AuthenticatedAgent`]: blocking JSON requests that carry a fresh token on
//! every attempt, retry transient failures with backoff, and recover once
//! from a rejected token.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use ureq::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use ureq::http::{self, HeaderName, HeaderValue, Method, Response};
use ureq::{AsSendBody, Body};

use self::retry::{may_retry, parse_retry_after, retry_delay, RetryPolicy};
use crate::clock::clamp_timeout;
use crate::credential::AuthTokenProvider;
use crate::error::{transport_kind, Error};
use crate::jitter;
use crate::provider::detail_of;
use crate::provider::{bypasses_proxy, token_url};
use crate::redact::redact_url;
use crate::token::Token;

mod retry;

/// The header that carries the token unless configured otherwise.
pub const DEFAULT_AUTH_HEADER: &str = "x-api-key";

/// Largest response body [`AuthenticatedAgent::get`] and
/// [`AuthenticatedAgent::post`] read and parse.
pub const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;

/// Largest error-response body read for its `detail`.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Default timeout of one attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures and builds an [`AuthenticatedAgent`]. Made by
/// [`AuthenticatedAgent::builder`].
pub struct AuthenticatedAgentBuilder {
    base_url: String,
    provider: Arc<dyn AuthTokenProvider>,
    agent: Option<ureq::Agent>,
    header_name: HeaderName,
    policy: RetryPolicy,
    timeout: Duration,
    allow_insecure_http: bool,
}

impl AuthenticatedAgentBuilder {
    /// Sends through the caller's own `ureq` agent (its connection pool, TLS,
    /// proxy and middleware). Each request still overrides two settings: HTTP
    /// error statuses are returned as responses (the agent classifies them
    /// itself) and the global timeout is the smaller of the agent's and what
    /// this builder's [`timeout`](Self::timeout) and the deadline leave. A
    /// plain `http://` loopback base URL also bypasses the agent's proxy: the
    /// proxy would see the token in clear.
    ///
    /// Beware of an agent that follows redirects: it would send the token to
    /// wherever the server redirects. Defaults to a private agent that follows
    /// no redirects.
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// The header that carries the token. Defaults to
    /// [`X-API-Key`](DEFAULT_AUTH_HEADER).
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header_name = name;
        self
    }

    /// Attempts allowed for transient failures, the first one included (`1`
    /// disables retries). The single re-send after a rejected token does not
    /// count against it. Defaults to 5.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.policy.max_attempts = attempts;
        self
    }

    /// Time budget of a whole request, retries and backoff included. No
    /// attempt is started, nor any backoff slept, that would end past it, and
    /// an attempt in flight is cut off when it runs out. Must be positive;
    /// `Duration::MAX` means no limit. Defaults to 60 s.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.policy.deadline = deadline;
        self
    }

    /// Backoff before the first retry is uniform in `[0, initial)`; the bound
    /// doubles with each retry up to [`max_backoff`](Self::max_backoff)
    /// ("full jitter"). Defaults to 500 ms.
    pub fn initial_backoff(mut self, initial: Duration) -> Self {
        self.policy.initial_backoff = initial;
        self
    }

    /// Largest backoff bound. Defaults to 10 s.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.policy.max_backoff = max;
        self
    }

    /// Largest wait a `Retry-After` header (seconds or HTTP-date) can impose;
    /// longer requests are shortened to it. Defaults to 60 s.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.policy.max_retry_after = max;
        self
    }

    /// Timeout of one attempt, response body included (never more than the
    /// deadline leaves). Must be positive; a century or more
    /// (`Duration::MAX`, say) means no limit. Defaults to 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows a plain `http://` base URL to a host other than loopback, which
    /// sends the token in clear. Defaults to `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Validates the options and builds the agent. Sends nothing.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad base URL or a zero attempt count, deadline
    /// or timeout.
    pub fn build(self) -> Result<AuthenticatedAgent, Error> {
        token_url(&self.base_url, "/", self.allow_insecure_http)?;
        if self.policy.max_attempts == 0 {
            return Err(Error::config("max_attempts must be at least 1"));
        }
        if self.policy.deadline.is_zero() {
            return Err(Error::config("deadline must be positive"));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("timeout must be positive"));
        }
        // ureq adds the attempt's timeout to the instant it started: "no
        // limit" (`Duration::MAX`) must not overflow there. Every attempt's
        // timeout is at most this one.
        let timeout = clamp_timeout(self.timeout);
        // Our own agent is configured as every attempt needs it, so that an
        // attempt with the full timeout skips the per-request configuration
        // (a copy of the whole config); a caller's agent is adjusted per request.
        let own_agent = self.agent.is_none();
        // Plain http to loopback never goes through a proxy, a caller's agent's
        // included (set per request in `dispatch`).
        let direct = bypasses_proxy(&self.base_url);
        let agent = self.agent.unwrap_or_else(|| {
            ureq::Agent::config_builder()
                .proxy(if direct {
                    None
                } else {
                    ureq::Proxy::try_from_env()
                })
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                // Never follow a redirect with the token attached.
                .max_redirects(0)
                .user_agent(concat!("tinker-auth/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        });
        Ok(AuthenticatedAgent {
            inner: Arc::new(Inner {
                base: self.base_url.trim().trim_end_matches('/').to_owned(),
                provider: self.provider,
                agent,
                own_agent,
                direct,
                header: self.header_name,
                policy: self.policy,
                timeout,
                counters: Counters::default(),
            }),
        })
    }
}

impl fmt::Debug for AuthenticatedAgentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedAgentBuilder")
            .field("base_url", &redact_url(&self.base_url))
            .field("header_name", &self.header_name)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

/// What an [`AuthenticatedAgent`] has done so far. See [`AuthenticatedAgent::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStats {
    /// Calls made (`get`, `post`, ...), however many attempts each took.
    pub requests: u64,
    /// Calls that returned an error.
    pub failed: u64,
    /// HTTP attempts sent.
    pub attempts: u64,
    /// Attempts re-sent after a transient failure (not counting 401 re-sends).
    pub retries: u64,
    /// `401` answers received.
    pub unauthorized: u64,
    /// Calls that succeeded after a `401` and a re-send with a fresh token.
    pub recovered: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failed: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    unauthorized: AtomicU64,
    recovered: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Sends JSON requests to the Tinker API, each carrying the token of an
/// [`AuthTokenProvider`].
///
/// - Every attempt asks the provider for the token and sends it in
///   `X-API-Key` (configurable). A provider error ends the call with it.
/// - Transport errors, timeouts and the statuses 408, 409, 429 and 5xx are
///   retried with full-jitter exponential backoff, or after the server's
///   `Retry-After` (seconds or HTTP-date, capped), within a maximum number of
///   attempts and a total deadline. The body is serialized once and sent
///   byte for byte on every attempt. Other 4xx statuses fail at once with
///   [`Error::RequestStatus`].
/// - A `401` (`Invalid JWT`, or `WWW-Authenticate: Bearer
///   error="invalid_token"`; a bare 401 is treated alike) reports the token
///   to [`AuthTokenProvider::invalidate`], and if the provider can supply
///   another, the request is re-sent once with it. A second `401`, or a
///   provider that cannot refresh (a plain API key), gives
///   [`Error::Authentication`]. A [`JwtAuthProvider`](crate::JwtAuthProvider)
///   refreshes only if the rejected token is still its current one, so any
///   number of threads rejected with one token cost one exchange.
///
/// Cloning is cheap (an [`Arc`]) and one agent serves many threads at once.
/// Retries are logged at debug level. Errors and log lines name the endpoint
/// by method and path (never the query string) and never carry a token; the
/// one exception is outside this crate: ureq-proto's `trace`-level wire dump
/// (log target `ureq_proto`) prints every byte sent, headers included.
///
/// ```no_run
/// use std::sync::Arc;
/// use serde_json::json;
/// use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};
///
/// let base = "https://tinker.example.com";
/// let provider = Arc::new(JwtAuthProvider::builder(base).build()?);
/// let api = AuthenticatedAgent::new(base, provider)?;
/// let future = api.post("/api/v1/retrieve_future", &json!({ "request_id": "r-1" }))?;
/// println!("{future}");
/// # Ok::<(), tinker_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct AuthenticatedAgent {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    provider: Arc<dyn AuthTokenProvider>,
    agent: ureq::Agent,
    /// `agent` was built here: statuses are not errors, the timeout is `timeout`.
    own_agent: bool,
    /// Requests must bypass any proxy (see `bypasses_proxy`).
    direct: bool,
    header: HeaderName,
    policy: RetryPolicy,
    timeout: Duration,
    counters: Counters,
}

/// How one attempt ended.
enum Outcome {
    /// A 2xx response, its body unread, and the attempt's timeout.
    Success(Response<Body>, Duration),
    /// Worth retrying, after `retry_after` if the server asked.
    Transient {
        error: Error,
        retry_after: Option<Duration>,
        what: String,
    },
    /// A 401.
    Unauthorized { detail: Option<String> },
    /// Not worth retrying.
    Fatal(Error),
}

impl AuthenticatedAgent {
    /// A builder for an agent sending to `base_url` (e.g.
    /// `https://tinker.example.com`) with the tokens of `provider`.
    pub fn builder(
        base_url: impl Into<String>,
        provider: Arc<dyn AuthTokenProvider>,
    ) -> AuthenticatedAgentBuilder {
        AuthenticatedAgentBuilder {
            base_url: base_url.into(),
            provider,
            agent: None,
            header_name: HeaderName::from_static(DEFAULT_AUTH_HEADER),
            policy: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            allow_insecure_http: false,
        }
    }

    /// An agent with the default settings; see [`AuthenticatedAgentBuilder`].
    ///
    /// # Errors
    /// [`Error::Config`] for a bad base URL.
    pub fn new(
        base_url: impl Into<String>,
        provider: Arc<dyn AuthTokenProvider>,
    ) -> Result<Self, Error> {
        Self::builder(base_url, provider).build()
    }

    /// `GET base_url + path` and parse the JSON answer (`Null` for an empty body).
    ///
    /// `path` may carry a query string; errors and logs name the endpoint by
    /// method and path only.
    ///
    /// # Errors
    /// The provider's error, [`Error::RequestStatus`], [`Error::Authentication`],
    /// [`Error::RequestTransport`], [`Error::RequestTimeout`],
    /// [`Error::RetriesExhausted`] or [`Error::ResponseBody`].
    pub fn get(&self, path: &str) -> Result<Value, Error> {
        let (endpoint, resp, timeout) = self.call(Method::GET, path, None)?;
        self.counted(read_json(&endpoint, resp, timeout))
    }

    /// `POST base_url + path` with `body` as JSON, and parse the JSON answer.
    ///
    /// # Errors
    /// As [`get`](Self::get), and [`Error::RequestBody`] when `body` cannot
    /// be serialized.
    pub fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<Value, Error> {
        let bytes = to_json(body)?;
        let (endpoint, resp, timeout) = self.call(Method::POST, path, Some(&bytes))?;
        self.counted(read_json(&endpoint, resp, timeout))
    }

    /// `GET base_url + path`, returning the successful response with its body
    /// unread (a body read is still bounded by the attempt's timeout).
    ///
    /// # Errors
    /// As [`get`](Self::get), except [`Error::ResponseBody`].
    pub fn get_response(&self, path: &str) -> Result<Response<Body>, Error> {
        self.call(Method::GET, path, None).map(|(_, resp, _)| resp)
    }

    /// `POST base_url + path` with `body` as JSON, returning the successful
    /// response with its body unread.
    ///
    /// # Errors
    /// As [`post`](Self::post), except [`Error::ResponseBody`].
    pub fn post_response<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Response<Body>, Error> {
        let bytes = to_json(body)?;
        self.call(Method::POST, path, Some(&bytes))
            .map(|(_, resp, _)| resp)
    }

    /// Sends `method base_url + path` with an optional, already serialized
    /// JSON body, returning the successful response with its body unread.
    ///
    /// # Errors
    /// As [`get_response`](Self::get_response).
    pub fn send(
        &self,
        method: Method,
        path: &str,
        json_body: Option<&[u8]>,
    ) -> Result<Response<Body>, Error> {
        self.call(method, path, json_body).map(|(_, resp, _)| resp)
    }

    /// What the agent has done so far.
    pub fn stats(&self) -> AgentStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AgentStats {
            requests: get(&c.requests),
            failed: get(&c.failed),
            attempts: get(&c.attempts),
            retries: get(&c.retries),
            unauthorized: get(&c.unauthorized),
            recovered: get(&c.recovered),
        }
    }

    /// Counts a failure that happened after the call's exchange succeeded.
    fn counted<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_err() {
            bump(&self.inner.counters.failed);
        }
        r
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(String, Response<Body>, Duration), Error> {
        let c = &self.inner.counters;
        bump(&c.requests);
        let endpoint = endpoint_name(&method, path);
        let sep = if path.starts_with('/') { "" } else { "/" };
        let url = format!("{}{sep}{path}", self.inner.base);
        match self.run(&method, &url, &endpoint, body) {
            Ok((resp, timeout, recovered)) => {
                if recovered {
                    bump(&c.recovered);
                }
                Ok((endpoint, resp, timeout))
            }
            Err(e) => {
                bump(&c.failed);
                Err(e)
            }
        }
    }

    /// The retry loop. Returns the 2xx response, the last attempt's timeout,
    /// and whether a 401 was recovered on the way.
    fn run(
        &self,
        method: &Method,
        url: &str,
        endpoint: &str,
        body: Option<&[u8]>,
    ) -> Result<(Response<Body>, Duration, bool), Error> {
        let inner = &*self.inner;
        let policy = &inner.policy;
        let start = Instant::now();
        let mut sent = 0u32;
        let mut reauthenticated = false;
        let mut last: Option<Error> = None;
        // The deadline bounds the whole call, waiting for a token included.
        // `None` (a deadline past what an `Instant` holds) is no bound.
        let until = start.checked_add(policy.deadline);
        loop {
            let token = match until {
                Some(until) => inner.provider.get_token_until(until)?,
                None => inner.provider.get_token()?,
            };
            let remaining = policy.deadline.saturating_sub(start.elapsed());
            if remaining.is_zero() {
                // Only reachable after a 401 re-send or a slow provider.
                let last = last.unwrap_or(Error::RequestTimeout {
                    endpoint: endpoint.to_owned(),
                    after: policy.deadline,
                });
                return Err(gave_up(sent, start, last));
            }
            let timeout = self.attempt_timeout(remaining);
            sent += 1;
            bump(&inner.counters.attempts);
            match self.attempt(method, url, endpoint, body, token.as_ref(), timeout) {
                Outcome::Success(resp, timeout) => return Ok((resp, timeout, reauthenticated)),
                Outcome::Fatal(e) => return Err(e),
                Outcome::Unauthorized { detail } => {
                    bump(&inner.counters.unauthorized);
                    let auth_error = || Error::Authentication {
                        endpoint: endpoint.to_owned(),
                        detail: detail.clone(),
                    };
                    if reauthenticated {
                        log::debug!("request {endpoint}: fresh token rejected too (401)");
                        return Err(auth_error());
                    }
                    let refreshable = token.as_ref().is_some_and(|t| inner.provider.invalidate(t));
                    if !refreshable {
                        return Err(auth_error());
                    }
                    log::debug!(
                        "request {endpoint}: attempt {sent} answered 401; re-sending once with a fresh token"
                    );
                    reauthenticated = true;
                    last = Some(auth_error());
                }
                Outcome::Transient {
                    error,
                    retry_after,
                    what,
                } => {
                    // The re-send after a 401 is not charged to the budget.
                    let tries = sent - u32::from(reauthenticated);
                    let delay = retry_delay(policy, tries, retry_after, jitter::unit());
                    if !may_retry(policy, tries, start.elapsed(), delay) {
                        log::debug!(
                            "request {endpoint}: attempt {sent} {what}; giving up (attempts or deadline spent)"
                        );
                        return Err(gave_up(sent, start, error));
                    }
                    log::debug!(
                        "request {endpoint}: attempt {sent} {what}; retrying in {delay:.3?}"
                    );
                    bump(&inner.counters.retries);
                    last = Some(error);
                    thread::sleep(delay);
                }
            }
        }
    }

    /// The attempt's global timeout: what the deadline leaves, at most the
    /// configured timeout and the caller's agent's own.
    fn attempt_timeout(&self, remaining: Duration) -> Duration {
        let t = remaining.min(self.inner.timeout);
        match self.inner.agent.config().timeouts().global {
            Some(agent_global) => t.min(agent_global),
            None => t,
        }
    }

    fn attempt(
        &self,
        method: &Method,
        url: &str,
        endpoint: &str,
        body: Option<&[u8]>,
        token: Option<&Token>,
        timeout: Duration,
    ) -> Outcome {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(ACCEPT, "application/json");
        if let Some(t) = token {
            match HeaderValue::from_str(t.as_str()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req = req.header(self.inner.header.clone(), v);
                }
                Err(_) => {
                    return Outcome::Fatal(Error::config(
                        "the token holds characters not allowed in an http header",
                    ))
                }
            }
        }
        let sent = match body {
            Some(bytes) => req
                .header(CONTENT_TYPE, "application/json")
                .body(bytes)
                .map(|r| self.dispatch(r, timeout)),
            None => req.body(()).map(|r| self.dispatch(r, timeout)),
        };
        let result = match sent {
            Ok(result) => result,
            Err(_) => {
                return Outcome::Fatal(Error::config(format!(
                    "request {endpoint}: not a valid url"
                )))
            }
        };
        let mut resp = match result {
            Ok(resp) => resp,
            Err(ureq::Error::Timeout(_)) => {
                return Outcome::Transient {
                    error: Error::RequestTimeout {
                        endpoint: endpoint.to_owned(),
                        after: timeout,
                    },
                    retry_after: None,
                    what: format!("timed out after {timeout:.3?}"),
                }
            }
            Err(e) => {
                let retry = transport_kind(&e).is_transient();
                let what = format!("failed: {e}");
                let error = Error::RequestTransport {
                    endpoint: endpoint.to_owned(),
                    source: Arc::new(e),
                };
                return if retry {
                    Outcome::Transient {
                        error,
                        retry_after: None,
                        what,
                    }
                } else {
                    Outcome::Fatal(error)
                };
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Success(resp, timeout);
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let invalid_token = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("invalid_token"));
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .unwrap_or_default();
        let detail = detail_of(&text, token.map_or("", Token::as_str));
        if status == 401 {
            if !invalid_token && detail.as_deref() != Some("Invalid JWT") {
                log::debug!("request {endpoint}: 401 without a token-rejection signal");
            }
            return Outcome::Unauthorized { detail };
        }
        let error = Error::RequestStatus {
            endpoint: endpoint.to_owned(),
            status,
            detail,
        };
        if error.is_transient() {
            Outcome::Transient {
                error,
                retry_after,
                what: format!("answered {status}"),
            }
        } else {
            Outcome::Fatal(error)
        }
    }

    fn dispatch<S: AsSendBody>(
        &self,
        req: http::Request<S>,
        timeout: Duration,
    ) -> Result<Response<Body>, ureq::Error> {
        let agent = &self.inner.agent;
        if self.inner.own_agent && timeout == self.inner.timeout {
            return agent.run(req);
        }
        let mut config = agent
            .configure_request(req)
            .http_status_as_error(false)
            .timeout_global(Some(timeout));
        if self.inner.direct {
            config = config.proxy(None);
        }
        agent.run(config.build())
    }
}

impl fmt::Debug for AuthenticatedAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedAgent")
            .field("base_url", &redact_url(&self.inner.base))
            .field("header_name", &self.inner.header)
            .field("policy", &self.inner.policy)
            .field("timeout", &self.inner.timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// `METHOD /path`, without the query string (which may hold secrets).
fn endpoint_name(method: &Method, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let sep = if path.starts_with('/') { "" } else { "/" };
    format!("{method} {sep}{path}")
}

fn to_json<B: Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::RequestBody {
        source: Arc::new(e),
    })
}

fn gave_up(attempts: u32, start: Instant, last: Error) -> Error {
    Error::RetriesExhausted {
        attempts,
        elapsed: start.elapsed(),
        last: Arc::new(last),
    }
}

/// Reads and parses a successful response's JSON body.
fn read_json(endpoint: &str, mut resp: Response<Body>, timeout: Duration) -> Result<Value, Error> {
    let status = resp.status().as_u16();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => Error::ResponseBody {
                endpoint: endpoint.to_owned(),
                reason: format!("{status} response body is larger than {MAX_RESPONSE_BYTES} bytes"),
            },
            ureq::Error::Timeout(_) => Error::RequestTimeout {
                endpoint: endpoint.to_owned(),
                after: timeout,
            },
            e => Error::RequestTransport {
                endpoint: endpoint.to_owned(),
                source: Arc::new(e),
            },
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|_| Error::ResponseBody {
        endpoint: endpoint.to_owned(),
        reason: format!("{status} response is not json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_drop_the_query() {
        assert_eq!(
            endpoint_name(&Method::GET, "/api/v1/x?key=tml-secret"),
            "GET /api/v1/x"
        );
        assert_eq!(
            endpoint_name(&Method::POST, "api/v1/y#frag"),
            "POST /api/v1/y"
        );
    }

    #[test]
    fn build_validates_its_options() {
        let p: Arc<dyn AuthTokenProvider> =
            Arc::new(crate::ApiKeyAuthProvider::new("tml-abc").unwrap());
        let b = |url: &str| AuthenticatedAgent::builder(url, Arc::clone(&p));
        assert!(b("http://127.0.0.1:9").build().is_ok());
        assert!(b("https://tinker.example.com/").build().is_ok());
        assert!(b("http://tinker.example.com").build().is_err());
        assert!(b("http://tinker.example.com")
            .allow_insecure_http(true)
            .build()
            .is_ok());
        assert!(b("http://127.0.0.1:9").max_attempts(0).build().is_err());
        assert!(b("http://127.0.0.1:9")
            .deadline(Duration::ZERO)
            .build()
            .is_err());
        let a = b("http://127.0.0.1:9/").build().unwrap();
        assert_eq!(a.inner.base, "http://127.0.0.1:9");
        assert!(!format!("{a:?}").contains("tml-abc"));
    }

    #[test]
    fn agent_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<AuthenticatedAgent>();
    }
}
