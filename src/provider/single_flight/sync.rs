//! The locks and atomics of the single flight: `parking_lot`'s and the
//! standard library's, or, in the model (`cfg(all(test, tinker_auth_loom))`),
//! loom's behind the same API, as tokio does.

#[cfg(not(all(test, tinker_auth_loom)))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(all(test, tinker_auth_loom)))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(all(test, tinker_auth_loom))]
pub(crate) use self::model::{AtomicU64, Condvar, Mutex, MutexGuard};

/// loom's types with `parking_lot`'s API (no poisoning, guards waited on in
/// place, [`MutexGuard::unlocked`]).
#[cfg(all(test, tinker_auth_loom))]
mod model {
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    pub(crate) use loom::sync::atomic::AtomicU64;

    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) struct MutexGuard<'a, T> {
        lock: &'a loom::sync::Mutex<T>,
        /// `None` only inside [`MutexGuard::unlocked`] and [`Condvar::wait_for`].
        guard: Option<loom::sync::MutexGuard<'a, T>>,
    }

    pub(crate) struct Condvar(loom::sync::Condvar);

    /// Whether a timed wait timed out: never, in loom.
    pub(crate) struct WaitTimeoutResult(bool);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard {
                lock: &self.0,
                guard: Some(self.0.lock().unwrap()),
            }
        }
    }

    impl<T> MutexGuard<'_, T> {
        /// Runs `f` with the lock released, as `parking_lot`'s.
        pub(crate) fn unlocked<F: FnOnce() -> U, U>(s: &mut Self, f: F) -> U {
            s.guard = None;
            let out = f();
            s.guard = Some(s.lock.lock().unwrap());
            out
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("locked")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("locked")
        }
    }

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }

        /// loom's `wait_timeout` is a plain `wait` (it never times out): the
        /// model stands for a timeout by a notification from its clock thread.
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            timeout: Duration,
        ) -> WaitTimeoutResult {
            let held = guard.guard.take().expect("locked");
            let (held, result) = self.0.wait_timeout(held, timeout).unwrap();
            guard.guard = Some(held);
            WaitTimeoutResult(result.timed_out())
        }
    }
}
