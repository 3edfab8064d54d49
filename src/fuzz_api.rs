//! Fuzz target bodies over the crate's parsers of outside input; compiled only
//! for `cargo fuzz` (`--cfg fuzzing`) and for this crate's tests, which replay
//! the committed seed corpora (`fuzz/corpus/<target>/`) through the same bodies
//! on the stable toolchain. Not an API: hidden, and absent from normal builds.
//!
//! Each body asserts invariants beyond "no panic"; a failed assertion is a
//! finding.

use std::time::{Duration, UNIX_EPOCH};

use crate::agent::{parse_retry_after, retry_delay, RetryPolicy};
use crate::error::Error;
use crate::http_date::parse_http_date;
use crate::jwt::jwt_times;
use crate::provider::{estimate_offset, parse_response, ClockSample};
use crate::shared_cache::{entry_body, parse_entry};
use crate::{jwt_claims, jwt_expiry};

/// The credential the token-answer body scrubs from quoted text.
const CREDENTIAL: &str = "tml-fuzz-credential";

/// Latest time an HTTP-date can name (9999-12-31T23:59:59Z).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Splits `data` at the first `n` newlines: `n + 1` pieces (the last holds the rest).
fn lines(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n + 1, |&b| b == b'\n').collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `jwt_claims`, `jwt_expiry` and the internal `jwt_times` agree on any text.
pub fn jwt(data: &[u8]) {
    let jwt = text(data);
    let claims = jwt_claims(&jwt);
    let expiry = jwt_expiry(&jwt);
    let times = jwt_times(&jwt);
    match (&claims, &expiry) {
        (Err(_), Ok(_)) => panic!("jwt_expiry accepted what jwt_claims refused"),
        (Ok(map), Ok(exp)) => {
            assert!(map.contains_key("exp"), "an expiry without an `exp` claim");
            let secs = exp
                .duration_since(UNIX_EPOCH)
                .expect("exp before the epoch");
            assert!(secs.as_secs_f64() <= 1e11, "exp beyond the accepted range");
        }
        _ => {}
    }
    match (&expiry, &times) {
        (Ok(exp), Ok(t)) => assert_eq!(*exp, t.exp, "jwt_expiry and jwt_times disagree"),
        (Err(_), Err(_)) => {}
        _ => panic!("jwt_expiry and jwt_times disagree on validity"),
    }
    for e in [claims.err(), expiry.err()].into_iter().flatten() {
        assert!(
            matches!(e, Error::InvalidJwt { .. }),
            "unexpected error {e:?}"
        );
    }
}

/// The token endpoint's answer: first line the status, second the `Date`
/// header, third `Retry-After`, fourth the seconds since the epoch of local
/// `now`, the rest the body.
pub fn token_answer(data: &[u8]) {
    let parts = lines(data, 4);
    let piece = |i: usize| parts.get(i).map(|p| text(p)).unwrap_or_default();
    let status = piece(0).trim().parse::<u16>().unwrap_or(200);
    let now_secs = piece(3).trim().parse::<u32>().unwrap_or(1_700_000_000);
    let now = UNIX_EPOCH + Duration::from_secs(now_secs.into());
    let body = parts.get(4).copied().unwrap_or_default();

    // Date: in range or absent.
    let date = parse_http_date(&piece(1));
    if let Some(d) = date {
        let secs = d.duration_since(UNIX_EPOCH).expect("date before the epoch");
        assert!(secs.as_secs() <= MAX_HTTP_DATE_SECS, "date after 9999");
    }

    // Retry-After: what a request waits is bounded whatever the header says.
    let policy = RetryPolicy::default();
    let after = parse_retry_after(&piece(2), now);
    if let (Some(wait), Some(_)) = (after, parse_http_date(piece(2).trim())) {
        let latest = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS);
        let bound = latest.duration_since(now).unwrap_or_default();
        assert!(wait <= bound, "an HTTP-date Retry-After past 9999");
    }
    for retry in [1, 2, 30, u32::MAX] {
        let delay = retry_delay(&policy, retry, after, 0.999_999);
        assert!(
            delay <= policy.max_retry_after.max(policy.max_backoff),
            "retry delay {delay:?} beyond the policy's caps"
        );
    }

    // Body: a JWT whose times agree with the public parser, or an error that
    // never quotes the credential.
    match parse_response(status, body, &[CREDENTIAL]) {
        Ok((jwt, times)) => {
            assert!((200..300).contains(&status), "accepted a {status} answer");
            assert!(!jwt.is_empty());
            assert_eq!(jwt_expiry(&jwt).ok(), Some(times.exp));
            // What the exchange makes of the clocks: always a finite offset.
            let sample = ClockSample {
                sent: now,
                received: now + Duration::from_millis(250),
                date,
                iat: times.iat,
                exp: Some(times.exp),
            };
            for fresh in [true, false] {
                let offset = estimate_offset(0.0, &sample, fresh);
                assert!(offset.is_finite(), "offset {offset} from {sample:?}");
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(CREDENTIAL), "credential quoted: {shown}");
            if !(200..300).contains(&status) {
                let rejected = matches!(e, Error::CredentialRejected { .. });
                assert_eq!(rejected, status == 401 || status == 403, "{e:?}");
            } else {
                assert!(matches!(e, Error::BadResponse { .. }), "{e:?}");
            }
        }
    }
}

/// The shared cache's entry format: first line the base URL, second the
/// fingerprint, the rest an entry's text. An entry that parses writes back to
/// text that parses to the same JWT and offset; any entry written parses back.
pub fn cache_entry(data: &[u8]) {
    let parts = lines(data, 2);
    let piece = |i: usize| parts.get(i).map(|p| text(p)).unwrap_or_default();
    let (base_url, fingerprint, body) = (piece(0), piece(1), piece(2));

    if let Some((jwt, offset)) = parse_entry(&body, &base_url, &fingerprint) {
        assert!(!jwt.is_empty() && offset.is_finite());
        let again = entry_body(&base_url, &fingerprint, &jwt, offset, 0);
        assert_eq!(
            parse_entry(&again, &base_url, &fingerprint),
            Some((jwt, offset)),
            "entry did not round-trip"
        );
        // Another directory's or credential's entry is never taken.
        assert_eq!(
            parse_entry(&again, &format!("{base_url}/"), &fingerprint),
            None
        );
    }
    // Anything written (the body's text standing in for a JWT and the
    // data's length for an offset) reads back as written.
    let offset = f64::from(body.len() as u32) / 7.0 - 1000.0;
    if !body.is_empty() {
        let written = entry_body(&base_url, &fingerprint, &body, offset, u64::MAX);
        assert_eq!(
            parse_entry(&written, &base_url, &fingerprint),
            Some((body, offset)),
            "written entry did not read back"
        );
    }
    let nan = entry_body(&base_url, &fingerprint, "j", f64::NAN, 1);
    assert_eq!(
        parse_entry(&nan, &base_url, &fingerprint),
        Some(("j".into(), 0.0))
    );
}

/// A fuzz target's body.
#[cfg(test)]
type Body = fn(&[u8]);

/// The fuzz targets, by directory name under `fuzz/corpus/`.
#[cfg(test)]
pub(crate) const TARGETS: &[(&str, Body)] = &[
    ("jwt", jwt),
    ("token_answer", token_answer),
    ("cache_entry", cache_entry),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays every committed seed through its target's body, so a body that
    /// breaks is noticed on stable without `cargo fuzz`. The corpus lives
    /// outside the packaged crate: a build from the `.crate` has none.
    #[test]
    fn seed_corpora_replay() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        if !root.is_dir() {
            return;
        }
        for (name, body) in TARGETS {
            let dir = root.join(name);
            let mut seeds = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.unwrap().path();
                body(&std::fs::read(&path).unwrap());
                seeds += 1;
            }
            assert!(seeds > 0, "no seeds in {dir:?}");
        }
    }
}
