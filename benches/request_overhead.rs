//! Item 4: a loopback GET of a protected endpoint with bare `ureq` and a
//! fixed header (`bare`), with `provider.get_token()` supplying the header
//! (`with_token`: the request layer's per-attempt added work, alone), and
//! through `AuthenticatedAgent` (`agent`, to compare with `bare_timeout`:
//! a `ureq` timeout alone costs tens of µs per request here).
//!
//! `cargo bench --bench request_overhead`

use testkit::{measure, stand_in};

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use std::sync::Arc;

use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, JwtAuthProvider};

fn main() {
    divan::main();
}

struct Fixture {
    server: stand_in::StandIn,
    provider: Arc<JwtAuthProvider>,
    agent: ureq::Agent,
    agent_timeout: ureq::Agent,
    api: AuthenticatedAgent,
    url: String,
    jwt: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let server = measure::server(Duration::from_secs(3600));
    let provider = Arc::new(measure::provider(&server, true));
    let api = AuthenticatedAgent::new(server.url(), provider.clone()).expect("build the agent");
    let agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let agent_timeout = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}{}", server.url(), measure::PROTECTED_PATH);
    let jwt = provider.get_token().unwrap().unwrap().as_str().to_owned();
    Fixture {
        server,
        provider,
        agent,
        agent_timeout,
        api,
        url,
        jwt,
    }
});

fn send(f: &Fixture, value: &str) -> String {
    send_with(&f.agent, f, value)
}

fn send_with(agent: &ureq::Agent, f: &Fixture, value: &str) -> String {
    agent
        .get(&f.url)
        .header("X-API-Key", value)
        .call()
        .expect("protected request")
        .body_mut()
        .read_to_string()
        .expect("protected body")
}

#[divan::bench(sample_count = 200, sample_size = 10)]
fn bare() -> String {
    let f = &*FIXTURE;
    send(f, black_box(&f.jwt))
}

/// `bare` with a 30 s global timeout on the agent, as `AuthenticatedAgent`
/// sets on every attempt: the fair reference for `agent`.
#[divan::bench(sample_count = 200, sample_size = 10)]
fn bare_timeout() -> String {
    let f = &*FIXTURE;
    send_with(&f.agent_timeout, f, black_box(&f.jwt))
}

#[divan::bench(sample_count = 200, sample_size = 10)]
fn with_token() -> String {
    let f = &*FIXTURE;
    let token = f.provider.get_token().unwrap().unwrap();
    let body = send(f, token.as_str());
    debug_assert_eq!(f.server.protected_401(), 0);
    body
}

#[divan::bench(sample_count = 200, sample_size = 10)]
fn agent() -> String {
    let f = &*FIXTURE;
    f.api
        .get_response(measure::PROTECTED_PATH)
        .expect("request through the agent")
        .body_mut()
        .read_to_string()
        .expect("agent body")
}
