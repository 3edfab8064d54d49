//! When an API request is retried and how long to wait, as pure functions.
//!
//! Nothing here reads a clock, sleeps or draws a random number: callers pass
//! `now`, the elapsed time and a jitter sample, so every rule is unit-tested
//! with made-up inputs.

use std::time::{Duration, SystemTime};

use crate::http_date::parse_http_date;
use crate::jitter;

/// The limits of one request's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts allowed for transient failures (the first one included).
    pub(crate) max_attempts: u32,
    /// Time budget of the whole request, from the first attempt.
    pub(crate) deadline: Duration,
    /// Cap of the first backoff; later caps double up to `max_backoff`.
    pub(crate) initial_backoff: Duration,
    /// Largest backoff.
    pub(crate) max_backoff: Duration,
    /// Largest wait a `Retry-After` header can ask for.
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// "Full jitter" backoff before retry number `retry` (1 for the first retry):
/// uniform in `[0, min(cap, base * 2^(retry-1)))`, drawn from `r` in `[0, 1)`.
pub(crate) fn full_jitter(retry: u32, base: Duration, cap: Duration, r: f64) -> Duration {
    jitter::scale(jitter::doubling(retry, base, cap), r)
}

/// The wait a `Retry-After` header asks for: delay-seconds (`120`) or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, measured from `now`; a date in
/// the past means no wait). `None` when the value is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// How long to wait before retry number `retry`: the server's `Retry-After`
/// (capped at `max_retry_after`) when it sent one, else full-jitter backoff.
pub(crate) fn retry_delay(
    p: &RetryPolicy,
    retry: u32,
    retry_after: Option<Duration>,
    r: f64,
) -> Duration {
    match retry_after {
        Some(wait) => wait.min(p.max_retry_after),
        None => full_jitter(retry, p.initial_backoff, p.max_backoff, r),
    }
}

/// Whether another attempt fits: `attempts` transient failures so far, and
/// `elapsed + delay` still inside the deadline.
pub(crate) fn may_retry(
    p: &RetryPolicy,
    attempts: u32,
    elapsed: Duration,
    delay: Duration,
) -> bool {
    attempts < p.max_attempts && elapsed.saturating_add(delay) < p.deadline
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn full_jitter_spans_zero_to_a_doubling_capped_ceiling() {
        let b = |n, r| full_jitter(n, ms(500), ms(10_000), r);
        assert_eq!(b(1, 0.0), Duration::ZERO);
        assert_eq!(b(1, 0.5), ms(250));
        assert!(b(1, 0.999_999) < ms(500));
        assert_eq!(b(2, 0.5), ms(500));
        assert_eq!(b(3, 0.5), ms(1000));
        assert_eq!(b(5, 0.5), ms(4000));
        // 0.5 s * 2^5 = 16 s, capped at 10 s.
        assert_eq!(b(6, 0.5), ms(5000));
        assert!(b(u32::MAX, 0.999_999) < ms(10_000));
        assert_eq!(b(0, 0.5), ms(250), "retry 0 is treated as the first");
        assert_eq!(b(1, 7.0), ms(500), "r is clamped");
    }

    #[test]
    fn full_jitter_stays_within_extreme_bounds() {
        let max = Duration::MAX;
        for r in [
            0.0,
            0.5,
            0.999_999_999,
            1.0,
            7.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
        ] {
            for (base, cap) in [
                (max, max),
                (ms(1), max),
                (max, ms(3)),
                (Duration::ZERO, max),
            ] {
                for retry in [0, 1, 2, 31, 64, u32::MAX] {
                    let d = full_jitter(retry, base, cap, r);
                    assert!(d <= cap && d <= base.saturating_mul(1 << 30), "{retry} {r}");
                }
            }
        }
        assert_eq!(full_jitter(1, max, max, 1.0), max);
        assert_eq!(full_jitter(1, max, max, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn full_jitter_samples_cover_their_range() {
        let xs: Vec<Duration> = (0..2000)
            .map(|_| full_jitter(3, ms(500), ms(10_000), crate::jitter::unit()))
            .collect();
        assert!(xs.iter().all(|d| *d < ms(2000)));
        assert!(xs.iter().any(|d| *d < ms(200)) && xs.iter().any(|d| *d > ms(1800)));
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("1", now), Some(ms(1000)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(ms(120_000)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777, 7 s after `now`.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(ms(7000))
        );
        let later = now + Duration::from_secs(60);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
        assert!(parse_retry_after("99999999999999999999999", now).is_some());
        // The obsolete forms of RFC 9110 §5.6.7 are accepted too.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(ms(7000))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(ms(7000))
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 300000000000 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn duration() -> impl Strategy<Value = Duration> {
            prop_oneof![
                Just(Duration::ZERO),
                Just(Duration::from_nanos(1)),
                Just(Duration::MAX),
                (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
                (0u64..100_000).prop_map(Duration::from_millis),
            ]
        }

        /// Retry-After values: anything, digit strings of any length, and
        /// date-shaped strings with huge fields.
        fn retry_after() -> impl Strategy<Value = String> {
            prop_oneof![
                ".{0,40}",
                "[0-9]{1,40}",
                " ?-?[0-9]{0,25}(\\.[0-9]{0,5})? ?",
                (
                    "[A-Z][a-z]{2}",
                    0u64..100,
                    "[A-Z][a-z]{2}",
                    any::<u64>(),
                    0u64..100
                )
                    .prop_map(|(w, d, m, y, h)| format!("{w}, {d:02} {m} {y} {h:02}:00:00 GMT")),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn retry_after_never_panics(value in retry_after(), now_secs in any::<u32>()) {
                let now = UNIX_EPOCH + Duration::from_secs(u64::from(now_secs) * 64);
                if let Some(wait) = parse_retry_after(&value, now) {
                    let _ = wait;
                    prop_assert!(!value.trim().is_empty());
                }
            }

            #[test]
            fn delays_never_panic_and_respect_their_caps(
                deadline in duration(),
                initial in duration(),
                max_backoff in duration(),
                max_retry_after in duration(),
                retry in any::<u32>(),
                wait in prop::option::of(duration()),
                r in prop_oneof![any::<f64>(), 0.0f64..1.0],
                elapsed in duration(),
            ) {
                let p = RetryPolicy {
                    max_attempts: 5,
                    deadline,
                    initial_backoff: initial,
                    max_backoff,
                    max_retry_after,
                };
                let d = retry_delay(&p, retry, wait, r);
                match wait {
                    Some(_) => prop_assert!(d <= max_retry_after),
                    None => prop_assert!(d <= max_backoff && d <= initial.saturating_mul(1 << 30)),
                }
                let _ = may_retry(&p, retry, elapsed, d);
            }
        }
    }

    #[test]
    fn retry_after_wins_over_backoff_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(retry_delay(&p, 1, Some(ms(1000)), 0.9), ms(1000));
        assert_eq!(
            retry_delay(&p, 4, Some(Duration::ZERO), 0.9),
            Duration::ZERO
        );
        assert_eq!(
            retry_delay(&p, 1, Some(Duration::from_secs(3600)), 0.9),
            p.max_retry_after
        );
        assert_eq!(retry_delay(&p, 2, None, 0.5), ms(500));
    }

    #[test]
    fn attempts_and_deadline_bound_retries() {
        let p = RetryPolicy {
            max_attempts: 3,
            deadline: ms(2000),
            ..RetryPolicy::default()
        };
        assert!(may_retry(&p, 1, ms(0), ms(100)));
        assert!(may_retry(&p, 2, ms(0), ms(100)));
        assert!(!may_retry(&p, 3, ms(0), ms(100)));
        assert!(may_retry(&p, 1, ms(1800), ms(100)));
        assert!(!may_retry(&p, 1, ms(1900), ms(100)));
        assert!(!may_retry(&p, 1, ms(2500), Duration::ZERO));
    }
}
