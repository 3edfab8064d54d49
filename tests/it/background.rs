//! Behaviour 4 (and 7): the named refresh thread refreshes ahead of expiry,
//! follows whatever token is current, backs off after failures, survives them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::*;
use tinker_auth::{AuthTokenProvider, Clock, ManualClock};

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn refreshes_ahead_of_expiry_without_any_caller() {
    // 900 s tokens issued on a manual clock, which the thread sleeps on: no
    // real 2 s tokens to wait through.
    let clock = ManualClock::new(SystemTime::now());
    let c = clock.clone();
    let server = TokenServer::new(move |_| {
        let now = c.now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        (200, body_for(&jwt_at(now, 900.0, 900.0)))
    });
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .background_refresh(true)
        .build()
        .unwrap();
    assert!(provider.background_running());
    if cfg!(target_os = "linux") {
        assert!(thread_names().iter().any(|n| n == "tinker-refresh"));
    }
    // The thread refreshes each token by its late edge, 449.5 s of its age
    // (half-life less the clock's uncertainty): two such ages on, it has
    // refreshed twice.
    for n in 2..=3 {
        clock.advance(Duration::from_secs(451));
        assert!(wait_until(Duration::from_secs(5), || provider
            .stats()
            .fetches_succeeded
            >= n));
    }
    assert!(wait_until(Duration::from_secs(5), || provider
        .stats()
        .background
        >= 2));
    provider.get_token().unwrap().unwrap();
    // The token held has runway (on the clock it was issued on).
    assert!(provider.runway().unwrap() > Duration::ZERO);
    assert_eq!(
        provider.stats().on_demand,
        1,
        "only build() fetched on demand"
    );
}

#[test]
fn near_expiry_seed_is_refreshed_at_once() {
    let server = TokenServer::fresh(900.0);
    let seed = jwt_expiring_in(100.0, 900.0);
    let provider = server
        .builder()
        .seed_token(seed.clone())
        .background_refresh(true)
        .build()
        .unwrap();
    assert!(wait_until(Duration::from_secs(3), || server.hits() == 1));
    assert!(wait_until(Duration::from_secs(3), || provider
        .get_token()
        .unwrap()
        .unwrap()
        .as_str()
        != seed));
    assert_eq!(provider.stats().background, 1);
    assert_eq!(provider.stats().on_demand, 0);
}

#[test]
fn no_redundant_fetch_after_an_on_demand_refresh() {
    // An expired seed: the thread (due at once) and a caller race for it.
    // One exchange serves both, and the thread then sleeps until the new
    // token's margin, ~10 minutes away, instead of fetching again.
    let server = TokenServer::fresh(900.0);
    let gate = Gate::new();
    server.hold(&gate);
    let provider = Arc::new(
        server
            .builder()
            .seed_token(jwt_expiring_in(-1.0, 900.0))
            .background_refresh(true)
            .build()
            .unwrap(),
    );
    // Thread and caller race for the expired seed: exactly one exchange.
    let p = provider.clone();
    let caller = std::thread::spawn(move || p.get_token().unwrap().unwrap());
    gate.wait_entered();
    std::thread::sleep(Duration::from_millis(100));
    gate.release(1);
    let t = caller.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.hits(), 1, "{:?}", provider.stats());
    assert!(t.same_as(&provider.get_token().unwrap().unwrap()));
}

#[test]
fn backs_off_after_failures_and_recovers() {
    let server = TokenServer::new(|_| (500, b"{}".to_vec()));
    let provider = server
        .builder()
        .seed_token(jwt_expiring_in(5.0, 10.0))
        .background_refresh(true)
        .retry_delay(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    let attempts = provider.stats().background;
    // Due at once, then 1 s (the pacing floor), then 1-2 s, 1-2 s (the
    // cap): 3 or 4 attempts, allow 2-4.
    assert!(
        (2..=4).contains(&attempts),
        "{attempts} in {:?}",
        started.elapsed()
    );
    // The thread is alive and recovers when the endpoint heals.
    server.respond(|_| (200, body_for(&jwt_expiring_in(900.0, 900.0))));
    assert!(wait_until(Duration::from_secs(4), || provider
        .stats()
        .fetches_succeeded
        >= 1));
    assert!(provider.background_running());
    let t = provider.get_token().unwrap().unwrap();
    assert!(runway_of(t.as_str()) > 800.0);
}
