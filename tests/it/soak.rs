//! Soak: eight threads call a protected endpoint through the provider across
//! three token lifetimes. The stand-in judges every request by its own clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::probe::{self, call_protected, exchange_bound, timed_get, STEADY_LIFETIME};
use testkit::stand_in::{StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, Error, JwtAuthProvider};

const THREADS: usize = 8;
/// Long enough to stay off the pacing floor on a loaded machine (see
/// `STEADY_LIFETIME`): the soak demands that no call fails.
const LIFETIME: Duration = STEADY_LIFETIME;
const LIFETIMES: u32 = 3;

/// What one protected call came to.
enum Outcome {
    Ok,
    Unauthorized,
    Other(u16),
    /// `get_token` itself failed (with its error text).
    NoToken(String),
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unauthorized: AtomicU64,
    other: AtomicU64,
    no_token: AtomicU64,
    /// Longest single call, in microseconds.
    slowest_us: AtomicU64,
}

/// Runs `call` from `THREADS` threads until `run` has passed.
fn soak(run: Duration, call: Arc<dyn Fn() -> Outcome + Send + Sync>) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + run;
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (call, tally) = (Arc::clone(&call), Arc::clone(&tally));
            thread::spawn(move || {
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let counter = match call() {
                        Outcome::Ok => &tally.ok,
                        Outcome::Unauthorized => &tally.unauthorized,
                        Outcome::Other(status) => {
                            eprintln!("unexpected status {status} during the soak");
                            &tally.other
                        }
                        Outcome::NoToken(e) => {
                            eprintln!("get_token failed during the soak: {e}");
                            &tally.no_token
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let us = start.elapsed().as_micros() as u64;
                    tally.slowest_us.fetch_max(us, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("soak worker panicked");
    }
    tally
}

#[test]
fn eight_threads_across_three_lifetimes_see_no_401_and_few_exchanges() {
    let s = Arc::new(StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    }));
    let p = Arc::new(probe::builder(&s).build().expect("first exchange"));
    let started = Instant::now();
    let run = LIFETIME * LIFETIMES + Duration::from_millis(500);

    // Through the provider: get_token, then the request with X-API-Key by hand.
    let call: Arc<dyn Fn() -> Outcome + Send + Sync> = {
        let (s, p) = (Arc::clone(&s), Arc::clone(&p));
        let agent = probe::agent();
        Arc::new(move || {
            let c = timed_get(&*p, 0);
            match c.result {
                Ok(t) => match call_protected(&agent, &s, t.as_str()) {
                    200 => Outcome::Ok,
                    401 => Outcome::Unauthorized,
                    other => Outcome::Other(other),
                },
                Err(e) => Outcome::NoToken(e.to_string()),
            }
        })
    };
    let tally = soak(run, call);

    let elapsed = started.elapsed();
    assert_soak_held(&s, &p, &tally, elapsed);
}

#[test]
fn eight_threads_through_the_request_layer_see_no_401() {
    // The same soak through `AuthenticatedAgent`, which fetches the token and
    // sends the request itself (and would recover a 401 by refreshing once:
    // the assertions demand that it never needs to).
    let s = Arc::new(StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    }));
    let p = Arc::new(probe::builder(&s).build().expect("first exchange"));
    let agent = Arc::new(AuthenticatedAgent::new(s.url(), p.clone()).expect("agent"));
    let started = Instant::now();
    let run = LIFETIME * LIFETIMES + Duration::from_millis(500);
    let call: Arc<dyn Fn() -> Outcome + Send + Sync> = {
        let agent = Arc::clone(&agent);
        Arc::new(move || match agent.get(probe::PING_PATH) {
            Ok(_) => Outcome::Ok,
            Err(Error::Authentication { .. }) => Outcome::Unauthorized,
            Err(e) => Outcome::NoToken(e.to_string()),
        })
    };
    let tally = soak(run, call);
    let stats = agent.stats();
    assert_eq!(
        stats.unauthorized, 0,
        "401s seen by the request layer: {stats:?}"
    );
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_soak_held(&s, &p, &tally, started.elapsed());
}

fn assert_soak_held(s: &StandIn, p: &JwtAuthProvider, tally: &Tally, elapsed: Duration) {
    let ok = tally.ok.load(Ordering::Relaxed);
    let unauthorized = tally.unauthorized.load(Ordering::Relaxed);
    let exchanges = s.exchanges();
    let lifetimes = elapsed.as_secs_f64() / LIFETIME.as_secs_f64();
    eprintln!(
        "soak: {ok} requests ok, {unauthorized} 401, {exchanges} exchanges over {lifetimes:.1} \
         lifetimes ({:.2} per lifetime), slowest call {} ms, stats {:?}",
        exchanges as f64 / lifetimes,
        tally.slowest_us.load(Ordering::Relaxed) / 1000,
        p.stats()
    );
    assert!(
        ok > 1000,
        "the soak made too few requests to mean anything: {ok}"
    );
    assert_eq!(unauthorized, 0, "requests answered 401 Invalid JWT");
    assert_eq!(s.protected_401(), 0);
    assert_eq!(
        tally.other.load(Ordering::Relaxed),
        0,
        "unexpected statuses"
    );
    assert_eq!(
        tally.no_token.load(Ordering::Relaxed),
        0,
        "get_token failed"
    );
    // Routine refreshes at half-life: see `exchange_bound` for the arithmetic.
    let bound = exchange_bound(LIFETIME, elapsed);
    assert!(
        exchanges <= bound,
        "{exchanges} exchanges, expected at most {bound}"
    );
    assert!(p.background_running());
    assert!(
        p.stats().background > 0,
        "the background thread did the refreshing"
    );
}

#[test]
fn soak_sees_every_refresh_as_a_new_token() {
    // A shorter companion: each exchange yields a distinct token, and the
    // provider never goes back to an older one.
    let s = StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    });
    let p = probe::builder(&s).build().expect("first exchange");
    let mut last_exp = 0.0;
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + LIFETIME * 3 / 2;
    while Instant::now() < deadline {
        let t = p.get_token().unwrap().unwrap();
        let exp = probe::exp_secs(&t);
        assert!(exp >= last_exp, "the provider went back to an older token");
        last_exp = exp;
        seen.insert(t.as_str().to_owned());
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        seen.len() >= 3,
        "only {} tokens over one and a half lifetimes",
        seen.len()
    );
    assert!(seen.len() as u64 <= s.exchanges_ok());
}
