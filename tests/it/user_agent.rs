//! The `User-Agent` on the exchange and on `AuthenticatedAgent` requests:
//! `user_agent_suffix` is appended to whichever User-Agent is sent, the
//! crate's, a caller's agent's own, or one set with `.header()`.

use std::sync::Arc;
use std::time::Duration;

use testkit::stand_in::{StandIn, CAPABILITIES_PATH, TOKEN_PATH};
use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};

const CRATE: &str = concat!("tinker-auth/", env!("CARGO_PKG_VERSION"));

/// A caller's agent, with its own User-Agent or ureq's default.
fn callers_agent(user_agent: Option<&str>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10)));
    if let Some(ua) = user_agent {
        config = config.user_agent(ua);
    }
    config.build().into()
}

/// The User-Agent headers of the exchange and of one API request, built with
/// `agent` (the crate's own when `None`), `suffix` and `header` (a
/// `.header("User-Agent", ..)`).
fn sent(
    agent: Option<ureq::Agent>,
    suffix: Option<&str>,
    header: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let server = StandIn::start();
    let mut builder = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .background_refresh(false);
    if let Some(a) = &agent {
        builder = builder.agent(a.clone());
    }
    if let Some(s) = suffix {
        builder = builder.user_agent_suffix(s);
    }
    if let Some(h) = header {
        builder = builder.header("User-Agent", h);
    }
    let provider = Arc::new(builder.build().expect("the exchange"));
    let mut api = AuthenticatedAgent::builder(server.url(), provider);
    if let Some(a) = agent {
        api = api.agent(a);
    }
    if let Some(s) = suffix {
        api = api.user_agent_suffix(s);
    }
    if let Some(h) = header {
        api = api.header("User-Agent", h);
    }
    api.build()
        .expect("the agent")
        .get(CAPABILITIES_PATH)
        .expect("GET capabilities");
    let seen = server.requests();
    let agents = |path: &str| -> Vec<String> {
        let request = seen.iter().find(|r| r.path == path).expect("the request");
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
            .map(|(_, v)| v.clone())
            .collect()
    };
    (agents(TOKEN_PATH), agents(CAPABILITIES_PATH))
}

fn both(value: &str) -> (Vec<String>, Vec<String>) {
    (vec![value.to_owned()], vec![value.to_owned()])
}

#[test]
fn the_suffix_follows_a_callers_agent_with_its_own_user_agent() {
    assert_eq!(
        sent(
            Some(callers_agent(Some("callers-agent/9"))),
            Some("job/1"),
            None
        ),
        both("callers-agent/9 job/1")
    );
    // Without a suffix the caller's User-Agent goes out as it is.
    assert_eq!(
        sent(Some(callers_agent(Some("callers-agent/9"))), None, None),
        both("callers-agent/9")
    );
}

#[test]
fn the_suffix_follows_the_crates_user_agent() {
    let suffixed = format!("{CRATE} job/1");
    // A caller's agent without a User-Agent of its own, and the crate's agent.
    assert_eq!(
        sent(Some(callers_agent(None)), Some("job/1"), None),
        both(&suffixed)
    );
    assert_eq!(sent(None, Some("job/1"), None), both(&suffixed));
    assert_eq!(sent(None, None, None), both(CRATE));
}

#[test]
fn the_suffix_follows_a_user_agent_set_as_a_header_and_it_is_sent_once() {
    assert_eq!(
        sent(None, Some("job/1"), Some("explicit/2")),
        both("explicit/2 job/1")
    );
    assert_eq!(
        sent(
            Some(callers_agent(Some("callers-agent/9"))),
            None,
            Some("explicit/2")
        ),
        both("explicit/2")
    );
}

/// Set in the child process of the test below: the variable it corrupts.
const CHILD: &str = "TINKER_AUTH_TEST_NON_UTF8_CF_VAR";

/// A Cloudflare Access variable that is not UTF-8 is a configuration error
/// naming it, never its value, for the provider and the agent alike (as for
/// `TINKER_BASE_URL`), not a header silently left out. Run in a child process
/// (this test binary again, this test only) so the variable is set in no
/// other test's environment.
#[cfg(unix)]
#[test]
fn a_non_utf8_cloudflare_variable_is_a_config_error_naming_it() {
    use std::os::unix::ffi::OsStringExt;
    use tinker_auth::{ApiKeyAuthProvider, Error};

    if let Ok(var) = std::env::var(CHILD) {
        let errors = [
            JwtAuthProvider::builder("http://127.0.0.1:9")
                .api_key("tml-irrelevant")
                .background_refresh(false)
                .build()
                .expect_err("the provider is refused"),
            AuthenticatedAgent::builder(
                "http://127.0.0.1:9",
                Arc::new(ApiKeyAuthProvider::new("tml-irrelevant").expect("a key")),
            )
            .build()
            .expect_err("the agent is refused"),
        ];
        for e in errors {
            assert!(matches!(e, Error::Config { .. }), "{e:?}");
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(&var), "{shown}");
            assert!(shown.contains("not valid UTF-8"), "{shown}");
            assert!(!shown.contains("cf-value"), "{shown}");
        }
        return;
    }
    let me = std::env::current_exe().expect("this test binary");
    for var in [
        tinker_auth::CF_ACCESS_CLIENT_ID_ENV,
        tinker_auth::CF_ACCESS_CLIENT_SECRET_ENV,
    ] {
        let out = std::process::Command::new(&me)
            .args([
                "--exact",
                "user_agent::a_non_utf8_cloudflare_variable_is_a_config_error_naming_it",
                "--test-threads=1",
            ])
            .env(CHILD, var)
            .env(var, std::ffi::OsString::from_vec(b"cf-value-\xff".to_vec()))
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{var}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
