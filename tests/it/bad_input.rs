//! Behaviour 11: every malformed answer or unreachable endpoint is a clear
//! error naming the step and status; never a panic, never a secret.

use std::net::TcpListener;

use testkit::*;
use tinker_auth::{AuthTokenProvider, Error, JwtAuthProvider};

fn build_error(status: usize, body: Vec<u8>) -> Error {
    let server = TokenServer::new(move |_| (status, body.clone()));
    server.builder().build().unwrap_err()
}

fn assert_clean(err: &Error) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
}

#[test]
fn malformed_success_bodies() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"<html>oops</html>".to_vec(),
            "token exchange: 200 response is not JSON",
        ),
        (b"".to_vec(), "token exchange: 200 response is not JSON"),
        (
            br#"{"token":"x"}"#.to_vec(),
            "token exchange: 200 response has no `jwt` field",
        ),
        (
            body_for(&jwt_with(serde_json::json!({"sub": "no-exp"}))),
            "token exchange: 200 response carries an unusable jwt: missing `exp` claim",
        ),
        (
            br#"{"jwt":"a.b"}"#.to_vec(),
            "token exchange: 200 response has a `jwt` that is not three base64url segments",
        ),
    ];
    for (body, want) in cases {
        let err = build_error(200, body);
        assert!(matches!(err, Error::BadResponse { .. }), "{err:?}");
        assert_eq!(err.to_string(), want);
        assert_clean(&err);
    }
}

#[test]
fn error_statuses_with_and_without_detail() {
    let err = build_error(500, br#"{"detail":"database unavailable"}"#.to_vec());
    assert_eq!(
        err.to_string(),
        "token exchange: server answered 500: database unavailable"
    );
    let err = build_error(502, b"<html>Bad Gateway</html>".to_vec());
    assert_eq!(err.to_string(), "token exchange: server answered 502");
    let err = build_error(429, br#"{"detail":{"retry":"later"}}"#.to_vec());
    assert_eq!(
        err.to_string(),
        r#"token exchange: server answered 429: {"retry":"later"}"#
    );
    assert!(err.is_transient());
    let err = build_error(
        401,
        format!(r#"{{"detail":"unknown key {KEY}"}}"#).into_bytes(),
    );
    assert_eq!(
        err.to_string(),
        "token exchange: credential rejected (401): unknown key <redacted>"
    );
    assert_clean(&err);
}

#[test]
fn redirects_are_not_followed_with_the_credential() {
    let mut server = mockito::Server::new();
    let _m = server
        .mock("POST", TOKEN_PATH)
        .with_status(302)
        .with_header("location", "http://127.0.0.1:9/steal")
        .create();
    let err = JwtAuthProvider::builder(server.url())
        .api_key(KEY)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "token exchange: server answered 302");
}

#[test]
fn oversized_body_is_capped() {
    let mut body = br#"{"jwt":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 200 * 1024));
    body.extend(br#""}"#);
    let err = build_error(200, body);
    assert_eq!(
        err.to_string(),
        "token exchange: 200 response body is larger than 65536 bytes"
    );
}

#[test]
fn connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = JwtAuthProvider::builder(format!("http://127.0.0.1:{port}"))
        .api_key(KEY)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().starts_with("token exchange: "), "{err}");
    // The cause is in the message, so `source()` does not repeat it.
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(err.kind(), tinker_auth::ErrorKind::Transport);
    assert_clean(&err);
}

#[test]
fn plain_http_off_loopback_is_refused_unless_allowed() {
    let seed = jwt_expiring_in(600.0, 900.0);
    let refused = JwtAuthProvider::builder("http://tinker.internal.example")
        .api_key(KEY)
        .seed_token(seed.clone())
        .build()
        .unwrap_err();
    assert!(matches!(refused, Error::Config { .. }));
    assert!(refused.to_string().contains("in clear"), "{refused}");
    let allowed = JwtAuthProvider::builder("http://tinker.internal.example")
        .api_key(KEY)
        .seed_token(seed.clone())
        .allow_insecure_http(true)
        .background_refresh(false)
        .build()
        .unwrap();
    assert_eq!(allowed.get_token().unwrap().unwrap().as_str(), seed);
}

#[test]
fn bad_keys_and_configs_are_refused_without_echoing_them() {
    let err = JwtAuthProvider::builder("https://example.com")
        .api_key("sk-secret-looking-thing")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidApiKey));
    assert!(!err.to_string().contains("secret-looking"));
    let err = JwtAuthProvider::builder("https://example.com")
        .api_key(KEY)
        .fetch_timeout(std::time::Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
}

#[test]
fn debug_output_holds_no_secret() {
    let server = TokenServer::fresh(900.0);
    let builder = server.builder().seed_token(jwt_expiring_in(600.0, 900.0));
    let shown = format!("{builder:?}");
    assert!(!shown.contains(KEY) && !shown.contains("eyJ"), "{shown}");
    let provider = builder.build().unwrap();
    let token = provider.get_token().unwrap().unwrap();
    let shown = format!("{provider:?} {token:?} {token:#?}");
    assert!(!shown.contains(KEY) && !shown.contains("eyJ"), "{shown}");
}
