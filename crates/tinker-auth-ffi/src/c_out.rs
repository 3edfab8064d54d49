//! NUL-terminated text written into the caller's buffers.

use std::ffi::c_char;
use std::ptr;

/// The longest prefix of `s` that fits in `cap - 1` bytes without splitting a
/// character, with any NUL replaced so C sees the whole text.
pub(crate) fn c_message(s: &str, cap: usize) -> Vec<u8> {
    let mut end = s.len().min(cap.saturating_sub(1));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end]
        .iter()
        .map(|&b| if b == 0 { b'?' } else { b })
        .collect()
}

/// Copies `text` and a terminating NUL to `buf`.
///
/// # Safety
/// `buf` is valid for writing `text.len() + 1` bytes and does not overlap `text`.
pub(crate) unsafe fn write_c_string(text: &[u8], buf: *mut c_char) {
    // SAFETY: by this function's contract, `buf` has room for `text.len() + 1`
    // bytes and does not overlap `text`.
    unsafe {
        ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, text.len());
        buf.add(text.len()).write(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_truncated_on_a_char_boundary() {
        assert_eq!(c_message("héllo", 3), b"h");
        assert_eq!(c_message("héllo", 4), "hé".as_bytes());
        assert_eq!(c_message("a\0b", 10), b"a?b");
        assert_eq!(c_message("abc", 0), b"");
    }
}
