//! Parsing the HTTP-date of `Date` (and `Retry-After`) headers.

use std::time::SystemTime;

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 requires a
/// recipient to accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). Returns `None` for anything else, and for
/// impossible dates: 31 February, 24:00, a weekday that does not match the
/// date, a year outside 1970..=9999. The bound on the year keeps every result
/// far inside what a `SystemTime` holds, so callers may add and subtract
/// ordinary durations without overflow.
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn parses_all_three_forms() {
        let want = UNIX_EPOCH + Duration::from_secs(784_111_777);
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date(s), Some(want), "{s:?}");
        }
        let t = parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_709_164_800));
        let t = parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT").unwrap();
        assert_eq!(t, UNIX_EPOCH);
        let t = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(253_402_300_799));
    }

    #[test]
    fn rejects_other_forms_and_impossible_dates() {
        for s in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sat, 31 Feb 2024 08:49:37 GMT",
            "Thu, 29 Feb 2023 00:00:00 GMT",
            "Mon, 31 Apr 2024 00:00:00 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sat, 01 Jan 10000 00:00:00 GMT",
            "Sun, 06 Nov 300000000000 08:49:37 GMT",
            "Sun, 06 Nov 18446744073709551615 08:49:37 GMT",
            "Sun, 06 Nov -1994 08:49:37 GMT",
            "Sunday, 06-Nov-300000000000 08:49:37 GMT",
            "Sun Nov  6 08:49:37 300000000000",
            "Sun, 06 Nov 1994 08:49:37 GMT garbage",
            "Sün, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(s), None, "{s:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Date-shaped strings in each form, with fields drawn from far
        /// outside their ranges as well as inside them.
        fn date_shaped() -> impl Strategy<Value = String> {
            let num = prop_oneof![
                0u64..100,
                1900u64..10_100,
                any::<u64>(),
                Just(u64::MAX),
                Just(300_000_000_000),
            ];
            let wday = prop::sample::select(vec![
                "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sunday", "Xyz",
            ]);
            let mon = prop::sample::select(vec!["Jan", "Feb", "Nov", "Dec", "Foo", ""]);
            (
                wday,
                num.clone(),
                mon,
                num.clone(),
                num.clone(),
                num.clone(),
                num,
                0u8..4,
                any::<bool>(),
            )
                .prop_map(|(w, d, m, y, h, mi, s, form, neg)| {
                    let y = if neg { format!("-{y}") } else { y.to_string() };
                    match form {
                        0 => format!("{w}, {d:02} {m} {y} {h:02}:{mi:02}:{s:02} GMT"),
                        1 => format!("{w}, {d:02}-{m}-{y} {h:02}:{mi:02}:{s:02} GMT"),
                        2 => format!("{w} {m} {d:>2} {h:02}:{mi:02}:{s:02} {y}"),
                        _ => format!("{w}, {d} {m} {y} {h}:{mi}:{s} GMT"),
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn never_panics_on_arbitrary_strings(s in ".{0,64}") {
                let _ = parse_http_date(&s);
            }

            #[test]
            fn date_shaped_strings_parse_in_range_or_not_at_all(s in date_shaped()) {
                if let Some(t) = parse_http_date(&s) {
                    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
                    prop_assert!(secs < 253_402_300_800, "{s:?} -> {secs}");
                    // Every ordinary operation on it is safe.
                    let _ = t + Duration::from_secs(100 * 365 * 86_400);
                }
            }

            #[test]
            fn every_second_in_range_round_trips(secs in 0u64..253_402_300_800) {
                let t = UNIX_EPOCH + Duration::from_secs(secs);
                let text = httpdate::fmt_http_date(t);
                prop_assert_eq!(parse_http_date(&text), Some(t), "{}", text);
            }
        }
    }
}
