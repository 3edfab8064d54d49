//! The C ABI (cargo feature `ffi`), declared for C in `include/tinker_auth.h`.
//!
//! Build a C library with
//! `cargo rustc --release --lib --features ffi --crate-type staticlib` (or
//! `cdylib`). Rust programs should use [`JwtAuthProvider`] directly; this
//! module exists for C and for anything that speaks the C ABI.
//!
//! The rules, stated in full in the header:
//!
//! - **Handles** are plain integers, not pointers: [`tinker_auth_new`] registers
//!   a provider in a process-wide table under a number that is never reused.
//!   A freed or never-issued handle is therefore detected and answered with
//!   [`TINKER_AUTH_ERR_INVALID_HANDLE`] instead of undefined behaviour.
//! - **Memory**: the library never hands out memory the caller must free. The
//!   token is copied into the caller's buffer; error messages into the
//!   caller's [`TinkerAuthError`] or buffer.
//! - **Threads**: every function may be called from any thread at once, on the
//!   same handle or different ones. [`tinker_auth_free`] while other threads
//!   are inside [`tinker_auth_get_token`] on that handle is safe: their calls
//!   finish, later calls get [`TINKER_AUTH_ERR_INVALID_HANDLE`]. The last error
//!   is kept per thread.
//! - **Failure**: every function catches panics; none crosses into C. Null
//!   pointers, invalid UTF-8, short buffers and bad handles are error codes.
//!   What cannot be checked (a pointer to too little memory, a string with no
//!   NUL) is the caller's responsibility, as everywhere in C.

#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::mem::size_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{const_mutex, Mutex};

use crate::credential::AuthTokenProvider;
use crate::error::Error;
use crate::provider::JwtAuthProvider;
use crate::token::Token;

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
/// An argument or option is unusable (bad URL, out-of-range timing, wrong `struct_size`).
pub const TINKER_AUTH_ERR_INVALID_ARGUMENT: i32 = -5;
/// No usable credential: none configured, malformed, or the credential command failed.
pub const TINKER_AUTH_ERR_CREDENTIAL: i32 = -6;
/// The token endpoint rejected the credential (401 or 403).
pub const TINKER_AUTH_ERR_REJECTED: i32 = -7;
/// The token endpoint is unreachable or failing, and no valid token is cached.
pub const TINKER_AUTH_ERR_UNAVAILABLE: i32 = -8;
/// The library caught a panic (a bug); the handle stays usable.
pub const TINKER_AUTH_ERR_PANIC: i32 = -9;

/// Size of [`TinkerAuthError::message`], terminating NUL included.
pub const TINKER_AUTH_ERROR_MESSAGE_LEN: usize = 256;

/// Largest accepted timing option, in milliseconds (one day).
const MAX_OPTION_MS: u64 = 24 * 60 * 60 * 1000;

/// A provider's handle: a number, never a pointer. `0` is never a valid handle.
pub type TinkerAuthHandle = u64;

/// An error reported through an out-parameter (C: `tinker_auth_error`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TinkerAuthError {
    /// `TINKER_AUTH_OK` or one of the `TINKER_AUTH_ERR_*` codes.
    pub code: i32,
    /// A one-line, NUL-terminated message (empty on success); never contains a secret.
    pub message: [c_char; TINKER_AUTH_ERROR_MESSAGE_LEN],
}

/// Options for [`tinker_auth_new_with_options`] (C: `tinker_auth_options`).
/// Start from [`tinker_auth_options_default`] and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TinkerAuthOptions {
    /// Must equal `sizeof(tinker_auth_options)`; set by `tinker_auth_options_default`.
    pub struct_size: u32,
    /// Non-zero runs a background refresh thread (default 1).
    pub background_refresh: u32,
    /// How long before expiry the background thread refreshes (default 300000).
    pub refresh_before_expiry_ms: u64,
    /// How long before expiry `tinker_auth_get_token` refreshes on demand (default 60000).
    pub refresh_on_demand_within_ms: u64,
    /// Longest pause between failed background refreshes (default 60000).
    pub retry_delay_ms: u64,
    /// Bound on one token exchange; must be positive (default 30000).
    pub fetch_timeout_ms: u64,
}

impl Default for TinkerAuthOptions {
    fn default() -> Self {
        TinkerAuthOptions {
            struct_size: size_of::<TinkerAuthOptions>() as u32,
            background_refresh: 1,
            refresh_before_expiry_ms: 300_000,
            refresh_on_demand_within_ms: 60_000,
            retry_delay_ms: 60_000,
            fetch_timeout_ms: 30_000,
        }
    }
}

/// Live providers by handle. Calls clone the `Arc` and release the lock before
/// any I/O, so one slow exchange never blocks other handles.
static HANDLES: Mutex<BTreeMap<TinkerAuthHandle, Arc<JwtAuthProvider>>> =
    const_mutex(BTreeMap::new());

/// The next handle; handles are never reused, so a stale one cannot alias a new provider.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's last failure: code and message.
    static LAST_ERROR: RefCell<(i32, String)> = const { RefCell::new((TINKER_AUTH_OK, String::new())) };
}

/// A failed call: the code returned and the message recorded.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    fn panicked(function: &str) -> Self {
        Failure::new(
            TINKER_AUTH_ERR_PANIC,
            format!("{function}: internal error: panicked"),
        )
    }

    fn from_error(function: &str, e: &Error) -> Self {
        // Error messages never contain a credential or a JWT.
        Failure::new(code_of(e), format!("{function}: {e}"))
    }

    /// Stores the failure as this thread's last error and returns its code.
    fn record(&self) -> i32 {
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

/// The C error code for a library error.
fn code_of(e: &Error) -> i32 {
    match e {
        Error::CredentialRejected { .. } => TINKER_AUTH_ERR_REJECTED,
        Error::InvalidApiKey
        | Error::MissingCredential
        | Error::EmptyCommand
        | Error::CommandSpawn { .. }
        | Error::CommandFailed { .. }
        | Error::CommandEmptyOutput
        | Error::CommandTimedOut { .. } => TINKER_AUTH_ERR_CREDENTIAL,
        Error::Expired { cause } => code_of(cause),
        Error::Config { .. } => TINKER_AUTH_ERR_INVALID_ARGUMENT,
        Error::Panicked { .. } => TINKER_AUTH_ERR_PANIC,
        // Transport, timeout, status, unusable response: the server's side.
        _ => TINKER_AUTH_ERR_UNAVAILABLE,
    }
}

/// Runs an extern function's body: a panic becomes `TINKER_AUTH_ERR_PANIC`,
/// a failure is recorded as the thread's last error.
fn guarded(function: &str, body: impl FnOnce() -> Result<i32, Failure>) -> i32 {
    let outcome =
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(Failure::panicked(function)));
    match outcome {
        Ok(code) => code,
        Err(f) => f.record(),
    }
}

/// Reads a C string argument; `Ok(None)` when it is null.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid and
/// unmodified for `'a`.
unsafe fn c_str<'a>(
    function: &str,
    what: &str,
    p: *const c_char,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: `p` is non-null and, by this function's contract, points to a
    // NUL-terminated string valid for `'a`.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|_| {
        Failure::new(
            TINKER_AUTH_ERR_INVALID_UTF8,
            format!("{function}: {what} is not valid UTF-8"),
        )
    })
}

/// Like [`c_str`], but null is an error.
///
/// # Safety
/// As [`c_str`].
unsafe fn required_c_str<'a>(
    function: &str,
    what: &str,
    p: *const c_char,
) -> Result<&'a str, Failure> {
    // SAFETY: same contract as ours.
    unsafe { c_str(function, what, p) }?.ok_or_else(|| {
        Failure::new(
            TINKER_AUTH_ERR_NULL_POINTER,
            format!("{function}: {what} is null"),
        )
    })
}

/// The longest prefix of `s` that fits in `cap - 1` bytes without splitting a
/// character, with any NUL replaced so C sees the whole text.
fn c_message(s: &str, cap: usize) -> Vec<u8> {
    let mut end = s.len().min(cap.saturating_sub(1));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end]
        .iter()
        .map(|&b| if b == 0 { b'?' } else { b })
        .collect()
}

fn error_struct(code: i32, message: &str) -> TinkerAuthError {
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
unsafe fn set_error(err: *mut TinkerAuthError, value: TinkerAuthError) {
    if !err.is_null() {
        // SAFETY: non-null, and by this function's contract valid for a write;
        // `write` does not read the (possibly uninitialised) old value.
        unsafe { err.write(value) };
    }
}

fn ms(function: &str, name: &str, value: u64) -> Result<Duration, Failure> {
    if value > MAX_OPTION_MS {
        return Err(Failure::new(
            TINKER_AUTH_ERR_INVALID_ARGUMENT,
            format!("{function}: options.{name} must be at most {MAX_OPTION_MS} (one day)"),
        ));
    }
    Ok(Duration::from_millis(value))
}

/// Like [`ms`], for an option that must also be positive.
fn positive_ms(function: &str, name: &str, value: u64) -> Result<Duration, Failure> {
    if value == 0 {
        return Err(Failure::new(
            TINKER_AUTH_ERR_INVALID_ARGUMENT,
            format!("{function}: options.{name} must be positive"),
        ));
    }
    ms(function, name, value)
}

fn lookup(function: &str, handle: TinkerAuthHandle) -> Result<Arc<JwtAuthProvider>, Failure> {
    HANDLES.lock().get(&handle).cloned().ok_or_else(|| {
        Failure::new(
            TINKER_AUTH_ERR_INVALID_HANDLE,
            format!("{function}: invalid handle: freed, or never returned by tinker_auth_new"),
        )
    })
}

/// The default options: background refresh on, refresh 300 s before expiry,
/// on demand within 60 s, retries at most 60 s apart, 30 s fetch timeout.
#[no_mangle]
pub extern "C" fn tinker_auth_options_default() -> TinkerAuthOptions {
    // Cannot panic; wrapped all the same so that no extern function can unwind.
    catch_unwind(TinkerAuthOptions::default).unwrap_or_default()
}

/// Creates a provider with default options. See [`tinker_auth_new_with_options`].
///
/// # Safety
/// As [`tinker_auth_new_with_options`].
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_new(
    base_url: *const c_char,
    api_key: *const c_char,
    err: *mut TinkerAuthError,
) -> TinkerAuthHandle {
    // SAFETY: the caller upholds the same contract; a null options pointer is allowed.
    unsafe { tinker_auth_new_with_options(base_url, api_key, ptr::null(), err) }
}

/// Creates a provider for the Tinker API at `base_url`, performing the first
/// token exchange before it returns. `api_key` null means: resolve the
/// credential from `TINKER_API_KEY` / `TINKER_CREDENTIAL_CMD`. `options` null
/// means defaults. Returns the handle, or 0 on failure with `*err` (when not
/// null) and the thread's last error describing it; on success `err->code`
/// is `TINKER_AUTH_OK`.
///
/// # Safety
/// `base_url` and `api_key` are null or NUL-terminated strings; `options` is
/// null or points to a readable `TinkerAuthOptions` whose `struct_size` is
/// readable; `err` is null or valid for writing a `TinkerAuthError`.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_new_with_options(
    base_url: *const c_char,
    api_key: *const c_char,
    options: *const TinkerAuthOptions,
    err: *mut TinkerAuthError,
) -> TinkerAuthHandle {
    const F: &str = "tinker_auth_new";
    let body = || -> Result<TinkerAuthHandle, Failure> {
        // SAFETY: the caller guarantees both are null or NUL-terminated strings.
        let base_url = unsafe { required_c_str(F, "base_url", base_url) }?;
        // SAFETY: as above.
        let api_key = unsafe { c_str(F, "api_key", api_key) }?;
        let options = if options.is_null() {
            TinkerAuthOptions::default()
        } else {
            // SAFETY: non-null, and the caller guarantees `struct_size` is
            // readable; `addr_of!` reads it without touching the rest.
            let size = unsafe { ptr::addr_of!((*options).struct_size).read_unaligned() };
            if size as usize != size_of::<TinkerAuthOptions>() {
                return Err(Failure::new(
                    TINKER_AUTH_ERR_INVALID_ARGUMENT,
                    format!(
                        "{F}: options.struct_size is {size}, expected {}; initialise options with \
                         tinker_auth_options_default()",
                        size_of::<TinkerAuthOptions>()
                    ),
                ));
            }
            // SAFETY: the caller's struct has our size, so it is a whole
            // `TinkerAuthOptions`; every bit pattern of its integer fields is
            // valid, and `read_unaligned` does not rely on alignment.
            unsafe { options.read_unaligned() }
        };
        let mut builder = JwtAuthProvider::builder(base_url)
            .background_refresh(options.background_refresh != 0)
            .refresh_before_expiry(ms(
                F,
                "refresh_before_expiry_ms",
                options.refresh_before_expiry_ms,
            )?)
            .refresh_on_demand_within(ms(
                F,
                "refresh_on_demand_within_ms",
                options.refresh_on_demand_within_ms,
            )?)
            .retry_delay(ms(F, "retry_delay_ms", options.retry_delay_ms)?)
            .fetch_timeout(positive_ms(
                F,
                "fetch_timeout_ms",
                options.fetch_timeout_ms,
            )?);
        if let Some(key) = api_key {
            builder = builder.api_key(key);
        }
        let provider = builder.build().map_err(|e| Failure::from_error(F, &e))?;
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        HANDLES.lock().insert(handle, Arc::new(provider));
        Ok(handle)
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let result = body();
        let reported = match &result {
            Ok(_) => error_struct(TINKER_AUTH_OK, ""),
            Err(f) => error_struct(f.code, &f.message),
        };
        // SAFETY: the caller guarantees `err` is null or writable.
        unsafe { set_error(err, reported) };
        result
    }));
    match outcome.unwrap_or_else(|_| Err(Failure::panicked(F))) {
        Ok(handle) => handle,
        Err(f) => {
            f.record();
            0
        }
    }
}

/// Copies the current token (refreshed first if it is near expiry) and a
/// terminating NUL into `buf`, and its length (without the NUL) into
/// `*token_len` when `token_len` is not null.
///
/// Returns `TINKER_AUTH_OK`, or a `TINKER_AUTH_ERR_*` code. When `buf_len` is
/// not more than the token's length, nothing is copied, `*token_len` still
/// receives the length and `TINKER_AUTH_ERR_BUFFER_TOO_SMALL` is returned:
/// `buf` null with `buf_len` 0 is thus a size query.
///
/// # Safety
/// `buf` is null (only with `buf_len` 0) or valid for writing `buf_len` bytes;
/// `token_len` is null or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_get_token(
    handle: TinkerAuthHandle,
    buf: *mut c_char,
    buf_len: usize,
    token_len: *mut usize,
) -> i32 {
    const F: &str = "tinker_auth_get_token";
    guarded(F, || {
        if buf.is_null() && buf_len != 0 {
            return Err(Failure::new(
                TINKER_AUTH_ERR_NULL_POINTER,
                format!("{F}: buf is null but buf_len is {buf_len}"),
            ));
        }
        let provider = lookup(F, handle)?;
        let token = provider
            .get_token()
            .map_err(|e| Failure::from_error(F, &e))?
            .ok_or_else(|| Failure::new(TINKER_AUTH_ERR_UNAVAILABLE, format!("{F}: no token")))?;
        let bytes = token.as_str().as_bytes();
        if bytes.contains(&0) {
            return Err(Failure::new(
                TINKER_AUTH_ERR_UNAVAILABLE,
                format!("{F}: the token contains a NUL byte"),
            ));
        }
        if !token_len.is_null() {
            // SAFETY: non-null, and the caller guarantees it is writable.
            unsafe { token_len.write(bytes.len()) };
        }
        if buf_len <= bytes.len() {
            return Err(Failure::new(
                TINKER_AUTH_ERR_BUFFER_TOO_SMALL,
                format!(
                    "{F}: buffer too small: {buf_len} bytes, the token needs {}",
                    bytes.len() + 1
                ),
            ));
        }
        // SAFETY: `buf` is non-null here (buf_len > 0) and the caller
        // guarantees `buf_len` writable bytes; we write `bytes.len() + 1 <=
        // buf_len` of them, from our own allocation, which cannot overlap.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, bytes.len());
            buf.add(bytes.len()).write(0);
        }
        Ok(TINKER_AUTH_OK)
    })
}

/// Reports that the server rejected `token` (a `401`), so that the next
/// `tinker_auth_get_token` fetches a new one instead of handing it out again.
/// A token that is no longer the current one is ignored. Returns
/// `TINKER_AUTH_OK` or an error code.
///
/// # Safety
/// `token` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_invalidate(
    handle: TinkerAuthHandle,
    token: *const c_char,
) -> i32 {
    const F: &str = "tinker_auth_invalidate";
    guarded(F, || {
        // SAFETY: the caller guarantees `token` is null or NUL-terminated.
        let token = unsafe { required_c_str(F, "token", token) }?;
        let provider = lookup(F, handle)?;
        provider.invalidate(&Token::new(token));
        Ok(TINKER_AUTH_OK)
    })
}

/// Releases a provider and stops its background thread (waiting briefly if it
/// is mid-exchange). Calls already running on the handle in other threads
/// finish normally. Freeing 0 does nothing; freeing a handle twice returns
/// `TINKER_AUTH_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn tinker_auth_free(handle: TinkerAuthHandle) -> i32 {
    const F: &str = "tinker_auth_free";
    guarded(F, || {
        if handle == 0 {
            return Ok(TINKER_AUTH_OK);
        }
        let removed = HANDLES.lock().remove(&handle);
        // Dropped here, outside the table's lock: stopping the background
        // thread may take a moment and must not block other handles.
        match removed {
            Some(provider) => {
                drop(provider);
                Ok(TINKER_AUTH_OK)
            }
            None => Err(Failure::new(
                TINKER_AUTH_ERR_INVALID_HANDLE,
                format!("{F}: invalid handle: freed, or never returned by tinker_auth_new"),
            )),
        }
    })
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
            // writable bytes; we write `text.len() + 1 <= buf_len` of them.
            unsafe {
                ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, text.len());
                buf.add(text.len()).write(0);
            }
        }
        code
    }))
    .unwrap_or(TINKER_AUTH_ERR_PANIC)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn messages_are_truncated_on_a_char_boundary() {
        assert_eq!(c_message("héllo", 3), b"h");
        assert_eq!(c_message("héllo", 4), "hé".as_bytes());
        assert_eq!(c_message("a\0b", 10), b"a?b");
        assert_eq!(c_message("abc", 0), b"");
        let e = error_struct(-1, &"x".repeat(1000));
        assert_eq!(e.message[TINKER_AUTH_ERROR_MESSAGE_LEN - 1], 0);
        assert_eq!(e.message[TINKER_AUTH_ERROR_MESSAGE_LEN - 2], b'x' as c_char);
    }

    #[test]
    fn error_codes_follow_the_cause() {
        let rejected = Error::CredentialRejected {
            status: 401,
            detail: None,
        };
        assert_eq!(code_of(&rejected), TINKER_AUTH_ERR_REJECTED);
        let expired = Error::Expired {
            cause: Arc::new(Error::Timeout {
                after: Duration::from_secs(1),
            }),
        };
        assert_eq!(code_of(&expired), TINKER_AUTH_ERR_UNAVAILABLE);
        assert_eq!(code_of(&Error::InvalidApiKey), TINKER_AUTH_ERR_CREDENTIAL);
        assert_eq!(
            code_of(&Error::MissingCredential),
            TINKER_AUTH_ERR_CREDENTIAL
        );
        assert_eq!(
            code_of(&Error::config("x")),
            TINKER_AUTH_ERR_INVALID_ARGUMENT
        );
    }

    #[test]
    fn invalid_key_errors_do_not_echo_the_key() {
        let mut err = error_struct(0, "");
        let url = c"http://127.0.0.1:1";
        let key = c"sk-secret-value";
        // SAFETY: valid C strings and a live error struct.
        let h = unsafe { tinker_auth_new(url.as_ptr(), key.as_ptr(), &mut err) };
        assert_eq!(h, 0);
        assert_eq!(err.code, TINKER_AUTH_ERR_CREDENTIAL);
        // SAFETY: `error_struct` always NUL-terminates the message.
        let text = unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy();
        assert!(
            text.starts_with("tinker_auth_new: invalid api key"),
            "{text}"
        );
        assert!(!text.contains("secret-value"), "{text}");
    }
}
