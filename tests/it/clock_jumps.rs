//! Clock jumps: the local wall clock (injected) steps forward or back while
//! the server's clock runs on. The provider must refresh when it has to, never
//! serve a token the server rejects, and never spin.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use testkit::probe::{self, call_protected, timed_get};
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, Clock, JwtAuthProvider, ManualClock, Token};

/// The system clock plus a step that the test sets, as an NTP step or an
/// operator's `date -s` would: it keeps ticking, and jumps when told.
#[derive(Debug, Default)]
struct SteppedClock {
    step_ms: AtomicI64,
}

impl SteppedClock {
    fn step_to(&self, d: i64) {
        self.step_ms.store(d * 1000, Ordering::SeqCst);
    }
    fn step_to_ms(&self, ms: i64) {
        self.step_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> SystemTime {
        let step = self.step_ms.load(Ordering::SeqCst);
        let d = Duration::from_millis(step.unsigned_abs());
        if step >= 0 {
            SystemTime::now() + d
        } else {
            SystemTime::now() - d
        }
    }
}

const LIFETIME: Duration = Duration::from_secs(3);

fn stand_in() -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    })
}

/// Calls `get_token` every 10 ms for `run`, checking every token against the
/// server; returns the last token.
fn calls_for(p: &JwtAuthProvider, s: &StandIn, run: Duration, what: &str) -> Token {
    let agent = probe::agent();
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < run {
        let c = timed_get(p, 0);
        assert!(
            c.took < Duration::from_secs(3),
            "{what}: blocked {:?}",
            c.took
        );
        let t = c.result.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            !c.served_dead,
            "{what}: served a token dead on the server for {:.3} s",
            -c.runway
        );
        assert_eq!(call_protected(&agent, s, t.as_str()), 200, "{what}");
        last = Some(t);
        thread::sleep(Duration::from_millis(10));
    }
    last.expect("at least one call")
}

#[test]
fn forward_past_expiry_then_back() {
    let s = stand_in();
    let clock = Arc::new(SteppedClock::default());
    let p = probe::builder(&s).clock(clock.clone()).build().unwrap();
    let t0 = calls_for(&p, &s, Duration::from_millis(300), "before the jumps");
    let start = Instant::now();
    let before = s.exchanges();

    // Forward 30 s: the held token looks expired, so the provider refreshes
    // (once) and re-estimates the offset from the new exchange.
    clock.step_to(30);
    let t1 = calls_for(&p, &s, Duration::from_millis(500), "after stepping forward");
    assert!(
        !t1.same_as(&t0),
        "no refresh after the clock passed the expiry"
    );
    let offset = p.clock_offset_secs();
    assert!((offset + 30.0).abs() < 1.5, "offset {offset:.2}");

    // Back again: whatever the provider does, it must not serve a token the
    // server rejects, nor exchange more than the schedule asks.
    clock.step_to(0);
    calls_for(&p, &s, 2 * LIFETIME, "after stepping back");

    let exchanges = s.exchanges() - before;
    let per_exchange = 0.95 * 1.5 - 0.5;
    let bound = (start.elapsed().as_secs_f64() / per_exchange).ceil() as u64 + 2;
    eprintln!("forward/back: {exchanges} exchanges, stats {:?}", p.stats());
    assert!(exchanges <= bound, "{exchanges} exchanges: spinning?");
    assert_eq!(s.protected_401(), 0);
}

/// A step back by less than the token's age (plus the 2 s tolerance) leaves
/// the wall clock after the receipt time, so it cannot be seen as a step:
/// the token merely looks younger than it is.
fn step_back_mid_life(background: bool, outage: bool) {
    let s = stand_in();
    let clock = Arc::new(SteppedClock::default());
    let p = probe::builder(&s)
        .clock(clock.clone())
        .background_refresh(background)
        .build()
        .unwrap();
    let t0 = p.get_token().unwrap().unwrap();
    if outage {
        s.set_mode(Mode::Status500);
    }
    thread::sleep(Duration::from_millis(1200));
    clock.step_to_ms(-1500);
    let agent = probe::agent();
    let start = Instant::now();
    let mut errors = 0;
    while start.elapsed() < 2 * LIFETIME {
        let c = timed_get(&p, 0);
        match c.result {
            Ok(t) => {
                assert!(
                    !c.served_dead,
                    "served a token dead on the server for {:.3} s (same as the first: {})",
                    -c.runway,
                    t.same_as(&t0)
                );
                assert_eq!(call_protected(&agent, &s, t.as_str()), 200);
            }
            Err(e) => {
                assert!(outage, "healthy server, yet: {e}");
                errors += 1;
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s.protected_401(), 0);
    assert_eq!(errors > 0, outage, "errors only in an outage, after expiry");
    assert!(s.exchanges() <= 12, "{} exchanges", s.exchanges());
}

#[test]
fn step_back_mid_life_without_background() {
    step_back_mid_life(false, false);
}

#[test]
fn step_back_mid_life_during_an_outage() {
    step_back_mid_life(true, true);
}

#[test]
fn step_back_mid_life_with_background() {
    step_back_mid_life(true, false);
}

#[test]
fn manual_clock_forward_past_expiry_and_back_does_not_spin() {
    // The injected ManualClock stands still unless moved. Forward past the
    // expiry: one refresh. Back to the start: the new token was received
    // "in the future", so the clock has stepped back past its receipt; the
    // provider may refresh once more, but must then settle.
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(900),
        ..StandInConfig::default()
    });
    let clock = ManualClock::new(SystemTime::now());
    let p = probe::builder(&s)
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .unwrap();
    assert_eq!(s.exchanges(), 1);
    clock.advance(Duration::from_secs(1000));
    for _ in 0..100 {
        p.get_token().unwrap().unwrap();
    }
    assert_eq!(s.exchanges(), 2, "one refresh after the jump forward");
    clock.rewind(Duration::from_secs(1000));
    let agent = probe::agent();
    for _ in 0..100 {
        let t = p.get_token().unwrap().unwrap();
        assert_eq!(call_protected(&agent, &s, t.as_str()), 200);
    }
    assert!(
        s.exchanges() <= 3,
        "{} exchanges after the jump back",
        s.exchanges()
    );
    assert_eq!(s.protected_401(), 0);
}
