//! An API that rejects every token, fresh ones included: the provider backs
//! off its exchanges as after failed ones, and requests fail at once with an
//! authentication error instead of each waiting for an exchange that cannot
//! help. In real time against the stand-in, with threads (bounds generous);
//! the figures on a `ManualClock` are in `rejected_tokens_manual`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::stand_in::{StandIn, StandInConfig, ECHO_PATH};
use tinker_auth::{AuthenticatedAgent, ErrorKind, JwtAuthProvider};

const THREADS: usize = 8;
const REQUESTS: usize = 10;

#[test]
fn eight_threads_against_an_api_rejecting_every_token() {
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(900),
        ..StandInConfig::default()
    });
    server.set_reject_tokens(true);
    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            // The back-off caps here: the recovery below waits at most one step.
            .retry_delay(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let api = AuthenticatedAgent::new(server.url(), provider.clone()).unwrap();
    let start = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let api = api.clone();
            thread::spawn(move || {
                (0..REQUESTS)
                    .map(|_| {
                        let t = Instant::now();
                        let r = api.get(ECHO_PATH);
                        (r, t.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = start.elapsed();
    let exchanges = server.exchanges();
    let slowest = results.iter().map(|(_, d)| *d).max().unwrap();
    let mean = results.iter().map(|(_, d)| *d).sum::<Duration>() / results.len() as u32;
    eprintln!(
        "{THREADS} threads x {REQUESTS} requests, every token rejected: {exchanges} exchanges \
         (build included) in {elapsed:.2?}; per request: mean {mean:.3?}, slowest {slowest:.3?}"
    );
    let mut kinds = std::collections::BTreeMap::new();
    for (r, _) in &results {
        let kind = r.as_ref().err().map(|e| e.kind());
        *kinds.entry(format!("{kind:?}")).or_insert(0) += 1;
    }
    eprintln!("outcomes: {kinds:?}");
    for (r, _) in &results {
        let e = r.as_ref().expect_err("every token is rejected");
        assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    }
    let backed_off = results
        .iter()
        .filter(|(r, _)| {
            r.as_ref()
                .is_err_and(|e| e.to_string().contains("rejecting fresh tokens"))
        })
        .count();
    assert!(backed_off > 0, "no request was told of the back-off");
    // Doubling from 1 s (up to 1.25 s with jitter), capped at 2 s: within
    // `elapsed`, at most 1 + elapsed/1 s exchanges after the first, plus the
    // build's. Far below one per request (80).
    let bound = 2 + elapsed.as_secs();
    assert!(exchanges <= bound, "{exchanges} exchanges in {elapsed:?}");
    // A rejected request fails at once: none waits out a back-off step
    // (generous: a loaded machine may take seconds for 80 loopback requests).
    assert!(slowest < Duration::from_secs(10), "{slowest:?}");

    // The API recovers: within one back-off step (capped at 2 s, 2.5 s with
    // jitter) a request succeeds; generous bound for a loaded machine.
    server.set_reject_tokens(false);
    let recovered = Instant::now();
    let ok = testkit::wait_until(Duration::from_secs(20), || api.get(ECHO_PATH).is_ok());
    assert!(ok, "no request succeeded after the API recovered");
    eprintln!(
        "recovered: first success {:.2?} after the API accepted tokens again",
        recovered.elapsed()
    );
    // Accepted: the back-off is over, the token is served on and accepted.
    let before = server.exchanges();
    for _ in 0..20 {
        api.get(ECHO_PATH).unwrap();
    }
    assert_eq!(server.exchanges(), before);
}
