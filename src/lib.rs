//! Keeps a short-lived Tinker JWT fresh for blocking programs, with no async
//! runtime.
//!
//! The Tinker API takes a long-lived credential (a `tml-...` API key, or what
//! a credential command prints) only at `POST /api/v1/auth/token`, and answers
//! with a JWT that every other request must carry in `X-API-Key`. An expired
//! JWT earns `401 Invalid JWT`, which is not retried, so a stale token kills a
//! long-running job. [`JwtAuthProvider`] prevents that:
//!
//! - [`get_token`](AuthTokenProvider::get_token) is proactive: it refreshes
//!   when the cached JWT is near or past expiry, and concurrent callers share
//!   one exchange in flight;
//! - a background OS thread refreshes well ahead of expiry;
//! - a failed refresh serves the cached token while the server still accepts
//!   it, then fails with the cause; retries back off, never storm.
//!
//! ```
//! use std::sync::Arc;
//! use tinker_auth::{ApiKeyAuthProvider, AuthTokenProvider};
//!
//! // Any provider can sit behind `Arc<dyn AuthTokenProvider>`.
//! let provider: Arc<dyn AuthTokenProvider> =
//!     Arc::new(ApiKeyAuthProvider::new("tml-example-key")?);
//! let token = provider.get_token()?.expect("an API key provider always has one");
//! assert_eq!(token.as_str(), "tml-example-key");
//! // Secrets never show in Debug output.
//! assert!(!format!("{token:?}").contains("example-key"));
//! # Ok::<(), tinker_auth::Error>(())
//! ```
//!
//! Against the real service (`TINKER_API_KEY` holds the key; `TINKER_BASE_URL`
//! overrides [`DEFAULT_BASE_URL`]):
//!
//! ```no_run
//! use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};
//!
//! let jwt = JwtAuthProvider::from_env()?.token()?;
//! // send `jwt.as_str()` in the X-API-Key header, or let the agent do it:
//! let api = AuthenticatedAgent::from_env()?;
//! println!("{}", api.get("/api/v1/get_server_capabilities")?);
//! # Ok::<(), tinker_auth::Error>(())
//! ```
//!
//! TLS: the features `rustls` (default), `native-tls` and
//! `platform-verifier` choose ureq's; a company CA goes in a `ureq::Agent`
//! given to [`JwtAuthProviderBuilder::agent`] and
//! [`AuthenticatedAgentBuilder::agent`].
//!
//! To send requests with it, [`AuthenticatedAgent`] puts the token on every
//! attempt, retries transient failures with backoff, and re-sends once with a
//! fresh token after a `401`; [`AuthMiddleware`] sets the header for callers
//! who build their own `ureq` requests.
//!
//! The `ureq` this crate is built on is re-exported as [`ureq`]: its types
//! (`ureq::Agent`, `ureq::http::Response`, ...) appear in this API.
//!
//! Beyond Rust, in the same workspace: the crate `tinker-auth-ffi` is the C
//! ABI (a static and a shared library, header `include/tinker_auth.h`), and
//! `tinker-auth-cli` the `tinker-auth` command-line helper
//! (`tinker-auth token`, `tinker-auth inspect`).
//!
//! The repository's `README.md` is the front door (install, one example per
//! language, the environment and the errors); its `docs/` folder holds the
//! guide (`USAGE.md`), the design (`ARCHITECTURE.md`: the lock protocol, the
//! refresh, pacing and shared-cache rules), what the crate survives
//! (`RELIABILITY.md`), what it costs (`PERFORMANCE.md`), and its log
//! targets and counters (`OBSERVABILITY.md`).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod agent;
mod auth_provider;
mod clock;
mod command;
mod credential;
mod error;
mod fork;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzz_api;
mod http;
mod http_date;
mod jitter;
mod jwt;
mod log_target;
mod middleware;
mod provider;
mod redact;
// The one-token-per-host cache (`shared_cache_dir`): `flock`, so Unix only.
#[cfg(unix)]
mod shared_cache;
mod token;

pub use agent::{
    AgentStats, AuthenticatedAgent, AuthenticatedAgentBuilder, DEFAULT_AUTH_HEADER,
    MAX_RESPONSE_BYTES,
};
pub use auth_provider::AuthTokenProvider;
pub use clock::{Clock, ManualClock, SystemClock};
pub use command::CredentialCmdAuthProvider;
pub use credential::{resolve_auth_provider, ApiKeyAuthProvider, API_KEY_ENV, CREDENTIAL_CMD_ENV};
pub use error::{Error, ErrorKind};
pub use http::{
    base_url_from_env, BASE_URL_ENV, CF_ACCESS_CLIENT_ID_ENV, CF_ACCESS_CLIENT_SECRET_ENV,
    DEFAULT_BASE_URL,
};
pub use jwt::{jwt_claims, jwt_expiry};
pub use log_target::{
    LOG_TARGETS, LOG_TARGET_AGENT, LOG_TARGET_MIDDLEWARE, LOG_TARGET_PROVIDER, LOG_TARGET_REFRESH,
    LOG_TARGET_SHARED_CACHE,
};
pub use middleware::AuthMiddleware;
pub use provider::{JwtAuthProvider, Stats};
pub use provider::{
    JwtAuthProviderBuilder, DEFAULT_FETCH_TIMEOUT, DEFAULT_REFRESH_BEFORE_EXPIRY,
    DEFAULT_REFRESH_ON_DEMAND_WITHIN, DEFAULT_RETRY_DELAY, DEFAULT_TOKEN_PATH,
};
pub use token::Token;
/// The HTTP client this crate is built on; its types appear in this API.
pub use ureq;

/// Compiles the README's Rust snippets as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Compiles the Rust snippets of `docs/USAGE.md` as doctests.
#[doc = include_str!("../docs/USAGE.md")]
#[cfg(doctest)]
pub struct UsageDoctests;

/// Compiles the Rust snippets of `docs/OBSERVABILITY.md` as doctests.
#[doc = include_str!("../docs/OBSERVABILITY.md")]
#[cfg(doctest)]
pub struct ObservabilityDoctests;
