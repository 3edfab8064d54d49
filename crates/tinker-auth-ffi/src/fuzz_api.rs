//! The fuzz target body over the C options struct; compiled only for
//! `cargo fuzz` (`--cfg fuzzing`) and for this crate's tests, which replay
//! the committed seeds in `fuzz/corpus/ffi_options/`. Not an API.

use std::ffi::CString;
use std::mem::size_of;

use crate::codes::{TINKER_AUTH_ERR_INVALID_ARGUMENT, TINKER_AUTH_ERR_INVALID_UTF8};
use crate::options::{builder, read, TinkerAuthOptions, MAX_OPTION_MS, SIZE_V1};

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, byte) in b.iter_mut().enumerate() {
        *byte = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

/// `data` fills the options: the first byte picks `struct_size` (the current
/// size, the first release's, or the byte itself), then little-endian `u64`s
/// for the flag and the four durations (small values likelier), and the rest,
/// if any, is `shared_cache_dir`. Reading and applying them never panics, and
/// accepts exactly the documented ranges.
pub fn options(data: &[u8]) {
    let pick = data.first().copied().unwrap_or(0);
    let struct_size = match pick % 4 {
        0 | 1 => size_of::<TinkerAuthOptions>() as u32,
        2 => SIZE_V1 as u32,
        _ => u32::from(pick),
    };
    let rest = data.get(1..).unwrap_or_default();
    // Every other value is reduced to a few bits so that the range edges
    // (0, MAX_OPTION_MS, MAX_OPTION_MS + 1) come up often.
    let knob = |i: usize| {
        let v = u64_at(rest, i);
        match v % 8 {
            0 => 0,
            1 => MAX_OPTION_MS,
            2 => MAX_OPTION_MS + 1,
            3 => u64::MAX,
            _ => v >> 3,
        }
    };
    let dir = rest
        .get(40..)
        .filter(|d| !d.is_empty())
        .map(|d| CString::new(d.iter().map(|&b| b.max(1)).collect::<Vec<u8>>()).unwrap());
    let options = TinkerAuthOptions {
        struct_size,
        background_refresh: u64_at(rest, 0) as u32,
        refresh_before_expiry_ms: knob(1),
        refresh_on_demand_within_ms: knob(2),
        retry_delay_ms: knob(3),
        fetch_timeout_ms: knob(4),
        shared_cache_dir: dir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
    };
    // SAFETY: `options` is a whole, readable struct whatever its `struct_size`.
    let read = unsafe { read(&options) };
    let size = struct_size as usize;
    let read = match read {
        Err(f) => {
            assert_ne!(size, SIZE_V1);
            assert_ne!(size, size_of::<TinkerAuthOptions>());
            assert_eq!(f.code, TINKER_AUTH_ERR_INVALID_ARGUMENT);
            return;
        }
        Ok(read) => read,
    };
    assert!(size == SIZE_V1 || size == size_of::<TinkerAuthOptions>());
    if size == SIZE_V1 {
        // The first release's struct: the appended field keeps its default.
        assert!(read.shared_cache_dir.is_null());
        assert_eq!(read.fetch_timeout_ms, options.fetch_timeout_ms);
    } else {
        assert_eq!(read, options);
    }
    let valid = [
        read.refresh_before_expiry_ms,
        read.refresh_on_demand_within_ms,
        read.retry_delay_ms,
        read.fetch_timeout_ms,
    ]
    .iter()
    .all(|&ms| ms <= MAX_OPTION_MS)
        && read.fetch_timeout_ms > 0;
    let utf8_dir =
        read.shared_cache_dir.is_null() || dir.as_ref().is_none_or(|d| d.to_str().is_ok());
    // SAFETY: `shared_cache_dir` is NULL or `dir`, alive until the end.
    match unsafe { builder("http://127.0.0.1:9", &read) } {
        Ok(_) => assert!(valid && utf8_dir, "accepted bad options {read:?}"),
        Err(f) if !utf8_dir => assert_eq!(f.code, TINKER_AUTH_ERR_INVALID_UTF8),
        Err(f) => {
            assert!(!valid, "refused valid options {read:?}: {}", f.message);
            assert_eq!(f.code, TINKER_AUTH_ERR_INVALID_ARGUMENT);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Replays every committed seed (absent from the packaged crate).
    #[test]
    fn seed_corpus_replay() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ffi_options");
        if !dir.is_dir() {
            return;
        }
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            super::options(&std::fs::read(entry.unwrap().path()).unwrap());
            seeds += 1;
        }
        assert!(seeds > 0, "no seeds in {dir:?}");
    }
}
