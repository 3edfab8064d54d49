//! The timing options of `tinker_auth_new_with_options`.

use std::mem::size_of;
use std::panic::catch_unwind;
use std::ptr;
use std::time::Duration;

use tinker_auth::{
    JwtAuthProvider, JwtAuthProviderBuilder, DEFAULT_FETCH_TIMEOUT, DEFAULT_REFRESH_BEFORE_EXPIRY,
    DEFAULT_REFRESH_ON_DEMAND_WITHIN, DEFAULT_RETRY_DELAY,
};

use std::ffi::c_char;

use crate::c_str::c_str;
use crate::codes::{Failure, TINKER_AUTH_ERR_INVALID_ARGUMENT};

/// Largest accepted timing option, in milliseconds (one day).
pub(crate) const MAX_OPTION_MS: u64 = 24 * 60 * 60 * 1000;

/// Options for [`tinker_auth_new_with_options`](crate::tinker_auth_new_with_options) (C: `tinker_auth_options`).
/// Start from [`tinker_auth_options_default`] and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TinkerAuthOptions {
    /// Must equal `sizeof(tinker_auth_options)`; set by `tinker_auth_options_default`.
    pub struct_size: u32,
    /// Non-zero runs a background refresh thread (default 1).
    pub background_refresh: u32,
    /// Least runway the background thread leaves beyond half the lifetime, capped at 4/5 of it (default 0: refresh at half-life).
    pub refresh_before_expiry_ms: u64,
    /// How long before expiry `tinker_auth_get_token` refreshes on demand (default 60000).
    pub refresh_on_demand_within_ms: u64,
    /// Longest pause between failed background refreshes (default 60000).
    pub retry_delay_ms: u64,
    /// Bound on one token exchange; must be positive (default 30000).
    pub fetch_timeout_ms: u64,
    /// A directory in which providers of any process share one token per base
    /// URL and credential (NULL, the default: no sharing). Added after the
    /// first release: a caller compiled against the older, smaller struct
    /// (its `struct_size`) gets NULL.
    pub shared_cache_dir: *const c_char,
}

/// `struct_size` of the options before `shared_cache_dir` was appended.
pub(crate) const SIZE_V1: usize = std::mem::offset_of!(TinkerAuthOptions, shared_cache_dir);

impl Default for TinkerAuthOptions {
    fn default() -> Self {
        TinkerAuthOptions {
            struct_size: size_of::<TinkerAuthOptions>() as u32,
            background_refresh: 1,
            // The library's defaults, in milliseconds (each well under u64::MAX).
            refresh_before_expiry_ms: millis(DEFAULT_REFRESH_BEFORE_EXPIRY),
            refresh_on_demand_within_ms: millis(DEFAULT_REFRESH_ON_DEMAND_WITHIN),
            retry_delay_ms: millis(DEFAULT_RETRY_DELAY),
            fetch_timeout_ms: millis(DEFAULT_FETCH_TIMEOUT),
            shared_cache_dir: ptr::null(),
        }
    }
}

/// `d` in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `value` milliseconds, at most [`MAX_OPTION_MS`].
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

/// Reads the caller's options; null means the defaults.
///
/// # Safety
/// `options` is null or points to a readable `TinkerAuthOptions` whose
/// `struct_size` is readable.
pub(crate) unsafe fn read(options: *const TinkerAuthOptions) -> Result<TinkerAuthOptions, Failure> {
    const F: &str = "tinker_auth_new";
    Ok(if options.is_null() {
        TinkerAuthOptions::default()
    } else {
        // SAFETY: non-null, and the caller guarantees `struct_size` is
        // readable; `addr_of!` reads it without touching the rest.
        let size = unsafe { ptr::addr_of!((*options).struct_size).read_unaligned() };
        if size as usize == SIZE_V1 {
            let mut whole = TinkerAuthOptions::default();
            // SAFETY: the caller's struct is the first `SIZE_V1` bytes of
            // ours (same fields, same order, `repr(C)`); copied bytewise
            // into a whole one whose later fields keep their defaults.
            unsafe {
                ptr::copy_nonoverlapping(
                    options.cast::<u8>(),
                    ptr::addr_of_mut!(whole).cast::<u8>(),
                    SIZE_V1,
                );
            }
            return Ok(whole);
        }
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
    })
}

/// A provider builder for `base_url` with `options` applied.
///
/// # Safety
/// `options.shared_cache_dir` is NULL or a NUL-terminated string valid for
/// the call.
pub(crate) unsafe fn builder(
    base_url: &str,
    options: &TinkerAuthOptions,
) -> Result<JwtAuthProviderBuilder, Failure> {
    const F: &str = "tinker_auth_new";
    // SAFETY: the caller guarantees `shared_cache_dir` is NULL or a
    // NUL-terminated string valid for this call.
    let dir = unsafe { c_str(F, "options.shared_cache_dir", options.shared_cache_dir) }?;
    let builder = match dir {
        Some(dir) => JwtAuthProvider::builder(base_url).shared_cache_dir(dir),
        None => JwtAuthProvider::builder(base_url),
    };
    Ok(builder
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
        )?))
}

/// The default options: background refresh on, at half-life,
/// on demand within 60 s, retries at most 60 s apart, 30 s fetch timeout.
#[no_mangle]
pub extern "C" fn tinker_auth_options_default() -> TinkerAuthOptions {
    // Cannot panic; wrapped all the same so that no extern function can unwind.
    catch_unwind(TinkerAuthOptions::default).unwrap_or_default()
}
