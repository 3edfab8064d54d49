//! The crate's one error type.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong while obtaining or refreshing a token.
///
/// Messages are lowercase `context: cause` and never contain a credential or a
/// JWT. The type is cheap to clone: heavy causes sit behind an [`Arc`], so one
/// failed refresh can be handed to every thread that waited on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// An API key does not have a form the Tinker API accepts.
    InvalidApiKey,
    /// No credential was passed and none is configured in the environment.
    MissingCredential,
    /// The credential command is empty or blank.
    EmptyCommand,
    /// The credential command could not be started.
    CommandSpawn {
        /// Why the process could not be started.
        source: Arc<io::Error>,
    },
    /// The credential command exited unsuccessfully. What it wrote to stderr
    /// went to this process's stderr and is not part of the error: it may
    /// quote the secret.
    CommandFailed {
        /// Exit code, or `None` when the process was killed by a signal.
        code: Option<i32>,
    },
    /// The credential command succeeded but printed nothing.
    CommandEmptyOutput,
    /// The credential command ran past its timeout and was killed.
    CommandTimedOut {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// A string is not a JWT this crate can read.
    InvalidJwt {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The provider's configuration is unusable.
    Config {
        /// What is wrong with it.
        reason: String,
    },
    /// The token exchange failed in transit: connection refused, reset, TLS, ...
    Transport {
        /// The HTTP client's error.
        source: Arc<ureq::Error>,
    },
    /// The token exchange did not complete within the fetch timeout.
    Timeout {
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// A refresh did not end in time for its caller: its own deadline (the
    /// credential provider's time limit plus `fetch_timeout`, set when it
    /// started) or the caller's passed first. The refresh may still be
    /// running; its token then serves later callers.
    RefreshTimedOut {
        /// The step still running: `credential provider`, `token exchange`
        /// (or `pacing gap` when the caller's deadline came before the next
        /// exchange was allowed to start).
        step: &'static str,
        /// Which deadline ran out.
        limit: &'static str,
        /// Time since the refresh started.
        after: Duration,
    },
    /// The token endpoint answered with an unexpected status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's `detail`, when its body was JSON carrying one.
        detail: Option<String>,
    },
    /// The token endpoint rejected the credential itself (401 or 403).
    CredentialRejected {
        /// The HTTP status code.
        status: u16,
        /// The server's `detail`, when its body was JSON carrying one.
        detail: Option<String>,
    },
    /// The token endpoint answered 2xx with a body this crate cannot use.
    BadResponse {
        /// What is wrong with the body.
        reason: String,
    },
    /// A credential provider or the exchange panicked; the provider stays usable.
    Panicked {
        /// Which step panicked.
        during: &'static str,
    },
    /// The cached token has expired and the refresh that should replace it failed.
    Expired {
        /// Why the refresh failed.
        cause: Arc<Error>,
    },
    /// An API request was answered with an error status that is not retried
    /// (or was the last of its retries).
    RequestStatus {
        /// Method and path of the request, e.g. `GET /api/v1/futures` (no query).
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The server's `detail`, when its body was JSON carrying one.
        detail: Option<String>,
    },
    /// The server rejected the token of an API request (401), and a fresh
    /// token did not help or the provider cannot supply one.
    Authentication {
        /// Method and path of the request (no query).
        endpoint: String,
        /// The server's `detail`, when its body was JSON carrying one.
        detail: Option<String>,
    },
    /// An API request failed in transit: connection refused, reset, TLS, ...
    RequestTransport {
        /// Method and path of the request (no query).
        endpoint: String,
        /// The HTTP client's error.
        source: Arc<ureq::Error>,
    },
    /// An API request attempt did not complete within its timeout.
    RequestTimeout {
        /// Method and path of the request (no query).
        endpoint: String,
        /// The timeout that was exceeded.
        after: Duration,
    },
    /// A request body could not be serialized to JSON.
    RequestBody {
        /// The serializer's error.
        source: Arc<serde_json::Error>,
    },
    /// An API request succeeded but its response body is unusable (not JSON, too large).
    ResponseBody {
        /// Method and path of the request (no query).
        endpoint: String,
        /// What is wrong with the body.
        reason: String,
    },
    /// A request was retried until its attempts or its deadline ran out.
    RetriesExhausted {
        /// Attempts sent.
        attempts: u32,
        /// Time spent from the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's failure.
        last: Arc<Error>,
    },
}

impl Error {
    /// Whether retrying later may help (transport trouble, timeouts, 5xx, 429).
    ///
    /// A rejected credential, a malformed configuration or a bad key are not
    /// transient: retrying them only adds load.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::RefreshTimedOut { .. }
            | Error::Panicked { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::BadResponse { .. } => true,
            Error::Expired { cause } => cause.is_transient(),
            Error::RequestTransport { .. } | Error::RequestTimeout { .. } => true,
            Error::RequestStatus { status, .. } => {
                *status >= 500 || matches!(*status, 408 | 409 | 429)
            }
            Error::RetriesExhausted { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn invalid_jwt(reason: &'static str) -> Self {
        Error::InvalidJwt { reason }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config {
            reason: reason.into(),
        }
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidApiKey => f.write_str(
                "invalid api key: expected a Tinker key starting with `tml-` or a JWT starting with `eyJ`",
            ),
            Error::MissingCredential => f.write_str(
                "no credential: pass an api key or set TINKER_API_KEY (or TINKER_CREDENTIAL_CMD)",
            ),
            Error::EmptyCommand => f.write_str("credential command: the command is empty"),
            Error::CommandSpawn { source } => write!(f, "credential command: cannot start: {source}"),
            Error::CommandFailed { code } => match code {
                Some(c) => write!(f, "credential command: exited with status {c}"),
                None => f.write_str("credential command: killed by a signal"),
            },
            Error::CommandEmptyOutput => {
                f.write_str("credential command: succeeded but printed no credential")
            }
            Error::CommandTimedOut { after } => {
                write!(f, "credential command: still running after {after:?}, killed")
            }
            Error::InvalidJwt { reason } => write!(f, "invalid jwt: {reason}"),
            Error::Config { reason } => write!(f, "invalid configuration: {reason}"),
            Error::Transport { source } => write!(f, "token exchange: {source}"),
            Error::Timeout { after } => write!(f, "token exchange: timed out after {after:?}"),
            Error::RefreshTimedOut { step, limit, after } => write!(
                f,
                "token refresh: {step} still running when {limit} ran out, {after:.1?} after it started"
            ),
            Error::Status { status, detail } => write!(
                f,
                "token exchange: server answered {status}{}",
                detail_suffix(detail)
            ),
            Error::CredentialRejected { status, detail } => write!(
                f,
                "token exchange: credential rejected ({status}){}",
                detail_suffix(detail)
            ),
            Error::BadResponse { reason } => write!(f, "token exchange: {reason}"),
            Error::Panicked { during } => write!(f, "{during}: panicked"),
            Error::Expired { cause } => {
                write!(f, "token expired and could not be refreshed: {cause}")
            }
            Error::RequestStatus {
                endpoint,
                status,
                detail,
            } => write!(
                f,
                "request {endpoint}: server answered {status}{}",
                detail_suffix(detail)
            ),
            Error::Authentication { endpoint, detail } => write!(
                f,
                "request {endpoint}: authentication failed (401){}",
                detail_suffix(detail)
            ),
            Error::RequestTransport { endpoint, source } => {
                write!(f, "request {endpoint}: {source}")
            }
            Error::RequestTimeout { endpoint, after } => {
                write!(f, "request {endpoint}: timed out after {after:?}")
            }
            Error::RequestBody { source } => {
                write!(f, "request body: cannot serialize to json: {source}")
            }
            Error::ResponseBody { endpoint, reason } => {
                write!(f, "request {endpoint}: {reason}")
            }
            Error::RetriesExhausted {
                attempts,
                elapsed,
                last,
            } => write!(
                f,
                "gave up after {attempts} attempt{} in {:.1?}: {last}",
                if *attempts == 1 { "" } else { "s" },
                elapsed
            ),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::CommandSpawn { source } => Some(source.as_ref()),
            Error::Transport { source } => Some(source.as_ref()),
            Error::Expired { cause } => Some(cause.as_ref()),
            Error::RequestTransport { source, .. } => Some(source.as_ref()),
            Error::RequestBody { source } => Some(source.as_ref()),
            Error::RetriesExhausted { last, .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_context_colon_cause() {
        let errors = [
            Error::InvalidApiKey,
            Error::MissingCredential,
            Error::EmptyCommand,
            Error::CommandEmptyOutput,
            Error::CommandTimedOut {
                after: Duration::from_secs(1),
            },
            Error::RefreshTimedOut {
                step: "token exchange",
                limit: "the caller's deadline",
                after: Duration::from_secs(1),
            },
            Error::invalid_jwt("missing `exp`"),
            Error::Status {
                status: 500,
                detail: Some("boom".into()),
            },
            Error::CredentialRejected {
                status: 401,
                detail: None,
            },
            Error::RequestStatus {
                endpoint: "GET /api/v1/x".into(),
                status: 400,
                detail: Some("bad".into()),
            },
            Error::Authentication {
                endpoint: "POST /api/v1/x".into(),
                detail: None,
            },
            Error::RequestTimeout {
                endpoint: "GET /api/v1/x".into(),
                after: Duration::from_secs(1),
            },
            Error::ResponseBody {
                endpoint: "GET /api/v1/x".into(),
                reason: "200 response is not json".into(),
            },
            Error::RetriesExhausted {
                attempts: 3,
                elapsed: Duration::from_millis(1500),
                last: Arc::new(Error::RequestStatus {
                    endpoint: "GET /api/v1/x".into(),
                    status: 503,
                    detail: None,
                }),
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.contains(": "), "{text}");
            let first = text.chars().next().unwrap();
            assert!(first.is_lowercase(), "{text}");
        }
    }

    #[test]
    fn expired_exposes_its_cause() {
        let cause = Error::Status {
            status: 503,
            detail: None,
        };
        let e = Error::Expired {
            cause: Arc::new(cause),
        };
        assert!(e.source().unwrap().to_string().contains("503"));
        assert!(e.is_transient());
        assert!(!Error::CredentialRejected {
            status: 401,
            detail: None
        }
        .is_transient());
    }

    #[test]
    fn request_errors_name_the_endpoint_and_classify_retries() {
        let status = |status| Error::RequestStatus {
            endpoint: "GET /api/v1/x".into(),
            status,
            detail: Some("nope".into()),
        };
        assert_eq!(
            status(400).to_string(),
            "request GET /api/v1/x: server answered 400: nope"
        );
        for s in [408, 409, 429, 500, 503] {
            assert!(status(s).is_transient(), "{s}");
        }
        for s in [400, 403, 404, 422] {
            assert!(!status(s).is_transient(), "{s}");
        }
        let gave_up = Error::RetriesExhausted {
            attempts: 3,
            elapsed: Duration::from_millis(1200),
            last: Arc::new(status(503)),
        };
        assert_eq!(
            gave_up.to_string(),
            "gave up after 3 attempts in 1.2s: request GET /api/v1/x: server answered 503: nope"
        );
        assert!(gave_up.is_transient());
        assert!(gave_up.source().unwrap().to_string().contains("503"));
        let auth = Error::Authentication {
            endpoint: "POST /api/v1/y".into(),
            detail: Some("Invalid JWT".into()),
        };
        assert_eq!(
            auth.to_string(),
            "request POST /api/v1/y: authentication failed (401): Invalid JWT"
        );
        assert!(!auth.is_transient());
    }

    #[test]
    fn error_is_send_sync_and_cheap_to_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Error>();
    }
}
