//! A shared cache whose lock is held by a stuck holder (here another open
//! file description of the lock files, as a process stopped while holding
//! it would keep them): the provider waits a bounded part of its flight,
//! then exchanges on its own; later refreshes only try the lock; once the
//! lock is free again, sharing resumes. Tokens live 4 s on a `ManualClock`
//! (no real waiting for expiry); only the lock waits are in real time.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::host::{entries_text, hold_locks, Scratch};
use testkit::{body_for, jwt_at, TokenServer};
use tinker_auth::{AuthTokenProvider, Clock, JwtAuthProvider, ManualClock};

const LIFETIME: f64 = 4.0;
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The documented bound on waiting for the lock.
const LOCK_BOUND: Duration = Duration::from_secs(1);

/// 4 s tokens minted on the manual clock's time.
fn server_on(clock: &ManualClock) -> TokenServer {
    let c = clock.clone();
    TokenServer::new(move |_| {
        let now = c.now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        (200, body_for(&jwt_at(now, LIFETIME, LIFETIME)))
    })
}

fn provider(server: &TokenServer, clock: &ManualClock, dir: &Path) -> JwtAuthProvider {
    server
        .builder()
        .clock(Arc::new(clock.clone()))
        .fetch_timeout(FETCH_TIMEOUT)
        .shared_cache_dir(dir)
        .build()
        .unwrap()
}

#[test]
fn a_stuck_lock_costs_a_bounded_wait_then_only_a_try() {
    let clock = ManualClock::new(SystemTime::now());
    let server = server_on(&clock);
    let scratch = Scratch::new("it-stuck");
    let dir = scratch.join("cache");
    let a = provider(&server, &clock, &dir);
    assert_eq!(server.hits(), 1);
    let held = hold_locks(&dir);

    // Past expiry: the held token cannot be served, a fresh one is needed.
    clock.advance(Duration::from_secs(5));
    let start = Instant::now();
    let first = a.get_token();
    let took = start.elapsed();
    println!("first fresh token behind a stuck lock after {took:?}");
    let first = first.expect("an exchange of its own").unwrap();
    assert_eq!(server.hits(), 2, "exchanged without the lock");
    assert!(took < FETCH_TIMEOUT + LOCK_BOUND, "{took:?}");
    assert!(
        !entries_text(&dir).contains(first.as_str()),
        "nothing written without the lock"
    );

    // Ten more refreshes: each only tries the lock.
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..10 {
        clock.advance(Duration::from_secs(5));
        let t = Instant::now();
        a.get_token().unwrap().unwrap();
        slowest = slowest.max(t.elapsed());
        assert_eq!(server.hits(), 3 + i);
    }
    println!(
        "10 refreshes behind the stuck lock: {:?} in all, slowest {slowest:?}",
        start.elapsed()
    );
    // Waiting the bound each time would take 10 s.
    assert!(start.elapsed() < 5 * LOCK_BOUND, "{:?}", start.elapsed());

    // The holder lets go: the next refresh takes the lock and writes, and a
    // second provider of the host adopts that token.
    drop(held);
    clock.advance(Duration::from_secs(5));
    let shared = a.get_token().unwrap().unwrap();
    assert_eq!(server.hits(), 13);
    assert!(entries_text(&dir).contains(shared.as_str()), "written back");
    let b = provider(&server, &clock, &dir);
    assert_eq!(server.hits(), 13, "b adopted a's token");
    assert!(b.get_token().unwrap().unwrap().same_as(&shared));
}
