//! Every variant: its kind, and its cause shown once.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{Error, ErrorKind};

fn io_error() -> Arc<io::Error> {
    Arc::new(io::Error::new(io::ErrorKind::NotFound, "no such file"))
}

fn json_error() -> Arc<serde_json::Error> {
    Arc::new(serde_json::from_str::<serde_json::Value>("{").unwrap_err())
}

/// One of each variant (statuses and transport errors in each class), with
/// the kind it must have. A new variant must be added here: the `match` in
/// [`variants_are_all_listed`] fails to compile until it is.
fn every_variant() -> Vec<(Error, ErrorKind)> {
    let secs = Duration::from_secs(1);
    let ep = || "GET /api/v1/x".to_owned();
    let rejected = Error::CredentialRejected {
        status: 401,
        detail: Some("revoked".into()),
    };
    vec![
        (Error::InvalidApiKey, ErrorKind::InvalidArgument),
        (Error::MissingCredential, ErrorKind::MissingCredential),
        (Error::EmptyCommand, ErrorKind::MissingCredential),
        (
            Error::CommandSpawn { source: io_error() },
            ErrorKind::Credential,
        ),
        (
            Error::CommandFailed { code: Some(3) },
            ErrorKind::Credential,
        ),
        (Error::CommandFailed { code: None }, ErrorKind::Credential),
        (Error::CommandEmptyOutput, ErrorKind::Credential),
        (
            Error::CommandTimedOut { after: secs },
            ErrorKind::Credential,
        ),
        (
            Error::invalid_jwt("missing `exp` claim"),
            ErrorKind::InvalidArgument,
        ),
        (
            Error::config("fetch_timeout must be positive"),
            ErrorKind::InvalidArgument,
        ),
        (
            Error::Transport {
                source: Arc::new(ureq::Error::ConnectionFailed),
            },
            ErrorKind::Transport,
        ),
        (
            Error::Transport {
                source: Arc::new(ureq::Error::BadUri("x".into())),
            },
            ErrorKind::Unreachable,
        ),
        (Error::Timeout { after: secs }, ErrorKind::Timeout),
        (
            Error::RefreshTimedOut {
                step: "token exchange",
                limit: "the caller's deadline",
                after: secs,
            },
            ErrorKind::Timeout,
        ),
        (
            Error::Status {
                status: 503,
                detail: None,
            },
            ErrorKind::ServerError,
        ),
        (
            Error::Status {
                status: 409,
                detail: None,
            },
            ErrorKind::ServerError,
        ),
        (
            Error::Status {
                status: 404,
                detail: Some("no such route".into()),
            },
            ErrorKind::RequestRejected,
        ),
        (rejected.clone(), ErrorKind::CredentialRejected),
        (
            Error::BadResponse {
                reason: "200 response is not JSON".into(),
            },
            ErrorKind::BadResponse,
        ),
        (
            Error::Panicked {
                during: "token exchange",
            },
            ErrorKind::Panicked,
        ),
        (
            Error::Expired {
                cause: Arc::new(rejected),
            },
            ErrorKind::CredentialRejected,
        ),
        (
            Error::Expired {
                cause: Arc::new(Error::Timeout { after: secs }),
            },
            ErrorKind::Timeout,
        ),
        (
            Error::RequestStatus {
                endpoint: ep(),
                status: 429,
                detail: None,
            },
            ErrorKind::ServerError,
        ),
        (
            Error::RequestStatus {
                endpoint: ep(),
                status: 422,
                detail: Some("bad field".into()),
            },
            ErrorKind::RequestRejected,
        ),
        (
            Error::Authentication {
                endpoint: ep(),
                detail: Some("Invalid JWT".into()),
            },
            ErrorKind::Authentication,
        ),
        (
            Error::TokensRejected {
                in_a_row: 3,
                retry_in: secs,
            },
            ErrorKind::Authentication,
        ),
        (
            Error::RequestTransport {
                endpoint: ep(),
                source: Arc::new(ureq::Error::HostNotFound),
            },
            ErrorKind::Transport,
        ),
        (
            Error::RequestTransport {
                endpoint: ep(),
                source: Arc::new(ureq::Error::TooManyRedirects),
            },
            ErrorKind::Unreachable,
        ),
        (
            Error::RequestTimeout {
                endpoint: ep(),
                after: secs,
            },
            ErrorKind::Timeout,
        ),
        (
            Error::RequestBody {
                source: json_error(),
            },
            ErrorKind::InvalidArgument,
        ),
        (
            Error::ResponseBody {
                endpoint: ep(),
                reason: "200 response is not json".into(),
            },
            ErrorKind::BadResponse,
        ),
        (
            Error::RetriesExhausted {
                attempts: 3,
                elapsed: secs,
                last: Arc::new(Error::RequestStatus {
                    endpoint: ep(),
                    status: 502,
                    detail: None,
                }),
            },
            ErrorKind::ServerError,
        ),
        (
            Error::Runtime {
                what: "cannot start the refresh thread",
                source: Arc::new(io::Error::from(io::ErrorKind::OutOfMemory)),
            },
            ErrorKind::Runtime,
        ),
    ]
}

#[test]
fn variants_are_all_listed() {
    let mut seen = std::collections::BTreeSet::new();
    for (e, _) in every_variant() {
        // Exhaustive, without a wildcard: a new variant breaks the build here.
        let name = match e {
            Error::InvalidApiKey => "InvalidApiKey",
            Error::MissingCredential => "MissingCredential",
            Error::EmptyCommand => "EmptyCommand",
            Error::CommandSpawn { .. } => "CommandSpawn",
            Error::CommandFailed { .. } => "CommandFailed",
            Error::CommandEmptyOutput => "CommandEmptyOutput",
            Error::CommandTimedOut { .. } => "CommandTimedOut",
            Error::InvalidJwt { .. } => "InvalidJwt",
            Error::Config { .. } => "Config",
            Error::Transport { .. } => "Transport",
            Error::Timeout { .. } => "Timeout",
            Error::RefreshTimedOut { .. } => "RefreshTimedOut",
            Error::Status { .. } => "Status",
            Error::CredentialRejected { .. } => "CredentialRejected",
            Error::BadResponse { .. } => "BadResponse",
            Error::Panicked { .. } => "Panicked",
            Error::Expired { .. } => "Expired",
            Error::RequestStatus { .. } => "RequestStatus",
            Error::Authentication { .. } => "Authentication",
            Error::TokensRejected { .. } => "TokensRejected",
            Error::RequestTransport { .. } => "RequestTransport",
            Error::RequestTimeout { .. } => "RequestTimeout",
            Error::RequestBody { .. } => "RequestBody",
            Error::ResponseBody { .. } => "ResponseBody",
            Error::RetriesExhausted { .. } => "RetriesExhausted",
            Error::Runtime { .. } => "Runtime",
        };
        seen.insert(name);
    }
    assert_eq!(seen.len(), 26, "every variant is constructed: {seen:?}");
}

#[test]
fn every_variant_has_its_kind() {
    for (e, kind) in every_variant() {
        assert_eq!(e.kind(), kind, "{e:?}");
        assert_eq!(e.is_transient(), kind.is_transient(), "{e:?}");
    }
}

#[test]
fn every_kind_is_reached_by_some_variant() {
    let kinds: Vec<ErrorKind> = every_variant().into_iter().map(|(_, k)| k).collect();
    for kind in ErrorKind::ALL {
        assert!(kinds.contains(&kind), "{kind:?} has no variant");
    }
}

#[test]
fn a_cause_is_shown_once() {
    for (e, _) in every_variant() {
        let text = e.to_string();
        if let Some(source) = e.source() {
            let cause = source.to_string();
            assert!(
                !text.contains(&cause),
                "{text:?} repeats its source {cause:?}"
            );
        }
        let first = text.chars().next().unwrap();
        assert!(first.is_lowercase(), "{text}");
    }
    // The causes are in the messages instead.
    let e = Error::CommandSpawn { source: io_error() };
    assert!(e.to_string().ends_with(": no such file"), "{e}");
    let e = Error::Runtime {
        what: "cannot start the refresh thread",
        source: io_error(),
    };
    assert_eq!(
        e.to_string(),
        "cannot start the refresh thread: no such file"
    );
}

#[test]
fn conflict_is_transient_for_the_exchange_and_requests_alike() {
    let exchange = Error::Status {
        status: 409,
        detail: None,
    };
    let request = Error::RequestStatus {
        endpoint: "GET /x".into(),
        status: 409,
        detail: None,
    };
    assert!(exchange.is_transient() && request.is_transient());
}

// Messages and classification, one family at a time.

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
    assert!(e.to_string().contains("503"));
    assert!(e.source().is_none());
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
    assert!(gave_up.source().is_none());
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
