//! The background refresh thread: one per provider, a plain OS thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Weak;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver, RecvTimeoutError, Sender};

use super::policy::deadline_after;
use super::Shared;
use crate::clock::ClockSource;
use crate::error::Error;
use crate::fork::Origin;

/// The thread's name, as shown by debuggers, `top -H` and `/proc/<pid>/task/*/comm`
/// (Linux keeps 15 bytes of a thread name, so it is kept under that).
pub(crate) const THREAD_NAME: &str = "tinker-refresh";

/// Stack of the refresh thread. It runs one blocking HTTPS exchange at a time
/// (TLS handshake included), which needs far less than the 2 MiB default.
///
/// Measured (`cargo test --test it https::stack -- --nocapture`, resident
/// pages of the thread's stack mapping in `/proc/self/smaps` after the
/// exchange, `testkit::stack::measure_stack`): a token exchange over HTTPS
/// with a fresh rustls handshake touches 156 KiB in a debug build (168 KiB
/// when the default webpki roots are loaded and the certificate check
/// fails; 116 KiB over loopback http) and 48-52 KiB in release. 384 KiB
/// keeps 2.3x headroom over the worst debug figure (7x over release).
pub(crate) const STACK_SIZE: usize = 384 * 1024;

/// How long stopping waits for a thread busy in an exchange before leaving it
/// to finish on its own (it holds no strong reference between steps, so it
/// exits as soon as that exchange ends).
const STOP_GRACE: Duration = Duration::from_millis(250);

/// Shortest sleep of the background thread, in real time, so that no
/// schedule (nor a clock that stands still) can make it spin.
const MIN_BACKGROUND_SLEEP: Duration = Duration::from_millis(20);

/// Longest real time between two reads of an injected clock that does not
/// tell of its moves.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// Handle to the refresh thread. Dropping it stops the thread.
pub(crate) struct Refresher {
    stop: Sender<()>,
    exited: Receiver<()>,
    handle: Option<JoinHandle<()>>,
    /// The process the thread runs in; a forked child has no such thread.
    origin: Origin,
}

impl Refresher {
    /// Starts the thread. It holds only a `Weak` to the provider, upgraded for
    /// the length of one step, so it never keeps the provider alive. It
    /// sleeps on `clock`, the provider's (see [`wait`]).
    pub(crate) fn spawn(shared: Weak<Shared>, clock: ClockSource) -> Result<Self, Error> {
        let (stop, stop_rx) = bounded(1);
        let (exit_tx, exited) = bounded::<()>(0);
        let handle = thread::Builder::new()
            .name(THREAD_NAME.into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                // Dropped when the thread returns, which disconnects `exited`.
                let _exit = exit_tx;
                run(&shared, &stop_rx, &clock);
            })
            .map_err(|e| Error::Runtime {
                what: "cannot start the refresh thread",
                source: std::sync::Arc::new(e),
            })?;
        Ok(Refresher {
            stop,
            exited,
            handle: Some(handle),
            origin: Origin::here(),
        })
    }

    pub(crate) fn is_running(&self) -> bool {
        // In a forked child the handle still looks unfinished: the thread's
        // copy of its own reference was never dropped, because it never ran.
        !self.origin.forked() && self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        if self.origin.forked() {
            // No thread to stop or wait for here; leave the parent's handle alone.
            std::mem::forget(self.handle.take());
            return;
        }
        let _ = self.stop.try_send(());
        match self.exited.recv_timeout(STOP_GRACE) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                if let Some(h) = self.handle.take() {
                    let _ = h.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                log::debug!(target: crate::LOG_TARGET_REFRESH, "refresh thread is busy in an exchange; it will exit when that ends");
            }
        }
    }
}

fn run(shared: &Weak<Shared>, stop: &Receiver<()>, clock: &ClockSource) {
    // Subscribed before the first schedule is read, so no move is missed.
    let mut moves = clock.subscribe_moves();
    loop {
        let Some((delay, from, generation)) = shared.upgrade().map(|s| s.next_background()) else {
            return;
        };
        if !wait(clock, &mut moves, stop, from, delay) {
            return;
        }
        let Some(s) = shared.upgrade() else { return };
        // Errors are values here; a panic is a bug, but it must not
        // kill the thread that keeps the token fresh.
        if catch_unwind(AssertUnwindSafe(|| s.refresh_in_background(generation))).is_err() {
            log::error!(target: crate::LOG_TARGET_REFRESH, "background refresh panicked; retrying later");
            drop(s);
            if stop.recv_timeout(Duration::from_secs(1)).is_ok() {
                return;
            }
        }
    }
}

/// Sleeps until `clock` reads `from + delay`, and at least
/// [`MIN_BACKGROUND_SLEEP`] of real time when `delay` is shorter than that
/// (so a refresh due at once waits that long even on a clock standing still).
/// Returns `false` when told to stop (or when the provider's handle is gone).
///
/// The system clock is slept on in one timed wait: no wake-up before the
/// refresh. An injected clock is re-read after each move it tells of
/// (`moves`, a [`ManualClock`](crate::ManualClock)'s), and, for one that does
/// not, at least every [`POLL_SLICE`] of real time.
fn wait(
    clock: &ClockSource,
    moves: &mut Option<Receiver<()>>,
    stop: &Receiver<()>,
    from: Instant,
    delay: Duration,
) -> bool {
    let nap = |d| matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout));
    let injected = match clock {
        ClockSource::System => return nap(delay.max(MIN_BACKGROUND_SLEEP)),
        ClockSource::Injected(c) => c,
    };
    if delay < MIN_BACKGROUND_SLEEP && !nap(MIN_BACKGROUND_SLEEP) {
        return false;
    }
    let wake = deadline_after(from, delay);
    let none = never();
    loop {
        let left = wake.saturating_duration_since(injected.instant());
        if left.is_zero() {
            return true;
        }
        // A clock that tells of its moves does not move otherwise: `left`
        // of real time is only a backstop. Others are polled.
        let slice = if moves.is_some() {
            left
        } else {
            left.min(POLL_SLICE)
        };
        select! {
            recv(stop) -> _ => return false,
            recv(moves.as_ref().unwrap_or(&none)) -> moved => {
                if moved.is_err() {
                    *moves = None;
                }
            }
            default(slice) => {}
        }
    }
}
