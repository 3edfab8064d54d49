//! Tests of the stand-in server used by the other tests and the examples.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use testkit::stand_in::{
    b64url_decode, b64url_encode, decode_claims, http_date, verify_hs256, Mode, StandIn,
    StandInConfig, DEFAULT_API_KEY, ECHO_PATH, OVERSIZED_BODY_LEN, SUBJECT, TOKEN_PATH,
};
use ureq::http::Response;
use ureq::{Agent, Body};

const PING_PATH: &str = "/api/v1/ping";

fn agent_with_timeout(timeout: Duration) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn agent() -> Agent {
    agent_with_timeout(Duration::from_secs(5))
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

fn post_token(agent: &Agent, s: &StandIn, key: &str) -> Result<Response<Body>, ureq::Error> {
    agent
        .post(format!("{}{TOKEN_PATH}", s.url()))
        .header("X-API-Key", key)
        .header("Content-Type", "application/json")
        .send("{}")
}

fn get_protected(agent: &Agent, s: &StandIn, jwt: &str) -> Response<Body> {
    agent
        .get(format!("{}{PING_PATH}", s.url()))
        .header("X-API-Key", jwt)
        .call()
        .expect("protected request")
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn json_body(resp: &mut Response<Body>) -> Value {
    let text = resp.body_mut().read_to_string().expect("read body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Exchanges the configured key and returns the JWT of a `200` answer.
fn fetch_jwt(agent: &Agent, s: &StandIn) -> String {
    let mut resp = post_token(agent, s, &s.api_key()).expect("exchange");
    assert_eq!(resp.status(), 200);
    json_body(&mut resp)["jwt"]
        .as_str()
        .expect("jwt field")
        .to_owned()
}

fn assert_invalid_jwt(mut resp: Response<Body>) {
    assert_eq!(resp.status(), 401);
    assert_eq!(
        header(&resp, "www-authenticate").as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(json_body(&mut resp)["detail"], "Invalid JWT");
}

/// Sends raw bytes on a fresh connection and reads until the server closes.
fn raw_exchange(s: &StandIn, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(s.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(request).unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn defaults_and_url_shape() {
    let s = StandIn::start();
    let url = s.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with('/'));
    assert_eq!(s.api_key(), DEFAULT_API_KEY);
    assert_eq!(s.mode(), Mode::Healthy);
    let claims = decode_claims(&fetch_jwt(&agent(), &s)).unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        4
    );
}

#[test]
fn base64url_matches_rfc4648_vectors() {
    let vectors: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(b64url_encode(plain.as_bytes()), encoded);
        assert_eq!(b64url_decode(encoded).unwrap(), plain.as_bytes());
    }
    assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
    assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
    assert_eq!(b64url_decode("Zm9vYg==").unwrap(), b"foob");
    assert!(b64url_decode("Z").is_none());
    assert!(b64url_decode("Zm+v").is_none());
}

/// The same bytes with the unused low bits of the last character set: a
/// padding-equivalent spelling a lax decoder maps to the same bytes.
fn non_canonical(encoded: &str) -> Vec<String> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_bits = match encoded.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return Vec::new(),
    };
    let (head, last) = encoded.split_at(encoded.len() - 1);
    let value = ALPHABET.find(last).unwrap();
    (1..1usize << unused_bits)
        .map(|low| format!("{head}{}", &ALPHABET[value ^ low..=value ^ low]))
        .collect()
}

#[test]
fn base64url_decoding_rejects_non_canonical_trailing_bits() {
    // "f" is "Zg": "Zh".."Zv" only set bits no byte uses.
    for encoded in ["Zg", "Zm8", "-_8"] {
        for spelling in non_canonical(encoded) {
            assert_eq!(b64url_decode(&spelling), None, "{spelling}");
        }
    }
    // A signature spelled with other padding bits is not the signature: the
    // verifier, and so the protected endpoints, refuse it.
    let s = StandIn::start();
    let jwt = s.mint(Duration::from_secs(60));
    assert!(verify_hs256(&jwt, &s.secret()).is_some());
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let spellings = non_canonical(signature);
    assert_eq!(
        spellings.len(),
        3,
        "a 32-byte signature leaves 2 unused bits"
    );
    for spelling in spellings {
        let tampered = format!("{signing_input}.{spelling}");
        assert_eq!(verify_hs256(&tampered, &s.secret()), None, "{spelling}");
        assert_invalid_jwt(get_protected(&agent(), &s, &tampered));
    }
}

#[test]
fn verifies_the_well_known_jwt_io_example() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
               eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.\
               SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let claims = verify_hs256(jwt, b"your-256-bit-secret").expect("signature verifies");
    assert_eq!(claims["sub"], "1234567890");
    assert!(verify_hs256(jwt, b"another-secret").is_none());
}

#[test]
fn http_date_is_imf_fixdate() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(http_date(-1), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
}

#[test]
fn exchange_returns_a_signed_jwt_with_the_configured_lifetime() {
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(3),
        secret: b"per-test-secret".to_vec(),
        ..StandInConfig::default()
    });
    let before = unix_now();
    let jwt = fetch_jwt(&agent(), &s);
    let after = unix_now();

    // Check the signature independently of the stand-in's own verifier.
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"per-test-secret").unwrap();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&b64url_decode(signature).unwrap())
        .expect("HS256 signature verifies");
    let header: Value =
        serde_json::from_slice(&b64url_decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, serde_json::json!({"alg": "HS256", "typ": "JWT"}));

    let claims = verify_hs256(&jwt, &s.secret()).unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat));
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3);
    assert_eq!(claims["sub"], SUBJECT);
    assert!(claims["jti"].is_string());

    // Lifetimes round up to whole seconds; jti is unique.
    s.set_lifetime(Duration::from_millis(2500));
    let second = decode_claims(&fetch_jwt(&agent(), &s)).unwrap();
    assert_eq!(
        second["exp"].as_i64().unwrap() - second["iat"].as_i64().unwrap(),
        3
    );
    assert_ne!(second["jti"], claims["jti"]);
    assert_eq!((s.exchanges(), s.exchanges_ok()), (2, 2));
}

#[test]
fn wrong_or_missing_key_is_rejected() {
    let s = StandIn::start();
    let mut resp = post_token(&agent(), &s, "tml-wrong").unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&mut resp)["detail"], "Invalid API key");

    let mut resp = agent()
        .post(format!("{}{TOKEN_PATH}", s.url()))
        .send("{}")
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&mut resp)["detail"], "Invalid API key");
    assert_eq!((s.exchanges(), s.exchanges_ok()), (2, 0));
}

#[test]
fn custom_api_key_is_the_only_one_accepted() {
    let s = StandIn::start_with(StandInConfig {
        api_key: "tml-custom".to_owned(),
        ..StandInConfig::default()
    });
    assert_eq!(s.api_key(), "tml-custom");
    let resp = post_token(&agent(), &s, DEFAULT_API_KEY).unwrap();
    assert_eq!(resp.status(), 401);
    fetch_jwt(&agent(), &s);
}

#[test]
fn protected_endpoint_accepts_a_fresh_token() {
    let s = StandIn::start();
    let agent = agent();
    let jwt = fetch_jwt(&agent, &s);
    let mut resp = get_protected(&agent, &s, &jwt);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some("application/json")
    );
    let body = json_body(&mut resp);
    assert_eq!(
        body,
        serde_json::json!({"ok": true, "sub": SUBJECT, "path": PING_PATH})
    );
    // Minted tokens are as good as exchanged ones.
    assert_eq!(
        get_protected(&agent, &s, &s.mint(Duration::from_secs(60))).status(),
        200
    );
    assert_eq!(
        (s.protected_ok(), s.protected_401(), s.protected_total()),
        (2, 0, 2)
    );
}

#[test]
fn echo_returns_the_request_body() {
    let s = StandIn::start();
    let payload = r#"{"hello":["world",1,2.5]}"#;
    let mut resp = agent()
        .post(format!("{}{ECHO_PATH}", s.url()))
        .header("X-API-Key", &s.mint(Duration::from_secs(10)))
        .send(payload)
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().unwrap(), payload);
}

#[test]
fn protected_endpoint_rejects_expired_tampered_and_missing_tokens() {
    let s = StandIn::start();
    let agent = agent();
    assert_invalid_jwt(get_protected(&agent, &s, &s.mint_expired()));

    let jwt = s.mint(Duration::from_secs(60));
    // Flip one bit of the signature itself (not a padding bit of its text).
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let mut sig = b64url_decode(signature).unwrap();
    sig[0] ^= 1;
    let tampered_sig = format!("{signing_input}.{}", b64url_encode(&sig));
    assert_invalid_jwt(get_protected(&agent, &s, &tampered_sig));

    // Swap in a payload with a later expiry, keeping the old signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims = decode_claims(&jwt).unwrap();
    claims["exp"] = (claims["exp"].as_i64().unwrap() + 3600).into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url_encode(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_invalid_jwt(get_protected(&agent, &s, &forged));

    // Signed with another secret.
    let other = StandIn::start_with(StandInConfig {
        secret: b"other".to_vec(),
        ..StandInConfig::default()
    });
    assert_invalid_jwt(get_protected(
        &agent,
        &s,
        &other.mint(Duration::from_secs(60)),
    ));

    assert_invalid_jwt(get_protected(&agent, &s, "not-a-jwt"));
    let resp = agent.get(format!("{}{PING_PATH}", s.url())).call().unwrap();
    assert_invalid_jwt(resp);
    assert_eq!(
        (s.protected_ok(), s.protected_401(), s.protected_total()),
        (0, 6, 6)
    );
}

#[test]
fn token_expires_by_the_server_clock() {
    let s = StandIn::start();
    let agent = agent();
    s.set_lifetime(Duration::from_secs(60));
    let jwt = fetch_jwt(&agent, &s);
    assert_eq!(get_protected(&agent, &s, &jwt).status(), 200);
    // Move the server's clock past the token's expiry.
    s.set_skew_secs(120);
    assert_invalid_jwt(get_protected(&agent, &s, &jwt));
    // ...and back.
    s.set_skew_secs(0);
    assert_eq!(get_protected(&agent, &s, &jwt).status(), 200);
}

#[test]
fn skew_shows_in_iat_and_date() {
    let skew = -3 * 3600 - 17;
    let s = StandIn::start_with(StandInConfig {
        skew_secs: skew,
        ..StandInConfig::default()
    });
    let before = unix_now() + skew;
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    let after = unix_now() + skew;
    assert_eq!(resp.status(), 200);
    let date = header(&resp, "date").expect("Date header");
    assert!(
        (before..=after).any(|t| http_date(t) == date),
        "Date {date:?} is not between {} and {}",
        http_date(before),
        http_date(after)
    );
    let jwt = json_body(&mut resp)["jwt"].as_str().unwrap().to_owned();
    let iat = decode_claims(&jwt).unwrap()["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat));
    assert!(s.now_secs() >= before);

    s.set_skew_secs(1000);
    let iat = decode_claims(&s.mint(Duration::from_secs(1))).unwrap()["iat"]
        .as_i64()
        .unwrap();
    assert!((iat - unix_now() - 1000).abs() <= 1);
}

#[test]
fn mode_status500() {
    let s = StandIn::start();
    s.set_mode(Mode::Status500);
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(json_body(&mut resp)["detail"], "internal error");
    assert_eq!((s.exchanges(), s.exchanges_ok()), (1, 0));
}

#[test]
fn mode_status503_sends_retry_after() {
    let s = StandIn::start();
    s.set_mode(Mode::Status503 {
        retry_after_secs: 7,
    });
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("7"));
    assert!(json_body(&mut resp)["detail"].is_string());
}

#[test]
fn mode_garbage_is_not_json() {
    let s = StandIn::start();
    s.set_mode(Mode::Garbage);
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[test]
fn mode_missing_jwt() {
    let s = StandIn::start();
    s.set_mode(Mode::MissingJwt);
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json_body(&mut resp), serde_json::json!({"token": "x"}));
}

#[test]
fn mode_no_exp_signs_a_token_without_exp() {
    let s = StandIn::start();
    s.set_mode(Mode::NoExp);
    let jwt = fetch_jwt(&agent(), &s);
    let claims = verify_hs256(&jwt, &s.secret()).expect("signed");
    assert!(claims.get("exp").is_none());
    assert!(claims["iat"].is_i64());
}

#[test]
fn mode_same_token_repeats_the_last_healthy_token() {
    let s = StandIn::start();
    let agent = agent();
    let healthy = fetch_jwt(&agent, &s);
    s.set_mode(Mode::SameToken);
    assert_eq!(fetch_jwt(&agent, &s), healthy);
    assert_eq!(fetch_jwt(&agent, &s), healthy);
    s.set_mode(Mode::Healthy);
    assert_ne!(fetch_jwt(&agent, &s), healthy);

    // Without a previous healthy exchange it mints once and keeps that.
    let fresh = StandIn::start();
    fresh.set_mode(Mode::SameToken);
    let first = fetch_jwt(&agent, &fresh);
    assert_eq!(fetch_jwt(&agent, &fresh), first);
    assert_eq!(fresh.exchanges_ok(), 2);
}

#[test]
fn mode_rejected() {
    let s = StandIn::start();
    s.set_mode(Mode::Rejected);
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(json_body(&mut resp)["detail"], "API key revoked");
}

#[test]
fn mode_oversized_sends_four_mebibytes() {
    let s = StandIn::start();
    s.set_mode(Mode::Oversized);
    let mut resp = post_token(&agent(), &s, &s.api_key()).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "content-length"),
        Some(OVERSIZED_BODY_LEN.to_string())
    );
    let body = resp
        .body_mut()
        .with_config()
        .limit(2 * OVERSIZED_BODY_LEN as u64)
        .read_to_vec()
        .unwrap();
    assert_eq!(body.len(), OVERSIZED_BODY_LEN);
}

#[test]
fn mode_slow_answers_after_the_delay() {
    let s = StandIn::start();
    s.set_mode(Mode::Slow(Duration::from_millis(250)));
    let start = Instant::now();
    let jwt = fetch_jwt(&agent(), &s);
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(verify_hs256(&jwt, &s.secret()).is_some());
    assert_eq!(s.exchanges_ok(), 1);
}

#[test]
fn mode_hang_times_the_client_out() {
    let s = StandIn::start();
    s.set_mode(Mode::Hang);
    let start = Instant::now();
    let result = post_token(
        &agent_with_timeout(Duration::from_millis(300)),
        &s,
        &s.api_key(),
    );
    assert!(matches!(result, Err(ureq::Error::Timeout(_))), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!((s.exchanges(), s.exchanges_ok()), (1, 0));
}

#[test]
fn mode_hang_releases_the_request_when_the_mode_changes() {
    let s = StandIn::start();
    s.set_mode(Mode::Hang);
    let (url, key) = (s.url(), s.api_key());
    let waiter = thread::spawn(move || {
        let mut resp = agent()
            .post(format!("{url}{TOKEN_PATH}"))
            .header("X-API-Key", &key)
            .send("{}")
            .unwrap();
        (resp.status().as_u16(), json_body(&mut resp))
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while s.exchanges() == 0 {
        assert!(Instant::now() < deadline, "request never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished());
    s.set_mode(Mode::Rejected);
    let (status, body) = waiter.join().unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "API key revoked");
}

#[test]
fn mode_reset_closes_without_answering() {
    let s = StandIn::start();
    s.set_mode(Mode::Reset);
    let result = post_token(&agent(), &s, &s.api_key());
    assert!(result.is_err(), "{result:?}");
    assert!(matches!(result, Err(ureq::Error::Io(_))), "{result:?}");
    assert!(s.exchanges() >= 1);
    assert_eq!(s.exchanges_ok(), 0);
    // The server carries on.
    s.set_mode(Mode::Healthy);
    fetch_jwt(&agent(), &s);
}

#[test]
fn modes_do_not_affect_protected_endpoints() {
    let s = StandIn::start();
    let jwt = s.mint(Duration::from_secs(60));
    s.set_mode(Mode::Hang);
    assert_eq!(get_protected(&agent(), &s, &jwt).status(), 200);
}

#[test]
fn keep_alive_reuses_one_connection() {
    let s = StandIn::start();
    let agent = agent();
    let jwt = fetch_jwt(&agent, &s);
    for _ in 0..3 {
        let mut resp = get_protected(&agent, &s, &jwt);
        assert_eq!(resp.status(), 200);
        // ureq only pools a connection once its response body is consumed.
        assert_eq!(json_body(&mut resp)["ok"], true);
    }
    assert_eq!(s.connections(), 1);
    assert_eq!(s.protected_ok(), 3);
}

#[test]
fn raw_keep_alive_and_connection_close() {
    let s = StandIn::start();
    let jwt = s.mint(Duration::from_secs(60));
    let first = format!("GET /a HTTP/1.1\r\nHost: x\r\nX-API-Key: {jwt}\r\n\r\n");
    let second = format!(
        "POST {ECHO_PATH} HTTP/1.1\r\nHost: x\r\nX-API-Key: {jwt}\r\n\
         Content-Length: 7\r\nConnection: close\r\n\r\n{{\"a\":1}}"
    );
    let out = raw_exchange(&s, format!("{first}{second}").as_bytes());
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{out}");
    assert!(out.contains(r#""path":"/a""#), "{out}");
    assert!(out.ends_with("Connection: close\r\n\r\n{\"a\":1}"), "{out}");
    assert_eq!(s.connections(), 1);
}

#[test]
fn oversized_request_head_is_refused() {
    let s = StandIn::start();
    let big = "x".repeat(70 * 1024);
    let out = raw_exchange(
        &s,
        format!("GET / HTTP/1.1\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    );
    assert!(
        out.starts_with("HTTP/1.1 431 "),
        "{}",
        &out[..out.len().min(200)]
    );
}

#[test]
fn protected_fail_every_n() {
    let s = StandIn::start();
    let agent = agent();
    let jwt = s.mint(Duration::from_secs(60));
    s.set_protected_fail_every(3);
    let statuses: Vec<u16> = (0..6)
        .map(|_| {
            let resp = get_protected(&agent, &s, &jwt);
            if resp.status() == 503 {
                assert_eq!(header(&resp, "retry-after").as_deref(), Some("0"));
            }
            resp.status().as_u16()
        })
        .collect();
    assert_eq!(statuses, [200, 200, 503, 200, 200, 503]);
    s.set_protected_fail_every(0);
    assert_eq!(get_protected(&agent, &s, &jwt).status(), 200);
    assert_eq!((s.protected_ok(), s.protected_total()), (5, 7));
}

#[test]
fn counters_count_and_reset() {
    let s = StandIn::start();
    let agent = agent();
    let jwt = fetch_jwt(&agent, &s);
    post_token(&agent, &s, "bad").unwrap();
    s.set_mode(Mode::Status500);
    post_token(&agent, &s, &s.api_key()).unwrap();
    get_protected(&agent, &s, &jwt);
    get_protected(&agent, &s, &s.mint_expired());
    assert_eq!(s.exchanges(), 3);
    assert_eq!(s.exchanges_ok(), 1);
    assert_eq!(s.protected_ok(), 1);
    assert_eq!(s.protected_401(), 1);
    assert_eq!(s.protected_total(), 2);
    s.reset_counters();
    assert_eq!(
        [
            s.exchanges(),
            s.exchanges_ok(),
            s.protected_ok(),
            s.protected_401(),
            s.protected_total(),
            s.connections()
        ],
        [0; 6]
    );
}

#[test]
fn drop_is_prompt_while_a_request_hangs() {
    let s = StandIn::start();
    s.set_mode(Mode::Hang);
    let (url, key) = (s.url(), s.api_key());
    let client = thread::spawn(move || {
        agent()
            .post(format!("{url}{TOKEN_PATH}"))
            .header("X-API-Key", &key)
            .send("{}")
    });
    // An idle keep-alive connection too.
    let idle = TcpStream::connect(s.addr()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while s.exchanges() == 0 || s.connections() < 2 {
        assert!(Instant::now() < deadline, "requests never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    let addr = s.addr();
    let start = Instant::now();
    drop(s);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // The hanging client sees the connection close rather than waiting 5 s.
    assert!(client.join().unwrap().is_err());
    drop(idle);
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn drop_is_prompt_while_a_request_is_slow() {
    let s = StandIn::start();
    s.set_mode(Mode::Slow(Duration::from_secs(30)));
    let (url, key) = (s.url(), s.api_key());
    let client = thread::spawn(move || {
        agent()
            .post(format!("{url}{TOKEN_PATH}"))
            .header("X-API-Key", &key)
            .send("{}")
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while s.exchanges() == 0 {
        assert!(Instant::now() < deadline, "request never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    drop(s);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(client.join().unwrap().is_err());
}
