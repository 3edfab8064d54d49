//! Each fault mode of the token endpoint, against a provider holding a
//! healthy token: no panic, every call bounded, the cached token served while
//! the server still accepts it, a clear error once it does not, few exchanges
//! during the outage, and recovery soon after the fault clears.

use std::thread;
use std::time::{Duration, Instant};

use testkit::probe::{self, call_protected, exp_secs, timed_get, unix_now};
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, Error};

const LIFETIME: Duration = Duration::from_secs(3);
/// Longest any call may block: the fetch timeout (1 s), the extra second a
/// waiter allows the fetch in flight, and slack for a loaded machine.
const CALL_BOUND: Duration = Duration::from_millis(3500);
/// Time between calls.
const PACE: Duration = Duration::from_millis(20);
/// On-demand window of a 3 s token (a fifth of it) plus the ±0.5 s to which
/// the server's clock is known: with more runway than this, a call must be
/// served the cached token whatever the endpoint does.
const MUST_SERVE_ABOVE: f64 = 0.6 + 0.5 + 0.2;

struct Expect {
    /// Text the error must contain once the cached token has expired.
    error_contains: &'static str,
    /// Whether the provider may report the fault before the cached token
    /// expires (a rejected credential is reported at once, by design).
    early_error_allowed: bool,
}

/// What happened during the outage.
#[derive(Debug, Default)]
struct Report {
    calls: u64,
    served_cached: u64,
    errors_after_expiry: u64,
    exchanges_during_outage: u64,
    outage_secs: f64,
    recovered_after: Duration,
}

fn stand_in() -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    })
}

/// Puts the endpoint in `mode` right after a healthy first exchange, calls
/// `get_token` every 20 ms until the held token has been dead for 1.8 s, then
/// heals the endpoint and waits for a fresh token.
fn attack(mode: Mode, expect: Expect) -> Report {
    let s = stand_in();
    let p = probe::builder(&s).build().expect("healthy first exchange");
    let first = p.get_token().unwrap().unwrap();
    assert_eq!(call_protected(&probe::agent(), &s, first.as_str()), 200);
    let first_exp = exp_secs(&first);
    s.set_mode(mode.clone());
    let outage_start = Instant::now();
    let exchanges_before = s.exchanges();
    let mut r = Report::default();
    let label = format!("{mode:?}");

    while unix_now() < first_exp + 1.8 {
        let runway_before = first_exp - unix_now();
        let c = timed_get(&p, 0);
        r.calls += 1;
        assert!(
            c.took <= CALL_BOUND,
            "{label}: get_token blocked for {:?}",
            c.took
        );
        assert!(
            !c.served_dead,
            "{label}: served a token dead on the server for {:.3} s",
            -c.runway
        );
        match c.result {
            Ok(t) => {
                if t.same_as(&first) {
                    r.served_cached += 1;
                }
            }
            Err(e) => {
                let text = e.to_string();
                if runway_before > MUST_SERVE_ABOVE && !expect.early_error_allowed {
                    panic!("{label}: error with {runway_before:.2} s of runway left: {text}");
                }
                if runway_before <= 0.0 || expect.early_error_allowed {
                    assert!(
                        text.contains(expect.error_contains),
                        "{label}: unclear error: {text}"
                    );
                    r.errors_after_expiry += u64::from(runway_before <= 0.0);
                }
                assert!(
                    !text.contains(first.as_str()) && !text.contains(&s.api_key()),
                    "{label}: secret in an error"
                );
            }
        }
        thread::sleep(PACE);
    }
    r.outage_secs = outage_start.elapsed().as_secs_f64();
    r.exchanges_during_outage = s.exchanges() - exchanges_before;

    s.set_mode(Mode::Healthy);
    let healed = Instant::now();
    loop {
        let c = timed_get(&p, 0);
        assert!(
            c.took <= CALL_BOUND,
            "{label}: get_token blocked for {:?}",
            c.took
        );
        if let Ok(t) = c.result {
            assert!(!t.same_as(&first));
            assert_eq!(call_protected(&probe::agent(), &s, t.as_str()), 200);
            r.recovered_after = healed.elapsed();
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(6),
            "{label}: no recovery within 6 s of the fault clearing"
        );
        thread::sleep(PACE);
    }
    assert_eq!(s.protected_401(), 0);
    eprintln!("{label}: {r:?} stats {:?}", p.stats());
    r
}

/// The common verdict on a fault that makes every exchange fail.
fn assert_outage_held(r: &Report) {
    assert!(
        r.served_cached > 10,
        "the cached token was not served: {r:?}"
    );
    assert!(r.errors_after_expiry > 10, "no errors after expiry: {r:?}");
    // At most about one exchange a second (background retries and on-demand
    // cooldowns each back off from ~1 s), with slack for their overlap.
    let bound = r.outage_secs.ceil() as u64 + 2;
    assert!(
        r.exchanges_during_outage <= bound,
        "{} exchanges in {:.1} s of outage: {r:?}",
        r.exchanges_during_outage,
        r.outage_secs
    );
    assert!(
        r.exchanges_during_outage >= 2,
        "the provider stopped trying: {r:?}"
    );
}

fn fails(contains: &'static str) -> Expect {
    Expect {
        error_contains: contains,
        early_error_allowed: false,
    }
}

#[test]
fn status_500() {
    assert_outage_held(&attack(Mode::Status500, fails("server answered 500")));
}

#[test]
fn status_503_with_retry_after() {
    let mode = Mode::Status503 {
        retry_after_secs: 1,
    };
    assert_outage_held(&attack(mode, fails("server answered 503")));
}

#[test]
fn hang() {
    assert_outage_held(&attack(Mode::Hang, fails("timed out")));
}

#[test]
fn slow_past_the_fetch_timeout() {
    let mode = Mode::Slow(Duration::from_secs(3));
    assert_outage_held(&attack(mode, fails("timed out")));
}

#[test]
fn garbage_body() {
    assert_outage_held(&attack(Mode::Garbage, fails("not JSON")));
}

#[test]
fn jwt_missing() {
    assert_outage_held(&attack(Mode::MissingJwt, fails("no `jwt` field")));
}

#[test]
fn jwt_without_exp() {
    assert_outage_held(&attack(Mode::NoExp, fails("missing `exp`")));
}

#[test]
fn same_token_again() {
    assert_outage_held(&attack(Mode::SameToken, fails("no fresher")));
}

#[test]
fn connection_reset() {
    assert_outage_held(&attack(Mode::Reset, fails("token exchange: ")));
}

#[test]
fn oversized_body() {
    assert_outage_held(&attack(Mode::Oversized, fails("larger than")));
}

#[test]
fn credential_rejected() {
    // A revoked credential cannot come back by retrying: the provider reports
    // it as soon as a refresh meets it, with the cached token still unexpired.
    let r = attack(
        Mode::Rejected,
        Expect {
            error_contains: "credential rejected (401): API key revoked",
            early_error_allowed: true,
        },
    );
    assert!(r.served_cached > 10, "{r:?}");
    let bound = r.outage_secs.ceil() as u64 + 2;
    assert!(r.exchanges_during_outage <= bound, "{r:?}");
}

#[test]
fn rejected_credential_is_not_transient() {
    let s = stand_in();
    s.set_mode(Mode::Rejected);
    let e = probe::builder(&s).build().unwrap_err();
    assert!(
        matches!(e, Error::CredentialRejected { status: 401, .. }),
        "{e}"
    );
    assert!(!e.is_transient());
}

#[test]
fn slow_within_the_fetch_timeout_is_no_fault() {
    let s = stand_in();
    let p = probe::builder(&s).build().unwrap();
    s.set_mode(Mode::Slow(Duration::from_millis(400)));
    let agent = probe::agent();
    let deadline = Instant::now() + 2 * LIFETIME;
    while Instant::now() < deadline {
        let c = timed_get(&p, 0);
        assert!(c.took <= CALL_BOUND, "blocked for {:?}", c.took);
        let t = c.result.expect("a slow endpoint still yields tokens");
        assert!(!c.served_dead);
        assert_eq!(call_protected(&agent, &s, t.as_str()), 200);
        thread::sleep(PACE);
    }
    assert_eq!(p.stats().fetches_failed, 0, "{:?}", p.stats());
    assert!(s.exchanges_ok() >= 3);
}

#[test]
fn outage_from_the_start_fails_fast_then_recovers() {
    // No cached token at all: build fails with the cause; a provider built
    // from a seed that expires at once retries no more than about once a second.
    let s = stand_in();
    s.set_mode(Mode::Status500);
    let e = probe::builder(&s).build().unwrap_err();
    assert!(e.to_string().contains("500"), "{e}");
    let p = probe::builder(&s)
        .seed_token(s.mint_expired())
        .build()
        .expect("a seed needs no exchange");
    let start = Instant::now();
    let before = s.exchanges();
    let mut errors = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let c = timed_get(&p, 0);
        assert!(c.took <= CALL_BOUND);
        let e = c.result.expect_err("no token can be had");
        assert!(e.to_string().contains("500"), "{e}");
        errors += 1;
        thread::sleep(Duration::from_millis(10));
    }
    let exchanges = s.exchanges() - before;
    assert!(errors > 50);
    assert!(exchanges <= 3 + 2, "{exchanges} exchanges in 3 s");
    s.set_mode(Mode::Healthy);
    let healed = Instant::now();
    while p.get_token().is_err() {
        assert!(healed.elapsed() < Duration::from_secs(6), "no recovery");
        thread::sleep(PACE);
    }
}
