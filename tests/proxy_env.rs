//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` for an HTTPS base URL: the
//! exchange and API requests go through the proxy as a CONNECT tunnel, the
//! credential and the JWT inside it, and `NO_PROXY` sends them direct.
//!
//! One test in this binary: it sets process-wide environment variables.

use std::sync::Arc;
use std::time::Duration;

use testkit::connect_proxy::ConnectProxy;
use testkit::stand_in::{StandIn, StandInConfig, CAPABILITIES_PATH};
use testkit::tls::{agent_trusting, TlsFront};
use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};

const PROXY_VARS: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn clear_proxy_vars() {
    for v in PROXY_VARS {
        std::env::remove_var(v);
    }
}

#[test]
fn proxy_variables_tunnel_https_and_no_proxy_bypasses() {
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(600),
        ..StandInConfig::default()
    });
    let front = TlsFront::start(server.addr());
    let expected = format!("localhost:{}", front.addr().port());

    for var in ["HTTPS_PROXY", "ALL_PROXY"] {
        clear_proxy_vars();
        let proxy = ConnectProxy::start();
        std::env::set_var(var, proxy.url());
        // A caller's agent made after the variables are set reads them (ureq's
        // default); it adds only the test CA.
        let provider = Arc::new(
            JwtAuthProvider::builder(front.url())
                .api_key(server.api_key())
                .agent(agent_trusting(&front.ca_der()))
                .background_refresh(false)
                .build()
                .unwrap_or_else(|e| panic!("{var}: the exchange through the proxy: {e}")),
        );
        let api = AuthenticatedAgent::builder(front.url(), provider.clone())
            .agent(agent_trusting(&front.ca_der()))
            .build()
            .unwrap();
        api.get(CAPABILITIES_PATH)
            .unwrap_or_else(|e| panic!("{var}: GET through the proxy: {e}"));
        let targets = proxy.connect_targets();
        assert!(
            targets.len() >= 2 && targets.iter().all(|t| *t == expected),
            "{var}: {targets:?}"
        );
        let jwt = provider.token().unwrap();
        assert!(
            !proxy.saw(server.api_key()),
            "{var}: the key crossed in clear"
        );
        assert!(!proxy.saw(jwt.as_str()), "{var}: the JWT crossed in clear");
        assert_eq!(proxy.plain_requests(), 0);

        // The provider's own agent reads them too: it tunnels through the
        // proxy (and then refuses the test CA, which it does not trust).
        let before = proxy.connect_targets().len();
        let err = JwtAuthProvider::builder(front.url())
            .api_key(server.api_key())
            .background_refresh(false)
            .build()
            .expect_err("the own agent does not trust the test CA");
        assert!(err.to_string().contains("certificate"), "{err}");
        assert_eq!(proxy.connect_targets().len(), before + 1, "{var}");
        assert!(!proxy.saw(server.api_key()));

        // NO_PROXY: direct, the proxy sees nothing more.
        std::env::set_var("NO_PROXY", "localhost");
        let accepted = proxy.accepted();
        let direct = JwtAuthProvider::builder(front.url())
            .api_key(server.api_key())
            .agent(agent_trusting(&front.ca_der()))
            .background_refresh(false)
            .build()
            .unwrap_or_else(|e| panic!("{var} + NO_PROXY: direct exchange: {e}"));
        direct.token().unwrap();
        assert_eq!(
            proxy.accepted(),
            accepted,
            "{var}: NO_PROXY went to the proxy"
        );
    }
    clear_proxy_vars();
}
