//! The background refresh thread: one per provider, a plain OS thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Weak;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::Shared;
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
    /// the length of one step, so it never keeps the provider alive.
    pub(crate) fn spawn(shared: Weak<Shared>) -> Result<Self, Error> {
        let (stop, stop_rx) = bounded(1);
        let (exit_tx, exited) = bounded::<()>(0);
        let handle = thread::Builder::new()
            .name(THREAD_NAME.into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                // Dropped when the thread returns, which disconnects `exited`.
                let _exit = exit_tx;
                run(&shared, &stop_rx);
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
                log::debug!("refresh thread is busy in an exchange; it will exit when that ends");
            }
        }
    }
}

fn run(shared: &Weak<Shared>, stop: &Receiver<()>) {
    loop {
        let Some((delay, generation)) = shared.upgrade().map(|s| s.next_background()) else {
            return;
        };
        match stop.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => {
                let Some(s) = shared.upgrade() else { return };
                // Errors are values here; a panic is a bug, but it must not
                // kill the thread that keeps the token fresh.
                if catch_unwind(AssertUnwindSafe(|| s.refresh_in_background(generation))).is_err() {
                    log::error!("background refresh panicked; retrying later");
                    drop(s);
                    if stop.recv_timeout(Duration::from_secs(1)).is_ok() {
                        return;
                    }
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
