//! `tinker-auth inspect`: a JWT's claims and times, decoded but not verified.

use std::time::SystemTime;

use serde_json::Value;

use crate::expiry;

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
    let number = |name: &str| claims.get(name).and_then(Value::as_f64);
    let shown = |secs: f64| {
        expiry::from_epoch_secs(secs)
            .and_then(expiry::rfc3339)
            .unwrap_or_else(|| "not a valid time".into())
    };
    match number("iat") {
        Some(iat) => out.push_str(&format!("issued:  {} (iat {iat})\n", shown(iat))),
        None => out.push_str("issued:  unknown (no `iat` claim)\n"),
    }
    // The expiry the library reads (and `token --format json` prints).
    match (number("exp"), expiry::expires_at(jwt)) {
        (Some(exp), Some(at)) => {
            out.push_str(&format!("expires: {} (exp {exp})\n", shown(exp)));
            let left = expiry::seconds_left(at, now);
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
        (Some(exp), None) => out.push_str(&format!("expires: not a valid time (exp {exp})\n")),
        (None, _) => out.push_str("expires: unknown (no `exp` claim)\n"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_spans() {
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
        // {"exp":1e300,"iat":-5}: numbers that are no time are said so.
        let r = report(
            "eyJhbGciOiJub25lIn0.eyJleHAiOjFlMzAwLCJpYXQiOi01fQ.c2ln",
            at(0),
        )
        .unwrap();
        assert!(r.contains("issued:  not a valid time (iat -5)"), "{r}");
        assert!(r.contains("expires: not a valid time (exp "), "{r}");
        assert!(!r.contains("runway"), "{r}");
    }
}
