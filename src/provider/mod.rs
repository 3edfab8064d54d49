//! The JWT provider: cached token, single-flight refresh, failure policy.
//!
//! # Locking
//! One `parking_lot::Mutex<State>` guards everything mutable; one `Condvar`
//! announces the end of a fetch. The lock is held only to read or update
//! `State`, never across I/O: the thread that starts a fetch marks it in
//! flight, releases the lock for the exchange, then re-takes it to install the
//! result and wake the waiters. Readers of a fresh token take the lock for a
//! comparison and a clone, so they never wait for a fetch in flight. Who
//! leads a fetch, who waits for it and until when, and how it ends is
//! [`single_flight`], model-checked with loom.
//!
//! # The read-mostly fast path
//! Taking that lock on every `get_token` would make concurrent callers bounce
//! the lock's cache line, and the token's reference count, between cores. So
//! each change to the current token (or its schedule) bumps `version`, an
//! atomic written only under the lock, and each thread keeps a copy of the
//! current token, in its own allocation, with its schedule and the version it
//! was copied at ([`thread_cache`]). A caller whose copy is of the current
//! version and outside its on-demand window returns a clone of it: a clock
//! read (plus, on Linux, a coarse monotonic read that needs no hardware
//! counter: see `fast_clock`), an atomic load and a reference count only this
//! thread touches. Any
//! other caller takes the lock as before, so refreshes, waiters and fallbacks
//! are unchanged and still single-flight.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

mod access;
mod builder;
mod decide;
mod exchange;
mod fast_clock;
mod flight;
mod host;
mod policy;
mod refresher;
mod rejected;
mod sharing;
mod single_flight;
mod state;
mod thread_cache;

pub use builder::{
    JwtAuthProviderBuilder, DEFAULT_FETCH_TIMEOUT, DEFAULT_REFRESH_BEFORE_EXPIRY,
    DEFAULT_REFRESH_ON_DEMAND_WITHIN, DEFAULT_RETRY_DELAY, DEFAULT_TOKEN_PATH,
};
pub(crate) use exchange::detail_of;
#[cfg(any(fuzzing, test))]
pub(crate) use exchange::parse_response;
#[cfg(any(fuzzing, test))]
pub(crate) use policy::{estimate_offset, ClockSample};
pub use state::Stats;

use self::refresher::Refresher;
use self::state::Shared;
use crate::auth_provider::AuthTokenProvider;
use crate::error::Error;
use crate::token::Token;

/// Keeps a short-lived Tinker JWT fresh for blocking programs.
///
/// `get_token` hands out the cached JWT while it has runway, refreshes it on
/// demand when it is near or past expiry (all concurrent callers sharing one
/// exchange), and a background thread refreshes it well before that. Failed
/// refreshes fall back to the cached token while the server still accepts it,
/// and then to an error that carries the cause.
///
/// Build one with [`JwtAuthProvider::builder`] (or
/// [`from_env`](Self::from_env)) and share it by cloning it or through an
/// [`Arc`]: clones share one cache, one refresh thread and one exchange in
/// flight, as clones of a `ureq::Agent` share one pool. Dropping the last
/// clone (or calling [`shutdown`](Self::shutdown) on any) stops the
/// background thread; `get_token` keeps refreshing on demand.
///
/// # After `fork()`
/// A forked child gets a copy of the provider but not its refresh thread
/// (only the thread that called `fork` exists in the child), so there
/// [`background_running`](Self::background_running) is `false` and
/// `get_token` refreshes on demand only. The child never waits on an exchange
/// that the parent had in flight, and opens its own connections instead of
/// sharing the parent's pooled ones. As with any lock, fork only while no
/// other thread is inside `get_token` (its lock is held for microseconds,
/// never across I/O), or build a new provider in the child.
#[derive(Clone)]
pub struct JwtAuthProvider {
    shared: Arc<Shared>,
    /// Shared by the clones: the last one dropped stops the thread.
    refresher: Arc<Mutex<Option<Refresher>>>,
    /// The base URL it was built for (trimmed, no trailing slash).
    base_url: Arc<str>,
}

impl JwtAuthProvider {
    /// A builder for a provider talking to the Tinker API at `base_url`
    /// (e.g. [`DEFAULT_BASE_URL`](crate::DEFAULT_BASE_URL), or
    /// [`base_url_from_env()`](crate::base_url_from_env)).
    pub fn builder(base_url: impl Into<String>) -> JwtAuthProviderBuilder {
        JwtAuthProviderBuilder::new(base_url.into())
    }

    /// A provider with the default settings, configured by the environment
    /// alone, as the Python SDK is:
    ///
    /// - `TINKER_BASE_URL`, else [`DEFAULT_BASE_URL`](crate::DEFAULT_BASE_URL);
    /// - the credential: `TINKER_API_KEY`, else `TINKER_CREDENTIAL_CMD`
    ///   ([`resolve_auth_provider`](crate::resolve_auth_provider));
    /// - `CLOUDFLARE_ACCESS_CLIENT_ID` and `CLOUDFLARE_ACCESS_CLIENT_SECRET`,
    ///   sent as `CF-Access-Client-Id`/`-Secret` when set;
    /// - `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY` (read by ureq) for the
    ///   exchange's proxy (never for plain `http://` to loopback).
    ///
    /// ```no_run
    /// let jwt = tinker_auth::JwtAuthProvider::from_env()?.token()?;
    /// # Ok::<(), tinker_auth::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`JwtAuthProviderBuilder::build`].
    pub fn from_env() -> Result<Self, Error> {
        Self::builder(crate::http::base_url_from_env()?).build()
    }

    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        refresher: Option<Refresher>,
        base_url: &str,
    ) -> Self {
        JwtAuthProvider {
            shared,
            refresher: Arc::new(Mutex::new(refresher)),
            base_url: base_url.trim().trim_end_matches('/').into(),
        }
    }

    /// The base URL the provider was built for, without a trailing slash:
    /// what [`AuthenticatedAgent::builder_for`](crate::AuthenticatedAgent::builder_for)
    /// sends requests to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The current JWT, refreshed first if it is inside its on-demand window:
    /// [`get_token`](AuthTokenProvider::get_token) without the `Option` (a
    /// JWT provider always has a token or an error).
    ///
    /// # Errors
    /// The cause of a failed refresh when no usable token is cached
    /// ([`Error::Expired`] carrying it, once the cached one has expired).
    pub fn token(&self) -> Result<Token, Error> {
        self.shared.get()
    }

    /// What the provider has done so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// How long the current token has left on the server's clock, if one is held.
    pub fn runway(&self) -> Option<Duration> {
        self.shared.runway()
    }

    /// The estimated offset of the server's clock from the local one
    /// (positive when the server is ahead), in seconds.
    pub fn clock_offset_secs(&self) -> f64 {
        self.shared.clock_offset()
    }

    /// Whether the background refresh thread is running.
    pub fn background_running(&self) -> bool {
        self.refresher
            .lock()
            .as_ref()
            .is_some_and(Refresher::is_running)
    }

    /// Stops the background thread and waits for it (briefly, if it is in the
    /// middle of an exchange), for every clone. `get_token` keeps working,
    /// refreshing on demand. Calling it again does nothing.
    pub fn shutdown(&self) {
        let refresher = self.refresher.lock().take();
        drop(refresher);
    }
}

impl AuthTokenProvider for JwtAuthProvider {
    /// The cached JWT, refreshed first if it is inside its on-demand window.
    /// Never returns `Ok(None)`.
    fn get_token(&self) -> Result<Option<Token>, Error> {
        self.shared.get().map(Some)
    }

    /// As [`get_token`](Self::get_token), returning by `deadline`: a refresh
    /// in flight is waited for only until then (it runs on, and serves later
    /// callers), and one this call would start runs on a helper thread if it
    /// may outlast the deadline. Fails with [`Error::RefreshTimedOut`] (or
    /// [`Error::Expired`] carrying it) when the deadline comes first and no
    /// usable token is cached.
    fn get_token_until(&self, deadline: Instant) -> Result<Option<Token>, Error> {
        self.shared.get_until(deadline).map(Some)
    }

    /// Marks `token` unusable if it is still the current one, so that the next
    /// `get_token` refreshes (once, however many threads report it).
    ///
    /// A token this provider exchanged for, rejected within its probation
    /// (a quarter of its lifetime, at most 60 s, after receipt), makes that
    /// exchange unproductive: the pacing backs off (doubling from 1 s to
    /// `retry_delay`, jittered upward by up to a quarter). The first such
    /// token is replaced after the usual one-second gap; from the second in
    /// a row, until the next exchange may start, `get_token` fails at once
    /// with [`Error::TokensRejected`] instead of waiting. A
    /// token accepted ([`accepted`](AuthTokenProvider::accepted)) or
    /// outliving its probation unrejected ends the back-off.
    fn invalidate(&self, token: &Token) -> bool {
        self.shared.invalidate(token);
        true
    }

    /// Ends the back-off after rejected tokens if `token` is the current one
    /// (see [`Error::TokensRejected`]); one atomic load otherwise.
    fn accepted(&self, token: &Token) {
        self.shared.accepted(token);
    }
}

impl fmt::Debug for JwtAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthProvider")
            .field(
                "token_url",
                &crate::redact::redact_url(self.shared.token_url()),
            )
            .field("stats", &self.stats())
            .field("background_running", &self.background_running())
            .finish_non_exhaustive()
    }
}
