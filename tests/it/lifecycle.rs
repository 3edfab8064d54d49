//! Lifecycle under a hanging endpoint: dropping or shutting down a provider
//! whose exchange hangs returns promptly, and the stranded exchange ends on
//! its own within the fetch timeout.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::probe;
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, Error};

/// Drop may wait 250 ms for a busy refresh thread; the rest is slack.
const PROMPT: Duration = Duration::from_millis(1000);

fn hanging_background_exchange() -> (StandIn, tinker_auth::JwtAuthProvider) {
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(2),
        ..StandInConfig::default()
    });
    let p = probe::builder(&s).build().unwrap();
    s.set_mode(Mode::Hang);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.exchanges() < 2 {
        assert!(Instant::now() < deadline, "no background exchange started");
        thread::sleep(Duration::from_millis(5));
    }
    (s, p)
}

#[test]
fn drop_while_the_background_exchange_hangs_returns_promptly() {
    let (s, p) = hanging_background_exchange();
    let start = Instant::now();
    drop(p);
    let took = start.elapsed();
    assert!(took < PROMPT, "drop took {took:?}");
    // The exchange is abandoned, not resumed: no further attempts.
    let exchanges = s.exchanges();
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        s.exchanges(),
        exchanges,
        "a dropped provider kept exchanging"
    );
}

#[test]
fn shutdown_while_the_background_exchange_hangs_returns_promptly() {
    let (s, p) = hanging_background_exchange();
    let start = Instant::now();
    p.shutdown();
    assert!(
        start.elapsed() < PROMPT,
        "shutdown took {:?}",
        start.elapsed()
    );
    assert!(!p.background_running());
    // get_token still works once the endpoint does.
    s.set_mode(Mode::Healthy);
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        if p.get_token().is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no token after the endpoint recovered"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn callers_blocked_on_a_hanging_exchange_are_released_by_the_timeout() {
    // Callers stuck behind a hanging on-demand exchange get an answer within
    // the fetch timeout (1 s) plus a second, even as the last other handle is dropped.
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(2),
        ..StandInConfig::default()
    });
    let p = Arc::new(
        probe::builder(&s)
            .background_refresh(false)
            .seed_token(s.mint_expired())
            .build()
            .unwrap(),
    );
    s.set_mode(Mode::Hang);
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let p = Arc::clone(&p);
            thread::spawn(move || {
                let start = Instant::now();
                let r = p.get_token();
                (start.elapsed(), r)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    drop(p);
    assert!(start.elapsed() < Duration::from_millis(100), "drop blocked");
    for c in callers {
        let (took, r) = c.join().expect("caller panicked");
        assert!(took < Duration::from_millis(3500), "blocked {took:?}");
        let e = r.expect_err("no token can be had");
        let timed_out = matches!(&e, Error::Timeout { .. })
            || matches!(&e, Error::Expired { cause } if matches!(**cause, Error::Timeout { .. }));
        assert!(timed_out, "{e}");
    }
    assert_eq!(s.exchanges(), 1, "the callers shared one exchange");
}
