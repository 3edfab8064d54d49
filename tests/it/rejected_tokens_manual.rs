//! An API that rejects every token, fresh ones included, judged on a
//! `ManualClock`: ten minutes of requests cost a handful of exchanges in the
//! first minute and then at most one per `retry_delay`; from the second
//! rejected token in a row every rejected request fails at once (no time
//! passes on the provider's clock), and once the API accepts tokens again a
//! request succeeds within one back-off step.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use testkit::unix_secs as secs;
use testkit::{body_for, jwt_at, TokenServer};
use tinker_auth::{
    AuthTokenProvider, AuthenticatedAgent, Clock, Error, ErrorKind, JwtAuthProvider, ManualClock,
};

const PATH: &str = "/api/v1/thing";
/// The provider's default `retry_delay`: where the back-off caps.
const RETRY_DELAY: Duration = Duration::from_secs(60);
/// The longest back-off step: `retry_delay` plus its upward jitter (a quarter).
const LONGEST_STEP: Duration = Duration::from_secs(75);
/// Longest real time any one call may take before the test calls it stuck.
const STUCK: Duration = Duration::from_secs(30);

/// A token endpoint minting 900 s tokens on the manual clock, whose mockito
/// server also serves `PATH`: `401 Invalid JWT` while `reject` is set, else
/// `200 {"ok":true}`.
fn servers(clock: &ManualClock, reject: &Arc<AtomicBool>) -> TokenServer {
    let c = clock.clone();
    let mut ts = TokenServer::new(move |_| (200, body_for(&jwt_at(secs(&c), 900.0, 900.0))));
    let (r1, r2) = (Arc::clone(reject), Arc::clone(reject));
    ts.server
        .mock("GET", PATH)
        .with_status_code_from_request(move |_| if r1.load(Ordering::SeqCst) { 401 } else { 200 })
        .with_body_from_request(move |_| {
            if r2.load(Ordering::SeqCst) {
                br#"{"detail":"Invalid JWT"}"#.to_vec()
            } else {
                br#"{"ok":true}"#.to_vec()
            }
        })
        .expect_at_least(0)
        .create();
    ts
}

/// Runs `f` on a thread of its own, failing the test (instead of hanging
/// it) if it does not return within [`STUCK`] of real time: on a clock that
/// stands still, a call that waits for the pacing gap never returns.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(STUCK)
        .expect("the call waited (on a clock that stands still) instead of failing at once")
}

#[test]
fn ten_minutes_of_rejected_tokens_cost_a_handful_of_exchanges_then_one_per_retry_delay() {
    let clock = ManualClock::new(SystemTime::now());
    let reject = Arc::new(AtomicBool::new(true));
    let ts = servers(&clock, &reject);
    let provider = Arc::new(ts.builder().clock(Arc::new(clock.clone())).build().unwrap());
    let api = AuthenticatedAgent::builder(ts.url(), provider.clone())
        // No real-time deadline: the provider's clock is the manual one.
        .deadline(Duration::MAX)
        .build()
        .unwrap();
    let start = clock.instant();
    let at = |clock: &ManualClock| (clock.instant() - start).as_secs();
    // The build's exchange, at 0.
    let mut exchanges = vec![0u64];
    let mut slowest = Duration::ZERO;
    // The first request, 2 s on: its token (the build's) is rejected, the
    // first of a streak, so it is replaced once (the one-second gap since the
    // build has passed, so no waiting on a clock that stands still); the
    // replacement is rejected too: a plain 401 error.
    clock.advance(Duration::from_secs(2));
    let api2 = api.clone();
    let first = within(move || api2.get(PATH)).unwrap_err();
    assert!(matches!(first, Error::Authentication { .. }), "{first}");
    assert_eq!(ts.hits(), 2);
    exchanges.push(2);
    // Then one request a second, for ten minutes in all.
    for _ in 2..600 {
        clock.advance(Duration::from_secs(1));
        let before = clock.instant();
        let api2 = api.clone();
        let (result, real) = within(move || {
            let t = std::time::Instant::now();
            (api2.get(PATH), t.elapsed())
        });
        slowest = slowest.max(real);
        // Nothing moves the manual clock but this loop: a request that
        // returns took no time on the provider's clock.
        assert_eq!(clock.instant(), before);
        let e = result.expect_err("every token is rejected");
        assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
        assert!(
            matches!(e, Error::TokensRejected { .. }),
            "a rejected request is told of the back-off: {e}"
        );
        let text = e.to_string();
        assert!(text.contains("rejecting fresh tokens"), "{text}");
        assert!(!text.contains("eyJ"), "no token in the error: {text}");
        while exchanges.len() < ts.hits() {
            exchanges.push(at(&clock));
        }
    }
    let first_minute = exchanges.iter().filter(|&&t| t < 60).count();
    eprintln!(
        "rejected for 10 min: {} exchanges ({first_minute} in the first minute) at {exchanges:?} s; \
         each rejected request took 0 s on the provider's clock, at most {slowest:.3?} of real time",
        exchanges.len()
    );
    // At 0 and 2, then doubling from 2 s: >=4, >=8, >=16, >=32; the next at
    // >=64, and from there at most one per retry_delay.
    assert!(first_minute <= 6, "{exchanges:?}");
    for pair in exchanges.windows(2).skip(first_minute) {
        assert!(pair[1] - pair[0] >= RETRY_DELAY.as_secs(), "{exchanges:?}");
    }
    // 6 in the first minute, then at most one per minute.
    assert!(exchanges.len() <= 6 + 9, "{exchanges:?}");

    // The API recovers: a request succeeds within one back-off step.
    reject.store(false, Ordering::SeqCst);
    let recovered = clock.instant();
    loop {
        clock.advance(Duration::from_secs(1));
        let api2 = api.clone();
        if within(move || api2.get(PATH)).is_ok() {
            break;
        }
        assert!(clock.instant() - recovered <= LONGEST_STEP, "still failing");
    }
    let waited = clock.instant() - recovered;
    eprintln!("the API recovered: first success {waited:?} later");
    // The token is accepted and served on: no more exchanges.
    let hits = ts.hits();
    for _ in 0..100 {
        clock.advance(Duration::from_secs(1));
        api.get(PATH).unwrap();
    }
    assert_eq!(ts.hits(), hits);
    // The accepted request ended the streak: a fresh token rejected now
    // counts as the first of a new one (a 1 s step), not the tenth.
    let token = provider.token().unwrap();
    provider.invalidate(&token);
    clock.advance(Duration::from_millis(1500));
    within(move || provider.token()).expect("a 1 s step, long past");
}

#[test]
fn invalidate_alone_backs_off_and_a_token_outliving_its_probation_ends_it() {
    let clock = ManualClock::new(SystemTime::now());
    let reject = Arc::new(AtomicBool::new(true));
    let ts = servers(&clock, &reject);
    let provider = Arc::new(ts.builder().clock(Arc::new(clock.clone())).build().unwrap());
    let get = |p: &Arc<JwtAuthProvider>| {
        let p = Arc::clone(p);
        within(move || p.token())
    };
    // Rejected at once: the first of a streak, replaced after the usual gap
    // (1-1.25 s after the exchange ended: passed here, so no waiting on a
    // clock that stands still).
    let t1 = get(&provider).unwrap();
    provider.invalidate(&t1);
    clock.advance(Duration::from_millis(1300));
    let t2 = get(&provider).unwrap();
    assert_eq!(ts.hits(), 2);
    // The second in a row: the next exchange may start 2-2.5 s after the
    // last one ended, and until then callers fail at once.
    provider.invalidate(&t2);
    let e = get(&provider).unwrap_err();
    assert!(e.to_string().contains("(2 in a row"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Authentication);
    // Reporting it again (other threads holding it) changes nothing.
    provider.invalidate(&t2);
    clock.advance(Duration::from_millis(1900));
    assert!(get(&provider)
        .unwrap_err()
        .to_string()
        .contains("(2 in a row"));
    assert_eq!(ts.hits(), 2);
    clock.advance(Duration::from_millis(700));
    let t3 = get(&provider).unwrap();
    assert_eq!(ts.hits(), 3);
    // t3 outlives its probation (60 s for 900 s tokens) unrejected: the
    // streak is over, and its later rejection is news: exchange at once.
    clock.advance(Duration::from_secs(61));
    provider.invalidate(&t3);
    let t4 = get(&provider).unwrap();
    assert_eq!(ts.hits(), 4);
    // A new streak starts at one: replaced after the usual gap, and the
    // next rejection is the second, not the fourth.
    provider.invalidate(&t4);
    clock.advance(Duration::from_millis(1300));
    let t5 = get(&provider).unwrap();
    assert_eq!(ts.hits(), 5);
    provider.invalidate(&t5);
    assert!(get(&provider)
        .unwrap_err()
        .to_string()
        .contains("(2 in a row"));
}

#[test]
fn a_seeded_token_rejected_at_once_is_no_reason_to_back_off() {
    let clock = ManualClock::new(SystemTime::now());
    let reject = Arc::new(AtomicBool::new(true));
    let ts = servers(&clock, &reject);
    let seed = jwt_at(secs(&clock), 900.0, 900.0);
    let provider = Arc::new(
        ts.builder()
            .clock(Arc::new(clock.clone()))
            .seed_token(seed)
            .build()
            .unwrap(),
    );
    assert_eq!(ts.hits(), 0);
    // Not from this provider's exchange: its rejection says nothing about
    // fresh tokens, and the replacement is fetched at once.
    let seeded = provider.token().unwrap();
    provider.invalidate(&seeded);
    let p = Arc::clone(&provider);
    let fresh = within(move || p.token()).unwrap();
    assert!(!fresh.same_as(&seeded));
    assert_eq!(ts.hits(), 1);
}

#[test]
fn through_auth_middleware_rejections_back_off_and_a_2xx_ends_it() {
    let clock = ManualClock::new(SystemTime::now());
    let reject = Arc::new(AtomicBool::new(true));
    let ts = servers(&clock, &reject);
    let provider = Arc::new(ts.builder().clock(Arc::new(clock.clone())).build().unwrap());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .middleware(tinker_auth::AuthMiddleware::new(provider.clone()))
        .build()
        .into();
    let url = format!("{}{PATH}", ts.url());
    let send = |agent: &ureq::Agent| {
        let (agent, url) = (agent.clone(), url.clone());
        within(move || agent.get(&url).call().map(|r| r.status().as_u16()))
    };
    // The build's token, then its replacement: both rejected.
    clock.advance(Duration::from_secs(2));
    assert_eq!(send(&agent).unwrap(), 401);
    assert_eq!(send(&agent).unwrap(), 401);
    assert_eq!(ts.hits(), 2);
    // Backing off: the next request is not sent, the provider's error says why.
    match send(&agent) {
        Err(ureq::Error::Other(e)) => {
            let e = e.downcast_ref::<Error>().expect("the crate's error");
            assert!(matches!(e, Error::TokensRejected { .. }), "{e}");
        }
        other => panic!("expected the back-off error, got {other:?}"),
    }
    // The API recovers; after the 2-2.5 s step a new token is accepted.
    reject.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_millis(2600));
    assert_eq!(send(&agent).unwrap(), 200);
    assert_eq!(ts.hits(), 3);
    // The 2xx ended the streak: a rejection now is the first of a new one,
    // replaced after the usual gap instead of failing at once.
    let token = provider.token().unwrap();
    provider.invalidate(&token);
    clock.advance(Duration::from_millis(1300));
    let p = Arc::clone(&provider);
    within(move || p.token()).expect("the first of a new streak is replaced");
}
