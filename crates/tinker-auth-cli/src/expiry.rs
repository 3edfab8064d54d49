//! A JWT's expiry as the CLI shows it, for `inspect` and `token --format
//! json` alike: the library's [`tinker_auth::jwt_expiry`] (the `exp` claim),
//! the time left by this machine's clock, and RFC 3339 UTC timestamps.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When `jwt` expires (its `exp` claim), if it says.
pub(crate) fn expires_at(jwt: &str) -> Option<SystemTime> {
    tinker_auth::jwt_expiry(jwt).ok()
}

/// Seconds from `now` to `exp` by this machine's clock: negative once past.
pub(crate) fn seconds_left(exp: SystemTime, now: SystemTime) -> f64 {
    match exp.duration_since(now) {
        Ok(left) => left.as_secs_f64(),
        Err(past) => -past.duration().as_secs_f64(),
    }
}

/// Seconds since the epoch (a claim's number) as a time, if it is one.
pub(crate) fn from_epoch_secs(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// `t` as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, rounded down), or `None`
/// outside the years 1970 to 9999 that format can write.
pub(crate) fn rfc3339(t: SystemTime) -> Option<String> {
    // humantime panics before the epoch and fails after 9999: both are
    // checked here, so no claim's value can reach either.
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs >= 253_402_300_800 {
        return None;
    }
    let mut out = String::new();
    write!(out, "{}", humantime::format_rfc3339_seconds(t)).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> SystemTime {
        from_epoch_secs(secs).unwrap()
    }

    #[test]
    fn formats_rfc3339_utc_in_range_only() {
        assert_eq!(rfc3339(at(0.0)).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400.0)).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339(at(1_700_000_000.5)).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339(at(253_402_300_799.0)).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(rfc3339(at(253_402_300_800.0)), None);
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)), None);
    }

    #[test]
    fn claims_that_are_not_times() {
        for bad in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30] {
            assert!(from_epoch_secs(bad).and_then(rfc3339).is_none(), "{bad}");
        }
    }

    #[test]
    fn seconds_left_is_signed() {
        assert_eq!(seconds_left(at(100.0), at(40.0)), 60.0);
        assert_eq!(seconds_left(at(40.0), at(100.0)), -60.0);
    }

    #[cfg(unix)]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn no_number_panics(secs in any::<f64>()) {
                if let Some(text) = from_epoch_secs(secs).and_then(rfc3339) {
                    prop_assert_eq!(text.len(), 20);
                }
            }
        }
    }
}
