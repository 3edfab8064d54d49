//! Property tests of JWT decoding: `jwt_claims`, `jwt_expiry` and
//! `Token::from_jwt` never panic on arbitrary input, and round-trip every
//! well-formed token. (The token endpoint's response handling has its own
//! property test beside it, in `src/exchange.rs`.)

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{json, Value};
use testkit::stand_in::{b64url_encode, sign_hs256};
use tinker_auth::{jwt_claims, jwt_expiry, Token};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Strings that look a little like JWTs: dot-separated base64url-ish parts.
fn jwt_like() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_=+/.-]{0,40}", 0..5).prop_map(|parts| parts.join("."))
}

/// A payload of arbitrary bytes, correctly encoded.
fn encoded_garbage() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..64)
        .prop_map(|bytes| format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", b64url_encode(&bytes)))
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::hash_map("[a-z]{1,4}|exp|iat", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Exercises every public decoder on `s`; panics are the failures proptest looks for.
fn decode_everything(s: &str) {
    let claims = jwt_claims(s);
    let expiry = jwt_expiry(s);
    let token = Token::from_jwt(s);
    // Consistency: a readable expiry implies readable claims and a token.
    if let Ok(exp) = &expiry {
        assert!(claims.is_ok());
        assert_eq!(token.as_ref().ok().and_then(Token::expires_at), Some(*exp));
    }
    assert_eq!(expiry.is_ok(), token.is_ok());
    for e in [claims.err(), expiry.err(), token.err()]
        .into_iter()
        .flatten()
    {
        let text = e.to_string();
        assert!(text.starts_with("invalid jwt: "), "{text}");
        if s.len() > 16 {
            assert!(!text.contains(s), "the input leaked into the error");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,200}") {
        decode_everything(&s);
    }

    #[test]
    fn jwt_like_strings_never_panic(s in jwt_like()) {
        decode_everything(&s);
    }

    #[test]
    fn encoded_garbage_payloads_never_panic(s in encoded_garbage()) {
        decode_everything(&s);
    }

    #[test]
    fn arbitrary_json_payloads_never_panic(v in json_value()) {
        decode_everything(&sign_hs256(&v, b"k"));
    }

    #[test]
    fn valid_tokens_round_trip(
        exp in 0u64..100_000_000_000,
        iat in proptest::option::of(0u64..100_000_000_000),
        millis in 0u64..1000,
        sub in ".{0,30}",
        jti in "[a-f0-9]{0,32}",
        padded in any::<bool>(),
    ) {
        let exp_f = exp as f64 + millis as f64 / 1000.0;
        let mut claims = json!({ "sub": sub, "jti": jti, "exp": exp_f });
        if let Some(iat) = iat {
            claims["iat"] = json!(iat);
        }
        let mut jwt = sign_hs256(&claims, b"secret");
        if padded {
            // Padding on the payload is tolerated.
            let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
            let pad = (4 - parts[1].len() % 4) % 4;
            parts[1].push_str(&"=".repeat(pad));
            jwt = parts.join(".");
        }
        let decoded = jwt_claims(&jwt).unwrap();
        prop_assert_eq!(Value::Object(decoded), claims);
        let want = UNIX_EPOCH + Duration::from_secs_f64(exp_f);
        let got = jwt_expiry(&jwt).unwrap();
        let diff = got.duration_since(want).unwrap_or_else(|e| e.duration());
        prop_assert!(diff < Duration::from_micros(100), "{got:?} vs {want:?}");
        let token = Token::from_jwt(jwt.clone()).unwrap();
        prop_assert_eq!(token.as_str(), jwt.as_str());
        prop_assert_eq!(token.expires_at(), Some(got));
        prop_assert_eq!(token.issued_at(), iat.map(|s| UNIX_EPOCH + Duration::from_secs(s)));
        let shown = format!("{token:?}");
        prop_assert!(!shown.contains(&jwt[..20]), "Debug shows the token");
    }
}
