//! [`AuthenticatedAgent`]: blocking JSON requests that carry a fresh token on
//! every attempt, retry transient failures with backoff, and recover once
//! from a rejected token.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use ureq::http::{HeaderName, Method, Response};
use ureq::Body;

#[cfg(not(any(fuzzing, test)))]
use self::retry::RetryPolicy;
use crate::auth_provider::AuthTokenProvider;
use crate::error::Error;
use crate::http::{ExtraHeaders, HeaderOptions};
use crate::redact::redact_url;

mod builder;
mod call;
mod retry;
#[cfg(any(fuzzing, test))]
pub(crate) use retry::{parse_retry_after, retry_delay, RetryPolicy};
mod send;

pub use builder::AuthenticatedAgentBuilder;
use send::read_json;

/// The header that carries the token unless configured otherwise.
pub const DEFAULT_AUTH_HEADER: &str = "x-api-key";

/// Largest response body [`AuthenticatedAgent::get`] and
/// [`AuthenticatedAgent::post`] read and parse.
pub const MAX_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;

/// Default timeout of one attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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
///   number of threads rejected with one token cost one exchange. When the
///   API rejects even fresh tokens, the provider backs off its exchanges and
///   the request fails at once with [`Error::TokensRejected`] (an
///   [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) error);
///   every 2xx is reported to [`AuthTokenProvider::accepted`], which ends
///   that back-off.
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
/// let provider = Arc::new(JwtAuthProvider::builder("https://tinker.example.com").build()?);
/// let api = AuthenticatedAgent::builder_for(provider).build()?;
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
    /// Extra headers and the User-Agent.
    headers: ExtraHeaders,
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
            header_options: HeaderOptions::default(),
        }
    }

    /// A builder for an agent sending to `provider`'s base URL with its
    /// tokens: the base URL is given once, to the provider.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};
    ///
    /// let provider = Arc::new(JwtAuthProvider::from_env()?);
    /// let api = AuthenticatedAgent::builder_for(provider.clone()).build()?;
    /// # Ok::<(), tinker_auth::Error>(())
    /// ```
    pub fn builder_for(provider: Arc<crate::JwtAuthProvider>) -> AuthenticatedAgentBuilder {
        let base_url = provider.base_url().to_owned();
        Self::builder(base_url, provider)
    }

    /// An agent with the default settings, and its provider, configured by
    /// the environment alone: the base URL from `TINKER_BASE_URL` (else
    /// [`DEFAULT_BASE_URL`](crate::DEFAULT_BASE_URL)), a
    /// [`JwtAuthProvider::from_env`](crate::JwtAuthProvider::from_env) for
    /// the token (which reads the same variables: credential, Cloudflare
    /// Access headers, proxy), and the Cloudflare Access headers on every
    /// request.
    ///
    /// ```no_run
    /// let api = tinker_auth::AuthenticatedAgent::from_env()?;
    /// println!("{}", api.get("/api/v1/get_server_capabilities")?);
    /// # Ok::<(), tinker_auth::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`JwtAuthProviderBuilder::build`](crate::JwtAuthProviderBuilder::build).
    pub fn from_env() -> Result<Self, Error> {
        let provider = Arc::new(crate::JwtAuthProvider::from_env()?);
        Self::builder_for(provider).build()
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
