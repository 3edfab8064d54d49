//! Memory and wake-ups: a counting allocator, RSS, thread probes.

use std::cell::Cell;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use tinker_auth::JwtAuthProvider;

use super::common::{provider, server};

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
