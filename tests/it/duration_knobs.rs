//! Every duration knob of every builder at zero, one nanosecond and
//! `Duration::MAX` (a common way to say "no limit"): each is either refused
//! at `build()` with an `Error::Config` naming the knob, or works. Nothing
//! panics, in the caller or in an exchange.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mockito::Server;
use serde_json::json;
use testkit::*;
use tinker_auth::{
    ApiKeyAuthProvider, AuthTokenProvider, AuthenticatedAgent, AuthenticatedAgentBuilder, Error,
    JwtAuthProviderBuilder,
};

const NS: Duration = Duration::from_nanos(1);
const MAX: Duration = Duration::MAX;
const PATH: &str = "/api/v1/work";

/// What a knob's value must lead to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// `build()` fails with `Error::Config` naming the knob.
    Refused,
    /// Builds, and requests succeed.
    Works,
    /// Builds (or fails to build for a reason other than configuration),
    /// and requests may fail as configured (a 1 ns timeout times out), but
    /// promptly and without a panic.
    MayFail,
}
use Expect::*;

type ProviderKnob = fn(JwtAuthProviderBuilder, Duration) -> JwtAuthProviderBuilder;

const PROVIDER_KNOBS: &[(&str, ProviderKnob, [Expect; 3])] = &[
    (
        "refresh_before_expiry",
        |b, d| b.refresh_before_expiry(d),
        [Works, Works, Works],
    ),
    (
        "refresh_on_demand_within",
        |b, d| b.refresh_on_demand_within(d),
        [Works, Works, Works],
    ),
    (
        "retry_delay",
        |b, d| b.retry_delay(d),
        [Works, Works, Works],
    ),
    (
        "fetch_timeout",
        |b, d| b.fetch_timeout(d),
        [Refused, MayFail, Works],
    ),
];

/// Runs `f` on a thread and fails the test if it panics or outlives `limit`.
fn bounded<T: Send + 'static>(
    what: String,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().unwrap();
            v
        }
        Err(_) => match handle.join() {
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{what}: panicked: {msg}")
            }
            Ok(()) => panic!("{what}: still running after {limit:?}"),
        },
    }
}

fn assert_refused(what: &str, knob: &str, r: Result<impl std::fmt::Debug, Error>) {
    match r {
        Err(Error::Config { reason }) => {
            assert!(
                reason.contains(knob),
                "{what}: reason {reason:?} does not name {knob}"
            )
        }
        other => panic!("{what}: expected Error::Config, got {other:?}"),
    }
}

#[test]
fn provider_duration_knobs_are_refused_or_work_at_the_extremes() {
    for &(knob, set, expect) in PROVIDER_KNOBS {
        for (value, expect) in [Duration::ZERO, NS, MAX].into_iter().zip(expect) {
            let what = format!("JwtAuthProviderBuilder::{knob}({value:?})");
            let server = TokenServer::fresh(900.0);
            // The background thread runs too: its sleeps use the knobs.
            let builder = set(server.builder().background_refresh(true), value);
            let w = what.clone();
            bounded(what.clone(), Duration::from_secs(20), move || {
                let built = builder.build();
                match expect {
                    Refused => assert_refused(&w, knob, built),
                    Works => {
                        let p = built.unwrap_or_else(|e| panic!("{w}: {e:?}"));
                        let t = p.get_token().unwrap_or_else(|e| panic!("{w}: {e:?}"));
                        assert!(t.is_some(), "{w}");
                        // An on-demand refresh, through the same knobs.
                        p.invalidate(&t.unwrap());
                        p.get_token().unwrap_or_else(|e| panic!("{w}: {e:?}"));
                        let _ = (p.runway(), p.stats());
                    }
                    MayFail => match built {
                        Err(Error::Panicked { during }) => panic!("{w}: panicked during {during}"),
                        Err(Error::Config { reason }) => panic!("{w}: refused: {reason}"),
                        Err(_) => {}
                        Ok(p) => {
                            let r = p.get_token();
                            assert!(!matches!(r, Err(Error::Panicked { .. })), "{w}: {r:?}");
                        }
                    },
                }
            });
            drop(server);
        }
    }
}

/// `fetch_timeout(Duration::MAX)` with a second caller waiting on the
/// first one's exchange: the waiter's deadline is computed from it too.
#[test]
fn a_waiter_on_an_exchange_without_fetch_timeout_does_not_panic() {
    let server = TokenServer::fresh(900.0);
    let gate = Gate::new();
    server.hold(&gate);
    let provider = Arc::new(
        server
            .builder()
            .fetch_timeout(MAX)
            .seed_token(jwt_expiring_in(-10.0, 900.0))
            .build()
            .unwrap(),
    );
    let handles = together(2, &provider, |p| p.get_token());
    gate.wait_entered();
    assert!(
        wait_until(Duration::from_secs(10), || provider.stats().waits >= 1),
        "{:?}",
        provider.stats()
    );
    gate.release(1);
    for h in handles {
        let r = h.join().expect("get_token panicked");
        assert!(r.unwrap().is_some());
    }
    assert_eq!(server.hits(), 1);
}

type AgentKnob = fn(AuthenticatedAgentBuilder, Duration) -> AuthenticatedAgentBuilder;

const AGENT_KNOBS: &[(&str, AgentKnob, [Expect; 3])] = &[
    ("deadline", |b, d| b.deadline(d), [Refused, MayFail, Works]),
    (
        "initial_backoff",
        |b, d| b.initial_backoff(d),
        [Works, Works, Works],
    ),
    (
        "max_backoff",
        |b, d| b.max_backoff(d),
        [Works, Works, Works],
    ),
    (
        "max_retry_after",
        |b, d| b.max_retry_after(d),
        [Works, Works, Works],
    ),
    ("timeout", |b, d| b.timeout(d), [Refused, MayFail, Works]),
];

/// A server whose first answer is a 503 (asking, through `retry_after`, for
/// a wait), then 200s.
fn flaky_server(retry_after: Option<&str>) -> (mockito::ServerGuard, mockito::Mock, mockito::Mock) {
    let mut server = Server::new();
    let mut busy = server
        .mock("GET", PATH)
        .with_status(503)
        .with_body(json!({ "detail": "busy" }).to_string());
    if let Some(v) = retry_after {
        busy = busy.with_header("retry-after", v);
    }
    let busy = busy.expect(1).create();
    let ok = server
        .mock("GET", PATH)
        .with_status(200)
        .with_body(r#"{"done":true}"#)
        .create();
    (server, busy, ok)
}

#[test]
fn agent_duration_knobs_are_refused_or_work_at_the_extremes() {
    // With and without a Retry-After asking for far more than any deadline.
    for retry_after in [None, Some("0"), Some("18446744073709551615")] {
        for &(knob, set, expect) in AGENT_KNOBS {
            for (value, expect) in [Duration::ZERO, NS, MAX].into_iter().zip(expect) {
                let what = format!(
                    "AuthenticatedAgentBuilder::{knob}({value:?}), Retry-After {retry_after:?}"
                );
                let (server, _busy, _ok) = flaky_server(retry_after);
                let provider: Arc<dyn AuthTokenProvider> =
                    Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
                // Quick settings, then the knob under test.
                let builder = AuthenticatedAgent::builder(server.url(), provider)
                    .deadline(Duration::from_secs(5))
                    .timeout(Duration::from_secs(5))
                    .initial_backoff(Duration::from_millis(1))
                    .max_backoff(Duration::from_millis(2))
                    .max_retry_after(Duration::from_millis(2));
                let builder = set(builder, value);
                let w = what.clone();
                let started = Instant::now();
                bounded(what.clone(), Duration::from_secs(20), move || {
                    let built = builder.build();
                    match expect {
                        Refused => assert_refused(&w, knob, built),
                        Works | MayFail => {
                            let api = built.unwrap_or_else(|e| panic!("{w}: {e:?}"));
                            let r = api.get(PATH);
                            // A Retry-After far past the deadline is honoured only when
                            // max_retry_after lets it, and then the agent gives up.
                            let gives_up = retry_after.is_some_and(|v| v != "0")
                                && knob == "max_retry_after"
                                && value == MAX;
                            if expect == Works && !gives_up {
                                assert_eq!(
                                    r.unwrap_or_else(|e| panic!("{w}: {e:?}")),
                                    json!({ "done": true })
                                );
                            } else {
                                assert!(!matches!(r, Err(Error::Panicked { .. })), "{w}: {r:?}");
                            }
                        }
                    }
                });
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{what}: too slow"
                );
                drop(server);
            }
        }
    }
}

/// Both limits at `Duration::MAX` ("no limit"), on the agent's own HTTP
/// agent and on a caller's (whose timeout is replaced per request by ours).
#[test]
fn agent_without_deadline_or_timeout_does_not_panic() {
    for callers_agent in [false, true] {
        let (server, _busy, _ok) = flaky_server(None);
        let provider: Arc<dyn AuthTokenProvider> = Arc::new(ApiKeyAuthProvider::new(KEY).unwrap());
        let mut builder = AuthenticatedAgent::builder(server.url(), provider);
        if callers_agent {
            let own: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            builder = builder.agent(own);
        }
        let api = builder
            .deadline(MAX)
            .timeout(MAX)
            .initial_backoff(Duration::from_millis(1))
            .build()
            .unwrap();
        let what = format!("deadline and timeout MAX, caller's agent: {callers_agent}");
        let r = bounded(what.clone(), Duration::from_secs(20), move || {
            api.get(PATH).map_err(|e| e.to_string())
        });
        assert_eq!(r.unwrap(), json!({ "done": true }), "{what}");
    }
}

/// The credential command's `timeout`, the one duration knob outside a
/// builder's `build()`: zero is refused when a provider is built on it (it
/// would kill the command before it could print anything, every time), one
/// nanosecond times out promptly, and `Duration::MAX` means no limit.
#[cfg(unix)]
#[test]
fn credential_command_timeout_is_refused_or_works_at_the_extremes() {
    use tinker_auth::CredentialCmdAuthProvider;
    let command = || CredentialCmdAuthProvider::new(format!("printf '%s\\n' {KEY}")).unwrap();
    let server = TokenServer::fresh(900.0);

    let zero = server
        .builder()
        .credential(command().timeout(Duration::ZERO))
        .build();
    assert_refused("credential command timeout(0)", "timeout", zero);

    // A command that takes seconds, with 1 ns: killed at its first check.
    let slow = CredentialCmdAuthProvider::new(format!("sleep 5; printf '%s\\n' {KEY}"))
        .unwrap()
        .timeout(NS);
    let started = Instant::now();
    let r = bounded("timeout(1 ns)".into(), Duration::from_secs(20), move || {
        slow.get_token()
    });
    assert!(matches!(r, Err(Error::CommandTimedOut { .. })), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let max = server
        .builder()
        .credential(command().timeout(MAX))
        .build()
        .expect("no limit on the command");
    assert!(max.token().is_ok());
    assert_eq!(max.stats().fetches_succeeded, 1);
}

/// A caller's own `ureq::Agent` whose per-phase timeouts say "no limit" with
/// `Duration::MAX`: the exchange and the request layer, which go through
/// that agent, must not panic inside ureq adding them to an `Instant`.
#[test]
fn a_callers_agent_with_unbounded_phase_timeouts_does_not_panic() {
    let unbounded = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_per_call(Some(MAX))
            .timeout_resolve(Some(MAX))
            .timeout_connect(Some(MAX))
            .timeout_send_request(Some(MAX))
            .timeout_send_body(Some(MAX))
            .timeout_recv_response(Some(MAX))
            .timeout_recv_body(Some(MAX))
            .build()
            .into()
    };
    let server = TokenServer::fresh(900.0);
    let builder = server.builder().agent(unbounded());
    let provider = bounded("exchange".into(), Duration::from_secs(20), move || {
        builder.build().map_err(|e| format!("{e:?}"))
    })
    .expect("an exchange through an agent without limits");

    let (api_server, _busy, _ok) = flaky_server(None);
    let api = AuthenticatedAgent::builder(api_server.url(), Arc::new(provider))
        .agent(unbounded())
        .initial_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let r = bounded("request".into(), Duration::from_secs(20), move || {
        api.get(PATH).map_err(|e| e.to_string())
    });
    assert_eq!(r.unwrap(), json!({ "done": true }));
}
