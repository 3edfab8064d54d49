//! [`AuthMiddleware`]: the token header for callers who build their own
//! `ureq` requests.

use std::fmt;
use std::sync::Arc;

use ureq::http::{self, HeaderName, HeaderValue, StatusCode};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, RequestExt, SendBody};

use crate::agent::DEFAULT_AUTH_HEADER;
use crate::auth_provider::AuthTokenProvider;
use crate::error::Error;

/// A `ureq` middleware that sets the provider's token on every request that
/// passes through the agent, replacing any value already set.
///
/// # A 401 is reported, not retried
///
/// `ureq` 3's [`MiddlewareNext::handle`] takes `self`, so a middleware can
/// pass a request down the chain only once, and the request's [`SendBody`]
/// is a one-shot reader that cannot be replayed. The middleware therefore
/// cannot re-send a rejected request. What it does on a `401` (as a response,
/// or as `ureq::Error::StatusCode(401)` when the agent turns statuses into
/// errors) is report the token to [`AuthTokenProvider::invalidate`], so that
/// the caller's *next* request carries a fresh token, and hand the `401` back
/// unchanged. A 2xx is reported to [`AuthTokenProvider::accepted`]. Callers who want the re-send done for them, and retries with
/// backoff, use [`AuthenticatedAgent`](crate::AuthenticatedAgent).
///
/// A provider error fails the request with `ureq::Error::Other` wrapping the
/// crate's [`Error`]; nothing is sent.
///
/// # Redirects are refused
///
/// `ureq` follows redirects inside the call the middleware wraps, with the
/// headers the middleware set: the token would go wherever a server points.
/// So every request through the middleware follows no redirect, whatever the
/// agent's `max_redirects`, to the same origin or another: the `3xx` response
/// is handed back as it is (its `Location` for the caller to judge).
///
/// ```no_run
/// use std::sync::Arc;
/// use tinker_auth::{AuthMiddleware, JwtAuthProvider};
///
/// let base = "https://tinker.example.com";
/// let provider = Arc::new(JwtAuthProvider::builder(base).build()?);
/// let agent: ureq::Agent = ureq::Agent::config_builder()
///     .middleware(AuthMiddleware::new(provider))
///     .build()
///     .into();
/// let body = agent
///     .get(format!("{base}/api/v1/get_server_capabilities"))
///     .call()?
///     .body_mut()
///     .read_to_string()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AuthMiddleware {
    provider: Arc<dyn AuthTokenProvider>,
    header: HeaderName,
}

impl AuthMiddleware {
    /// A middleware sending the tokens of `provider`.
    pub fn new(provider: Arc<dyn AuthTokenProvider>) -> Self {
        AuthMiddleware {
            provider,
            header: HeaderName::from_static(DEFAULT_AUTH_HEADER),
        }
    }

    /// The header that carries the token. Defaults to
    /// [`X-API-Key`](DEFAULT_AUTH_HEADER).
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }
}

fn other(e: Error) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

impl Middleware for AuthMiddleware {
    fn handle(
        &self,
        request: http::Request<SendBody<'_>>,
        next: MiddlewareNext<'_>,
    ) -> Result<http::Response<Body>, ureq::Error> {
        // Follow no redirect: the token (and the caller's headers) would go
        // along. Always `Some` inside a middleware.
        let mut request = match request.middleware_config() {
            Some(config) => config.max_redirects(0).build(),
            None => {
                return Err(other(Error::config(
                    "AuthMiddleware: not called from an agent's middleware chain",
                )))
            }
        };
        let token = self.provider.get_token().map_err(other)?;
        if let Some(t) = &token {
            let mut value = HeaderValue::from_str(t.as_str()).map_err(|_| {
                other(Error::config(
                    "the token holds characters not allowed in an http header",
                ))
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(self.header.clone(), value);
        }
        let result = next.handle(request);
        let rejected = match &result {
            Ok(resp) => resp.status() == StatusCode::UNAUTHORIZED,
            Err(ureq::Error::StatusCode(401)) => true,
            Err(_) => false,
        };
        let accepted = matches!(&result, Ok(resp) if resp.status().is_success());
        if let Some(t) = &token {
            if rejected && self.provider.invalidate(t) {
                log::debug!(
                    target: crate::LOG_TARGET_MIDDLEWARE,
                    "token rejected (401); the next request will carry a fresh one"
                );
            } else if accepted {
                self.provider.accepted(t);
            }
        }
        result
    }
}

impl fmt::Debug for AuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMiddleware")
            .field("header_name", &self.header)
            .finish_non_exhaustive()
    }
}
