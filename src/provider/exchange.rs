//! One `POST /api/v1/auth/token`: credential in, JWT out.

use std::time::Duration;

use serde_json::Value;

use super::policy::ClockSample;
use crate::clock::{clamp_timeout, ClockSource};
use crate::error::Error;
use crate::fork::Origin;
use ureq::http::HeaderValue;

use crate::http::{
    bypasses_proxy, configure_bounded, default_tls_config, read_bounded, BodyError, ExtraHeaders,
};
use crate::http_date::parse_http_date;
use crate::jwt::{is_compact_jwt, jwt_times, JwtTimes};
use crate::redact::server_text;

/// Largest token-endpoint response body we read. A JWT response is ~1 KiB.
pub(crate) const MAX_BODY: u64 = 64 * 1024;

/// Size of each of the HTTP agent's input and output buffers, and the largest
/// response header accepted. `ureq` defaults to 128 KiB buffers, allocated per
/// pooled connection (twice over HTTPS, below and above TLS) and kept while
/// the connection idles between refreshes: a provider held about 256 KiB of
/// them after its first exchange over loopback http. A token response's
/// header is well under 1 KiB and its body is read in pieces.
const HTTP_BUFFER: usize = 16 * 1024;

/// A JWT fresh from the token endpoint, with what the exchange says about time.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) jwt: String,
    pub(crate) times: JwtTimes,
    pub(crate) clock: ClockSample,
}

/// The token endpoint and the HTTP agent that talks to it.
#[derive(Debug)]
pub(crate) struct Exchange {
    agent: ureq::Agent,
    /// `agent` is the caller's ([`JwtAuthProviderBuilder::agent`](super::JwtAuthProviderBuilder::agent)).
    callers: bool,
    url: String,
    timeout: Duration,
    headers: ExtraHeaders,
    /// The process the agent's connection pool belongs to.
    origin: Origin,
}

fn new_agent(timeout: Duration, url: &str) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(if bypasses_proxy(url) {
            None
        } else {
            ureq::Proxy::try_from_env()
        })
        .tls_config(default_tls_config())
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // Never follow a redirect with the credential attached.
        .max_redirects(0)
        .input_buffer_size(HTTP_BUFFER)
        .output_buffer_size(HTTP_BUFFER)
        .max_response_header_size(HTTP_BUFFER)
        .build()
        .into()
}

impl Exchange {
    /// An exchange bounded by `timeout`; longer than [`NO_LIMIT`](crate::clock::NO_LIMIT)
    /// (`Duration::MAX`, say) means no limit, which ureq would otherwise
    /// overflow adding it to the time the request started. Sent through
    /// `agent` if given (the caller's), else through an agent of its own.
    #[cfg(test)]
    pub(crate) fn new(url: String, timeout: Duration) -> Self {
        Self::with(url, timeout, None, ExtraHeaders::plain())
    }

    /// As `new`, with the caller's agent if any and the headers to send.
    pub(crate) fn with(
        url: String,
        timeout: Duration,
        agent: Option<ureq::Agent>,
        headers: ExtraHeaders,
    ) -> Self {
        let timeout = clamp_timeout(timeout);
        let callers = agent.is_some();
        Exchange {
            agent: agent.unwrap_or_else(|| new_agent(timeout, &url)),
            callers,
            url,
            timeout,
            headers,
            origin: Origin::here(),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The agent for this exchange. A forked child shares the parent's pooled
    /// sockets: using one would interleave two processes' requests on a
    /// single connection, so the child gets a new agent (a caller's agent is
    /// rebuilt from its configuration: a custom connector or resolver is not
    /// carried over).
    fn agent(&self) -> ureq::Agent {
        match (self.origin.forked(), self.callers) {
            (false, _) => self.agent.clone(),
            (true, false) => new_agent(self.timeout, &self.url),
            (true, true) => ureq::Agent::new_with_config(self.agent.config().clone()),
        }
    }

    /// Exchanges `credential` for a JWT. Blocks for at most the fetch timeout.
    pub(crate) fn fetch(&self, credential: &str, clock: &ClockSource) -> Result<Received, Error> {
        let agent = self.agent();
        let mut cred = HeaderValue::from_str(credential).map_err(|_| {
            Error::config("the credential holds characters not allowed in an http header")
        })?;
        cred.set_sensitive(true);
        let req = self
            .headers
            .apply(ureq::http::Request::post(&self.url), &agent, false)
            .header("X-API-Key", cred)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body("{}")
            .map_err(|_| Error::config("token url is not a valid url"))?;
        // What the crate must hold whatever the agent: no redirect (the
        // credential would follow it), its timeout (at most the agent's own),
        // error statuses read as responses, and plain http to loopback never
        // through a proxy.
        let timeout = match agent.config().timeouts().global {
            Some(t) if self.callers => t.min(self.timeout),
            _ => self.timeout,
        };
        let mut config = configure_bounded(&agent, req)
            .http_status_as_error(false)
            .timeout_global(Some(timeout));
        if bypasses_proxy(&self.url) {
            config = config.proxy(None);
        }
        let sent = clock.now();
        let mut resp = agent
            .run(config.build())
            .map_err(|e| self.transport(e, timeout))?;
        let status = resp.status().as_u16();
        let date = resp
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        let body = read_bounded(resp.body_mut(), MAX_BODY).map_err(|e| match e {
            BodyError::TooLarge => Error::BadResponse {
                reason: format!("{status} response body is larger than {MAX_BODY} bytes"),
            },
            BodyError::Failed(e) => self.transport(e, timeout),
        })?;
        let received = clock.now();
        let mut secrets = self.headers.secrets();
        secrets.push(credential);
        let (jwt, times) = parse_response(status, &body, &secrets)?;
        Ok(Received {
            jwt,
            times,
            clock: ClockSample {
                sent,
                received,
                date,
                iat: times.iat,
                exp: Some(times.exp),
            },
        })
    }

    fn transport(&self, e: ureq::Error, timeout: Duration) -> Error {
        match e {
            ureq::Error::Timeout(_) => Error::Timeout { after: timeout },
            e => Error::Transport {
                source: std::sync::Arc::new(e),
            },
        }
    }
}

/// Turns the token endpoint's answer into a JWT, or an error naming the step
/// and the status. `secrets` (the credential, the configured header values)
/// are only used to scrub them from quoted text.
///
/// A `jwt` that is not three non-empty base64url segments (a JWS in compact
/// form) is refused as [`Error::BadResponse`], never quoted: such a token,
/// control characters or line breaks included, would fail every request as
/// a header value, or be printed by the CLI as it is.
pub(crate) fn parse_response(
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<(String, JwtTimes), Error> {
    if !(200..300).contains(&status) {
        let detail = detail_of(body, secrets);
        return Err(if status == 401 || status == 403 {
            Error::CredentialRejected { status, detail }
        } else {
            Error::Status { status, detail }
        });
    }
    let bad = |reason: &str| Error::BadResponse {
        reason: format!("{status} response {reason}"),
    };
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("is not JSON"))?;
    let jwt = match value.get("jwt") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(bad("has a `jwt` that is not a non-empty string")),
        None => return Err(bad("has no `jwt` field")),
    };
    if !is_compact_jwt(&jwt) {
        return Err(bad("has a `jwt` that is not three base64url segments"));
    }
    let times = jwt_times(&jwt).map_err(|e| match e {
        Error::InvalidJwt { reason } => bad(&format!("carries an unusable jwt: {reason}")),
        other => other,
    })?;
    Ok((jwt, times))
}

/// The server's `detail` as an error quotes it: one line of printable
/// characters, bounded, with each of `secrets` (the credential or token
/// sent, the configured header values) scrubbed in case the server echoes
/// it (see [`server_text`]).
pub(crate) fn detail_of(body: &[u8], secrets: &[&str]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let detail = match value.get("detail")? {
        Value::String(s) => server_text(s, secrets),
        Value::Null => return None,
        other => server_text(&other.to_string(), secrets),
    };
    Some(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tml-secret";
    // {"alg":"none"} . {"exp":2000000000,"iat":1999999100}
    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDAsImlhdCI6MTk5OTk5OTEwMH0.c2ln";

    fn err(status: u16, body: &str) -> String {
        parse_response(status, body.as_bytes(), &[KEY])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn accepts_a_jwt_response() {
        let body = format!(r#"{{"jwt":"{JWT}"}}"#);
        let (jwt, times) = parse_response(200, body.as_bytes(), &[KEY]).unwrap();
        assert_eq!(jwt, JWT);
        assert_eq!(times.lifetime(), Some(Duration::from_secs(900)));
    }

    #[test]
    fn names_the_step_and_status_for_bad_bodies() {
        assert_eq!(
            err(200, "<html>"),
            "token exchange: 200 response is not JSON"
        );
        assert_eq!(
            err(200, "{}"),
            "token exchange: 200 response has no `jwt` field"
        );
        assert_eq!(
            err(200, r#"{"jwt":5}"#),
            "token exchange: 200 response has a `jwt` that is not a non-empty string"
        );
        // {"alg":"none"} . {"sub":"x"}
        assert_eq!(
            err(200, r#"{"jwt":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"}"#),
            "token exchange: 200 response carries an unusable jwt: missing `exp` claim"
        );
    }

    #[test]
    fn quotes_detail_of_error_statuses() {
        assert_eq!(
            err(500, r#"{"detail":"db down"}"#),
            "token exchange: server answered 500: db down"
        );
        assert_eq!(
            err(502, "Bad Gateway"),
            "token exchange: server answered 502"
        );
        assert_eq!(
            err(401, r#"{"detail":"API key revoked"}"#),
            "token exchange: credential rejected (401): API key revoked"
        );
        assert!(matches!(
            parse_response(403, b"", &[KEY]),
            Err(Error::CredentialRejected {
                status: 403,
                detail: None
            })
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn b64url(data: &[u8]) -> String {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
        }

        /// Bodies a token endpoint might plausibly (or implausibly) send.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                ".{0,64}".prop_map(|d| serde_json::json!({ "detail": d }).to_string().into_bytes()),
                ".{0,64}".prop_map(|j| serde_json::json!({ "jwt": j }).to_string().into_bytes()),
                (any::<i64>(), prop::option::of(any::<i64>())).prop_map(|(exp, iat)| {
                    let claims = serde_json::json!({ "exp": exp, "iat": iat });
                    let jwt = format!(
                        "eyJhbGciOiJub25lIn0.{}.c2ln",
                        b64url(claims.to_string().as_bytes())
                    );
                    serde_json::json!({ "jwt": jwt }).to_string().into_bytes()
                }),
                // Claims as raw JSON text: floats, huge exponents, u64s,
                // strings, values past what an f64 holds.
                (claim_number(), claim_number()).prop_map(|(exp, iat)| {
                    let claims = format!(r#"{{"exp":{exp},"iat":{iat}}}"#);
                    let jwt = format!("eyJhbGciOiJub25lIn0.{}.c2ln", b64url(claims.as_bytes()));
                    serde_json::json!({ "jwt": jwt }).to_string().into_bytes()
                }),
                // `jwt` of every JSON type.
                prop_oneof![
                    Just("null".to_owned()),
                    Just("[]".to_owned()),
                    Just("{}".to_owned()),
                    Just("\"\"".to_owned()),
                    claim_number(),
                ]
                .prop_map(|v| format!(r#"{{"jwt":{v}}}"#).into_bytes()),
            ]
        }

        /// A JSON value for a NumericDate claim, as text.
        fn claim_number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<u64>().prop_map(|n| n.to_string()),
                any::<f64>()
                    .prop_filter("json has no nan or inf", |f| f.is_finite())
                    .prop_map(|f| serde_json::json!(f).to_string()),
                r"-?[0-9]{1,25}(\.[0-9]{0,9})?([eE][+-]?[0-9]{1,4})?",
                r"\x22[0-9]{0,12}\x22",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn never_panics_and_never_quotes_the_credential(
                status in prop_oneof![Just(200u16), Just(401), Just(500), 100u16..600],
                body in body(),
                key in "tml-[A-Za-z0-9]{16}",
                echo in any::<bool>(),
            ) {
                let mut body = body;
                if echo {
                    // A server that echoes the credential in its detail.
                    body = serde_json::json!({ "detail": format!("bad key {key}") })
                        .to_string()
                        .into_bytes();
                }
                match parse_response(status, &body, &[&key]) {
                    Ok((jwt, times)) => {
                        prop_assert!((200..300).contains(&status));
                        prop_assert!(is_compact_jwt(&jwt), "{:?}", jwt);
                        prop_assert_eq!(jwt_times(&jwt).ok(), Some(times));
                    }
                    Err(e) => {
                        let text = format!("{e} {e:?}");
                        prop_assert!(!text.contains(&key), "{}", text);
                        prop_assert!(text.len() < 600, "unbounded error: {} bytes", text.len());
                    }
                }
            }

            #[test]
            fn valid_responses_round_trip(
                exp in 1u64..100_000_000_000,
                lifetime in 1u64..100_000,
                extra in ".{0,20}",
            ) {
                let iat = exp.saturating_sub(lifetime);
                let claims = serde_json::json!({ "exp": exp, "iat": iat, "sub": extra });
                let jwt = format!("eyJhbGciOiJub25lIn0.{}.c2ln", b64url(claims.to_string().as_bytes()));
                let body = serde_json::json!({ "jwt": jwt, "other": extra }).to_string();
                let (got, times) = parse_response(200, body.as_bytes(), &[KEY]).unwrap();
                prop_assert_eq!(&got, &jwt);
                prop_assert_eq!(times.exp, std::time::UNIX_EPOCH + Duration::from_secs(exp));
                prop_assert_eq!(times.iat, Some(std::time::UNIX_EPOCH + Duration::from_secs(iat)));
            }
        }
    }

    #[test]
    fn scrubs_an_echoed_credential_and_bounds_detail() {
        let e = err(401, &format!(r#"{{"detail":"bad key {KEY}"}}"#));
        assert!(!e.contains(KEY), "{e}");
        assert!(e.contains("<redacted>"));
        let long = "x".repeat(5000);
        let e = err(500, &format!(r#"{{"detail":"{long}"}}"#));
        assert!(e.len() < 300, "{}", e.len());
    }
}
