//! Zero-config: with only `TINKER_API_KEY` and `TINKER_BASE_URL` (plus the
//! Cloudflare Access pair) in the environment, `JwtAuthProvider::from_env`,
//! `AuthenticatedAgent::from_env` and the `whoami` example work against the
//! stand-in, the Cloudflare Access headers go out on the exchange and on API
//! requests, and the client secret shows in no `Debug` output, error or log
//! line (debug level and up, every crate).
//!
//! One test in this binary: it sets process-wide environment variables and
//! installs the process's logger.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use testkit::stand_in::{StandIn, CAPABILITIES_PATH, SUPPORTED_MODELS, TOKEN_PATH};
use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};

const CF_ID: &str = "cf-client-id-4711.access";
const CF_SECRET: &str = "cf-secret-9b8f7e6d5c4b3a21";

#[derive(Default)]
struct Capture(Mutex<Vec<String>>);

impl Log for Capture {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Debug
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}", r.target(), r.args());
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }
    fn flush(&self) {}
}

static LOGS: std::sync::OnceLock<&'static Capture> = std::sync::OnceLock::new();

/// The `whoami` example as `cargo test` builds it (examples are built, not
/// run, by a plain `cargo test`): `target/<profile>/examples/whoami`, next to
/// this test's `deps/` directory. `None` when only this test was built
/// (`cargo test --test from_env`).
fn whoami_example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir
        .join("examples")
        .join(format!("whoami{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

#[test]
fn zero_config_from_the_environment() {
    let capture: &'static Capture = Box::leak(Box::default());
    LOGS.set(capture).ok();
    log::set_logger(capture).expect("the only logger");
    log::set_max_level(LevelFilter::Debug);

    let server = StandIn::start();
    std::env::remove_var("TINKER_CREDENTIAL_CMD");
    std::env::set_var("TINKER_API_KEY", server.api_key());
    std::env::set_var("TINKER_BASE_URL", server.url());
    std::env::set_var("CLOUDFLARE_ACCESS_CLIENT_ID", CF_ID);
    std::env::set_var("CLOUDFLARE_ACCESS_CLIENT_SECRET", CF_SECRET);
    assert_eq!(tinker_auth::base_url_from_env().unwrap(), server.url());

    let provider = JwtAuthProvider::from_env().expect("from the environment alone");
    let token = provider.token().expect("a token");
    assert!(token.as_str().starts_with("eyJ"));

    let api = AuthenticatedAgent::from_env().expect("from the environment alone");
    let caps = api.get(CAPABILITIES_PATH).expect("GET capabilities");
    let models: Vec<&str> = caps["supported_models"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["model_name"].as_str())
        .collect();
    assert_eq!(models, SUPPORTED_MODELS);

    let seen = server.requests();
    let exchanges: Vec<_> = seen.iter().filter(|r| r.path == TOKEN_PATH).collect();
    let calls: Vec<_> = seen
        .iter()
        .filter(|r| r.path == CAPABILITIES_PATH)
        .collect();
    assert_eq!(exchanges.len(), 2, "one per provider");
    assert_eq!(calls.len(), 1);
    for r in exchanges.iter().chain(&calls) {
        assert_eq!(r.header("cf-access-client-id"), Some(CF_ID), "{}", r.path);
        assert_eq!(
            r.header("cf-access-client-secret"),
            Some(CF_SECRET),
            "{}",
            r.path
        );
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("tinker-auth/", env!("CARGO_PKG_VERSION")))
        );
    }

    // A rejected credential and a failing request: their errors, and every
    // Debug output, hold no secret.
    std::env::set_var("TINKER_API_KEY", "tml-wrong-but-well-formed");
    let rejected = JwtAuthProvider::from_env().expect_err("a wrong key is rejected");
    let missing = api.get("/api/v1/does/not/matter?x=1");
    std::env::set_var("TINKER_API_KEY", server.api_key());
    let shown = format!(
        "{rejected} {rejected:?} {missing:?} {provider:?} {api:?} {:?} {:?}",
        JwtAuthProvider::builder(server.url()).header("X-Other", CF_SECRET),
        AuthenticatedAgent::builder(server.url(), std::sync::Arc::new(provider.clone()))
            .header("X-Other", CF_SECRET)
    );
    assert!(!shown.contains(CF_SECRET), "{shown}");
    assert!(!shown.contains(&server.api_key()), "{shown}");

    // A server that echoes the Cloudflare Access pair in its `detail`, on
    // the exchange and on a request: the error quotes neither, on one line.
    let mut echo = mockito::Server::new();
    let echoed = format!("cf {CF_ID}\nsecret {CF_SECRET}\u{1b}[0m");
    let _exchange = echo
        .mock("POST", TOKEN_PATH)
        .with_status(500)
        .with_body(serde_json::json!({ "detail": echoed }).to_string())
        .create();
    let _request = echo
        .mock("GET", "/api/v1/echo")
        .with_status(400)
        .with_body(serde_json::json!({ "detail": echoed }).to_string())
        .create();
    let failed = JwtAuthProvider::builder(echo.url())
        .api_key(server.api_key())
        .background_refresh(false)
        .build()
        .expect_err("a 500 fails the first exchange");
    let refused = AuthenticatedAgent::builder(echo.url(), std::sync::Arc::new(provider.clone()))
        .max_attempts(1)
        .build()
        .expect("an agent")
        .get("/api/v1/echo")
        .expect_err("a 400 fails the request");
    for err in [&failed, &refused] {
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(CF_SECRET) && !shown.contains(CF_ID),
            "{shown}"
        );
        assert!(!err.to_string().chars().any(char::is_control), "{err}");
        assert!(err.to_string().contains("<redacted>"), "{err}");
    }

    // The whoami example, as a child process with the same environment.
    match whoami_example() {
        Some(exe) => {
            let out = Command::new(&exe).output().expect("run whoami");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
            for m in SUPPORTED_MODELS {
                assert!(stdout.contains(m), "{stdout}");
            }
            assert!(stdout.contains("runway"), "{stdout}");
            let out = Command::new(&exe)
                .env("TINKER_API_KEY", "tml-wrong-but-well-formed")
                .output()
                .expect("run whoami");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("credential rejected"), "{stderr}");
            assert!(!stderr.contains("panicked") && !stderr.contains(CF_SECRET));
        }
        None => eprintln!(
            "whoami: examples not built (run the whole `cargo test`, which builds them); skipped"
        ),
    }

    let logs = capture.0.lock().unwrap_or_else(|e| e.into_inner());
    // mockito, the echoing test server, logs what it receives: not ours.
    for line in logs.iter().filter(|l| !l.starts_with("mockito")) {
        assert!(
            !line.contains(CF_SECRET),
            "a log line holds the secret: {line}"
        );
    }
}
