//! Locks remembered as stuck: held by another process past a bounded wait
//! (stopped in a debugger, suspended, frozen by a cgroup, wedged in a
//! credential command). The kernel keeps such a lock for as long as its
//! holder lives, so waiting for it again at every refresh would make each
//! refresh pay the whole bounded wait for nothing.
//!
//! The memory is per process and per lock file (so per directory and entry).
//! While a lock is remembered, [`SharedCache::lock_within`](super::SharedCache::lock_within)
//! only tries it once (a failed `try_lock` costs microseconds). A lock is
//! forgotten, and waited for again, as soon as any of these holds:
//!
//! - this process takes it (it is free again);
//! - the entry is no longer the file it was when the lock was found stuck:
//!   every write happens under the lock, so a new entry means its holder
//!   let go since (it was slow, not stuck);
//! - [`REMEMBER_FOR`] has passed (then one bounded wait tests it again).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Longest time a lock is remembered as stuck without being tested again.
pub(crate) const REMEMBER_FOR: Duration = Duration::from_secs(600);

/// The identity of an entry file (device, inode): a rename gives a new one.
pub(super) type EntryId = Option<(u64, u64)>;

/// What is remembered of one stuck lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    /// When the bounded wait ran out.
    pub(super) since: Instant,
    /// The entry file at that time.
    pub(super) entry: EntryId,
}

/// The stuck locks of this process, by lock file path (a handful at most:
/// one per entry this process shares).
static STUCK: Mutex<Vec<(PathBuf, Mark)>> = Mutex::new(Vec::new());

/// Whether a lock marked `mark` is still to be treated as stuck at `now`,
/// with the entry file now being `entry`.
pub(super) fn still_stuck(mark: Mark, now: Instant, entry: EntryId) -> bool {
    now.saturating_duration_since(mark.since) < REMEMBER_FOR && mark.entry == entry
}

/// Whether the lock at `lock` is remembered as stuck (and still is, see
/// [`still_stuck`]); a mark that no longer holds is forgotten.
pub(super) fn is_stuck(lock: &Path, now: Instant, entry: EntryId) -> bool {
    let mut marks = STUCK.lock();
    let Some(i) = marks.iter().position(|(p, _)| p == lock) else {
        return false;
    };
    if still_stuck(marks[i].1, now, entry) {
        return true;
    }
    marks.swap_remove(i);
    log::debug!(
        target: crate::LOG_TARGET_SHARED_CACHE,
        "shared cache: {} is no longer remembered as stuck",
        lock.display()
    );
    false
}

/// Remembers the lock at `lock` as stuck from `now`, with the entry `entry`.
pub(super) fn remember(lock: &Path, now: Instant, entry: EntryId) {
    let mark = Mark { since: now, entry };
    let mut marks = STUCK.lock();
    match marks.iter_mut().find(|(p, _)| p == lock) {
        Some((_, m)) => *m = mark,
        None => marks.push((lock.to_owned(), mark)),
    }
}

/// Forgets the lock at `lock` (this process just took it).
pub(super) fn forget(lock: &Path) {
    STUCK.lock().retain(|(p, _)| p != lock);
}
