//! A plain-http loopback base URL never goes through a proxy, even with the
//! proxy variables set: the credential (and the JWT) would cross to the proxy
//! in clear. Exchange, `AuthenticatedAgent` (its own agent and a caller's
//! agent that reads the variables) both go direct.
//!
//! One test in this binary: it sets process-wide environment variables.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use testkit::stand_in::{StandIn, ECHO_PATH};
use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, JwtAuthProvider};

/// A "proxy" that counts connections and closes each at once.
fn proxy_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, hits)
}

#[test]
fn plain_http_loopback_never_goes_through_a_proxy() {
    let (proxy, hits) = proxy_listener();
    for name in [
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
    ] {
        std::env::set_var(name, &proxy);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let server = StandIn::start();

    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .fetch_timeout(Duration::from_secs(3))
            .background_refresh(false)
            .build()
            .expect("the exchange goes direct"),
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the exchange went to the proxy"
    );

    let own = AuthenticatedAgent::builder(server.url(), provider.clone())
        .max_attempts(1)
        .build()
        .unwrap();
    own.get(ECHO_PATH).expect("the agent's request goes direct");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the agent went to the proxy"
    );

    // A caller's agent built with the defaults reads the proxy variables.
    let callers = AuthenticatedAgent::builder(server.url(), provider.clone())
        .agent(ureq::Agent::new_with_defaults())
        .max_attempts(1)
        .build()
        .unwrap();
    callers
        .get(ECHO_PATH)
        .expect("a caller's agent's request goes direct");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a caller's agent went to the proxy"
    );
    assert!(provider.get_token().is_ok());
}
