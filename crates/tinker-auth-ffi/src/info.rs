//! What a C program may ask of the library and of a provider besides the
//! token: the library's version, the current token's expiry and runway, and
//! the provider's counters.

use std::ffi::{c_char, CStr};
use std::mem::size_of;
use std::ptr;
use std::time::{SystemTime, UNIX_EPOCH};

use tinker_auth::Stats;

use crate::codes::{guarded, Failure, TINKER_AUTH_ERR_INVALID_ARGUMENT, TINKER_AUTH_OK};
use crate::handles::{lookup, TinkerAuthHandle};

/// The library's major version (C: `TINKER_AUTH_VERSION_MAJOR`): the crate's, tested against `Cargo.toml`.
pub const TINKER_AUTH_VERSION_MAJOR: u32 = 0;
/// The library's minor version (C: `TINKER_AUTH_VERSION_MINOR`).
pub const TINKER_AUTH_VERSION_MINOR: u32 = 1;
/// The library's patch version (C: `TINKER_AUTH_VERSION_PATCH`).
pub const TINKER_AUTH_VERSION_PATCH: u32 = 0;

/// `CARGO_PKG_VERSION`, NUL-terminated.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version contains a NUL"),
    };

/// The version of the library linked, as `"MAJOR.MINOR.PATCH"`: static text
/// the caller must not free. A program compares it with the
/// `TINKER_AUTH_VERSION_*` macros of the header it was compiled with.
#[no_mangle]
pub extern "C" fn tinker_auth_version() -> *const c_char {
    VERSION.as_ptr()
}

/// A provider's counters (C: `tinker_auth_stats`), filled by [`tinker_auth_get_stats`].
/// Fields may be appended in later versions, never reordered.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TinkerAuthStats {
    /// The caller sets `sizeof(tinker_auth_stats)`; the call sets the bytes it filled.
    pub struct_size: u32,
    /// Token exchanges started.
    pub exchanges_started: u64,
    /// Exchanges that returned a usable JWT.
    pub exchanges_succeeded: u64,
    /// Exchanges that failed (transport, status, body, credential).
    pub exchanges_failed: u64,
    /// Exchanges started by a caller of `tinker_auth_get_token` (or by `tinker_auth_new`).
    pub exchanges_on_demand: u64,
    /// Exchanges started by the background thread.
    pub exchanges_background: u64,
    /// Times a caller waited for an exchange another thread had in flight.
    pub waits: u64,
    /// Times the cached token was served because a refresh failed or was cooling down.
    pub served_from_cache: u64,
    /// Refreshes that adopted a token another process left in the shared cache.
    pub adopted_from_shared_cache: u64,
}

impl From<Stats> for TinkerAuthStats {
    fn from(s: Stats) -> Self {
        TinkerAuthStats {
            struct_size: size_of::<TinkerAuthStats>() as u32,
            exchanges_started: s.fetches_started,
            exchanges_succeeded: s.fetches_succeeded,
            exchanges_failed: s.fetches_failed,
            exchanges_on_demand: s.on_demand,
            exchanges_background: s.background,
            waits: s.waits,
            served_from_cache: s.served_cached,
            adopted_from_shared_cache: s.shared_adopted,
        }
    }
}

/// The smallest `struct_size` accepted: the struct as first released.
const STATS_SIZE_V1: usize = size_of::<TinkerAuthStats>();

/// Fills `*stats` with the provider's counters. The caller sets
/// `stats->struct_size` to `sizeof(tinker_auth_stats)`; the library fills the
/// fields that fit in that size (a caller compiled against a newer, larger
/// struct gets the fields this version knows) and sets `struct_size` to the
/// bytes it filled. A `struct_size` below the first release's size is
/// `TINKER_AUTH_ERR_INVALID_ARGUMENT`. Never blocks on I/O.
///
/// # Safety
/// `stats` is null or valid for reading and writing `stats->struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_get_stats(
    handle: TinkerAuthHandle,
    stats: *mut TinkerAuthStats,
) -> i32 {
    const F: &str = "tinker_auth_get_stats";
    guarded(F, || {
        if stats.is_null() {
            return Err(null(F, "stats"));
        }
        // SAFETY: non-null, and the caller guarantees `struct_size` is
        // readable; `addr_of!` reads it without touching the rest.
        let size = unsafe { ptr::addr_of!((*stats).struct_size).read_unaligned() } as usize;
        if size < STATS_SIZE_V1 {
            return Err(Failure::new(
                TINKER_AUTH_ERR_INVALID_ARGUMENT,
                format!(
                    "{F}: stats->struct_size is {size}, expected {}; set it to \
                     sizeof(tinker_auth_stats)",
                    size_of::<TinkerAuthStats>()
                ),
            ));
        }
        let provider = lookup(F, handle)?;
        let filled = size.min(size_of::<TinkerAuthStats>());
        let mut ours = TinkerAuthStats::from(provider.stats());
        ours.struct_size = filled as u32;
        // SAFETY: the caller's struct has at least `filled` writable bytes
        // (its `struct_size`), and ours has `filled` readable ones; a local
        // cannot overlap the caller's memory. Bytewise, so no alignment is assumed.
        unsafe {
            ptr::copy_nonoverlapping(ptr::addr_of!(ours).cast::<u8>(), stats.cast::<u8>(), filled);
        }
        Ok(TINKER_AUTH_OK)
    })
}

/// Gives the expiry and the runway of the token `tinker_auth_get_token` would
/// return now (refreshed first if it is near expiry, as there). `*expires_at`
/// receives its `exp` claim in Unix seconds (`-1` if it carries none);
/// `*runway_ms` how long it has left by the server's clock, in milliseconds
/// (the provider's estimate of the server's clock: what the server will
/// accept, not what this machine's clock says). Either pointer may be null.
///
/// # Safety
/// `expires_at` is null or valid for writing an `int64_t`; `runway_ms` is
/// null or valid for writing a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn tinker_auth_token_expiry(
    handle: TinkerAuthHandle,
    expires_at: *mut i64,
    runway_ms: *mut u64,
) -> i32 {
    const F: &str = "tinker_auth_token_expiry";
    guarded(F, || {
        let provider = lookup(F, handle)?;
        let token = provider.token().map_err(|e| Failure::from_error(F, &e))?;
        let exp = token.expires_at().map_or(-1, unix_seconds);
        let runway = provider.runway().unwrap_or_default();
        let runway = u64::try_from(runway.as_millis()).unwrap_or(u64::MAX);
        if !expires_at.is_null() {
            // SAFETY: non-null, and the caller guarantees it is writable.
            unsafe { expires_at.write_unaligned(exp) };
        }
        if !runway_ms.is_null() {
            // SAFETY: non-null, and the caller guarantees it is writable.
            unsafe { runway_ms.write_unaligned(runway) };
        }
        Ok(TINKER_AUTH_OK)
    })
}

/// `t` in whole seconds since the Unix epoch (negative before it), saturating.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn null(function: &str, name: &str) -> Failure {
    Failure::new(
        crate::codes::TINKER_AUTH_ERR_NULL_POINTER,
        format!("{function}: {name} is null"),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_version_constants_are_the_packages() {
        let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().expect("a numeric version part"))
            .collect();
        assert_eq!(
            parts,
            [
                TINKER_AUTH_VERSION_MAJOR,
                TINKER_AUTH_VERSION_MINOR,
                TINKER_AUTH_VERSION_PATCH
            ]
        );
        // SAFETY: a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(tinker_auth_version()) };
        assert_eq!(text.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn unix_seconds_saturates_both_ways() {
        assert_eq!(unix_seconds(UNIX_EPOCH), 0);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(90)), 90);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(90)), -90);
    }

    #[test]
    fn stats_reject_a_short_struct_and_a_null_pointer() {
        let mut short = TinkerAuthStats {
            struct_size: 4,
            ..TinkerAuthStats::default()
        };
        // SAFETY: a live struct; null is allowed and reported.
        unsafe {
            assert_eq!(
                tinker_auth_get_stats(1, &mut short),
                TINKER_AUTH_ERR_INVALID_ARGUMENT
            );
            assert_eq!(
                tinker_auth_get_stats(1, ptr::null_mut()),
                crate::codes::TINKER_AUTH_ERR_NULL_POINTER
            );
        }
        assert_eq!(short.exchanges_started, 0);
    }
}
