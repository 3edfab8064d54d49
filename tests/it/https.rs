//! Real HTTPS and a CONNECT proxy on loopback: the TLS front
//! (`testkit::tls`) before the stand-in, the proxy (`testkit::connect_proxy`)
//! between a client and the front, and the stack a TLS handshake touches
//! (`testkit::stack`).
//!
//! The first tests seed their providers with a token the stand-in minted, to
//! look at the request layer alone; the later ones send the token exchange
//! itself over HTTPS, through a caller's agent
//! (`JwtAuthProviderBuilder::agent`) trusting the test CA, through the proxy,
//! and with background refreshes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tinker_auth::{
    AuthTokenProvider, AuthenticatedAgent, AuthenticatedAgentBuilder, JwtAuthProvider,
};

use testkit::connect_proxy::ConnectProxy;
use testkit::stack::measure_stack;
use testkit::stand_in::{Mode, StandIn, StandInConfig, CAPABILITIES_PATH, ECHO_PATH, TOKEN_PATH};
use testkit::tls::{agent_config_trusting, agent_trusting, TlsFront};
use testkit::{seeded_provider, wait_until};

const PING: &str = "/api/v1/ping";

/// A stand-in behind a TLS front, and a provider for the front's URL
/// holding a 10-minute token the stand-in minted.
fn https_stand_in() -> (StandIn, TlsFront, Arc<JwtAuthProvider>) {
    let server = StandIn::start();
    let front = TlsFront::start(server.addr());
    let jwt = server.mint(Duration::from_secs(600));
    let provider = seeded_provider(&front.url(), &server.api_key(), &jwt);
    (server, front, provider)
}

/// An `AuthenticatedAgent` at `base` through `agent`, one attempt of at most 5 s.
fn api(base: &str, provider: &Arc<JwtAuthProvider>, agent: ureq::Agent) -> AuthenticatedAgent {
    let builder: AuthenticatedAgentBuilder = AuthenticatedAgent::builder(base, provider.clone());
    builder
        .agent(agent)
        .max_attempts(1)
        .timeout(Duration::from_secs(5))
        .deadline(Duration::from_secs(10))
        .build()
        .expect("a valid base URL")
}

/// Reads one HTTP response (head and `Content-Length: 0` body) from a raw socket.
fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn authenticated_agent_talks_https_to_the_stand_in_with_the_test_ca() {
    let (server, front, provider) = https_stand_in();
    let api = api(&front.url(), &provider, agent_trusting(&front.ca_der()));

    let ping = api.get(PING).expect("GET over HTTPS");
    assert_eq!(ping["ok"], json!(true), "{ping}");
    assert_eq!(ping["path"], json!(PING));
    let body = json!({ "request_id": "r-1", "payload": "x".repeat(40_000) });
    let echoed = api.post(ECHO_PATH, &body).expect("POST over HTTPS");
    assert_eq!(
        echoed, body,
        "a 40 kB body crosses the front intact both ways"
    );

    assert_eq!(server.protected_ok(), 2);
    assert!(front.handshakes() >= 1, "the requests went over TLS");
    assert_eq!(front.failed_handshakes(), 0);

    // The leaf also names 127.0.0.1, and the PEM is the same CA as the DER.
    let pem = front.ca_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let from_pem = ureq::tls::Certificate::from_pem(pem.as_bytes()).expect("PEM parses");
    assert_eq!(from_pem.der(), front.ca_der().as_slice());
    let mut resp = agent_trusting(&front.ca_der())
        .get(format!("{}{PING}", front.ip_url()))
        .header("X-API-Key", provider.get_token().unwrap().unwrap().as_str())
        .call()
        .expect("HTTPS by IP address");
    assert_eq!(resp.status(), 200);
    let _ = resp.body_mut().read_to_vec();
}

#[test]
fn default_roots_reject_the_test_ca_quickly() {
    let (server, front, _provider) = https_stand_in();
    // ureq's defaults: webpki-roots, which do not include the test CA.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let start = Instant::now();
    let err = agent
        .get(format!("{}{PING}", front.url()))
        .call()
        .expect_err("an unknown CA is refused");
    let took = start.elapsed();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("UnknownIssuer") || shown.to_lowercase().contains("certificate"),
        "a certificate error, got: {shown}"
    );
    assert!(
        took < Duration::from_secs(10),
        "failed at the handshake, not at the 30 s timeout: {took:?}"
    );
    assert_eq!(front.handshakes(), 0);
    assert!(wait_until(Duration::from_secs(5), || front
        .failed_handshakes()
        == 1));
    assert_eq!(server.connections(), 0, "nothing reached the backend");
}

#[test]
fn https_through_the_connect_proxy_keeps_the_key_inside_the_tunnel() {
    let (server, front, provider) = https_stand_in();
    let proxy = ConnectProxy::start();
    let agent: ureq::Agent = agent_config_trusting(&front.ca_der())
        .proxy(Some(ureq::Proxy::new(&proxy.url()).expect("proxy URL")))
        .build()
        .into();
    let api = api(&front.url(), &provider, agent);

    assert_eq!(api.get(PING).expect("GET via the proxy")["ok"], json!(true));
    let body = json!({ "marker": "plaintext-marker-5d1c" });
    assert_eq!(
        api.post(ECHO_PATH, &body).expect("POST via the proxy"),
        body
    );

    assert_eq!(server.protected_ok(), 2);
    assert!(front.handshakes() >= 1);
    let targets = proxy.connect_targets();
    assert!(!targets.is_empty(), "the proxy tunnelled the requests");
    let expected = format!("localhost:{}", front.addr().port());
    assert!(targets.iter().all(|t| *t == expected), "{targets:?}");
    assert_eq!(
        proxy.plain_requests(),
        0,
        "{:?}",
        proxy.plain_request_lines()
    );
    assert!(proxy.saw(format!("CONNECT {expected}")));
    let jwt = provider.get_token().unwrap().unwrap();
    assert!(
        !proxy.saw(jwt.as_str()),
        "the JWT crossed the proxy in clear"
    );
    assert!(!proxy.saw("x-api-key"), "a header name crossed in clear");
    assert!(
        !proxy.saw("plaintext-marker-5d1c"),
        "the body crossed in clear"
    );
    assert!(!proxy.saw(server.api_key()));
}

#[test]
fn plain_http_through_the_proxy_is_seen_in_clear() {
    // The control for the test above: the same check does see a key sent
    // over plain http (ureq tunnels http through CONNECT as well).
    let server = StandIn::start();
    let proxy = ConnectProxy::start();
    let jwt = server.mint(Duration::from_secs(600));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(Some(ureq::Proxy::new(&proxy.url()).unwrap()))
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent
        .get(format!("{}{PING}", server.url()))
        .header("X-API-Key", &jwt)
        .call()
        .expect("GET over http via the proxy");
    assert_eq!(resp.status(), 200);
    let _ = resp.body_mut().read_to_vec();
    assert_eq!(
        proxy.connect_targets(),
        vec![format!("127.0.0.1:{}", server.addr().port())]
    );
    assert!(proxy.saw(&jwt) && proxy.saw("x-api-key"));
}

#[test]
fn the_proxy_refuses_other_targets_and_plain_requests() {
    let proxy = ConnectProxy::start();
    for target in ["example.invalid:443", "10.1.2.3:443", "localhost:notaport"] {
        let reply = raw_exchange(
            proxy.addr(),
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"),
        );
        assert!(reply.starts_with("HTTP/1.1 403"), "{target}: {reply}");
    }
    assert_eq!(
        proxy.refused_targets(),
        ["example.invalid:443", "10.1.2.3:443", "localhost:notaport"]
    );
    let reply = raw_exchange(
        proxy.addr(),
        "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-API-Key: k-123\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 405"), "{reply}");
    assert_eq!(proxy.plain_requests(), 1);
    assert_eq!(
        proxy.plain_request_lines(),
        ["GET http://127.0.0.1:9/ HTTP/1.1"]
    );
    assert!(proxy.saw("X-API-KEY: k-123"), "case-insensitive search");
    assert!(proxy.connect_targets().is_empty());
}

#[test]
fn connections_close_cleanly_and_drop_is_prompt() {
    let (_server, front, provider) = https_stand_in();
    let proxy = ConnectProxy::start();
    {
        let agent: ureq::Agent = agent_config_trusting(&front.ca_der())
            .proxy(Some(ureq::Proxy::new(&proxy.url()).unwrap()))
            .build()
            .into();
        let api = api(&front.url(), &provider, agent);
        api.get(PING).expect("GET via the proxy");
        assert!(front.open_connections() >= 1, "the connection is pooled");
    }
    // The agent (and its pooled connection) is gone: the close travels
    // through the proxy and the front to the stand-in, and back.
    assert!(
        wait_until(Duration::from_secs(5), || front.open_connections() == 0),
        "the front closed the connection"
    );

    // A connection left open when the front goes: drop cuts it.
    let agent = agent_trusting(&front.ca_der());
    let token = provider.get_token().unwrap().unwrap();
    let mut resp = agent
        .get(format!("{}{PING}", front.url()))
        .header("X-API-Key", token.as_str())
        .call()
        .unwrap();
    let _ = resp.body_mut().read_to_vec();
    assert_eq!(front.open_connections(), 1);
    let start = Instant::now();
    drop(front);
    drop(proxy);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

/// The refresh thread's `STACK_SIZE` (src/provider/refresher.rs), which is private.
const REFRESH_STACK: usize = 384 * 1024;

#[test]
fn stack_touched_by_an_https_request_with_a_fresh_handshake() {
    let (server, front, provider) = https_stand_in();
    let token = provider.get_token().unwrap().unwrap();
    let kib = |b: u64| b as f64 / 1024.0;
    // Measured on a larger stack than the refresh thread's, so that a
    // deeper-than-expected path shows up as a number, not an abort.
    let measure_stack_size = 2 * REFRESH_STACK;

    // Plain http, for comparison with the 28 KiB of docs/PERFORMANCE.md.
    let (url, t) = (format!("{}{PING}", server.url()), token.clone());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (status, http) = measure_stack(measure_stack_size, move || {
        let mut r = agent
            .get(&url)
            .header("X-API-Key", t.as_str())
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_vec();
        r.status().as_u16()
    });
    assert_eq!(status, 200);

    // HTTPS with the test CA: the agent is made here, its first request
    // (rustls config, connection, full handshake, request) on the measured thread.
    let (url, t) = (format!("{}{PING}", front.url()), token.clone());
    let agent = agent_trusting(&front.ca_der());
    let (status, https) = measure_stack(measure_stack_size, move || {
        let mut r = agent
            .get(&url)
            .header("X-API-Key", t.as_str())
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_vec();
        r.status().as_u16()
    });
    assert_eq!(status, 200);
    assert_eq!(server.protected_ok(), 2);

    // ureq's default roots (what the exchange's agent uses in production):
    // building the root store from webpki-roots, the handshake, and the
    // certificate check, which fails here for want of the test CA.
    let url = format!("{}{PING}", front.url());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let (failed, webpki) =
        measure_stack(measure_stack_size, move || agent.get(&url).call().is_err());
    assert!(failed, "the test CA is not in webpki-roots");

    // The token exchange itself (what the refresh thread runs), over http:
    // `build()` performs the first exchange on the calling thread.
    let (url, key) = (server.url(), server.api_key());
    let (built, exchange) = measure_stack(measure_stack_size, move || {
        JwtAuthProvider::builder(url)
            .api_key(key)
            .background_refresh(false)
            .build()
            .is_ok()
    });
    assert!(built);

    // The token exchange over HTTPS, as the refresh thread runs it through a
    // caller's agent: the agent and its TLS config made on the thread, a
    // fresh connection, a full handshake, the exchange.
    let (url, key, ca) = (front.url(), server.api_key(), front.ca_der());
    let (built, exchange_https) = measure_stack(measure_stack_size, move || {
        JwtAuthProvider::builder(url)
            .api_key(key)
            .agent(agent_trusting(&ca))
            .background_refresh(false)
            .build()
            .is_ok()
    });
    assert!(built);

    // The provider's own agent over HTTPS (webpki roots), failing at the
    // certificate check: the production path up to the verification.
    let (url, key) = (front.url(), server.api_key());
    let (failed, exchange_webpki) = measure_stack(measure_stack_size, move || {
        JwtAuthProvider::builder(url)
            .api_key(key)
            .background_refresh(false)
            .build()
            .is_err()
    });
    assert!(failed);

    let mut worst = 0;
    for (what, u) in [
        ("token exchange, http, loopback", exchange),
        (
            "token exchange, https, test CA, fresh handshake",
            exchange_https,
        ),
        (
            "token exchange, https, webpki roots, to the certificate check",
            exchange_webpki,
        ),
        ("http, loopback", http),
        ("https, test CA, fresh handshake", https),
        (
            "https, webpki roots, handshake to the certificate check",
            webpki,
        ),
    ] {
        let Some(u) = u else {
            eprintln!("stack: {what}: /proc/self/smaps not readable, not measured");
            continue;
        };
        eprintln!(
            "stack: {what}: {:.0} KiB touched ({:.0} KiB before the request; mapping {:.0} KiB)",
            kib(u.after),
            kib(u.before),
            kib(u.mapping)
        );
        worst = worst.max(u.after);
    }
    assert!(
        worst < REFRESH_STACK as u64,
        "a request touched {:.0} KiB, more than the refresh thread's {} KiB",
        kib(worst),
        REFRESH_STACK / 1024
    );
    eprintln!(
        "stack: worst {:.0} KiB, {:.1}x headroom in the refresh thread's {} KiB",
        kib(worst),
        REFRESH_STACK as f64 / worst as f64,
        REFRESH_STACK / 1024
    );
}

/// A stand-in minting `lifetime` tokens behind a TLS front.
fn https_server(lifetime: Duration) -> (StandIn, TlsFront) {
    let server = StandIn::start_with(StandInConfig {
        lifetime,
        ..StandInConfig::default()
    });
    let front = TlsFront::start(server.addr());
    (server, front)
}

#[test]
fn the_exchange_and_requests_go_over_https_through_the_callers_agent() {
    let (server, front) = https_server(Duration::from_secs(600));
    let provider = JwtAuthProvider::builder(front.url())
        .api_key(server.api_key())
        .agent(agent_trusting(&front.ca_der()))
        .header("X-Team", "team-7")
        .user_agent_suffix("my-app/1.2")
        .background_refresh(false)
        .build()
        .expect("the exchange over HTTPS with the test CA");
    assert_eq!(server.exchanges_ok(), 1);
    assert!(front.handshakes() >= 1);
    let provider = Arc::new(provider);
    let api = AuthenticatedAgent::builder(front.url(), provider.clone())
        .agent(agent_trusting(&front.ca_der()))
        .header("X-Team", "team-8")
        .user_agent_suffix("my-app/1.3")
        .build()
        .unwrap();
    let caps = api.get(CAPABILITIES_PATH).expect("GET over HTTPS");
    assert!(
        caps["supported_models"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{caps}"
    );

    let seen = server.requests();
    let exchange = seen.iter().find(|r| r.path == TOKEN_PATH).unwrap();
    assert_eq!(
        exchange.header("user-agent"),
        Some(concat!(
            "tinker-auth/",
            env!("CARGO_PKG_VERSION"),
            " my-app/1.2"
        ))
    );
    assert_eq!(exchange.header("x-team"), Some("team-7"));
    let request = seen.iter().find(|r| r.path == CAPABILITIES_PATH).unwrap();
    assert_eq!(
        request.header("user-agent"),
        Some(concat!(
            "tinker-auth/",
            env!("CARGO_PKG_VERSION"),
            " my-app/1.3"
        ))
    );
    assert_eq!(request.header("x-team"), Some("team-8"));
    // Header values stay out of Debug output.
    let shown = format!(
        "{:?} {:?}",
        JwtAuthProvider::builder(front.url()).header("X-Team", "team-7"),
        AuthenticatedAgent::builder(front.url(), provider).header("X-Team", "team-8")
    );
    assert!(
        !shown.contains("team-7") && !shown.contains("team-8"),
        "{shown}"
    );
    assert!(
        shown.contains("x-team") || shown.contains("X-Team"),
        "{shown}"
    );
}

#[test]
fn without_the_ca_build_fails_at_once_with_a_certificate_error() {
    let (server, front) = https_server(Duration::from_secs(600));
    let start = Instant::now();
    // The provider's own agent: ureq's default roots, without the test CA.
    let err = JwtAuthProvider::builder(front.url())
        .api_key(server.api_key())
        .fetch_timeout(Duration::from_secs(30))
        .build()
        .expect_err("an unknown CA is refused");
    let took = start.elapsed();
    let shown = format!("{err} | {err:?}");
    assert!(
        shown.to_lowercase().contains("certificate") || shown.contains("UnknownIssuer"),
        "a certificate error: {shown}"
    );
    assert!(
        !err.is_transient(),
        "a certificate error is not transient: {shown}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!shown.contains(&server.api_key()));
    assert_eq!(server.exchanges(), 0, "nothing reached the stand-in");
}

#[test]
fn fetch_timeout_bounds_the_exchange_through_an_agent_without_a_timeout() {
    let (server, front) = https_server(Duration::from_secs(600));
    server.set_mode(Mode::Hang);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(testkit::tls::tls_config_trusting(&front.ca_der()))
        .build()
        .into();
    assert_eq!(agent.config().timeouts().global, None);
    let start = Instant::now();
    let err = JwtAuthProvider::builder(front.url())
        .api_key(server.api_key())
        .agent(agent)
        .fetch_timeout(Duration::from_millis(800))
        .background_refresh(false)
        .build()
        .expect_err("the stand-in hangs");
    let took = start.elapsed();
    assert!(matches!(err, tinker_auth::Error::Timeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    server.set_mode(Mode::Healthy);
}

#[test]
fn the_exchange_through_the_connect_proxy_keeps_the_key_inside_the_tunnel() {
    let (server, front) = https_server(Duration::from_secs(600));
    let proxy = ConnectProxy::start();
    let agent: ureq::Agent = agent_config_trusting(&front.ca_der())
        .proxy(Some(ureq::Proxy::new(&proxy.url()).expect("proxy URL")))
        .build()
        .into();
    let provider = Arc::new(
        JwtAuthProvider::builder(front.url())
            .api_key(server.api_key())
            .agent(agent.clone())
            .background_refresh(false)
            .build()
            .expect("the exchange through the proxy"),
    );
    let api = api(&front.url(), &provider, agent);
    assert_eq!(api.get(PING).expect("GET via the proxy")["ok"], json!(true));

    assert_eq!(server.exchanges_ok(), 1);
    let expected = format!("localhost:{}", front.addr().port());
    let targets = proxy.connect_targets();
    assert!(
        !targets.is_empty() && targets.iter().all(|t| *t == expected),
        "{targets:?}"
    );
    assert_eq!(proxy.plain_requests(), 0);
    let jwt = provider.token().unwrap();
    assert!(!proxy.saw(server.api_key()), "the key crossed in clear");
    assert!(!proxy.saw(jwt.as_str()), "the JWT crossed in clear");
    assert!(!proxy.saw("x-api-key"), "a header crossed in clear");
}

#[test]
fn background_refreshes_over_https_soak() {
    let (server, front) = https_server(Duration::from_secs(3));
    let provider = Arc::new(
        JwtAuthProvider::builder(front.url())
            .api_key(server.api_key())
            .agent(agent_trusting(&front.ca_der()))
            .build()
            .expect("the first exchange over HTTPS"),
    );
    let api = api(&front.url(), &provider, agent_trusting(&front.ca_der()));
    let end = Instant::now() + Duration::from_secs(8);
    let mut calls = 0;
    while Instant::now() < end {
        api.get(PING).expect("every call succeeds");
        calls += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = provider.stats();
    assert!(stats.background >= 2, "{stats:?}");
    assert_eq!(stats.fetches_failed, 0, "{stats:?}");
    assert_eq!(server.protected_401(), 0);
    assert!(server.protected_ok() >= calls);
    assert_eq!(front.failed_handshakes(), 0);
}
