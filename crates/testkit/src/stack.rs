//! How much of a thread's stack a piece of code touches.
//!
//! [`measure_stack`] runs a closure on a new thread of a given stack size and
//! reads, from `/proc/self/smaps`, how many pages of that thread's stack
//! mapping are resident before and after it. A stack page becomes resident
//! when first touched and stays so, so the figure after the closure is the
//! thread's high-water mark (page granular). This is the same measure as
//! `measure::stack_mapping` (which gave docs/PERFORMANCE.md's
//! "28 KiB touched" for loopback http), taken without `unsafe` and without
//! stopping the thread in a syscall: the thread reports the address of one of
//! its own locals, and the mapping holding that address is its stack.
//!
//! Why not pre-fill the stack with a pattern and scan for the untouched part?
//! Reading below the stack pointer needs `unsafe` raw reads of memory no live
//! object owns; the resident-page count needs none and is what sizing
//! `STACK_SIZE` needs (a page is touched or it is not).
//!
//! Caveats, all of which only ever make the figure larger:
//! - the top of the mapping also holds glibc's thread control block and
//!   static TLS, resident from the start (see [`StackUse::before`]);
//! - glibc caches the stacks of exited threads and hands one out again to a
//!   thread asking for a size up to 4x smaller; it releases all but the top
//!   ~16 KiB of a cached stack, so a reused stack starts a little warmer.
//!   [`StackUse::mapping`] shows the size actually mapped.
//! - Linux only; elsewhere [`measure_stack`] returns `None` figures.

use std::fs;
use std::hint::black_box;
use std::sync::mpsc;
use std::thread;

/// What a closure did to its thread's stack, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackUse {
    /// The size of the stack mapping (the requested size rounded up to
    /// pages, plus glibc's TLS block; larger when glibc reused a cached stack).
    pub mapping: u64,
    /// Resident before the closure ran: the thread's start-up frames, its
    /// TLS block and whatever a reused stack kept.
    pub before: u64,
    /// Resident after it: the high-water mark of the whole thread so far.
    pub after: u64,
}

impl StackUse {
    /// Pages the closure touched beyond those resident before it.
    pub fn added(&self) -> u64 {
        self.after.saturating_sub(self.before)
    }
}

/// Runs `f` on a new thread with a stack of `stack_size` bytes and returns
/// its result with the stack use measured around it (`None` when
/// `/proc/self/smaps` cannot be read or names no mapping for the stack).
///
/// The thread waits, idle, while this thread reads `smaps`, so the reading
/// itself is not counted. A panic in `f` is resumed here.
pub fn measure_stack<T, F>(stack_size: usize, f: F) -> (T, Option<StackUse>)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (addr_tx, addr_rx) = mpsc::channel::<usize>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name("stack-measure".into())
        .stack_size(stack_size)
        .spawn(move || {
            let marker = 0u8;
            // An address inside this thread's stack; only the number is used.
            let addr = black_box(&marker) as *const u8 as usize;
            let _ = addr_tx.send(addr);
            let _ = go_rx.recv();
            let out = run_closure(f);
            let _ = done_tx.send(());
            let _ = exit_rx.recv();
            out
        })
        .expect("spawn the measured thread");
    let addr = addr_rx.recv().expect("the measured thread starts");
    let before = stack_mapping_of(addr);
    let _ = go_tx.send(());
    // If `f` panics, `done_tx` is dropped and this returns at once.
    let _ = done_rx.recv();
    let after = stack_mapping_of(addr);
    let _ = exit_tx.send(());
    let out = match handle.join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let usage = match (before, after) {
        (Some((mapping, before)), Some((_, after))) => Some(StackUse {
            mapping,
            before,
            after,
        }),
        _ => None,
    };
    (out, usage)
}

/// Keeps the closure's frames below (not inlined into) the thread's entry.
#[inline(never)]
fn run_closure<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

/// The (size, resident bytes) of the mapping in `/proc/self/smaps` that
/// contains `addr`.
pub fn stack_mapping_of(addr: usize) -> Option<(u64, u64)> {
    let addr = addr as u64;
    let smaps = fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut size = None;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16)) {
                inside = lo <= addr && addr < hi;
                continue;
            }
        }
        if !inside {
            continue;
        }
        let bytes = |rest: &str| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
                .map(|k| k * 1024)
        };
        if let Some(rest) = line.strip_prefix("Size:") {
            size = bytes(rest);
        } else if let Some(rest) = line.strip_prefix("Rss:") {
            return Some((size?, bytes(rest)?));
        }
    }
    None
}
