//! C strings: reading the caller's arguments. Writing text back is
//! `c_out`'s concern, so that `codes` (which writes messages) and this
//! module (which reports failures) do not import each other.

use std::ffi::{c_char, CStr};

use crate::codes::{Failure, TINKER_AUTH_ERR_INVALID_UTF8, TINKER_AUTH_ERR_NULL_POINTER};

/// Reads a C string argument; `Ok(None)` when it is null.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid and
/// unmodified for `'a`.
pub(crate) unsafe fn c_str<'a>(
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
pub(crate) unsafe fn required_c_str<'a>(
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
