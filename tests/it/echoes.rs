//! What a hostile server sends back never reaches a header, a cache or a
//! terminal as it is: a token that is not three base64url segments is
//! refused at the exchange, a server's `detail` is quoted as one bounded line
//! of printable characters with every secret scrubbed, and the token's own
//! header cannot be set through `.header()`.

use std::sync::Arc;
use std::time::Duration;

use mockito::Server;
use serde_json::json;
use testkit::{body_for, jwt_expiring_in, seeded_provider, TokenServer, KEY};
use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, Error, JwtAuthProvider};

const EXTRA: &str = "extra-header-value-5e1f";

/// A valid token with `bad` spliced in at each of its ends and seams.
fn hostile_jwts() -> Vec<String> {
    let good = jwt_expiring_in(600.0, 600.0);
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut out = Vec::new();
    for bad in [
        "\r\n",
        "\n",
        "\r",
        "\0",
        "\u{1b}[2J",
        "\u{7}",
        "\t",
        " ",
        "\u{7f}",
        "\u{85}",
        "é",
        "=",
        "+",
        "/",
    ] {
        out.push(format!("{bad}{good}"));
        out.push(format!("{good}{bad}"));
        out.push(format!("{head}{bad}.{payload}.{sig}"));
        out.push(format!("{head}.{payload}.{bad}{sig}"));
    }
    out.push(format!("{good}\r\nX-Injected: 1"));
    out.push(format!("{head}.{payload}."));
    out.push(format!(".{payload}.{sig}"));
    out.push(format!("{head}.{payload}.{sig}.{sig}"));
    out
}

#[test]
fn a_token_that_is_not_three_base64url_segments_is_refused_at_the_exchange() {
    for jwt in hostile_jwts() {
        let server = TokenServer::new({
            let jwt = jwt.clone();
            move |_| (200, body_for(&jwt))
        });
        let err = server.builder().build().expect_err(&format!("{jwt:?}"));
        assert!(matches!(err, Error::BadResponse { .. }), "{jwt:?}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("not three base64url segments"),
            "{jwt:?}: {shown}"
        );
        assert!(!shown.contains(&jwt[6..jwt.len() - 6]), "{shown}");
    }
}

#[test]
fn a_refresh_answered_with_a_hostile_token_never_replaces_the_good_one() {
    let good = jwt_expiring_in(600.0, 600.0);
    let hostile = format!("{}\r\nX-Injected: 1", jwt_expiring_in(900.0, 900.0));
    let server = TokenServer::new({
        let (good, hostile) = (good.clone(), hostile.clone());
        move |n| (200, body_for(if n == 1 { &good } else { &hostile }))
    });
    let provider = server.builder().build().unwrap();
    let first = provider.get_token().unwrap().unwrap();
    assert_eq!(first.as_str(), good);
    assert!(provider.invalidate(&first));
    for _ in 0..3 {
        if let Ok(Some(t)) = provider.get_token() {
            assert_ne!(t.as_str(), hostile);
        }
    }
}

/// Server details a test sends, and what must not be in the error's text.
fn assert_one_clean_line(err: &Error, secrets: &[&str], what: &str) {
    let shown = err.to_string();
    assert!(!shown.chars().any(|c| c.is_control()), "{what}: {shown:?}");
    assert!(shown.chars().count() < 400, "{what}: {} chars", shown.len());
    let debug = format!("{err:?}");
    for s in secrets {
        assert!(!shown.contains(s), "{what}: {shown}");
        assert!(!debug.contains(s), "{what}: {debug}");
    }
}

const NASTY: &[&str] = &[
    "line one\nline two\r\nline three",
    "\u{1b}[31mred\u{1b}[0m and a bell\u{7}",
    "nul\0 and del\u{7f} and nel\u{85} and rlo\u{202e} and zwsp\u{200b}",
];

#[test]
fn exchange_errors_quote_the_detail_on_one_bounded_line_without_secrets() {
    let long = "x".repeat(5000);
    for (status, detail) in NASTY
        .iter()
        .map(|d| (500, d.to_string()))
        .chain([(500, long.clone())])
        .chain([
            (401, format!("bad key {KEY} sent with {EXTRA}")),
            (500, format!("{EXTRA}\n{KEY}")),
            // A secret straddling the point where the text is cut.
            (500, format!("{}{KEY}", "y".repeat(190))),
        ])
    {
        let server = TokenServer::new({
            let detail = detail.clone();
            move |_| (status, json!({ "detail": detail }).to_string().into_bytes())
        });
        let err = server
            .builder()
            .header("X-Extra", EXTRA)
            .build()
            .expect_err("refused");
        assert_one_clean_line(&err, &[KEY, EXTRA, "tml-integration"], &detail);
        let shown = err.to_string();
        if detail == long {
            assert!(shown.ends_with('…'), "{shown}");
            // 200 of the detail's, one of "exchange".
            assert_eq!(shown.matches('x').count(), 201, "{shown}");
        }
    }
}

#[test]
fn request_errors_quote_the_detail_on_one_bounded_line_without_secrets() {
    let jwt = jwt_expiring_in(600.0, 600.0);
    let long = "z".repeat(5000);
    for (status, detail) in NASTY
        .iter()
        .map(|d| (400, d.to_string()))
        .chain([(400, long.clone())])
        .chain([
            (403, format!("your token {jwt} and {EXTRA} are no good")),
            (401, format!("Invalid JWT: {jwt}")),
            (400, format!("{}{jwt}", "w".repeat(195))),
        ])
    {
        let mut server = Server::new();
        let _m = server
            .mock("GET", "/api/v1/x")
            .with_status(status)
            .with_body(json!({ "detail": detail }).to_string())
            .create();
        let provider: Arc<dyn AuthTokenProvider> =
            seeded_provider(&server.url(), "tml-unused-key-for-a-seed", &jwt);
        let api = AuthenticatedAgent::builder(server.url(), provider)
            .header("X-Extra", EXTRA)
            .max_attempts(1)
            .build()
            .unwrap();
        let err = api.get("/api/v1/x").expect_err("refused");
        assert_one_clean_line(&err, &[&jwt, EXTRA, &jwt[jwt.len() - 20..]], &detail);
    }
}

#[test]
fn the_tokens_header_cannot_be_set_through_header() {
    let value = "caller-value-for-the-token-header";
    let check = |r: Result<(), Error>, name: &str| {
        let err = r.expect_err(name);
        assert!(matches!(err, Error::Config { .. }), "{name}: {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&name.to_ascii_lowercase()), "{shown}");
        assert!(!shown.contains(value), "{shown}");
    };
    let server = TokenServer::fresh(600.0);
    for name in ["X-API-Key", "x-api-key", "X-API-KEY", " x-Api-key "] {
        check(
            server.builder().header(name, value).build().map(|_| ()),
            name.trim(),
        );
        let provider: Arc<dyn AuthTokenProvider> = Arc::new(server.builder().build().unwrap());
        check(
            AuthenticatedAgent::builder(server.url(), provider)
                .header(name, value)
                .build()
                .map(|_| ()),
            name.trim(),
        );
    }
    // The agent's own token header, whatever it is named.
    let provider: Arc<dyn AuthTokenProvider> = Arc::new(server.builder().build().unwrap());
    check(
        AuthenticatedAgent::builder(server.url(), provider.clone())
            .header_name(ureq::http::HeaderName::from_static("authorization"))
            .header("Authorization", value)
            .build()
            .map(|_| ()),
        "authorization",
    );
    // Other headers are fine.
    assert!(AuthenticatedAgent::builder(server.url(), provider)
        .header("X-Other", value)
        .build()
        .is_ok());
    let built = JwtAuthProvider::builder(server.url())
        .api_key(KEY)
        .background_refresh(false)
        .fetch_timeout(Duration::from_secs(5))
        .header("X-Other", value)
        .build();
    assert!(built.is_ok(), "{built:?}");
}
