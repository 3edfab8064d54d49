//! Behaviour 9: shutdown or dropping the last handle wakes and joins the
//! refresh thread promptly; the thread never keeps the provider alive.
//!
//! The tests here count threads by name, so they take a lock to run one at a
//! time, and live in a binary of their own: any other test's provider would
//! add refresh threads to the count.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::*;
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

static SERIAL: Mutex<()> = Mutex::new(());

fn refresh_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .filter(|n| n.trim() == "tinker-refresh")
                .count()
        })
        .unwrap_or(0)
}

fn seeded() -> JwtAuthProvider {
    // An unroutable-by-design base URL: a seeded provider never contacts it.
    JwtAuthProvider::builder("http://127.0.0.1:9")
        .api_key(KEY)
        .seed_token(jwt_expiring_in(3600.0, 7200.0))
        .build()
        .unwrap()
}

#[test]
fn shutdown_joins_the_thread_promptly_and_get_token_still_works() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut took = Vec::new();
    for _ in 0..20 {
        let p = seeded();
        assert!(p.background_running());
        let started = Instant::now();
        p.shutdown();
        took.push(started.elapsed());
        assert!(!p.background_running());
        p.shutdown(); // idempotent
        assert!(p.get_token().unwrap().is_some());
    }
    took.sort();
    let median = took[took.len() / 2];
    assert!(
        median < Duration::from_millis(100),
        "median {median:?}, all {took:?}"
    );
}

#[test]
fn dropping_the_last_handle_stops_the_thread_and_frees_the_provider() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = refresh_threads();
    let p = Arc::new(seeded());
    let weak = Arc::downgrade(&p);
    let clone = p.clone();
    drop(p);
    assert!(clone.background_running(), "a clone keeps it alive");
    drop(clone);
    assert!(
        weak.upgrade().is_none(),
        "the thread held a strong reference"
    );
    if cfg!(target_os = "linux") {
        assert!(wait_until(Duration::from_secs(1), || refresh_threads() == before));
    }
}

#[test]
fn a_thousand_build_drop_cycles_leave_no_thread_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = refresh_threads();
    for _ in 0..1000 {
        let p = seeded();
        assert!(p.get_token().unwrap().is_some());
    }
    if cfg!(target_os = "linux") {
        assert!(wait_until(Duration::from_secs(2), || refresh_threads() == before));
    }
}

#[test]
fn clones_share_one_thread_that_stops_with_the_last_clone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = refresh_threads();
    let a = seeded();
    let b = a.clone();
    let c = b.clone();
    // The thread names itself once it runs.
    assert!(wait_until(Duration::from_secs(1), || refresh_threads() == before + 1));
    assert_eq!(refresh_threads(), before + 1, "one thread for all clones");
    assert!(a.token().unwrap() == b.token().unwrap());
    drop(a);
    assert!(b.background_running() && c.background_running());
    assert_eq!(refresh_threads(), before + 1, "a clone keeps the thread");
    drop(b);
    assert!(c.background_running());
    let start = Instant::now();
    drop(c);
    assert!(
        wait_until(Duration::from_secs(1), || refresh_threads() == before),
        "the last clone stops the thread"
    );
    assert!(start.elapsed() < Duration::from_secs(1));

    // shutdown on any clone stops it for all.
    let a = seeded();
    let b = a.clone();
    b.shutdown();
    assert!(!a.background_running());
    assert!(wait_until(Duration::from_secs(1), || refresh_threads() == before));
    assert!(a.token().is_ok(), "on-demand refresh still works");
}
