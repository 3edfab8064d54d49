//! Secrets stay out of `Debug` output and error messages: a credential
//! command's stderr (a `set -x` trace quoting the key), the command text
//! itself, and URLs carrying user info or a query string.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tinker_auth::{
    ApiKeyAuthProvider, AuthMiddleware, AuthTokenProvider, AuthenticatedAgent,
    CredentialCmdAuthProvider, Error, JwtAuthProvider, ManualClock, SystemClock, Token,
};

/// Secrets a URL can carry: a password in its user info, a signed query.
const PASSWORD: &str = "pa55word-in-url";
const QUERY: &str = "signature-in-query";
const KEY: &str = "tml-debug-secrets-key-77";

fn secret_url(base: &str) -> String {
    let rest = base.trim_start_matches("http://");
    format!("http://operator:{PASSWORD}@{rest}/prefix?sig={QUERY}")
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows `{s}`: {text}");
    }
}

/// Every way an error can be shown.
fn shown(e: &dyn std::error::Error) -> String {
    let mut text = format!("{e} | {e:?} | {e:#?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

#[cfg(unix)]
#[test]
fn a_failing_commands_stderr_never_enters_the_error() {
    // `set -x` traces every command, the key's assignment included, to stderr.
    let p = CredentialCmdAuthProvider::new(
        "set -x; KEY=tml-traced-secret-0451; printf '%s' \"$KEY\" >/dev/null; exit 1",
    )
    .unwrap()
    .timeout(Duration::from_secs(5));
    let e = p.get_token().unwrap_err();
    let text = shown(&e);
    assert!(!text.contains("traced-secret"), "{text}");
    assert!(
        e.to_string()
            .starts_with("credential command: exited with status 1"),
        "{e}"
    );
}

#[test]
fn debug_of_every_public_type_hides_secrets_and_url_credentials() {
    let jwt = testkit::jwt_expiring_in(600.0, 900.0);
    let secrets = [PASSWORD, QUERY, KEY, jwt.as_str(), "tml-cmd-secret"];
    let url = secret_url("http://127.0.0.1:1");

    let builder = JwtAuthProvider::builder(&url)
        .api_key(KEY)
        .seed_token(&jwt)
        .token_path(format!("/api/v1/auth/token?sig={QUERY}"))
        .background_refresh(false);
    assert_clean(
        "JwtAuthProviderBuilder",
        &format!("{builder:?} {builder:#?}"),
        &secrets,
    );
    let provider = Arc::new(builder.build().unwrap());
    let shown = format!("{provider:?} {provider:#?}");
    assert_clean("JwtAuthProvider", &shown, &secrets);
    assert!(
        shown.contains("127.0.0.1:1"),
        "the host is still shown: {shown}"
    );

    let agent = AuthenticatedAgent::builder(&url, provider.clone());
    assert_clean(
        "AuthenticatedAgentBuilder",
        &format!("{agent:?} {agent:#?}"),
        &secrets,
    );
    let agent = agent.build().unwrap();
    assert_clean(
        "AuthenticatedAgent",
        &format!("{agent:?} {agent:#?}"),
        &secrets,
    );

    let cmd = CredentialCmdAuthProvider::new("printf tml-cmd-secret").unwrap();
    assert_clean(
        "CredentialCmdAuthProvider",
        &format!("{cmd:?} {cmd:#?}"),
        &secrets,
    );
    let key = ApiKeyAuthProvider::new(KEY).unwrap();
    assert_clean("ApiKeyAuthProvider", &format!("{key:?} {key:#?}"), &secrets);
    let token = Token::new(jwt.clone());
    assert_clean("Token", &format!("{token:?} {token:#?}"), &secrets);
    let middleware = AuthMiddleware::new(provider.clone());
    assert_clean("AuthMiddleware", &format!("{middleware:?}"), &secrets);
    let rest = format!(
        "{:?} {:?} {:?} {:?}",
        provider.stats(),
        agent.stats(),
        SystemClock,
        ManualClock::new(SystemTime::now())
    );
    assert_clean("Stats, AgentStats, clocks", &rest, &secrets);
}

#[test]
fn every_error_variant_is_free_of_secrets() {
    let io = || {
        Arc::new(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ))
    };
    let ureq_error = || Arc::new(ureq::Error::ConnectionFailed);
    let endpoint = || "GET /api/v1/x".to_owned();
    let errors = [
        Error::InvalidApiKey,
        Error::MissingCredential,
        Error::EmptyCommand,
        Error::CommandSpawn { source: io() },
        Error::CommandFailed { code: Some(1) },
        Error::CommandFailed { code: None },
        Error::CommandEmptyOutput,
        Error::CommandTimedOut {
            after: Duration::from_secs(1),
        },
        Error::InvalidJwt {
            reason: "missing `exp` claim",
        },
        Error::Config {
            reason: "base url has no host".into(),
        },
        Error::Transport {
            source: ureq_error(),
        },
        Error::Timeout {
            after: Duration::from_secs(1),
        },
        Error::Status {
            status: 500,
            detail: Some("db down".into()),
        },
        Error::CredentialRejected {
            status: 401,
            detail: None,
        },
        Error::BadResponse {
            reason: "200 response is not JSON".into(),
        },
        Error::Panicked {
            during: "credential provider",
        },
        Error::Expired {
            cause: Arc::new(Error::Timeout {
                after: Duration::from_secs(1),
            }),
        },
        Error::RequestStatus {
            endpoint: endpoint(),
            status: 400,
            detail: None,
        },
        Error::Authentication {
            endpoint: endpoint(),
            detail: None,
        },
        Error::RequestTransport {
            endpoint: endpoint(),
            source: ureq_error(),
        },
        Error::RequestTimeout {
            endpoint: endpoint(),
            after: Duration::from_secs(1),
        },
        Error::RequestBody {
            source: Arc::new(serde_json::from_str::<u8>("x").unwrap_err()),
        },
        Error::ResponseBody {
            endpoint: endpoint(),
            reason: "not json".into(),
        },
        Error::RetriesExhausted {
            attempts: 2,
            elapsed: Duration::from_secs(1),
            last: Arc::new(Error::RequestTimeout {
                endpoint: endpoint(),
                after: Duration::from_secs(1),
            }),
        },
    ];
    for e in &errors {
        assert_clean("error", &shown(e), &[PASSWORD, QUERY, KEY]);
    }

    // Real failures against URLs carrying user info and a query string.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let url = secret_url(&dead);
    let e = JwtAuthProvider::builder(&url)
        .api_key(KEY)
        .fetch_timeout(Duration::from_secs(2))
        .background_refresh(false)
        .build()
        .unwrap_err();
    assert_clean("exchange error", &shown(&e), &[PASSWORD, QUERY, KEY]);
    let jwt = testkit::jwt_expiring_in(600.0, 900.0);
    let provider = testkit::seeded_provider(&dead, KEY, &jwt);
    let agent = AuthenticatedAgent::builder(&url, provider)
        .max_attempts(1)
        .build()
        .unwrap();
    let e = agent.get(&format!("/api/v1/x?sig={QUERY}")).unwrap_err();
    assert_clean("request error", &shown(&e), &[PASSWORD, QUERY, KEY, &jwt]);
}
