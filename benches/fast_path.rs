//! Items 1 and 2: `get_token()` with a fresh token, beside its floor (a clock
//! read, an uncontended `parking_lot` lock, an `Arc` clone), on one and on
//! two threads.
//!
//! `cargo bench --bench fast_path`
//!
//! With `threads = 2`, divan reports the time per call seen by each thread:
//! aggregate throughput is `2 x (1-thread time) / (2-thread time)` times the
//! single-thread rate. `examples/bench_report.rs` measures it directly.

use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

#[cfg(target_os = "linux")]
use rustix::time::ClockId;

use divan::Bencher;
use parking_lot::Mutex;
use testkit::{measure, stand_in};
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

fn main() {
    // Side by side with the figures below: the Python SDK's fast path.
    match measure::python_sdk(20_000, 9) {
        Ok(ns) => println!(
            "python_sdk_get_token (replica, awaited): {:.2} µs",
            ns / 1000.0
        ),
        Err(e) => println!("python_sdk_get_token: skipped: {e}"),
    }
    divan::main();
}

struct Fixture {
    // Keeps the server alive for the provider's lifetime.
    _server: stand_in::StandIn,
    provider: JwtAuthProvider,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let server = measure::server(Duration::from_secs(3600));
    let provider = measure::provider(&server, true);
    Fixture {
        _server: server,
        provider,
    }
});

#[divan::bench]
fn clock_read() -> SystemTime {
    SystemTime::now()
}

#[divan::bench]
fn instant_read() -> Instant {
    Instant::now()
}

/// The clocks the fast path could read instead (Linux).
#[cfg(target_os = "linux")]
#[divan::bench(args = [
    ClockId::Boottime,
    ClockId::Monotonic,
    ClockId::MonotonicCoarse,
    ClockId::RealtimeCoarse,
])]
fn clock_gettime(id: ClockId) -> rustix::time::Timespec {
    rustix::time::clock_gettime(black_box(id))
}

#[divan::bench]
fn parking_lot_lock(b: Bencher<'_, '_>) {
    let m = Mutex::new(7u64);
    b.bench(|| *black_box(&m).lock());
}

#[divan::bench]
fn arc_clone_drop(b: Bencher<'_, '_>) {
    let a = Arc::new(String::from("token"));
    b.bench(|| drop(black_box(Arc::clone(black_box(&a)))));
}

/// The three above in one body.
#[divan::bench]
fn floor(b: Bencher<'_, '_>) {
    let m = Mutex::new(7u64);
    let a = Arc::new(String::from("token"));
    b.bench(|| {
        black_box(SystemTime::now());
        black_box(*black_box(&m).lock());
        drop(black_box(Arc::clone(black_box(&a))));
    });
}

#[divan::bench(threads = [1, 2])]
fn get_token(b: Bencher<'_, '_>) {
    let p = &FIXTURE.provider;
    b.bench(|| drop(black_box(black_box(p).get_token())));
}

#[divan::bench(threads = [1, 2])]
fn get_token_dyn(b: Bencher<'_, '_>) {
    let p: &dyn AuthTokenProvider = &FIXTURE.provider;
    b.bench(|| drop(black_box(black_box(p).get_token())));
}
