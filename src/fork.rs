//! Noticing that the process has forked since something was set up.
//!
//! After `fork()` the child runs only the thread that called it. What a
//! provider knows about its other threads (the refresh thread, an exchange in
//! flight) and about its sockets (pooled keep-alive connections, now shared
//! with the parent) is then true of the parent only. The pieces that hold such
//! facts remember the process that made them and check it on their slow paths.

/// The process something was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin(u32);

impl Origin {
    /// The current process.
    pub(crate) fn here() -> Self {
        Origin(std::process::id())
    }

    /// Whether this is no longer that process: a forked child (a system call;
    /// keep it off the fast path).
    pub(crate) fn forked(self) -> bool {
        std::process::id() != self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_process_has_not_forked() {
        assert!(!Origin::here().forked());
        assert!(Origin(0).forked(), "no process has id 0 in user space");
    }
}
