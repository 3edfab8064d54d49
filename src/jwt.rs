//! Reading a JWT's claims without verifying its signature.
//!
//! The provider only needs to know *when* a token expires. The signature is the
//! server's business: we never trust these claims for authorisation, only for
//! scheduling a refresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::error::Error;

/// Longest JWT we are willing to decode. Real Tinker tokens are well under 2 KiB.
const MAX_JWT_LEN: usize = 64 * 1024;

/// Latest `exp`/`iat` we accept, in seconds since the epoch (year ~5138).
const MAX_EPOCH_SECS: f64 = 1e11;

/// The times a JWT carries, read once when the token is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JwtTimes {
    /// `exp`: when the token stops being accepted, by the issuer's clock.
    pub(crate) exp: SystemTime,
    /// `iat`: when the token was issued, by the issuer's clock, if stated.
    pub(crate) iat: Option<SystemTime>,
}

impl JwtTimes {
    /// `exp - iat`, when both are present and in that order.
    pub(crate) fn lifetime(&self) -> Option<Duration> {
        self.iat
            .and_then(|iat| self.exp.duration_since(iat).ok())
            .filter(|d| !d.is_zero())
    }
}

/// Decodes a JWT's payload into its claims, without verifying the signature.
///
/// Accepts base64url with or without `=` padding.
///
/// # Errors
/// [`Error::InvalidJwt`] when the string does not have three dot-separated
/// parts, the payload is not base64url, or it is not a JSON object.
///
/// ```
/// let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIiwiZXhwIjoxMDB9.c2ln";
/// let claims = tinker_auth::jwt_claims(jwt).unwrap();
/// assert_eq!(claims["sub"], "demo");
/// ```
pub fn jwt_claims(jwt: &str) -> Result<Map<String, Value>, Error> {
    if jwt.len() > MAX_JWT_LEN {
        return Err(Error::invalid_jwt("longer than 64 KiB"));
    }
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::invalid_jwt("expected three dot-separated parts"));
    };
    if payload.is_empty() {
        return Err(Error::invalid_jwt("empty payload"));
    }
    let bytes = base64url_decode(payload).ok_or(Error::invalid_jwt("payload is not base64url"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_jwt("payload is not a JSON object")),
        Err(_) => Err(Error::invalid_jwt("payload is not JSON")),
    }
}

/// Whether `jwt` is three non-empty base64url segments (a JWS in compact
/// form, no padding): nothing else, so never a character a header value
/// refuses or a terminal interprets.
pub(crate) fn is_compact_jwt(jwt: &str) -> bool {
    let segment = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = jwt.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(p), Some(s), None) if segment(h) && segment(p) && segment(s)
    )
}

/// When the JWT expires: its `exp` claim (integer or fractional seconds).
///
/// # Errors
/// [`Error::InvalidJwt`] when the token cannot be decoded or `exp` is missing,
/// not a number, negative or absurdly far in the future.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZW1vIiwiZXhwIjoxMDB9.c2ln";
/// assert_eq!(tinker_auth::jwt_expiry(jwt).unwrap(), UNIX_EPOCH + Duration::from_secs(100));
/// ```
pub fn jwt_expiry(jwt: &str) -> Result<SystemTime, Error> {
    Ok(jwt_times(jwt)?.exp)
}

/// Reads `exp` (required) and `iat` (optional) in one decode.
pub(crate) fn jwt_times(jwt: &str) -> Result<JwtTimes, Error> {
    let claims = jwt_claims(jwt)?;
    let exp = match claims.get("exp") {
        None | Some(Value::Null) => return Err(Error::invalid_jwt("missing `exp` claim")),
        Some(v) => epoch_claim(v).ok_or(Error::invalid_jwt("`exp` is not a valid time"))?,
    };
    // A malformed `iat` is ignored rather than fatal: only `exp` is essential.
    let iat = claims.get("iat").and_then(epoch_claim);
    Ok(JwtTimes { exp, iat })
}

/// A NumericDate claim (seconds since the epoch, possibly fractional) as a
/// time, or `None` when it is not a number in `0..=MAX_EPOCH_SECS`. Every
/// conversion is checked: a NaN, infinite or negative value never reaches
/// `Duration::from_secs_f64`, which would panic on it.
fn epoch_claim(v: &Value) -> Option<SystemTime> {
    let secs = v.as_f64()?;
    if !secs.is_finite() || !(0.0..=MAX_EPOCH_SECS).contains(&secs) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
}

/// base64url without padding requirements, and with whatever a non-canonical
/// encoder leaves in the last character's unused bits.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64url (RFC 4648 §5), tolerating trailing `=` padding and the
/// standard alphabet's `+` and `/`. Returns `None` on any other character or
/// an impossible length.
pub(crate) fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    if input.bytes().any(|b| b == b'+' || b == b'/') {
        let url: String = input
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        return BASE64URL.decode(url).ok();
    }
    BASE64URL.decode(input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"none"}"#),
            b64(payload.as_bytes())
        )
    }

    #[test]
    fn decodes_base64url_with_and_without_padding() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0xff, 0xfe, 0xfd],
        ] {
            let enc = b64(data);
            assert_eq!(base64url_decode(&enc).unwrap(), data);
            let padded = format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4));
            assert_eq!(base64url_decode(&padded).unwrap(), data);
        }
        assert_eq!(base64url_decode("a").as_deref(), None);
        assert_eq!(base64url_decode("ab!c").as_deref(), None);
        assert_eq!(base64url_decode("ab===").as_deref(), None);
        // The standard alphabet's `+` and `/` are read as `-` and `_`.
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url_decode("+/8=").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn reads_integer_and_float_exp_and_iat() {
        let t = jwt_times(&jwt(r#"{"exp":1700000900,"iat":1700000000}"#)).unwrap();
        assert_eq!(t.exp, UNIX_EPOCH + Duration::from_secs(1_700_000_900));
        assert_eq!(t.lifetime(), Some(Duration::from_secs(900)));
        let t = jwt_times(&jwt(r#"{"exp":1700000900.5}"#)).unwrap();
        assert_eq!(t.exp, UNIX_EPOCH + Duration::from_millis(1_700_000_900_500));
        assert_eq!(t.iat, None);
        assert_eq!(t.lifetime(), None);
    }

    #[test]
    fn rejects_bad_tokens_with_clear_reasons() {
        let cases = [
            ("", "three dot-separated parts"),
            ("a.b", "three dot-separated parts"),
            ("a.b.c.d", "three dot-separated parts"),
            ("a..c", "empty payload"),
            ("a.!!!.c", "not base64url"),
            (&jwt("not json"), "not JSON"),
            (&jwt("[1,2]"), "not a JSON object"),
            (&jwt(r#"{"iat":1}"#), "missing `exp`"),
            (&jwt(r#"{"exp":"soon"}"#), "not a valid time"),
            (&jwt(r#"{"exp":-5}"#), "not a valid time"),
            (&jwt(r#"{"exp":1e300}"#), "not a valid time"),
        ];
        for (token, want) in cases {
            let err = jwt_expiry(token).unwrap_err().to_string();
            assert!(err.starts_with("invalid jwt: "), "{err}");
            assert!(err.contains(want), "{token:?}: {err}");
        }
    }

    #[test]
    fn epoch_claims_at_and_past_the_edges() {
        let secs = |v: Value| epoch_claim(&v).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(secs(serde_json::json!(0)), Some(Duration::ZERO));
        assert_eq!(secs(serde_json::json!(-0.0)), Some(Duration::ZERO));
        assert_eq!(
            secs(serde_json::json!(1e11)),
            Some(Duration::from_secs(100_000_000_000))
        );
        assert_eq!(
            secs(serde_json::json!(0.5)),
            Some(Duration::from_millis(500))
        );
        for bad in [
            serde_json::json!(1e11 + 1.0),
            serde_json::json!(-1e-300),
            serde_json::json!(-1),
            serde_json::json!(f64::MAX),
            serde_json::json!(f64::MIN),
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!("1700000000"),
            serde_json::json!(true),
            serde_json::json!([1]),
            serde_json::json!({ "exp": 1 }),
            Value::Null,
        ] {
            assert_eq!(secs(bad.clone()), None, "{bad}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_number_is_a_time_in_range_or_none(bits in any::<u64>(), int in any::<i64>(), uint in any::<u64>()) {
                for v in [serde_json::json!(f64::from_bits(bits)), serde_json::json!(int), serde_json::json!(uint)] {
                    if let Some(t) = epoch_claim(&v) {
                        let d = t.duration_since(UNIX_EPOCH).unwrap();
                        prop_assert!(d <= Duration::from_secs(100_000_000_000), "{v} -> {d:?}");
                    }
                }
            }

            /// Claims as raw JSON text: numbers of every shape, including
            /// ones past what an `f64` holds, which serde_json rejects.
            #[test]
            fn raw_claim_numbers_never_panic(
                exp in r"-?[0-9]{1,30}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,4})?",
                iat in r"-?[0-9]{1,30}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,4})?|\x22[0-9]{0,12}\x22|null|true",
            ) {
                let token = jwt(&format!(r#"{{"exp":{exp},"iat":{iat}}}"#));
                if let Ok(t) = jwt_times(&token) {
                    let _ = t.lifetime();
                    prop_assert!(t.exp <= UNIX_EPOCH + Duration::from_secs(100_000_000_000));
                    if let Some(iat) = t.iat {
                        prop_assert!(iat <= UNIX_EPOCH + Duration::from_secs(100_000_000_000));
                    }
                }
            }
        }
    }

    #[test]
    fn ignores_a_malformed_iat() {
        let t = jwt_times(&jwt(r#"{"exp":100,"iat":"yesterday"}"#)).unwrap();
        assert_eq!(t.iat, None);
    }
}
