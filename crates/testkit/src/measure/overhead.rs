//! The request layer's overhead over a bare request.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, Token};

use super::common::{median, provider, server, PROTECTED_PATH};

/// Item 4: a request with and without the request layer, medians in µs.
#[derive(Debug, Clone, Copy)]
pub struct Overhead {
    /// Bare `ureq` GET of a protected endpoint with a fixed header.
    pub bare: f64,
    /// The same with a 30 s `timeout_global` set on the `ureq` agent, as the
    /// request layer sets one on every attempt.
    pub bare_timeout: f64,
    /// The same with `provider.get_token()` supplying the header: the
    /// request layer's per-attempt added work, alone.
    pub with_token: f64,
    /// The same GET through `AuthenticatedAgent::get_response` (token,
    /// header, retry bookkeeping, status check), body read alike.
    pub agent: f64,
    /// Requests per candidate.
    pub requests: usize,
}

/// Measures [`Overhead`], each candidate on its own kept-alive loopback
/// connection to the same server, the three taking turns request by request.
pub fn request_overhead(requests: usize) -> Overhead {
    let server = server(Duration::from_secs(3600));
    let p = Arc::new(provider(&server, true));
    let ureq_agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .max_redirects(0)
            .build()
            .into()
    };
    let (a_bare, a_token) = (ureq_agent(), ureq_agent());
    let a_timeout: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let api = AuthenticatedAgent::builder(server.url(), p.clone() as Arc<dyn AuthTokenProvider>)
        .build()
        .expect("build the authenticated agent");
    let url = format!("{}{PROTECTED_PATH}", server.url());
    let jwt: String = p.get_token().unwrap().unwrap().as_str().to_owned();
    let send = |agent: &ureq::Agent, value: &str| {
        let body = agent
            .get(&url)
            .header("X-API-Key", value)
            .call()
            .expect("protected request")
            .body_mut()
            .read_to_string()
            .expect("protected body");
        black_box(body);
    };
    let mut cands: Vec<Box<dyn FnMut() -> f64 + '_>> = vec![
        Box::new(|| {
            let t = Instant::now();
            send(&a_bare, &jwt);
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            send(&a_timeout, &jwt);
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            let token: Token = p.get_token().unwrap().unwrap();
            send(&a_token, token.as_str());
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            let body = api
                .get_response(PROTECTED_PATH)
                .expect("request through the agent")
                .body_mut()
                .read_to_string()
                .expect("agent body");
            black_box(body);
            t.elapsed().as_secs_f64() * 1e6
        }),
    ];
    for _ in 0..200 {
        for c in cands.iter_mut() {
            c();
        }
    }
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(requests); cands.len()];
    let n = cands.len();
    for i in 0..requests {
        // Rotate the order, so that none always follows another.
        for k in 0..n {
            let j = (i + k) % n;
            out[j].push(cands[j]());
        }
    }
    drop(cands);
    assert_eq!(server.protected_401(), 0);
    let mut m = out.into_iter().map(median);
    Overhead {
        bare: m.next().unwrap(),
        bare_timeout: m.next().unwrap(),
        with_token: m.next().unwrap(),
        agent: m.next().unwrap(),
        requests,
    }
}
