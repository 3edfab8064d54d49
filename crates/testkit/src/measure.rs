//! Measurements shared by the bench targets and `examples/bench_report.rs`.
//!
//! Every figure is a median over interleaved samples: candidates that are
//! compared run in turn within each round, so that load from other processes
//! on the (shared, 2-core) machine falls on all of them alike.

use std::cell::Cell;
use std::fs;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tinker_auth::{AuthTokenProvider, AuthenticatedAgent, JwtAuthProvider, ManualClock, Token};

use crate::stand_in::{StandIn, StandInConfig, TOKEN_PATH};

mod clocks;
pub use clocks::{clock_reads, python_sdk, Figure, PYTHON_SDK};

/// Path of a protected endpoint of the stand-in (any path but the token path).
pub const PROTECTED_PATH: &str = "/api/v1/ping";

/// The median of `v` (which must not be empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A timed loop: runs its body `n` times and returns the elapsed time.
pub type Loop<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Runs `samples` rounds in which each candidate runs `iters` iterations, and
/// returns each candidate's median time per iteration, in nanoseconds.
pub fn interleaved(cands: &mut [Loop<'_>], iters: u64, samples: usize) -> Vec<f64> {
    // One unmeasured round warms caches and branch predictors.
    for c in cands.iter_mut() {
        c(iters);
    }
    let mut per_call: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); cands.len()];
    for _ in 0..samples {
        for (c, out) in cands.iter_mut().zip(per_call.iter_mut()) {
            out.push(c(iters).as_nanos() as f64 / iters as f64);
        }
    }
    per_call.into_iter().map(median).collect()
}

/// A stand-in server minting tokens of `lifetime`.
pub fn server(lifetime: Duration) -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime,
        ..StandInConfig::default()
    })
}

/// A provider that has done its first exchange against `server`.
pub fn provider(server: &StandIn, background: bool) -> JwtAuthProvider {
    JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .background_refresh(background)
        .build()
        .expect("build a provider against the stand-in")
}

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

/// Item 3: the stampede, medians in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stampede {
    /// Threads released at once.
    pub threads: usize,
    /// From the barrier's release until the last thread holds the new token.
    pub all_hold_new: f64,
    /// From the first thread's call of `get_token` until the last thread
    /// holds the new token: the provider's part, without the time the
    /// machine takes to wake the first thread from the barrier.
    pub from_first_call: f64,
    /// Threads that waited for the flight (median); the others arrived after
    /// it had landed and took the fast path.
    pub waiters: f64,
    /// From the first call until that (first) caller returns: the flight,
    /// run while the other threads are still being woken.
    pub flight: f64,
    /// From the first caller's return until the last thread's: handing the
    /// new token to the waiters (and to late arrivals).
    pub hand_out: f64,
    /// One bare exchange (`POST` token path, body read) with `ureq` on a
    /// kept-alive loopback connection, with the provider's 30 s timeout.
    pub round_trip: f64,
    /// From the barrier's release until the last thread has merely woken up:
    /// the scheduling floor of releasing that many threads on this machine.
    pub release_floor: f64,
    /// Most exchanges seen during one stampede (must be 1).
    pub max_exchanges: u64,
    /// Samples taken.
    pub samples: usize,
}

/// What [`released`] saw: the release instant and, per thread, when its
/// work started and ended, and what it returned.
struct Released<T> {
    release: Instant,
    runs: Vec<(Instant, Instant, T)>,
}

impl<T> Released<T> {
    fn last_end(&self) -> Instant {
        self.runs.iter().map(|r| r.1).max().unwrap()
    }

    /// From the release to the last end, µs.
    fn since_release(&self) -> f64 {
        (self.last_end() - self.release).as_secs_f64() * 1e6
    }

    /// From the first start to the last end, µs.
    fn since_first_start(&self) -> f64 {
        let first = self.runs.iter().map(|r| r.0).min().unwrap();
        (self.last_end() - first).as_secs_f64() * 1e6
    }

    /// The run that started first.
    fn first(&self) -> &(Instant, Instant, T) {
        self.runs.iter().min_by_key(|r| r.0).unwrap()
    }
}

/// Releases `threads` threads (plus the caller) from one barrier, each then
/// running `work`.
fn released<T: Send>(threads: usize, work: impl Fn() -> T + Sync) -> Released<T> {
    let barrier = Barrier::new(threads + 1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    let out = work();
                    (start, Instant::now(), out)
                })
            })
            .collect();
        // Let every thread reach the barrier, so that the caller releases it.
        thread::sleep(Duration::from_millis(20));
        let release = Instant::now();
        barrier.wait();
        let runs = handles.into_iter().map(|h| h.join().unwrap()).collect();
        Released { release, runs }
    })
}

/// Measures [`Stampede`]: each round moves an injected clock (and the
/// server's, by the same whole seconds) past the token's expiry, then
/// releases `threads` threads into `get_token`.
pub fn stampede(threads: usize, samples: usize) -> Stampede {
    let lifetime = Duration::from_secs(60);
    let server = server(lifetime);
    let clock = ManualClock::new(SystemTime::now());
    let p = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .expect("build");
    // With the provider's default fetch timeout: on this VM a `ureq` timeout
    // alone costs tens of µs per request, and the provider's exchange pays it.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}{TOKEN_PATH}", server.url());
    let key = server.api_key();
    let bare = || {
        let t = Instant::now();
        let body = agent
            .post(&url)
            .header("X-API-Key", &key)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send("{}")
            .expect("bare exchange")
            .body_mut()
            .read_to_string()
            .expect("bare exchange body");
        assert!(body.contains("jwt"));
        t.elapsed()
    };
    bare();
    let step = lifetime + Duration::from_secs(1);
    let mut skew = 0i64;
    let (mut all, mut first, mut waiters) = (vec![], vec![], vec![]);
    let (mut flight, mut hand_out) = (vec![], vec![]);
    let (mut trip, mut floor) = (vec![], vec![]);
    let mut max_exchanges = 0;
    for _ in 0..samples {
        // Idle first, as the stampede's flight is: both start cold alike.
        thread::sleep(Duration::from_millis(20));
        trip.push(bare().as_secs_f64() * 1e6);

        let old = p.get_token().unwrap().unwrap();
        skew += step.as_secs() as i64;
        server.set_skew_secs(skew);
        clock.advance(step);
        let (exchanges, waits) = (server.exchanges(), p.stats().waits);
        let r = released(threads, || p.get_token().unwrap().unwrap());
        max_exchanges = max_exchanges.max(server.exchanges() - exchanges);
        waiters.push((p.stats().waits - waits) as f64);
        let new = &r.runs[0].2;
        assert!(r
            .runs
            .iter()
            .all(|(_, _, t)| t.same_as(new) && !t.same_as(&old)));
        all.push(r.since_release());
        first.push(r.since_first_start());
        let (start, end, _) = r.first();
        flight.push((*end - *start).as_secs_f64() * 1e6);
        hand_out.push((r.last_end() - *end).as_secs_f64() * 1e6);

        floor.push(released(threads, || ()).since_release());
    }
    Stampede {
        threads,
        all_hold_new: median(all),
        from_first_call: median(first),
        waiters: median(waiters),
        flight: median(flight),
        hand_out: median(hand_out),
        round_trip: median(trip),
        release_floor: median(floor),
        max_exchanges,
        samples,
    }
}

/// Item 4: a request with and without the request layer, medians in µs.
#[derive(Debug, Clone, Copy)]
pub struct Overhead {
    /// Bare `ureq` GET of a protected endpoint with a fixed header.
    pub bare: f64,
    /// The same with a 30 s `timeout_global` set on the `ureq` agent, as the
    /// request layer sets one on every attempt.
    pub bare_timeout: f64,
    /// The same with `provider.get_token()` supplying the header: the
    /// request layer's per-attempt added work, alone.
    pub with_token: f64,
    /// The same GET through `AuthenticatedAgent::get_response` (token,
    /// header, retry bookkeeping, status check), body read alike.
    pub agent: f64,
    /// Requests per candidate.
    pub requests: usize,
}

/// Measures [`Overhead`], each candidate on its own kept-alive loopback
/// connection to the same server, the three taking turns request by request.
pub fn request_overhead(requests: usize) -> Overhead {
    let server = server(Duration::from_secs(3600));
    let p = Arc::new(provider(&server, true));
    let ureq_agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .max_redirects(0)
            .build()
            .into()
    };
    let (a_bare, a_token) = (ureq_agent(), ureq_agent());
    let a_timeout: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let api = AuthenticatedAgent::builder(server.url(), p.clone() as Arc<dyn AuthTokenProvider>)
        .build()
        .expect("build the authenticated agent");
    let url = format!("{}{PROTECTED_PATH}", server.url());
    let jwt: String = p.get_token().unwrap().unwrap().as_str().to_owned();
    let send = |agent: &ureq::Agent, value: &str| {
        let body = agent
            .get(&url)
            .header("X-API-Key", value)
            .call()
            .expect("protected request")
            .body_mut()
            .read_to_string()
            .expect("protected body");
        black_box(body);
    };
    let mut cands: Vec<Box<dyn FnMut() -> f64 + '_>> = vec![
        Box::new(|| {
            let t = Instant::now();
            send(&a_bare, &jwt);
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            send(&a_timeout, &jwt);
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            let token: Token = p.get_token().unwrap().unwrap();
            send(&a_token, token.as_str());
            t.elapsed().as_secs_f64() * 1e6
        }),
        Box::new(|| {
            let t = Instant::now();
            let body = api
                .get_response(PROTECTED_PATH)
                .expect("request through the agent")
                .body_mut()
                .read_to_string()
                .expect("agent body");
            black_box(body);
            t.elapsed().as_secs_f64() * 1e6
        }),
    ];
    for _ in 0..200 {
        for c in cands.iter_mut() {
            c();
        }
    }
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(requests); cands.len()];
    let n = cands.len();
    for i in 0..requests {
        // Rotate the order, so that none always follows another.
        for k in 0..n {
            let j = (i + k) % n;
            out[j].push(cands[j]());
        }
    }
    drop(cands);
    assert_eq!(server.protected_401(), 0);
    let mut m = out.into_iter().map(median);
    Overhead {
        bare: m.next().unwrap(),
        bare_timeout: m.next().unwrap(),
        with_token: m.next().unwrap(),
        agent: m.next().unwrap(),
        requests,
    }
}

// ---------------------------------------------------------------- footprint

thread_local! {
    /// Whether this thread's allocations are counted (see [`Counting`]).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

static LIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// A global allocator that tallies the live heap bytes allocated by threads
/// that opted in with [`counted`], so that the stand-in server's threads in
/// the same process are left out. Install it in the binary:
/// `#[global_allocator] static A: measure::Counting = measure::Counting;`
pub struct Counting;

fn tally(delta: i64) {
    // `try_with`: allocations during thread teardown must not panic.
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        LIVE.fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// tally has no effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        tally(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        tally(-(layout.size() as i64));
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        tally(new as i64 - layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

/// Runs `f` with this thread's allocations counted, returning its result and
/// the change in live counted heap bytes.
pub fn counted<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let before = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    let out = f();
    COUNTED.with(|c| c.set(false));
    (
        out,
        LIVE.load(std::sync::atomic::Ordering::Relaxed) - before,
    )
}

/// Resident set size of this process, bytes.
pub fn rss() -> u64 {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Ids of this process's threads whose name starts with `prefix`
/// (`comm` is cut at 15 bytes).
pub fn threads_named(prefix: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !prefix.is_empty() && comm.trim().starts_with(prefix) {
            if let Some(tid) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(tid);
            }
        }
    }
    out
}

/// Context switches a thread has made by blocking (each wake-up from a
/// sleep or a blocking read shows up as one).
pub fn voluntary_switches(tid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A blocked thread's stack mapping: (size, resident) in bytes. Resident
/// pages are those the thread has ever touched (its high-water mark, page
/// granular), plus the thread's TLS block that glibc keeps in the mapping.
pub fn stack_mapping(tid: u32) -> Option<(u64, u64)> {
    let syscall = fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let fields: Vec<&str> = syscall.split_whitespace().collect();
    // "nr arg1..arg6 sp pc" while blocked; "running" otherwise.
    let sp = u64::from_str_radix(
        fields
            .get(fields.len().checked_sub(2)?)?
            .trim_start_matches("0x"),
        16,
    )
    .ok()?;
    crate::stack::stack_mapping_of(usize::try_from(sp).ok()?)
}

/// Item 5: memory and wake-ups.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Providers built per configuration.
    pub providers: usize,
    /// Live heap per provider, seeded (no exchange yet), background off.
    pub heap_off: f64,
    /// Live heap per provider, seeded, background on (thread handle and channels).
    pub heap_on: f64,
    /// Live heap per provider after its first exchange (pooled keep-alive
    /// connection included), background off.
    pub heap_exchanged: f64,
    /// RSS per provider, seeded, background off.
    pub rss_off: f64,
    /// RSS added per provider by the background thread (its stack pages
    /// and bookkeeping), measured after the background-off round, whose
    /// freed heap this round reuses.
    pub rss_on: f64,
    /// The refresh thread's stack mapping size.
    pub stack_size: u64,
    /// Its resident (ever touched) pages after background refreshes over loopback http.
    pub stack_touched: u64,
    /// Token lifetime in the wake-up test, seconds.
    pub lifetime: u64,
    /// Background refreshes during the observed window.
    pub refreshes: u64,
    /// The refresh thread's voluntary context switches during that window.
    pub switches: u64,
    /// Its voluntary context switches during a quiet span between refreshes.
    pub idle_switches: u64,
    /// Length of that quiet span.
    pub idle_span: Duration,
    /// Length of the observed window.
    pub window: Duration,
}

/// Measures [`Footprint`]. Needs [`Counting`] as the global allocator for the
/// heap figures (they read 0 otherwise). Takes about `2 * lifetime` seconds.
pub fn footprint(providers: usize, lifetime_secs: u64) -> Footprint {
    let server = server(Duration::from_secs(3600));
    let seed = server.mint(Duration::from_secs(3600));
    let build = |background: bool| {
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .seed_token(seed.clone())
            .background_refresh(background)
            .build()
            .expect("build")
    };
    let per = |background: bool| {
        let r0 = rss();
        let (held, heap) = counted(|| {
            (0..providers)
                .map(|_| build(background))
                .collect::<Vec<_>>()
        });
        // Let the threads start and settle into their first sleep.
        thread::sleep(Duration::from_millis(200));
        let r1 = rss();
        drop(held);
        (
            heap as f64 / providers as f64,
            (r1.saturating_sub(r0)) as f64 / providers as f64,
        )
    };
    // No warm-up: memory freed by one round is reused by the next, which
    // would hide the first round's RSS. The second round's RSS is therefore
    // what the background thread adds (its stack pages and bookkeeping).
    let (heap_off, rss_off) = per(false);
    let (heap_on, rss_on) = per(true);
    let n = providers.min(50);
    let (held, heap) = counted(|| (0..n).map(|_| provider(&server, false)).collect::<Vec<_>>());
    let heap_exchanged = heap as f64 / n as f64;
    drop(held);

    // Wake-ups and stack: one provider refreshing in the background.
    let quick = self::server(Duration::from_secs(lifetime_secs));
    let before: Vec<u32> = threads_named("tinker-refresh");
    let p = provider(&quick, true);
    thread::sleep(Duration::from_millis(50));
    let tid = *threads_named("tinker-refresh")
        .iter()
        .find(|t| !before.contains(t))
        .expect("the refresh thread");
    let wait_for_refresh = |after: u64| {
        let deadline = Instant::now() + Duration::from_secs(lifetime_secs * 2);
        while p.stats().background <= after && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    };
    // Right after a background refresh the next one is about half a lifetime
    // away (less whole-second rounding of `exp`, the clock offset estimate's
    // half second and the jitter): the span after it is quiet.
    wait_for_refresh(0);
    thread::sleep(Duration::from_millis(50));
    let idle_span = Duration::from_millis(lifetime_secs * 1000 / 4);
    let s0 = voluntary_switches(tid).unwrap();
    thread::sleep(idle_span);
    let idle_switches = voluntary_switches(tid).unwrap() - s0;
    // Then a window holding a few refreshes, from one to another.
    let start = Instant::now();
    let (b0, s0) = (p.stats().background, voluntary_switches(tid).unwrap());
    wait_for_refresh(b0 + 2);
    thread::sleep(Duration::from_millis(50));
    let window = start.elapsed();
    let refreshes = p.stats().background - b0;
    let switches = voluntary_switches(tid).unwrap() - s0;
    let (stack_size, stack_touched) = stack_mapping(tid).unwrap_or((0, 0));
    drop(p);
    Footprint {
        providers,
        heap_off,
        heap_on,
        heap_exchanged,
        rss_off,
        rss_on,
        stack_size,
        stack_touched,
        lifetime: lifetime_secs,
        refreshes,
        switches,
        idle_switches,
        idle_span,
        window,
    }
}
