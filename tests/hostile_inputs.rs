//! Hostile values from the network never panic anything: absurd dates in
//! `Retry-After` and `Date`, through the agent and through the provider.
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{body_for, jwt_expiring_in, KEY, TOKEN_PATH};
use mockito::Server;
use serde_json::json;
use tinker_auth::{
    ApiKeyAuthProvider, AuthTokenProvider, AuthenticatedAgent, Error, JwtAuthProvider,
};

const PATH: &str = "/api/v1/work";

/// Date-shaped values that are no HTTP-date: years far outside what a
/// `SystemTime` holds, in each of the three forms of RFC 9110 §5.6.7, and
/// impossible days.
const ABSURD_DATES: &[&str] = &[
    "Sun, 06 Nov 300000000000 08:49:37 GMT",
    "Sun, 06 Nov 18446744073709551615 08:49:37 GMT",
    "Sun, 06 Nov 99999999999999999999999999 08:49:37 GMT",
    "Sun, 06 Nov -300000000000 08:49:37 GMT",
    "Sunday, 06-Nov-300000000000 08:49:37 GMT",
    "Sun Nov  6 08:49:37 300000000000",
    "Sat, 01 Jan 10000 00:00:00 GMT",
    "Sat, 31 Feb 2024 08:49:37 GMT",
];

/// Valid HTTP-dates at the ends of the range.
const EXTREME_DATES: &[&str] = &[
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
];

fn api_key_agent(url: String) -> AuthenticatedAgent {
    let provider: Arc<dyn AuthTokenProvider> = Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
    AuthenticatedAgent::builder(url, provider)
        .max_attempts(2)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(2))
        .max_retry_after(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[test]
fn retry_after_with_an_absurd_date_does_not_panic_the_caller() {
    for date in ABSURD_DATES.iter().chain(EXTREME_DATES) {
        let mut server = Server::new();
        let _m = server
            .mock("GET", PATH)
            .with_status(503)
            .with_header("retry-after", date)
            .with_body(json!({ "detail": "busy" }).to_string())
            .create();
        let api = api_key_agent(server.url());
        match api.get(PATH) {
            Err(Error::RetriesExhausted { attempts: 2, .. }) => {}
            other => panic!("Retry-After {date:?}: {other:?}"),
        }
    }
}

#[test]
fn date_header_with_an_absurd_date_does_not_fail_the_exchange() {
    for date in ABSURD_DATES {
        let provider = provider_with_date(date);
        match provider {
            Ok(p) => {
                assert!(p.get_token().is_ok(), "Date {date:?}");
            }
            Err(e) => panic!("Date {date:?}: {e:?}"),
        }
    }
}

/// A valid `Date` thousands of years off makes the token look dead or young
/// (how much to trust `Date` against `iat` is the clock policy's business),
/// but nothing panics.
#[test]
fn date_header_at_the_ends_of_the_range_does_not_panic() {
    for date in EXTREME_DATES {
        match provider_with_date(date) {
            Ok(p) => {
                let _ = p.get_token();
                let _ = p.runway();
            }
            Err(Error::Panicked { during }) => panic!("Date {date:?}: panicked during {during}"),
            Err(_) => {}
        }
    }
}

fn provider_with_date(date: &str) -> Result<JwtAuthProvider, Error> {
    let mut server = Server::new();
    let _m = server
        .mock("POST", TOKEN_PATH)
        .match_header("x-api-key", KEY)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header("date", date)
        .with_body(body_for(&jwt_expiring_in(900.0, 900.0)))
        .create();
    JwtAuthProvider::builder(server.url())
        .api_key(KEY)
        .background_refresh(false)
        .fetch_timeout(Duration::from_secs(5))
        .build()
}
