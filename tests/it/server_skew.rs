//! Skew: the stand-in's clock runs far ahead of or behind ours, on 900 s
//! tokens. The provider must judge runway on the server's clock: no 401, and
//! no exchange storm from a token that looks (locally) expired or too young.

use std::thread;
use std::time::{Duration, Instant};

use testkit::probe::{self, call_protected, exchange_bound, timed_get, STEADY_LIFETIME};
use testkit::stand_in::{StandIn, StandInConfig};

fn skewed_calls(skew: i64) {
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(900),
        skew_secs: skew,
        ..StandInConfig::default()
    });
    let p = probe::builder(&s).build().expect("first exchange");
    let offset = p.clock_offset_secs();
    assert!(
        (offset - skew as f64).abs() <= 1.5,
        "skew {skew}: offset estimated at {offset:.2}"
    );
    let runway = p.runway().expect("a token is held").as_secs_f64();
    assert!(
        (897.0..=900.5).contains(&runway),
        "skew {skew}: runway {runway:.1}"
    );

    let agent = probe::agent();
    let (mut calls, mut unauthorized) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let c = timed_get(&p, skew);
        let t = c.result.unwrap_or_else(|e| panic!("skew {skew}: {e}"));
        assert!(!c.served_dead, "skew {skew}: served a dead token");
        assert!(c.runway > 800.0, "skew {skew}: runway {:.1}", c.runway);
        if call_protected(&agent, &s, t.as_str()) == 401 {
            unauthorized += 1;
        }
        calls += 1;
        thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "skew {skew:+}: {calls} calls, {unauthorized} 401, {} exchanges, offset {offset:.2}",
        s.exchanges()
    );
    assert!(calls > 200, "{calls}");
    assert_eq!(unauthorized, 0, "skew {skew}: 401s");
    assert_eq!(s.protected_401(), 0);
    // The first exchange, and at most a couple more.
    assert!(
        s.exchanges() <= 3,
        "skew {skew}: {} exchanges",
        s.exchanges()
    );
}

#[test]
fn server_600_s_ahead() {
    skewed_calls(600);
}

#[test]
fn server_600_s_behind() {
    skewed_calls(-600);
}

#[test]
fn server_880_s_behind() {
    // Without the offset, every 900 s token would look 20 s from expiry,
    // inside the 60 s on-demand window: an exchange on every call.
    skewed_calls(-880);
}

#[test]
fn server_880_s_behind_with_short_tokens_across_lifetimes() {
    // Skew and refresh together: short tokens (off the pacing floor, see
    // `STEADY_LIFETIME`), server 880 s behind, over two lifetimes.
    let skew = -880;
    let s = StandIn::start_with(StandInConfig {
        lifetime: STEADY_LIFETIME,
        skew_secs: skew,
        ..StandInConfig::default()
    });
    let p = probe::builder(&s).build().expect("first exchange");
    let agent = probe::agent();
    let start = Instant::now();
    while start.elapsed() < STEADY_LIFETIME * 2 + Duration::from_secs(1) {
        let c = timed_get(&p, skew);
        let t = c.result.expect("token");
        assert!(!c.served_dead);
        assert_eq!(call_protected(&agent, &s, t.as_str()), 200);
        thread::sleep(Duration::from_millis(10));
    }
    let bound = exchange_bound(STEADY_LIFETIME, start.elapsed());
    assert!(s.exchanges() <= bound, "{} exchanges", s.exchanges());
    // Routine refreshes come at most half a lifetime apart.
    assert!(
        s.exchanges() >= 4,
        "{} exchanges: no refresh?",
        s.exchanges()
    );
}
