//! A token endpoint outage that starts at any moment of a token's life costs
//! no request for at least half a lifetime, with default settings: the
//! background thread refreshes at half-life (less the clock's uncertainty)
//! and the cached token is served while the server surely accepts it.
//!
//! The sweeps run a real provider on a `ManualClock` against a token server
//! that mints whole-second `iat`/`exp` on that clock and fails (503) from a
//! chosen clock time: no real waiting. The last test is the same in real
//! time against the stand-in, with short tokens and generous bounds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::json;
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use testkit::unix_secs as secs;
use testkit::{body_for, jwt_with, wait_until, TokenServer};
use tinker_auth::{Clock, JwtAuthProvider, ManualClock};

/// The endpoint fails (503) for clock times in `[down, up)`.
#[derive(Clone, Copy)]
struct Outage {
    down: f64,
    up: f64,
}

/// A provider with default settings on a manual clock, and its token server.
struct Rig {
    clock: ManualClock,
    _server: TokenServer,
    outage: Arc<Mutex<Outage>>,
    /// Clock times of the exchanges that minted a token.
    minted: Arc<Mutex<Vec<f64>>>,
    provider: JwtAuthProvider,
    lifetime: f64,
}

impl Rig {
    fn new(lifetime: f64, start: f64) -> Rig {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs_f64(start));
        let outage = Arc::new(Mutex::new(Outage {
            down: f64::INFINITY,
            up: f64::INFINITY,
        }));
        let minted = Arc::new(Mutex::new(Vec::new()));
        let (c, o, m) = (clock.clone(), outage.clone(), minted.clone());
        let server = TokenServer::new(move |_| {
            let now = secs(&c);
            let o = *o.lock().unwrap();
            if now >= o.down && now < o.up {
                return (503, br#"{"detail":"down"}"#.to_vec());
            }
            m.lock().unwrap().push(now);
            let iat = now.floor() as i64;
            let exp = iat + lifetime as i64;
            (200, body_for(&jwt_with(json!({"iat": iat, "exp": exp}))))
        });
        let provider = server
            .builder()
            .clock(Arc::new(clock.clone()))
            .background_refresh(true)
            .build()
            .unwrap();
        Rig {
            clock,
            _server: server,
            outage,
            minted,
            provider,
            lifetime,
        }
    }

    fn now(&self) -> f64 {
        secs(&self.clock)
    }

    fn step_to(&self, t: f64) {
        let now = self.now();
        if t > now {
            self.clock.advance(Duration::from_secs_f64(t - now));
        }
    }

    /// No exchange is in flight.
    fn idle(&self) -> bool {
        let s = self.provider.stats();
        s.fetches_started == s.fetches_succeeded + s.fetches_failed
    }

    /// Moves the clock to `t` once no exchange is in flight. A jump over an
    /// exchange that a loaded machine has not finished would look to the
    /// provider like a round trip of the jump's length: past the flight's
    /// deadline, which no real clock does to an exchange on loopback. The
    /// wait is a liveness bound in real time, not a timing assertion.
    fn step_when_idle(&self, t: f64) {
        assert!(
            wait_until(Duration::from_secs(30), || self.idle()),
            "an exchange still in flight at {}: {:?}",
            self.now(),
            self.provider.stats()
        );
        self.step_to(t);
    }

    /// When the background thread refreshes the last token: its receipt
    /// plus half the lifetime, less the half-second uncertainty, less the
    /// half second by which a whole-second `iat` (with no `Date` header, the
    /// offset's only source) makes the token look older.
    fn due(&self) -> f64 {
        self.minted.lock().unwrap().last().unwrap() + self.lifetime / 2.0 - 1.0
    }

    /// Moves the clock to `t` while the endpoint is up, stopping at each
    /// background refresh on the way until the thread has installed it, so
    /// that the thread never falls behind the clock.
    fn advance_healthy(&self, t: f64) {
        loop {
            let due = self.due();
            if due >= t {
                self.step_to(t);
                return;
            }
            let n = self.minted.lock().unwrap().len() as u64;
            assert_eq!(self.provider.stats().fetches_succeeded, n, "early refresh");
            self.step_to(due);
            // A liveness bound in real time (a loaded machine may be slow to
            // run the thread); the refresh's time is the clock's.
            assert!(
                wait_until(Duration::from_secs(30), || self
                    .provider
                    .stats()
                    .fetches_succeeded
                    > n),
                "no refresh at {due}: {:?}",
                self.provider.stats()
            );
        }
    }
}

/// Outage starts `phases` (seconds after a routine refresh) over a whole
/// token life, plus the moments around the next routine refresh; for each,
/// a new provider whose requests must all be served for half a lifetime
/// after the outage starts, and which gets a fresh token once it ends.
fn sweep(lifetime: f64, step: f64) {
    let real = Instant::now();
    let period = lifetime / 2.0 - 1.0;
    let mut phases: Vec<f64> = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|&p| p < lifetime)
        .collect();
    phases.extend([
        period - 1.0,
        period - 0.1,
        period - 0.001,
        period,
        period + 0.001,
    ]);
    for (i, &phase) in phases.iter().enumerate() {
        // Each start at another fraction of a second.
        let start = 1_700_000_000.0 + (f64::from(i as u32) * 0.37).fract();
        let rig = Rig::new(lifetime, start);
        // The first token's refresh (drawn) by its late edge, then a routine
        // one from there.
        let first = rig.due();
        rig.advance_healthy(first + 0.001);
        let routine = *rig.minted.lock().unwrap().last().unwrap();
        let down = routine + phase;
        rig.advance_healthy(down);
        *rig.outage.lock().unwrap() = Outage {
            down,
            up: f64::INFINITY,
        };
        // Requests through the next half-lifetime, in ten steps, the last
        // a millisecond short of it.
        let last = down + lifetime / 2.0 - 0.001;
        for k in 0..=10 {
            let t = down + (last - down) * f64::from(k) / 10.0;
            rig.step_to(t);
            let token = rig.provider.token();
            let Ok(token) = token else {
                panic!(
                    "{lifetime} s tokens, outage {phase} s after a routine refresh: \
                     refused {:.3} s into it: {:?}; {:?}",
                    t - down,
                    token.err(),
                    rig.provider.stats()
                );
            };
            // Never a token the server already rejects (its clock is ours).
            let exp = token
                .expires_at()
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap();
            assert!(exp.as_secs_f64() > t, "{lifetime} s, {phase} s: expired");
        }
        // Back up: a fresh token by the thread's next retry, at most
        // `retry_delay` (60 s) after the endpoint returns. The clock moves a
        // second at a time, each step once no exchange is in flight: a jump
        // over an exchange that a loaded machine has not finished would look
        // to the provider like a minute-long round trip (its offset rightly
        // uncertain, the token judged due on arrival), which no real clock
        // does to an exchange on loopback.
        let up = rig.now();
        rig.outage.lock().unwrap().up = up;
        let fresh = || {
            rig.provider
                .token()
                .ok()
                .and_then(|t| t.issued_at())
                .is_some_and(|iat| iat >= UNIX_EPOCH + Duration::from_secs(up.floor() as u64))
        };
        let idle = || rig.idle();
        for k in 1..=60 {
            // A liveness bound in real time, not a timing assertion: the
            // figure asserted is the clock's `retry_delay`.
            assert!(
                wait_until(Duration::from_secs(30), idle),
                "{:?}",
                rig.provider.stats()
            );
            rig.step_to(up + f64::from(k));
            if wait_until(Duration::from_millis(20), || idle() && fresh()) {
                break;
            }
        }
        // The clock stops at `up + retry_delay` at the latest; the thread
        // gets real time to catch up with it.
        assert!(
            wait_until(Duration::from_secs(30), || idle() && fresh()),
            "{lifetime} s, {phase} s: not back within retry_delay: {:?}; minted {:?}",
            rig.provider.stats(),
            rig.minted.lock().unwrap(),
        );
    }
    eprintln!(
        "{lifetime} s tokens: {} outage starts, each served for half a lifetime, in {:?}",
        phases.len(),
        real.elapsed()
    );
}

#[test]
fn an_outage_at_any_moment_of_a_900_s_token_costs_nothing_for_450_s() {
    sweep(900.0, 30.0);
}

#[test]
fn an_outage_at_any_moment_of_a_6_s_token_costs_nothing_for_3_s() {
    sweep(6.0, 0.25);
}

#[test]
fn an_outage_at_any_moment_of_a_day_long_token_costs_nothing_for_12_h() {
    sweep(86_400.0, 3_600.0);
}

#[test]
fn after_an_outage_callers_get_a_fresh_token_within_the_cooldown_cap() {
    // Down past the token's expiry: callers fail (the cause), then, once the
    // endpoint is back, get a fresh token within 4 s of clock time (the
    // on-demand cooldown's cap), whatever the background thread does.
    let rig = Rig::new(900.0, 1_700_000_000.0);
    let down = rig.now() + 1.0;
    rig.step_when_idle(down);
    *rig.outage.lock().unwrap() = Outage {
        down,
        up: f64::INFINITY,
    };
    let mut t = down;
    while t < down + 1_000.0 {
        t += 2.0;
        rig.step_when_idle(t);
        let _ = rig.provider.token();
    }
    assert!(rig.provider.token().is_err(), "served past expiry");
    rig.outage.lock().unwrap().up = t;
    rig.step_when_idle(t + 4.0);
    let token = rig.provider.token().expect("fresh within the cooldown cap");
    let runway = token
        .expires_at()
        .unwrap()
        .duration_since(rig.clock.now())
        .unwrap();
    assert!(runway > Duration::from_secs(890), "{runway:?}");
}

#[test]
fn real_time_short_tokens_are_served_through_half_a_lifetime_of_outage() {
    // 4 s tokens in real time: the outage starts just after a background
    // refresh is seen and lasts past half a lifetime; requests for the
    // first 1.5 s of it (half a lifetime, less slack for a loaded machine)
    // are all served. Then the endpoint returns and a fresh token comes.
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(4),
        ..StandInConfig::default()
    });
    let provider = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .allow_insecure_http(true)
        .background_refresh(true)
        .build()
        .unwrap();
    assert!(wait_until(Duration::from_secs(6), || server.exchanges_ok() >= 2));
    server.set_mode(Mode::Status500);
    let down = Instant::now();
    let mut served = 0;
    while down.elapsed() < Duration::from_millis(1500) {
        provider.token().expect("served during the outage");
        served += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    server.set_mode(Mode::Healthy);
    let before = server.exchanges_ok();
    assert!(wait_until(Duration::from_secs(8), || {
        let _ = provider.token();
        server.exchanges_ok() > before
    }));
    assert!(served > 10, "{served}");
}
