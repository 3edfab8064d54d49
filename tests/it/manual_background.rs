//! The background thread's timing on an injected `ManualClock`: it sleeps
//! until the clock (not real time) reaches its refresh, backs off on the
//! clock after failures, and stops promptly while waiting on it. Each test
//! runs 900 s tokens through hours of clock time in well under a second.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::unix_secs as secs;
use testkit::{body_for, jwt_at, wait_until, TokenServer};
use tinker_auth::{Clock, JwtAuthProvider, ManualClock};

/// Real time for the thread to do what it should not (or to settle).
const SETTLE: Duration = Duration::from_millis(100);

/// A manual clock standing at the current real second (a whole second, so
/// that tokens minted on it carry its time exactly).
fn clock_now() -> ManualClock {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    ManualClock::new(UNIX_EPOCH + Duration::from_secs(now.as_secs()))
}

/// 900 s tokens issued on the manual clock's time.
fn healthy(clock: &ManualClock) -> impl Fn(usize) -> (usize, Vec<u8>) + Send + Sync + 'static {
    let c = clock.clone();
    move |_| (200, body_for(&jwt_at(secs(&c), 900.0, 900.0)))
}

fn provider_on(server: &TokenServer, clock: Arc<dyn Clock>) -> JwtAuthProvider {
    server
        .builder()
        .clock(clock)
        .background_refresh(true)
        .build()
        .unwrap()
}

/// The thread has installed the `n`th token (build's is the first).
fn installed(p: &JwtAuthProvider, n: u64) -> bool {
    wait_until(Duration::from_secs(5), || p.stats().fetches_succeeded >= n)
}

#[test]
fn the_background_refresh_comes_when_the_clock_reaches_it_not_before() {
    let clock = clock_now();
    let server = TokenServer::new(healthy(&clock));
    let provider = provider_on(&server, Arc::new(clock.clone()));
    assert!(provider.background_running());
    assert_eq!(server.hits(), 1);
    // Real time alone moves nothing.
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 1);
    // The first token's refresh is drawn over its age [1 s, 449.5 s] (the
    // late edge leaves half the lifetime and the clock's half-second
    // uncertainty): by 450 s it is due, and comes once.
    clock.advance(Duration::from_secs(450));
    assert!(installed(&provider, 2), "{:?}", provider.stats());
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 2);
    assert_eq!(provider.stats().background, 1);
    // The next is routine, at the late edge: 449.5 s of the token's age,
    // which is 449 s after that exchange (the server's clock is taken to be
    // half a second into the whole second its `iat` names). Just before it,
    // nothing.
    clock.advance(Duration::from_millis(448_900));
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 2, "{:?}", provider.stats());
    // Just past it, exactly one exchange.
    clock.advance(Duration::from_millis(200));
    assert!(installed(&provider, 3), "{:?}", provider.stats());
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 3);
    let stats = provider.stats();
    assert_eq!((stats.background, stats.on_demand), (2, 1), "{stats:?}");
    assert!(provider.runway().unwrap() > Duration::from_secs(890));
}

/// The least gap (s) after the `streak`th failure in a row: the jittered
/// backoff, `0.5 * min(2^(streak-1), cap)`, never under the 1 s pacing gap.
fn least_gap(streak: u32, cap: f64) -> f64 {
    (0.5 * 2f64.powi(streak.min(40) as i32 - 1).min(cap)).max(1.0)
}

/// The most: `min(2^(streak-1), cap)`, at least 1 s.
fn most_gap(streak: u64, cap: f64) -> f64 {
    2f64.powi(streak.min(40) as i32 - 1).min(cap).max(1.0)
}

#[test]
fn a_day_of_failures_backs_off_on_the_clock_then_recovers() {
    const DAY: f64 = 86_400.0;
    const CAP: f64 = 600.0;
    let clock = clock_now();
    let server = TokenServer::new(healthy(&clock));
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .background_refresh(true)
        .retry_delay(Duration::from_secs(CAP as u64))
        .build()
        .unwrap();
    let t0 = secs(&clock);
    // From now on the endpoint fails; each attempt's clock time is kept.
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let (c, a) = (clock.clone(), attempts.clone());
    server.respond(move |_| {
        a.lock().unwrap().push(secs(&c));
        (503, br#"{"detail":"down"}"#.to_vec())
    });
    let real = Instant::now();
    // Through the day in 1 s steps for its first 1000 s, then 20 s ones.
    // Whenever an attempt is surely due (the first by the late edge, 450 s;
    // each later one at most its backoff after the last), wait for it: the
    // thread never falls behind the clock, so the count below is the
    // schedule's.
    let (mut seen, mut last) = (0u64, t0);
    while secs(&clock) - t0 < DAY {
        let step = if secs(&clock) - t0 < 1000.0 { 1 } else { 20 };
        clock.advance(Duration::from_secs(step));
        let now = secs(&clock);
        let due = if seen == 0 {
            t0 + 450.0
        } else {
            last + most_gap(seen, CAP)
        };
        let failed = provider.stats().fetches_failed;
        if failed > seen {
            (seen, last) = (failed, now);
        } else if now > due + 1.0 {
            assert!(
                wait_until(Duration::from_secs(5), || provider.stats().fetches_failed
                    > seen),
                "no attempt {} s after the last; {:?}",
                now - last,
                provider.stats()
            );
            (seen, last) = (provider.stats().fetches_failed, now);
        }
    }
    // No attempt left in flight: one ending after the heal's jump below
    // would start its backoff there, past the clock's last move. A
    // liveness bound in real time.
    assert!(wait_until(Duration::from_secs(30), || {
        let s = provider.stats();
        s.fetches_started == s.fetches_succeeded + s.fetches_failed
    }));
    thread::sleep(SETTLE);
    let times = attempts.lock().unwrap().clone();
    // Each gap at least the backoff the schedule allows after that failure.
    for (i, pair) in times.windows(2).enumerate() {
        let least = least_gap(i as u32 + 1, CAP);
        assert!(
            pair[1] - pair[0] >= least - 1e-6,
            "attempt {}: {} s after the one before, under the backoff's {least} s",
            i + 2,
            pair[1] - pair[0]
        );
    }
    // Hence no more than the schedule at its quickest: from 1 s in, every
    // gap its least.
    let (mut t, mut most) = (1.0, 1u32);
    while t + least_gap(most, CAP) <= DAY {
        t += least_gap(most, CAP);
        most += 1;
    }
    let n = times.len();
    assert!(n <= most as usize, "{n} attempts in a day, over {most}");
    // And the thread kept trying, about once per backoff at its cap.
    assert!(n >= 120, "{n} attempts in a day");
    assert_eq!(provider.stats().background, n as u64);
    eprintln!(
        "a day of failures: {n} attempts (at most {most}), {:?} real",
        real.elapsed()
    );
    // Healed: within one capped backoff of the clock, a fresh token.
    server.respond(healthy(&clock));
    clock.advance(Duration::from_secs(CAP as u64));
    assert!(installed(&provider, 2), "{:?}", provider.stats());
    assert!(provider.background_running());
    assert!(provider.runway().unwrap() > Duration::from_secs(800));
}

#[test]
fn shutdown_and_drop_while_waiting_on_the_manual_clock_return_promptly() {
    let clock = clock_now();
    let server = TokenServer::new(healthy(&clock));
    let first = provider_on(&server, Arc::new(clock.clone()));
    let second = provider_on(&server, Arc::new(clock.clone()));
    thread::sleep(SETTLE);
    let start = Instant::now();
    first.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(!first.background_running());
    let start = Instant::now();
    drop(second);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Stopped: a day on the clock brings no background exchange.
    clock.advance(Duration::from_secs(86_400));
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 2);
    assert_eq!(first.stats().background, 0);
}

/// An injected clock that does not tell of its moves: a manual one behind
/// `now` and `instant` alone.
#[derive(Debug)]
struct Quiet(ManualClock);

impl Clock for Quiet {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
    fn instant(&self) -> Instant {
        self.0.instant()
    }
}

#[test]
fn a_clock_that_does_not_tell_of_its_moves_is_polled() {
    let clock = clock_now();
    let server = TokenServer::new(healthy(&clock));
    let provider = provider_on(&server, Arc::new(Quiet(clock.clone())));
    thread::sleep(SETTLE);
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(450));
    assert!(installed(&provider, 2), "{:?}", provider.stats());
    assert_eq!(provider.stats().background, 1);
}
