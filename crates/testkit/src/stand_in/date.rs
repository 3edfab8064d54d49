//! The `Date` header's IMF-fixdate.

use std::time::{Duration, UNIX_EPOCH};

/// Formats Unix seconds as an IMF-fixdate, e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT` (`httpdate`'s formatter), clamped to the
/// years 1970 to 9999 that format can write.
pub fn http_date(unix_secs: i64) -> String {
    let secs = unix_secs.clamp(0, 253_402_300_799) as u64;
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}
