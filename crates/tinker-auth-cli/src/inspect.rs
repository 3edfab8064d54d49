//! `tinker-auth inspect`: a JWT's claims and times, decoded but not verified.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The report printed for a JWT whose payload decodes, as of `now`.
pub(crate) fn report(jwt: &str, now: SystemTime) -> Result<String, tinker_auth::Error> {
    let claims = tinker_auth::jwt_claims(jwt)?;
    let pretty = serde_json::to_string_pretty(&Value::Object(claims.clone()))
        .unwrap_or_else(|_| "{}".into());
    let mut out = String::new();
    out.push_str("signature: NOT VERIFIED (the claims below are only decoded)\n");
    out.push_str("claims: ");
    out.push_str(&pretty);
    out.push('\n');
    let time = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_f64)
            .filter(|s| *s >= 0.0)
    };
    match time("iat") {
        Some(iat) => out.push_str(&format!("issued:  {} (iat {iat})\n", utc(iat))),
        None => out.push_str("issued:  unknown (no `iat` claim)\n"),
    }
    match time("exp") {
        Some(exp) => {
            out.push_str(&format!("expires: {} (exp {exp})\n", utc(exp)));
            let now = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64();
            let left = exp - now;
            if left > 0.0 {
                out.push_str(&format!(
                    "runway:  {} left (by this machine's clock)\n",
                    span(left)
                ));
            } else {
                out.push_str(&format!(
                    "runway:  none, expired {} ago (by this machine's clock)\n",
                    span(-left)
                ));
            }
        }
        None => out.push_str("expires: unknown (no `exp` claim)\n"),
    }
    Ok(out)
}

/// `93.4` -> `1m33s`.
fn span(secs: f64) -> String {
    let s = secs.floor() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
        _ => format!("{}d{:02}h{:02}m", s / 86_400, s / 3600 % 24, s / 60 % 60),
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times_and_spans() {
        assert_eq!(utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000.5), "2023-11-14T22:13:20Z");
        assert_eq!(span(59.9), "59s");
        assert_eq!(span(93.4), "1m33s");
        assert_eq!(span(3_725.0), "1h02m05s");
        assert_eq!(span(90_061.0), "1d01h01m");
    }

    #[test]
    fn reports_claims_times_and_runway() {
        // {"alg":"none"} . {"sub":"demo","iat":1700000000,"exp":1700000900}
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDA5MDB9.c2ln";
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let r = report(jwt, at(1_700_000_300)).unwrap();
        assert!(r.contains("NOT VERIFIED"), "{r}");
        assert!(r.contains("\"sub\": \"demo\""), "{r}");
        assert!(r.contains("issued:  2023-11-14T22:13:20Z"), "{r}");
        assert!(r.contains("expires: 2023-11-14T22:28:20Z"), "{r}");
        assert!(r.contains("runway:  10m00s left"), "{r}");
        let r = report(jwt, at(1_700_000_905)).unwrap();
        assert!(r.contains("expired 5s ago"), "{r}");
        assert!(report("not.a-jwt", at(0)).is_err());
    }
}
