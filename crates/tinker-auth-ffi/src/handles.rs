//! Providers behind integer handles, and the functions that use them.

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{const_mutex, Mutex};
use tinker_auth::{AuthTokenProvider, JwtAuthProvider, Token};

use crate::c_out::write_c_string;
use crate::c_str::{c_str, required_c_str};
use crate::codes::{
    error_struct, guarded, set_error, Failure, TinkerAuthError, TINKER_AUTH_ERR_BUFFER_TOO_SMALL,
    TINKER_AUTH_ERR_INVALID_HANDLE, TINKER_AUTH_ERR_NULL_POINTER, TINKER_AUTH_ERR_UNAVAILABLE,
    TINKER_AUTH_OK,
};
use crate::options::{self, TinkerAuthOptions};

/// A provider's handle: a number, never a pointer. `0` is never a valid handle.
pub type TinkerAuthHandle = u64;

/// Live providers by handle. Calls clone the `Arc` and release the lock before
/// any I/O, so one slow exchange never blocks other handles.
static HANDLES: Mutex<BTreeMap<TinkerAuthHandle, Arc<JwtAuthProvider>>> =
    const_mutex(BTreeMap::new());

/// The next handle; handles are never reused, so a stale one cannot alias a new provider.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// The live provider behind `handle`.
pub(crate) fn lookup(
    function: &str,
    handle: TinkerAuthHandle,
) -> Result<Arc<JwtAuthProvider>, Failure> {
    HANDLES.lock().get(&handle).cloned().ok_or_else(|| {
        Failure::new(
            TINKER_AUTH_ERR_INVALID_HANDLE,
            format!("{function}: invalid handle: freed, or never returned by tinker_auth_new"),
        )
    })
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
/// token exchange before it returns. `base_url` null means: `TINKER_BASE_URL`,
/// else [`tinker_auth::DEFAULT_BASE_URL`]. `api_key` null means: resolve the
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
        let base_url = unsafe { c_str(F, "base_url", base_url) }?;
        // Null: TINKER_BASE_URL, else the library's default (the Python SDK's).
        let base_url = match base_url {
            Some(url) => url.to_owned(),
            None => tinker_auth::base_url_from_env().map_err(|e| Failure::from_error(F, &e))?,
        };
        // SAFETY: as above.
        let api_key = unsafe { c_str(F, "api_key", api_key) }?;
        // SAFETY: the caller guarantees `options` is null or a readable
        // `TinkerAuthOptions` whose `struct_size` is readable.
        let options = unsafe { options::read(options) }?;
        // SAFETY: `options.shared_cache_dir` comes from the caller, who
        // guarantees it is NULL or a valid string for this call.
        let mut builder = unsafe { options::builder(&base_url, &options) }?;
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
        unsafe { write_c_string(bytes, buf) };
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
/// is mid-exchange). Calls already running on the handle in other threads are
/// not waited for: they finish normally, with their own result, holding the
/// provider alive, and the last of them releases it. Calls that start after
/// this one returns get `TINKER_AUTH_ERR_INVALID_HANDLE`. Freeing 0 does
/// nothing; freeing a handle twice (or from two threads at once) returns
/// `TINKER_AUTH_ERR_INVALID_HANDLE` to all but the first.
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

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::codes::TINKER_AUTH_ERR_INVALID_ARGUMENT;

    #[test]
    fn invalid_key_errors_do_not_echo_the_key() {
        let mut err = error_struct(0, "");
        let url = c"http://127.0.0.1:1";
        let key = c"sk-secret-value";
        // SAFETY: valid C strings and a live error struct.
        let h = unsafe { tinker_auth_new(url.as_ptr(), key.as_ptr(), &mut err) };
        assert_eq!(h, 0);
        assert_eq!(err.code, TINKER_AUTH_ERR_INVALID_ARGUMENT);
        // SAFETY: `error_struct` always NUL-terminates the message.
        let text = unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy();
        assert!(
            text.starts_with("tinker_auth_new: invalid api key"),
            "{text}"
        );
        assert!(!text.contains("secret-value"), "{text}");
    }

    /// The C error message is the error's `Display`: a server's `detail` in
    /// it is one line of printable characters, without the credential it
    /// echoes.
    #[test]
    fn a_servers_detail_reaches_c_as_one_clean_line() {
        let server = testkit::TokenServer::new(|_| {
            let detail = format!("key {}\nrejected\u{1b}[31m\u{7}", testkit::KEY);
            let body = serde_json::json!({ "detail": detail }).to_string();
            (500, body.into_bytes())
        });
        let mut err = error_struct(0, "");
        let url = std::ffi::CString::new(server.url()).unwrap();
        let key = std::ffi::CString::new(testkit::KEY).unwrap();
        // SAFETY: valid C strings and a live error struct.
        let h = unsafe { tinker_auth_new(url.as_ptr(), key.as_ptr(), &mut err) };
        assert_eq!(h, 0);
        // SAFETY: `error_struct` always NUL-terminates the message.
        let text = unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy();
        assert!(text.contains("500"), "{text}");
        assert!(text.contains("<redacted> rejected"), "{text}");
        assert!(!text.contains(testkit::KEY), "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
}
