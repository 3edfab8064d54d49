//! 1,000 build/drop cycles, background thread on, leave the process's thread
//! count (`Threads:` in `/proc/self/status`) where it started.
//!
//! Alone in its binary: any other test would start threads of its own.
#![cfg(target_os = "linux")]

use std::thread;
use std::time::{Duration, Instant};

use testkit::probe::thread_count;
use testkit::stand_in::StandIn;
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

#[test]
fn a_thousand_build_drop_cycles_leave_the_thread_count_unchanged() {
    let s = StandIn::start();
    // A seed far from expiry: no exchange, so no connection threads in the stand-in.
    let seed = s.mint(Duration::from_secs(3600));
    let before = thread_count();
    let mut peak = before;
    for i in 0..1000 {
        let p = JwtAuthProvider::builder(s.url())
            .api_key(s.api_key())
            .seed_token(seed.clone())
            .build()
            .unwrap();
        assert!(p.background_running());
        assert!(p.get_token().unwrap().is_some());
        if i % 100 == 0 {
            peak = peak.max(thread_count());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while thread_count() != before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(thread_count(), before, "threads left behind (peak {peak})");
    assert!(
        peak <= before + 1,
        "refresh threads piled up: peak {peak}, start {before}"
    );
    assert_eq!(s.exchanges(), 0);
}
