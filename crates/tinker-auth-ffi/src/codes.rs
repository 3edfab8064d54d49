//! Error codes, the error struct, the per-thread last error, and the guard
//! that keeps panics from crossing into C.

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tinker_auth::Error;

use crate::c_out::{c_message, write_c_string};

/// Success.
pub const TINKER_AUTH_OK: i32 = 0;
/// A required pointer argument was null.
pub const TINKER_AUTH_ERR_NULL_POINTER: i32 = -1;
/// A string argument was not valid UTF-8.
pub const TINKER_AUTH_ERR_INVALID_UTF8: i32 = -2;
/// The handle is not live: already freed, or never returned by `tinker_auth_new`.
pub const TINKER_AUTH_ERR_INVALID_HANDLE: i32 = -3;
/// The buffer cannot hold the token and its terminating NUL; nothing was copied.
pub const TINKER_AUTH_ERR_BUFFER_TOO_SMALL: i32 = -4;
/// An argument or option is unusable (bad URL, malformed key, out-of-range timing, wrong `struct_size`).
pub const TINKER_AUTH_ERR_INVALID_ARGUMENT: i32 = -5;
/// No usable credential: none configured, or the credential command failed.
pub const TINKER_AUTH_ERR_CREDENTIAL: i32 = -6;
/// The token endpoint rejected the credential (401 or 403).
pub const TINKER_AUTH_ERR_REJECTED: i32 = -7;
/// The token endpoint is unreachable or failing, and no valid token is cached.
pub const TINKER_AUTH_ERR_UNAVAILABLE: i32 = -8;
/// The library caught a panic (a bug); the handle stays usable.
pub const TINKER_AUTH_ERR_PANIC: i32 = -9;

/// Size of [`TinkerAuthError::message`], terminating NUL included.
pub const TINKER_AUTH_ERROR_MESSAGE_LEN: usize = 256;

/// An error reported through an out-parameter (C: `tinker_auth_error`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TinkerAuthError {
    /// `TINKER_AUTH_OK` or one of the `TINKER_AUTH_ERR_*` codes.
    pub code: i32,
    /// A one-line, NUL-terminated message (empty on success); never contains a secret.
    pub message: [c_char; TINKER_AUTH_ERROR_MESSAGE_LEN],
}

thread_local! {
    /// This thread's last failure: code and message.
    static LAST_ERROR: RefCell<(i32, String)> = const { RefCell::new((TINKER_AUTH_OK, String::new())) };
}

/// A failed call: the code returned and the message recorded.
pub(crate) struct Failure {
    pub(crate) code: i32,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn panicked(function: &str) -> Self {
        Failure::new(
            TINKER_AUTH_ERR_PANIC,
            format!("{function}: internal error: panicked"),
        )
    }

    pub(crate) fn from_error(function: &str, e: &Error) -> Self {
        // Error messages never contain a credential or a JWT.
        // The library's one classification table gives the code.
        Failure::new(e.kind().code(), format!("{function}: {e}"))
    }

    /// Stores the failure as this thread's last error and returns its code.
    pub(crate) fn record(&self) -> i32 {
        // `try_with`/`try_borrow_mut`: recording must never panic, not even
        // while the thread is exiting.
        let _ = LAST_ERROR.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                last.0 = self.code;
                last.1.clone_from(&self.message);
            }
        });
        self.code
    }
}

/// Runs an extern function's body: a panic becomes `TINKER_AUTH_ERR_PANIC`,
/// a failure is recorded as the thread's last error.
pub(crate) fn guarded(function: &str, body: impl FnOnce() -> Result<i32, Failure>) -> i32 {
    let outcome =
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(Failure::panicked(function)));
    match outcome {
        Ok(code) => code,
        Err(f) => f.record(),
    }
}

/// A [`TinkerAuthError`] holding `code` and `message` (truncated, NUL-terminated).
pub(crate) fn error_struct(code: i32, message: &str) -> TinkerAuthError {
    let mut out = TinkerAuthError {
        code,
        message: [0; TINKER_AUTH_ERROR_MESSAGE_LEN],
    };
    for (dst, &src) in out
        .message
        .iter_mut()
        .zip(c_message(message, TINKER_AUTH_ERROR_MESSAGE_LEN).iter())
    {
        *dst = src as c_char;
    }
    out
}

/// Writes `value` through `err` unless it is null.
///
/// # Safety
/// `err` is null or valid for writing one `TinkerAuthError`.
pub(crate) unsafe fn set_error(err: *mut TinkerAuthError, value: TinkerAuthError) {
    if !err.is_null() {
        // SAFETY: non-null, and by this function's contract valid for a write;
        // `write` does not read the (possibly uninitialised) old value.
        unsafe { err.write(value) };
    }
}

/// Returns the code of the last failed call on this thread (`TINKER_AUTH_OK`
/// if none failed yet; successful calls leave it unchanged) and copies its
/// message, truncated to fit and NUL-terminated, into `buf` when `buf` is not
/// null and `buf_len` is positive.
///
/// # Safety
/// `buf` is null or valid for writing `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_last_error(buf: *mut c_char, buf_len: usize) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let (code, message) = LAST_ERROR
            .try_with(|last| last.try_borrow().map(|l| l.clone()).unwrap_or_default())
            .unwrap_or_default();
        if !buf.is_null() && buf_len > 0 {
            let text = c_message(&message, buf_len);
            // SAFETY: `buf` is non-null and the caller guarantees `buf_len`
            // writable bytes; `c_message` keeps `text.len() + 1 <= buf_len`, and
            // `text` is our own allocation.
            unsafe { write_c_string(&text, buf) };
        }
        code
    }))
    .unwrap_or(TINKER_AUTH_ERR_PANIC)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use tinker_auth::ErrorKind;

    fn last() -> (i32, String) {
        let mut buf = [0 as c_char; TINKER_AUTH_ERROR_MESSAGE_LEN];
        // SAFETY: `buf` is a live local array of the stated length.
        let code = unsafe { tinker_auth_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: `tinker_auth_last_error` NUL-terminated it.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
        (code, text.to_string_lossy().into_owned())
    }

    #[test]
    fn a_panic_becomes_an_error_code() {
        let code = guarded("test_fn", || panic!("boom"));
        assert_eq!(code, TINKER_AUTH_ERR_PANIC);
        assert_eq!(
            last(),
            (
                TINKER_AUTH_ERR_PANIC,
                "test_fn: internal error: panicked".into()
            )
        );
    }

    #[test]
    fn the_error_struct_is_truncated_and_terminated() {
        let e = error_struct(-1, &"x".repeat(1000));
        assert_eq!(e.message[TINKER_AUTH_ERROR_MESSAGE_LEN - 1], 0);
        assert_eq!(e.message[TINKER_AUTH_ERROR_MESSAGE_LEN - 2], b'x' as c_char);
    }

    #[test]
    fn every_error_kind_maps_to_a_declared_code() {
        let declared = [
            TINKER_AUTH_ERR_INVALID_ARGUMENT,
            TINKER_AUTH_ERR_CREDENTIAL,
            TINKER_AUTH_ERR_REJECTED,
            TINKER_AUTH_ERR_UNAVAILABLE,
            TINKER_AUTH_ERR_PANIC,
        ];
        for kind in ErrorKind::ALL {
            assert!(declared.contains(&kind.code()), "{kind:?}: {}", kind.code());
        }
    }

    #[test]
    fn error_codes_follow_the_cause() {
        let code = |e: &Error| Failure::from_error("f", e).code;
        let rejected = Error::CredentialRejected {
            status: 401,
            detail: None,
        };
        assert_eq!(code(&rejected), TINKER_AUTH_ERR_REJECTED);
        let expired = Error::Expired {
            cause: Arc::new(Error::Timeout {
                after: Duration::from_secs(1),
            }),
        };
        assert_eq!(code(&expired), TINKER_AUTH_ERR_UNAVAILABLE);
        // A malformed key is an invalid argument, here and in the CLI (exit 2).
        assert_eq!(
            code(&Error::InvalidApiKey),
            TINKER_AUTH_ERR_INVALID_ARGUMENT
        );
        assert_eq!(code(&Error::MissingCredential), TINKER_AUTH_ERR_CREDENTIAL);
        assert_eq!(
            code(&Error::Config { reason: "x".into() }),
            TINKER_AUTH_ERR_INVALID_ARGUMENT
        );
    }
}
