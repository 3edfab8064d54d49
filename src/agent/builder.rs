//! [`AuthenticatedAgentBuilder`]: the agent's options and their validation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ureq::http::HeaderName;

use super::retry::RetryPolicy;
use super::{AuthenticatedAgent, Counters, Inner};
use crate::auth_provider::AuthTokenProvider;
use crate::clock::clamp_timeout;
use crate::error::Error;
use crate::http::{bypasses_proxy, default_tls_config, token_url, HeaderOptions, USER_AGENT};
use crate::redact::redact_url;

/// Configures and builds an [`AuthenticatedAgent`]. Made by
/// [`AuthenticatedAgent::builder`].
pub struct AuthenticatedAgentBuilder {
    pub(super) base_url: String,
    pub(super) provider: Arc<dyn AuthTokenProvider>,
    pub(super) agent: Option<ureq::Agent>,
    pub(super) header_name: HeaderName,
    pub(super) policy: RetryPolicy,
    pub(super) timeout: Duration,
    pub(super) allow_insecure_http: bool,
    // Extra headers.
    pub(super) header_options: HeaderOptions,
}

impl AuthenticatedAgentBuilder {
    /// Sends through the caller's own `ureq` agent (its connection pool, TLS,
    /// proxy and middleware). Each request still overrides three settings: no
    /// redirect is followed, whatever the agent's `max_redirects` (the token
    /// and the [`header`](Self::header) values would go wherever the server
    /// points; a `3xx` answer fails the call with
    /// [`Error::RequestStatus`]), HTTP error
    /// statuses are returned as responses (the agent classifies them itself)
    /// and the global timeout is the smaller of the agent's and what this
    /// builder's [`timeout`](Self::timeout) and the deadline leave. A plain
    /// `http://` loopback base URL also bypasses the agent's proxy: the proxy
    /// would see the token in clear. Defaults to a private agent that follows
    /// no redirects.
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// The header that carries the token. Defaults to
    /// [`X-API-Key`](crate::DEFAULT_AUTH_HEADER).
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

    // Extra headers.

    /// Adds a header to every request (a caller's header replaces one of the
    /// same name, the Cloudflare Access ones included; the token's header is
    /// always the provider's). Its value is never shown in `Debug` output,
    /// logs or errors. Checked at `build()`. `CF-Access-Client-Id` and
    /// `CF-Access-Client-Secret` are added by default from
    /// `CLOUDFLARE_ACCESS_CLIENT_ID` and `CLOUDFLARE_ACCESS_CLIENT_SECRET`
    /// when those are set. The token's header
    /// ([`header_name`](Self::header_name), `X-API-Key` unless set
    /// otherwise, in any case) is refused at `build()` with
    /// [`Error::Config`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.header_options
            .headers
            .push((name.into(), value.into()));
        self
    }

    /// Appended, after a space, to the `User-Agent` sent, whichever it is:
    /// the crate's (`tinker-auth/0.1.0 my-app/1.2` for `"my-app/1.2"`), the
    /// one a caller's [`agent`](Self::agent) is configured with, or one set
    /// with [`header`](Self::header). Checked at `build()`. Defaults to none.
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.header_options.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Validates the options and builds the agent. Sends nothing.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad base URL, a zero attempt count, deadline
    /// or timeout, or a [`header`](Self::header) that is not valid or names
    /// the token's header.
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
        let headers = self.header_options.resolve(&self.header_name)?;
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
                .user_agent(headers.user_agent().to_str().unwrap_or(USER_AGENT))
                .tls_config(default_tls_config())
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
                headers,
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
            .field("header_options", &self.header_options)
            .finish_non_exhaustive()
    }
}
