//! One attempt: sending the request, reading the response, and classifying
//! how it ended.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use ureq::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use ureq::http::{self, HeaderValue, Method, Response};
use ureq::{AsSendBody, Body};

use super::retry::parse_retry_after;
use super::{AuthenticatedAgent, MAX_RESPONSE_BYTES};
use crate::error::{transport_kind, Error};
use crate::http::{configure_bounded, read_bounded, BodyError};
use crate::provider::detail_of;
use crate::token::Token;

/// Largest error-response body read for its `detail`.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// How one attempt ended.
pub(super) enum Outcome {
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
    /// The attempt's global timeout: what the deadline leaves, at most the
    /// configured timeout and the caller's agent's own.
    pub(super) fn attempt_timeout(&self, remaining: Duration) -> Duration {
        let t = remaining.min(self.inner.timeout);
        match self.inner.agent.config().timeouts().global {
            Some(agent_global) => t.min(agent_global),
            None => t,
        }
    }

    pub(super) fn attempt(
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
        // Our own agent has the User-Agent in its configuration.
        req = self
            .inner
            .headers
            .apply(req, &self.inner.agent, self.inner.own_agent);
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
        let text = read_bounded(resp.body_mut(), MAX_ERROR_BODY).unwrap_or_default();
        let mut secrets = self.inner.headers.secrets();
        secrets.extend(token.map(Token::as_str));
        let detail = detail_of(&text, &secrets);
        if status == 401 {
            if !invalid_token && detail.as_deref() != Some("Invalid JWT") {
                log::debug!(target: crate::LOG_TARGET_AGENT, "request {endpoint}: 401 without a token-rejection signal");
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
        let mut config = configure_bounded(agent, req)
            .http_status_as_error(false)
            .timeout_global(Some(timeout));
        if self.inner.direct {
            config = config.proxy(None);
        }
        agent.run(config.build())
    }
}

/// Reads and parses a successful response's JSON body.
pub(super) fn read_json(
    endpoint: &str,
    mut resp: Response<Body>,
    timeout: Duration,
) -> Result<Value, Error> {
    let status = resp.status().as_u16();
    let bytes = read_bounded(resp.body_mut(), MAX_RESPONSE_BYTES).map_err(|e| match e {
        BodyError::TooLarge => Error::ResponseBody {
            endpoint: endpoint.to_owned(),
            reason: format!("{status} response body is larger than {MAX_RESPONSE_BYTES} bytes"),
        },
        BodyError::Failed(ureq::Error::Timeout(_)) => Error::RequestTimeout {
            endpoint: endpoint.to_owned(),
            after: timeout,
        },
        BodyError::Failed(e) => Error::RequestTransport {
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
