//! The library's warnings on stderr, one line each: a shared cache directory
//! it refuses (a symlink, not ours, writable by group or others) costs only
//! sharing, and the token is still printed, but the user should hear of it.
//!
//! The library's messages name paths and causes, never a secret. Its warnings
//! about a failed refresh are left out: the CLI's own error line says the same.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The target whose warnings (failed refreshes) repeat the error the CLI reports itself.
const REPEATS_THE_ERROR: &str = tinker_auth::LOG_TARGET_REFRESH;

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn && metadata.target() != REPEATS_THE_ERROR
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = record.args().to_string().replace(['\n', '\r'], " ");
        let _ = writeln!(std::io::stderr(), "tinker-auth: warning: {line}");
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger (once; a second call changes nothing).
pub(crate) fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(target: &str, level: Level) -> bool {
        Stderr.enabled(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn shared_cache_warnings_show_and_failed_refreshes_do_not() {
        assert!(enabled(tinker_auth::LOG_TARGET_SHARED_CACHE, Level::Warn));
        assert!(!enabled(tinker_auth::LOG_TARGET_SHARED_CACHE, Level::Debug));
        // The CLI's own error line says what a failed refresh's warning would.
        assert!(!enabled(tinker_auth::LOG_TARGET_REFRESH, Level::Warn));
    }
}
