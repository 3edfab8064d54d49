//! One call: the retry loop around attempts, with the token fetched (and,
//! after a 401, refreshed once) inside the call's deadline.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::{Method, Response};
use ureq::Body;

use super::retry::{may_retry, retry_delay};
use super::send::Outcome;
use super::{bump, endpoint_name, AuthenticatedAgent};
use crate::auth_provider::AuthTokenProvider;
use crate::error::Error;
use crate::http::join_url;
use crate::jitter;

/// The retry loop logs as the agent: `RUST_LOG` filters written for
/// `tinker_auth::agent` keep working.
const LOG_TARGET: &str = crate::LOG_TARGET_AGENT;

impl AuthenticatedAgent {
    /// Counts a failure that happened after the call's exchange succeeded.
    pub(super) fn counted<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_err() {
            bump(&self.inner.counters.failed);
        }
        r
    }

    pub(super) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(String, Response<Body>, Duration), Error> {
        let c = &self.inner.counters;
        bump(&c.requests);
        let endpoint = endpoint_name(&method, path);
        let url = join_url(&self.inner.base, path);
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
                Outcome::Success(resp, timeout) => {
                    if let Some(t) = &token {
                        inner.provider.accepted(t);
                    }
                    return Ok((resp, timeout, reauthenticated));
                }
                Outcome::Fatal(e) => return Err(e),
                Outcome::Unauthorized { detail } => {
                    bump(&inner.counters.unauthorized);
                    let auth_error = || Error::Authentication {
                        endpoint: endpoint.to_owned(),
                        detail: detail.clone(),
                    };
                    if reauthenticated {
                        log::debug!(target: LOG_TARGET, "request {endpoint}: fresh token rejected too (401)");
                        return Err(auth_error());
                    }
                    let refreshable = token.as_ref().is_some_and(|t| inner.provider.invalidate(t));
                    if !refreshable {
                        return Err(auth_error());
                    }
                    log::debug!(
                        target: LOG_TARGET,
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
                        target: LOG_TARGET,
                            "request {endpoint}: attempt {sent} {what}; giving up (attempts or deadline spent)"
                        );
                        return Err(gave_up(sent, start, error));
                    }
                    log::debug!(
                        target: LOG_TARGET,
                        "request {endpoint}: attempt {sent} {what}; retrying in {delay:.3?}"
                    );
                    bump(&inner.counters.retries);
                    last = Some(error);
                    thread::sleep(delay);
                }
            }
        }
    }
}

fn gave_up(attempts: u32, start: Instant, last: Error) -> Error {
    Error::RetriesExhausted {
        attempts,
        elapsed: start.elapsed(),
        last: Arc::new(last),
    }
}
