//! [`ErrorKind`]: the one classification of [`Error`](super::Error), and the
//! one table mapping each kind to its retry policy, C error code and CLI exit
//! status.

/// What kind of failure an [`Error`](super::Error) is, for callers that act
/// on the class rather than on the variant: retry or not, which C error code
/// or process exit status to report. See [`Error::kind`](super::Error::kind).
///
/// Errors that wrap another ([`Error::Expired`](super::Error::Expired),
/// [`Error::RetriesExhausted`](super::Error::RetriesExhausted)) take the kind
/// of the error they wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or option is unusable: a bad URL or setting, a malformed
    /// API key, a string that is not a JWT, a body that is not JSON.
    InvalidArgument,
    /// No credential is configured: none passed, none in the environment,
    /// or a blank credential command.
    MissingCredential,
    /// The credential command could not be started, failed, timed out or
    /// printed nothing.
    Credential,
    /// The token endpoint rejected the credential (401 or 403).
    CredentialRejected,
    /// A connection could not be made or broke (exchange or request).
    Transport,
    /// The server cannot be reached as configured: a TLS or certificate
    /// failure, a bad URL or proxy, a redirect refused, an oversized header.
    /// Retrying would fail the same way.
    Unreachable,
    /// An exchange, a refresh or a request attempt ran out of time.
    Timeout,
    /// The server failed or asked to come back later: 5xx, 408, 409, 429.
    ServerError,
    /// The server refused the request itself: any other 4xx that is not an
    /// authentication failure.
    RequestRejected,
    /// A 2xx answer whose body cannot be used (not JSON, no JWT, too large,
    /// a token no fresher than the one held).
    BadResponse,
    /// An API request's token was rejected (401) and a fresh one did not
    /// help, or the API keeps rejecting fresh tokens and the provider is
    /// backing off.
    Authentication,
    /// The operating system refused a resource (a thread).
    Runtime,
    /// A credential provider or the exchange panicked (a bug); the provider
    /// stays usable.
    Panicked,
}

/// One row of the table: see [`ErrorKind::row`].
struct Row {
    transient: bool,
    code: i32,
    exit: u8,
}

// The C ABI's error codes (`TINKER_AUTH_ERR_*` in include/tinker_auth.h);
// their values are stable.
const C_INVALID_ARGUMENT: i32 = -5;
const C_CREDENTIAL: i32 = -6;
const C_REJECTED: i32 = -7;
const C_UNAVAILABLE: i32 = -8;
const C_PANIC: i32 = -9;

// The CLI's exit statuses.
const EXIT_USAGE: u8 = 2;
const EXIT_REJECTED: u8 = 3;
const EXIT_UNAVAILABLE: u8 = 4;

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::InvalidArgument,
        ErrorKind::MissingCredential,
        ErrorKind::Credential,
        ErrorKind::CredentialRejected,
        ErrorKind::Transport,
        ErrorKind::Unreachable,
        ErrorKind::Timeout,
        ErrorKind::ServerError,
        ErrorKind::RequestRejected,
        ErrorKind::BadResponse,
        ErrorKind::Authentication,
        ErrorKind::Runtime,
        ErrorKind::Panicked,
    ];

    /// The table: the library's one `match` on the kinds.
    const fn row(self) -> Row {
        let (transient, code, exit) = match self {
            ErrorKind::InvalidArgument => (false, C_INVALID_ARGUMENT, EXIT_USAGE),
            ErrorKind::MissingCredential => (false, C_CREDENTIAL, EXIT_USAGE),
            ErrorKind::Credential => (false, C_CREDENTIAL, EXIT_REJECTED),
            ErrorKind::CredentialRejected => (false, C_REJECTED, EXIT_REJECTED),
            ErrorKind::Transport => (true, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::Unreachable => (false, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::Timeout => (true, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::ServerError => (true, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::RequestRejected => (false, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::BadResponse => (true, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::Authentication => (false, C_REJECTED, EXIT_REJECTED),
            ErrorKind::Runtime => (true, C_UNAVAILABLE, EXIT_UNAVAILABLE),
            ErrorKind::Panicked => (true, C_PANIC, EXIT_UNAVAILABLE),
        };
        Row {
            transient,
            code,
            exit,
        }
    }

    /// Whether retrying later may help. The token exchange's retries (the
    /// provider's pacing) and [`AuthenticatedAgent`](crate::AuthenticatedAgent)'s
    /// both follow it.
    pub const fn is_transient(self) -> bool {
        self.row().transient
    }

    /// The C ABI's error code for this kind: one of the negative
    /// `TINKER_AUTH_ERR_*` values of `include/tinker_auth.h` (`-5` invalid
    /// argument, `-6` credential, `-7` rejected, `-8` unavailable, `-9` panic).
    pub const fn code(self) -> i32 {
        self.row().code
    }

    /// The `tinker-auth` command's exit status for this kind: `2` usage
    /// (bad argument, no credential), `3` credential unusable or rejected,
    /// `4` service unavailable.
    pub const fn exit_code(self) -> u8 {
        self.row().exit
    }

    /// The kind of an HTTP error status from the token endpoint or an API
    /// request (401 aside, which each classifies itself).
    pub(crate) const fn of_status(status: u16) -> ErrorKind {
        match status {
            408 | 409 | 429 | 500..=599 => ErrorKind::ServerError,
            _ => ErrorKind::RequestRejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::time::Duration;

    #[test]
    fn every_kind_has_one_row() {
        for kind in ErrorKind::ALL {
            let code = kind.code();
            assert!((-9..=-5).contains(&code), "{kind:?} {code}");
            assert!(matches!(kind.exit_code(), 2..=4), "{kind:?}");
            // Only what may pass on its own is retried.
            let transient = matches!(
                kind,
                ErrorKind::Transport
                    | ErrorKind::Timeout
                    | ErrorKind::ServerError
                    | ErrorKind::BadResponse
                    | ErrorKind::Runtime
                    | ErrorKind::Panicked
            );
            assert_eq!(kind.is_transient(), transient, "{kind:?}");
        }
        // Exhaustive: a new kind must be added to ALL.
        for kind in ErrorKind::ALL {
            let listed = match kind {
                ErrorKind::InvalidArgument
                | ErrorKind::MissingCredential
                | ErrorKind::Credential
                | ErrorKind::CredentialRejected
                | ErrorKind::Transport
                | ErrorKind::Unreachable
                | ErrorKind::Timeout
                | ErrorKind::ServerError
                | ErrorKind::RequestRejected
                | ErrorKind::BadResponse
                | ErrorKind::Authentication
                | ErrorKind::Runtime
                | ErrorKind::Panicked => true,
            };
            assert!(listed);
        }
        // A malformed key and a bad option are one class in C and the CLI.
        assert_eq!(ErrorKind::InvalidArgument.code(), C_INVALID_ARGUMENT);
        assert_eq!(ErrorKind::InvalidArgument.exit_code(), EXIT_USAGE);
        assert_eq!(ErrorKind::CredentialRejected.code(), -7);
        assert_eq!(ErrorKind::CredentialRejected.exit_code(), 3);
        assert_eq!(ErrorKind::Panicked.code(), -9);
    }

    #[test]
    fn statuses_classify_alike_for_the_exchange_and_requests() {
        for s in [408, 409, 429, 500, 502, 503, 599] {
            assert_eq!(ErrorKind::of_status(s), ErrorKind::ServerError, "{s}");
        }
        for s in [400, 402, 404, 410, 422, 300, 600] {
            assert_eq!(ErrorKind::of_status(s), ErrorKind::RequestRejected, "{s}");
        }
    }

    #[test]
    fn the_back_off_after_rejected_tokens_says_so_and_maps_like_a_401() {
        let e = Error::TokensRejected {
            in_a_row: 3,
            retry_in: Duration::from_millis(4500),
        };
        assert_eq!(
            e.to_string(),
            "token refresh: the api is rejecting fresh tokens (3 in a row, each soon after its \
             exchange); backing off, next exchange in 4.5s"
        );
        assert!(std::error::Error::source(&e).is_none());
        assert!(!e.is_transient());
        // One table: the C code and the CLI exit status of a rejected request.
        let auth = Error::Authentication {
            endpoint: "GET /x".into(),
            detail: None,
        };
        assert_eq!(e.kind(), auth.kind());
        assert_eq!(e.kind().code(), -7);
        assert_eq!(e.kind().exit_code(), 3);
        // Expired never wraps it (see the provider's fallback), but if it did
        // the kind would follow.
        let wrapped = Error::Expired {
            cause: std::sync::Arc::new(e),
        };
        assert_eq!(wrapped.kind(), ErrorKind::Authentication);
    }
}
