//! The fast path against its floor, and how it scales from one thread to two.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tinker_auth::{AuthTokenProvider, JwtAuthProvider, Token};

use super::common::{interleaved, median, Loop};

/// Item 1: the fast path and its floor, one thread, nanoseconds per call.
#[derive(Debug, Clone, Copy)]
pub struct FastPath {
    /// `SystemTime::now()`.
    pub clock: f64,
    /// Lock and unlock of an uncontended `parking_lot::Mutex`.
    pub lock: f64,
    /// `Arc::clone` plus the drop of the clone.
    pub arc: f64,
    /// The three in one loop: the floor.
    pub floor: f64,
    /// `JwtAuthProvider::get_token` with a fresh token (the token dropped).
    pub get_token: f64,
    /// The same through `&dyn AuthTokenProvider`, as the request layer holds it.
    pub get_token_dyn: f64,
}

/// Measures [`FastPath`] on a provider holding a fresh token.
pub fn fast_path(p: &JwtAuthProvider, iters: u64, samples: usize) -> FastPath {
    let m = Mutex::new(7u64);
    let a = Arc::new(String::from("token"));
    let dynp: &dyn AuthTokenProvider = p;
    let mut cands: Vec<Loop<'_>> = vec![
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(SystemTime::now());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(*black_box(&m).lock());
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(Arc::clone(black_box(&a))));
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(SystemTime::now());
                black_box(*black_box(&m).lock());
                drop(black_box(Arc::clone(black_box(&a))));
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(black_box(p).get_token()));
            }
            t.elapsed()
        }),
        Box::new(|n| {
            let t = Instant::now();
            for _ in 0..n {
                drop(black_box(black_box(dynp).get_token()));
            }
            t.elapsed()
        }),
    ];
    let r = interleaved(&mut cands, iters, samples);
    FastPath {
        clock: r[0],
        lock: r[1],
        arc: r[2],
        floor: r[3],
        get_token: r[4],
        get_token_dyn: r[5],
    }
}

/// Aggregate `get_token` calls per second of `threads` threads each making
/// `calls` calls at once, from the first thread's start to the last one's end.
pub fn throughput(p: &JwtAuthProvider, threads: usize, calls: u64) -> f64 {
    throughput_of(threads, calls, || drop(black_box(black_box(p).get_token())))
}

/// Aggregate calls per second of `f` by `threads` threads at once.
pub fn throughput_of(threads: usize, calls: u64, f: impl Fn() + Sync) -> f64 {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..calls {
                        f();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    (threads as u64 * calls) as f64 / (end - start).as_secs_f64()
}

/// Item 2: median aggregate calls per second with one and with two threads.
#[derive(Debug, Clone, Copy)]
pub struct Scaling {
    /// One thread, calls per second.
    pub one: f64,
    /// Two threads at once, aggregate calls per second.
    pub two: f64,
    /// The machine's own scaling, as a control: two threads reading the
    /// clock (which shares nothing writable) against one.
    pub control: f64,
    /// The same ratio for the fast path as it was before the per-thread
    /// cache (clock read, `parking_lot` lock, two comparisons, `Token`
    /// clone), replayed here on the same data so both are measured alike.
    pub locked: f64,
}

/// The former fast path, for comparison: one mutex guarding the deadlines
/// and the token.
pub struct LockedPath {
    state: Mutex<(SystemTime, SystemTime, Token)>,
}

impl Default for LockedPath {
    fn default() -> Self {
        Self::new()
    }
}

impl LockedPath {
    /// A fresh token, due an hour from now.
    pub fn new() -> Self {
        let now = SystemTime::now();
        LockedPath {
            state: Mutex::new((
                now,
                now + Duration::from_secs(3600),
                Token::new("x".repeat(400)),
            )),
        }
    }

    /// `Shared::get` as it was: clock, lock, `needs_refresh`, clone.
    #[inline]
    pub fn get(&self) -> Option<Token> {
        let now = SystemTime::now();
        let st = self.state.lock();
        let needs_refresh = now >= st.1 || now + Duration::from_secs(2) < st.0;
        (!needs_refresh).then(|| st.2.clone())
    }
}

/// Measures [`Scaling`], interleaving one- and two-thread rounds.
pub fn scaling(p: &JwtAuthProvider, calls: u64, samples: usize) -> Scaling {
    throughput(p, 2, calls / 4);
    let clock = || {
        black_box(SystemTime::now());
    };
    let old = LockedPath::new();
    let locked = || drop(black_box(black_box(&old).get()));
    let (mut one, mut two, mut control, mut before) = (vec![], vec![], vec![], vec![]);
    for _ in 0..samples {
        one.push(throughput(p, 1, calls));
        two.push(throughput(p, 2, calls));
        control.push(throughput_of(2, calls, clock) / throughput_of(1, calls, clock));
        before.push(throughput_of(2, calls, locked) / throughput_of(1, calls, locked));
    }
    Scaling {
        one: median(one),
        two: median(two),
        control: median(control),
        locked: median(before),
    }
}
