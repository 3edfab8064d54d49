//! Hostile values from the network never panic anything: absurd dates in
//! `Retry-After` and `Date`, through the agent and through the provider.

use std::sync::Arc;
use std::time::Duration;

use mockito::Server;
use serde_json::json;
use testkit::{body_for, jwt_expiring_in, KEY, TOKEN_PATH};
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

mod properties {
    use super::*;
    use std::sync::Mutex;

    use proptest::prelude::*;
    use testkit::jwt_with;

    /// What the server says next: status, one header's value, body.
    type Answer = Arc<Mutex<(usize, String, Vec<u8>)>>;

    /// A server answering `method path` with whatever `answer` holds, the
    /// header under `header`.
    fn scripted(
        method: &str,
        path: &str,
        header: &'static str,
    ) -> (mockito::ServerGuard, mockito::Mock, Answer) {
        let answer: Answer = Arc::new(Mutex::new((200, String::new(), Vec::new())));
        let mut server = Server::new();
        let (a, b, c) = (answer.clone(), answer.clone(), answer.clone());
        let mock = server
            .mock(method, path)
            .with_status_code_from_request(move |_| a.lock().unwrap().0)
            .with_header_from_request(header, move |_| b.lock().unwrap().1.clone())
            .with_body_from_request(move |_| c.lock().unwrap().2.clone())
            .expect_at_least(0)
            .create();
        (server, mock, answer)
    }

    /// Header values: printable text, and date-shaped strings with fields
    /// of any size, in the three HTTP-date forms.
    fn header_value() -> impl Strategy<Value = String> {
        let year = prop_oneof![
            1960u64..10_050,
            any::<u64>(),
            Just(300_000_000_000),
            Just(u64::MAX)
        ];
        let date = (0u64..40, year, 0u64..30, 0u8..3).prop_map(|(d, y, h, form)| match form {
            0 => format!("Sun, {d:02} Nov {y} {h:02}:49:37 GMT"),
            1 => format!("Sunday, {d:02}-Nov-{y} {h:02}:49:37 GMT"),
            _ => format!("Sun Nov {d:>2} {h:02}:49:37 {y}"),
        });
        prop_oneof![
            1 => "[ -~]{0,60}",
            1 => "[0-9]{1,30}",
            3 => date,
        ]
    }

    /// A claim value: any JSON number shape, or not a number at all.
    fn claim() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            (0u64..4_000_000_000).prop_map(serde_json::Value::from),
            "[0-9]{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ]
    }

    /// Token-endpoint bodies: garbage, JSON of the wrong shape, and JWTs with
    /// claims of every shape.
    fn token_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            "[ -~]{0,80}".prop_map(String::into_bytes),
            (claim(), claim())
                .prop_map(|(exp, iat)| body_for(&jwt_with(json!({ "exp": exp, "iat": iat })))),
            Just(body_for(&jwt_expiring_in(900.0, 900.0))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the token endpoint answers, with whatever `Date`, the
        /// provider returns a token or an error: never a panic, in the
        /// caller or in the exchange.
        #[test]
        fn token_endpoint_answers_never_panic(
            status in prop_oneof![Just(200usize), Just(401), Just(503), 100usize..600],
            date in header_value(),
            body in token_body(),
        ) {
            let (server, _mock, answer) = scripted("POST", TOKEN_PATH, "date");
            *answer.lock().unwrap() = (status, date.clone(), body);
            let built = JwtAuthProvider::builder(server.url())
                .api_key(KEY)
                .background_refresh(false)
                .fetch_timeout(Duration::from_secs(5))
                .build();
            match built {
                Err(Error::Panicked { during }) => prop_assert!(false, "Date {:?}: panicked during {}", date, during),
                Err(_) => {}
                Ok(p) => {
                    let r = p.get_token();
                    prop_assert!(!matches!(r, Err(Error::Panicked { .. })), "{:?}", r);
                    let _ = (p.runway(), p.clock_offset_secs());
                }
            }
        }

        /// Whatever an API answers with a retryable status and `Retry-After`,
        /// the agent returns promptly with an answer or an error.
        #[test]
        fn retry_after_values_never_panic_the_caller(
            status in prop_oneof![Just(429usize), Just(503), Just(200)],
            retry_after in header_value(),
        ) {
            let (server, _mock, answer) = scripted("GET", PATH, "retry-after");
            *answer.lock().unwrap() = (status, retry_after, b"{}".to_vec());
            let api = api_key_agent(server.url());
            let r = api.get(PATH);
            match status {
                200 => prop_assert!(r.is_ok(), "{:?}", r),
                _ => prop_assert!(matches!(r, Err(Error::RetriesExhausted { .. })), "{:?}", r),
            }
        }
    }
}
