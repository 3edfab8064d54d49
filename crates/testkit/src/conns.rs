//! The open connections of a loopback test server (the TLS front, the CONNECT
//! proxy), so that dropping the server stops its acceptor and unblocks every
//! connection thread by shutting its sockets.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Clones of each open connection's sockets, and whether the server stops.
#[derive(Default)]
pub(crate) struct Conns {
    stop: AtomicBool,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Vec<TcpStream>>>,
}

impl Conns {
    /// A fresh connection id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Whether the server is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Adds a clone of `s` to connection `id`'s sockets; `false` if stopping
    /// (checked under the lock, so a sweep never misses a registered socket).
    pub(crate) fn register(&self, id: u64, s: &TcpStream) -> bool {
        let Ok(clone) = s.try_clone() else {
            return false;
        };
        let mut open = self.open.lock().unwrap();
        if self.stopping() {
            return false;
        }
        open.entry(id).or_default().push(clone);
        true
    }

    /// Forgets connection `id` (it closed).
    pub(crate) fn close(&self, id: u64) {
        self.open.lock().unwrap().remove(&id);
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Marks the server stopping: no socket registers after this.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Shuts every registered socket both ways, unblocking their threads.
    pub(crate) fn shut_all(&self) {
        for streams in self.open.lock().unwrap().values() {
            for s in streams {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}
