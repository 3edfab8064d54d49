//! Building a [`JwtAuthProvider`]: options, their defaults, validation.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::exchange::Exchange;
use super::policy::Timing;
use super::refresher::Refresher;
use super::sharing::Host;
use super::{JwtAuthProvider, Shared};
use crate::auth_provider::AuthTokenProvider;
use crate::clock::{clamp_timeout, Clock, ClockSource};
use crate::credential::{resolve_auth_provider, ApiKeyAuthProvider};
use crate::error::Error;
use crate::http::{token_url, HeaderOptions};
use crate::redact::redact_url;
use crate::shared_cache;

// The builder's defaults, in one place: the CLI and the C ABI read them too.

/// The token endpoint's path on the Tinker API.
pub const DEFAULT_TOKEN_PATH: &str = "/api/v1/auth/token";

/// Default of [`JwtAuthProviderBuilder::refresh_before_expiry`].
/// Zero: the background thread refreshes at half-life.
pub const DEFAULT_REFRESH_BEFORE_EXPIRY: Duration = Duration::ZERO;

/// Default of [`JwtAuthProviderBuilder::refresh_on_demand_within`].
pub const DEFAULT_REFRESH_ON_DEMAND_WITHIN: Duration = Duration::from_secs(60);

/// Default of [`JwtAuthProviderBuilder::retry_delay`].
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Default of [`JwtAuthProviderBuilder::fetch_timeout`].
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

enum CredentialSource {
    Resolve,
    ApiKey(String),
    Provider(Box<dyn AuthTokenProvider>),
}

/// Configures and builds a [`JwtAuthProvider`]. Made by [`JwtAuthProvider::builder`].
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tinker_auth::{AuthTokenProvider, JwtAuthProvider};
///
/// let provider = Arc::new(
///     JwtAuthProvider::builder("https://tinker.example.com")
///         .api_key("tml-...")
///         .fetch_timeout(Duration::from_secs(10))
///         .build()?,
/// );
/// let token = provider.token()?;
/// # Ok::<(), tinker_auth::Error>(())
/// ```
pub struct JwtAuthProviderBuilder {
    base_url: String,
    credential: CredentialSource,
    seed: Option<String>,
    timing: Timing,
    fetch_timeout: Duration,
    token_path: String,
    background_refresh: bool,
    allow_insecure_http: bool,
    clock: ClockSource,
    // Transport options: the caller's agent and extra headers.
    agent: Option<ureq::Agent>,
    header_options: HeaderOptions,
    shared_cache: SharedCacheDir,
}

/// Where providers of this host share their token.
#[derive(Debug, Clone)]
enum SharedCacheDir {
    Off,
    Default,
    Dir(PathBuf),
}

impl JwtAuthProviderBuilder {
    pub(crate) fn new(base_url: String) -> Self {
        JwtAuthProviderBuilder {
            base_url,
            credential: CredentialSource::Resolve,
            seed: None,
            timing: Timing {
                refresh_before_expiry: DEFAULT_REFRESH_BEFORE_EXPIRY,
                refresh_on_demand_within: DEFAULT_REFRESH_ON_DEMAND_WITHIN,
                retry_delay: DEFAULT_RETRY_DELAY,
            },
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            token_path: DEFAULT_TOKEN_PATH.into(),
            background_refresh: true,
            allow_insecure_http: false,
            clock: ClockSource::System,
            agent: None,
            header_options: HeaderOptions::default(),
            shared_cache: SharedCacheDir::Off,
        }
    }

    /// The long-lived credential exchanged for JWTs. Defaults to
    /// [`resolve_auth_provider(None, false)`](crate::resolve_auth_provider),
    /// resolved at `build()`.
    pub fn credential(mut self, provider: impl AuthTokenProvider + 'static) -> Self {
        self.credential = CredentialSource::Provider(Box::new(provider));
        self
    }

    /// Uses this API key as the credential (validated at `build()`, as by
    /// [`ApiKeyAuthProvider::new`]). Defaults to the `credential` default.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.credential = CredentialSource::ApiKey(key.into());
        self
    }

    /// A JWT already at hand (from a parent process, say): `build()` then skips
    /// the first exchange. A seed near expiry is refreshed at once; one that
    /// cannot be decoded is treated as expired. Defaults to none.
    pub fn seed_token(mut self, jwt: impl Into<String>) -> Self {
        self.seed = Some(jwt.into());
        self
    }

    /// The least runway the background thread's refreshes leave, on top of
    /// half the token's lifetime. It refreshes a token (routinely, with no
    /// jitter) at its late edge, when `max(lifetime / 2 + U, min(margin, 4/5
    /// of the lifetime))` is left, `U` being the clock uncertainty (about
    /// half a second): so an outage of the token endpoint costs no request
    /// for at least half a lifetime. After a first token, a failure or an
    /// on-demand refresh it draws the time uniformly from issue to that edge
    /// instead, so that providers started together do not refresh together.
    /// A margin under half the lifetime changes nothing; a larger one
    /// refreshes earlier, at the cost of more exchanges. Defaults to zero
    /// (half-life).
    pub fn refresh_before_expiry(mut self, margin: Duration) -> Self {
        self.timing.refresh_before_expiry = margin;
        self
    }

    /// How long before expiry `get_token` refreshes on demand, capped at a
    /// fifth of the token's lifetime. Defaults to 60 s.
    pub fn refresh_on_demand_within(mut self, window: Duration) -> Self {
        self.timing.refresh_on_demand_within = window;
        self
    }

    /// Longest pause of the background thread between failed refreshes (it
    /// backs off exponentially from about 1 s up to this). Defaults to 60 s.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.timing.retry_delay = delay;
        self
    }

    /// Bound on one whole exchange (connect, send, receive); callers waiting
    /// on it return within this plus one second. Must be positive; a century
    /// or more (`Duration::MAX`, say) means no limit. Defaults to 30 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Path of the token endpoint under the base URL. Defaults to `/api/v1/auth/token`.
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self
    }

    /// Whether a background thread refreshes ahead of expiry. Without it,
    /// `get_token` still refreshes on demand. Defaults to on.
    pub fn background_refresh(mut self, on: bool) -> Self {
        self.background_refresh = on;
        self
    }

    /// Allows a plain `http://` base URL to a host other than loopback, which
    /// sends the credential in clear. Defaults to off.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The wall clock used to judge a token's runway; tests inject a
    /// [`ManualClock`](crate::ManualClock). Defaults to [`SystemClock`](crate::SystemClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = ClockSource::Injected(clock);
        self
    }

    // Transport: whose agent, which headers.

    /// Sends the token exchange through the caller's own `ureq` agent: its
    /// TLS settings (a company CA in its root certificates, say, or the
    /// operating system's store), its proxy, its connection pool. Whatever
    /// the agent's settings, each exchange still follows no redirect (the
    /// credential would follow it), is bounded by
    /// [`fetch_timeout`](Self::fetch_timeout) (or the agent's own global
    /// timeout if shorter), reads error statuses as responses, and, to a plain
    /// `http://` loopback base URL, bypasses any proxy. Defaults to an agent
    /// of the provider's own, with ureq's default roots (the OS store with the
    /// `platform-verifier` feature) and the proxy of `HTTPS_PROXY`/`ALL_PROXY`
    /// (`NO_PROXY` honoured).
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Adds a header to every exchange (a caller's header replaces one of the
    /// same name, the Cloudflare Access ones included). Its value is never
    /// shown in `Debug` output, logs or errors. Checked at `build()`.
    /// `CF-Access-Client-Id` and `CF-Access-Client-Secret` are added by
    /// default from `CLOUDFLARE_ACCESS_CLIENT_ID` and
    /// `CLOUDFLARE_ACCESS_CLIENT_SECRET` when those are set, as the Python
    /// SDK does. `X-API-Key` (in any case), which carries the credential, is
    /// refused at `build()` with [`Error::Config`].
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

    // One host, one token.

    /// Shares one token per base URL and credential with every provider, in
    /// any process, that uses the same directory: before an exchange a
    /// provider takes the entry's file lock (waiting at most 1 s, and at most
    /// half of what is left of its flight's deadline), takes the token another
    /// process just left there if it is fresher and not due, and otherwise
    /// exchanges and writes the new token for the others. `build()` adopts a
    /// fresh cached token instead of exchanging. A host of N processes thus
    /// makes one provider's exchanges, not N times them. Fresh-token reads
    /// never touch the file.
    ///
    /// The cache never costs availability: if the lock stays held (its
    /// holder stopped, suspended or wedged), the provider exchanges on its
    /// own, writes the token back only if the lock is free by then, and
    /// remembers the lock as stuck, so that later refreshes only try it once
    /// (until it is free again, the entry is rewritten, or 10 minutes pass).
    ///
    /// The directory is created 0700; a directory or file that is a symlink,
    /// not ours, or writable by group or others is refused with a warning
    /// (the provider then keeps a private token). Files hold the JWT and a
    /// keyed fingerprint of the credential (its value: a key rotated behind
    /// the same credential command never gets the old key's JWT), never the
    /// credential. Defaults to off.
    pub fn shared_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.shared_cache = SharedCacheDir::Dir(dir.into());
        self
    }

    /// [`shared_cache_dir`](Self::shared_cache_dir) in
    /// `$XDG_CACHE_HOME/tinker-auth` (else `~/.cache/tinker-auth`), the
    /// `tinker-auth` command's directory; `false` turns sharing off. Defaults
    /// to off.
    pub fn shared_cache(mut self, on: bool) -> Self {
        self.shared_cache = if on {
            SharedCacheDir::Default
        } else {
            SharedCacheDir::Off
        };
        self
    }

    /// Validates the options, performs the first exchange (unless a seed token
    /// was given), and starts the background thread.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL or option, the credential's error, or
    /// the cause of a failed first exchange.
    pub fn build(self) -> Result<JwtAuthProvider, Error> {
        let url = token_url(&self.base_url, &self.token_path, self.allow_insecure_http)?;
        let base_url = self.base_url;
        if self.fetch_timeout.is_zero() {
            return Err(Error::config("fetch_timeout must be positive"));
        }
        // "No limit" is a century: the waiters' deadlines and ureq's are
        // instants this far ahead, which must not overflow.
        let fetch_timeout = clamp_timeout(self.fetch_timeout);
        let credential: Box<dyn AuthTokenProvider> = match self.credential {
            CredentialSource::Resolve => resolve_auth_provider(None, false)?,
            CredentialSource::ApiKey(key) => Box::new(ApiKeyAuthProvider::new(key)?),
            CredentialSource::Provider(p) => p,
        };
        // A credential that must answer in no time (a command with a zero
        // timeout) could never refresh: refuse it here, naming the knob.
        if credential.time_limit() == Some(Duration::ZERO) {
            return Err(Error::config(
                "credential timeout must be positive (a credential command's timeout)",
            ));
        }
        let headers = self
            .header_options
            .resolve(&ureq::http::HeaderName::from_static(
                crate::DEFAULT_AUTH_HEADER,
            ))?;
        let exchange = Exchange::with(url, fetch_timeout, self.agent, headers);
        let mut shared = Shared::new(credential, exchange, self.clock, self.timing, fetch_timeout);
        shared.host = match self.shared_cache {
            SharedCacheDir::Off => None,
            SharedCacheDir::Dir(dir) => Some(Host::new(dir, &base_url)),
            SharedCacheDir::Default => match shared_cache::default_dir() {
                Some(dir) => Some(Host::new(dir, &base_url)),
                None => {
                    log::warn!(
                        target: crate::LOG_TARGET_SHARED_CACHE,
                        "shared cache: neither XDG_CACHE_HOME nor HOME is set; using a private token"
                    );
                    None
                }
            },
        };
        let shared = Arc::new(shared);
        match self.seed {
            Some(jwt) => shared.seed(jwt),
            None => {
                shared.get()?;
            }
        }
        let refresher = if self.background_refresh {
            Some(Refresher::spawn(
                Arc::downgrade(&shared),
                shared.clock.clone(),
            )?)
        } else {
            None
        };
        Ok(JwtAuthProvider::from_parts(shared, refresher, &base_url))
    }
}

impl fmt::Debug for JwtAuthProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthProviderBuilder")
            .field("base_url", &redact_url(&self.base_url))
            .field("seed_token", &self.seed.as_ref().map(|_| "<redacted>"))
            .field("timing", &self.timing)
            .field("fetch_timeout", &self.fetch_timeout)
            .field("token_path", &redact_url(&self.token_path))
            .field("background_refresh", &self.background_refresh)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("callers_agent", &self.agent.is_some())
            .field("header_options", &self.header_options)
            .field("shared_cache", &self.shared_cache)
            .finish_non_exhaustive()
    }
}
