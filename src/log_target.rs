//! The stable `log` targets: every log line of the crate names one of these,
//! so that a filter such as `RUST_LOG=tinker_auth::refresh=warn` keeps working
//! whatever file the line moves to. Each call site passes `target:` with one
//! of these constants (a test in `tests/it/log_targets.rs` checks every one).

/// The provider's own decisions outside a refresh (a seed token refused).
pub const LOG_TARGET_PROVIDER: &str = "tinker_auth::provider";
/// Token refreshes, on demand and in the background thread: failures (warn
/// when they cost the cached token its replacement, debug when a retry is
/// already due), the thread's panics (error) and its shutdown (debug).
pub const LOG_TARGET_REFRESH: &str = "tinker_auth::refresh";
/// The shared token cache: a directory refused (warn), an entry or key
/// ignored or replaced (debug).
pub const LOG_TARGET_SHARED_CACHE: &str = "tinker_auth::shared_cache";
/// `AuthenticatedAgent`: 401 recovery and retries (debug).
pub const LOG_TARGET_AGENT: &str = "tinker_auth::agent";
/// `AuthMiddleware`: a rejected token (debug).
pub const LOG_TARGET_MIDDLEWARE: &str = "tinker_auth::middleware";

/// Every target the crate logs under.
pub const LOG_TARGETS: [&str; 5] = [
    LOG_TARGET_PROVIDER,
    LOG_TARGET_REFRESH,
    LOG_TARGET_SHARED_CACHE,
    LOG_TARGET_AGENT,
    LOG_TARGET_MIDDLEWARE,
];
