//! The crate's one error type, and its classification ([`ErrorKind`]).

mod kind;

pub use kind::ErrorKind;

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
///
/// # Causes
/// Following the Rust API guidelines, a cause is shown once: every variant
/// that has one (an I/O or HTTP error, the error a refresh failed with, the
/// last of a request's attempts) writes it into its own message after a
/// `: `, so [`source`](StdError::source) returns `None` for all of them and
/// printing the chain repeats nothing. The cause stays reachable as the
/// variant's field.
///
/// # Classes
/// [`kind`](Error::kind) sorts every variant into an [`ErrorKind`], which
/// decides whether it is retried ([`is_transient`](Error::is_transient)), and
/// the C error code and CLI exit status that report it.
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
    /// The API keeps rejecting (401) tokens soon after the provider
    /// exchanged for them, and the provider is backing off its exchanges:
    /// a request that would wait for the next one fails at once instead.
    /// Ends when a token is accepted, or outlives its probation unrejected.
    TokensRejected {
        /// Exchanges in a row whose token was rejected soon after receipt.
        in_a_row: u32,
        /// Time until the next exchange may start.
        retry_in: Duration,
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
    /// The operating system refused a resource the provider needs: the
    /// refresh thread could not be started.
    Runtime {
        /// What could not be done, e.g. `cannot start the refresh thread`.
        what: &'static str,
        /// The operating system's error.
        source: Arc<io::Error>,
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
    /// The class of this failure (see [`ErrorKind`]). Errors that wrap
    /// another ([`Expired`](Error::Expired),
    /// [`RetriesExhausted`](Error::RetriesExhausted)) take its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidApiKey
            | Error::InvalidJwt { .. }
            | Error::Config { .. }
            | Error::RequestBody { .. } => ErrorKind::InvalidArgument,
            Error::MissingCredential | Error::EmptyCommand => ErrorKind::MissingCredential,
            Error::CommandSpawn { .. }
            | Error::CommandFailed { .. }
            | Error::CommandEmptyOutput
            | Error::CommandTimedOut { .. } => ErrorKind::Credential,
            Error::CredentialRejected { .. } => ErrorKind::CredentialRejected,
            Error::Transport { source } | Error::RequestTransport { source, .. } => {
                transport_kind(source)
            }
            Error::Timeout { .. }
            | Error::RefreshTimedOut { .. }
            | Error::RequestTimeout { .. } => ErrorKind::Timeout,
            Error::Status { status, .. } | Error::RequestStatus { status, .. } => {
                ErrorKind::of_status(*status)
            }
            Error::BadResponse { .. } | Error::ResponseBody { .. } => ErrorKind::BadResponse,
            Error::Authentication { .. } | Error::TokensRejected { .. } => {
                ErrorKind::Authentication
            }
            Error::Runtime { .. } => ErrorKind::Runtime,
            Error::Panicked { .. } => ErrorKind::Panicked,
            Error::Expired { cause } => cause.kind(),
            Error::RetriesExhausted { last, .. } => last.kind(),
        }
    }

    /// Whether retrying later may help (transport trouble, timeouts, 5xx,
    /// 408, 409, 429): [`ErrorKind::is_transient`] of [`kind`](Self::kind).
    ///
    /// A rejected credential, a malformed configuration or a bad key are not
    /// transient: retrying them only adds load.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
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

/// Transport failures worth another attempt are [`ErrorKind::Transport`]: the
/// connection could not be made or broke. Bad URLs, TLS and certificate
/// errors, oversized headers and the like would fail the same way again:
/// they are [`ErrorKind::Unreachable`].
pub(crate) fn transport_kind(e: &ureq::Error) -> ErrorKind {
    match e {
        // rustls reports every TLS failure (an unknown issuer, a name
        // mismatch, an expired certificate, a handshake alert) as an I/O
        // error of kind `InvalidData`: retrying would fail the same way.
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            ErrorKind::Unreachable
        }
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => ErrorKind::Transport,
        _ => ErrorKind::Unreachable,
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
            Error::TokensRejected { in_a_row, retry_in } => write!(
                f,
                "token refresh: the api is rejecting fresh tokens ({in_a_row} in a row, each soon \
                 after its exchange); backing off, next exchange in {retry_in:.1?}"
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
            Error::Runtime { what, source } => write!(f, "{what}: {source}"),
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

/// Every cause is part of the message (see [`Error`]'s "Causes"), so
/// `source()` is `None`.
impl StdError for Error {}

#[cfg(test)]
mod tests;
