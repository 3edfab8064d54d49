//! The entry's exclusive lock (`flock`, released by the kernel however its
//! holder dies), the bounded wait for it, and the atomic write made under it
//! (every write of an entry is made under its lock).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::files::{check, io_error, refused, temp_path, write_new_private, Facts, Kind};
use super::format::entry_body;
use super::stuck::{self, EntryId};
use super::{Cached, SharedCache};
use crate::error::Error;
use crate::token::Token;

/// First pause between two attempts to take a busy lock.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(1);

/// Longest pause between two attempts to take a busy lock.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// The exclusive lock on one entry; released on drop (or when the process dies).
pub(crate) struct CacheLock<'a> {
    cache: &'a SharedCache,
    file: File,
}

impl fmt::Debug for CacheLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLock")
            .field("lock", &self.cache.lock)
            .finish_non_exhaustive()
    }
}

impl SharedCache {
    /// Takes the entry's exclusive lock, polling until `deadline` (1 ms
    /// doubling to 50 ms between attempts; std has no timed lock).
    ///
    /// `Ok(None)`: another process held the lock until the deadline (it is
    /// probably exchanging; re-read, then decide without the lock).
    ///
    /// # Errors
    /// [`Error::Config`] when the lock file is a symlink, not ours, writable
    /// by group or others, or cannot be opened or locked.
    pub(crate) fn lock(&self, deadline: Instant) -> Result<Option<CacheLock<'_>>, Error> {
        let file = self.open_lock_file()?;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    stuck::forget(&self.lock);
                    return Ok(Some(CacheLock { cache: self, file }));
                }
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(io_error(&self.lock, "cannot lock", &e))
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match next_pause(backoff, left) {
                Some(pause) => std::thread::sleep(pause),
                None => return Ok(None),
            }
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        }
    }

    /// Takes the entry's lock, waiting at most `wait` (see [`Self::lock`]);
    /// a lock remembered as stuck (see [`super::stuck`]) is only tried once.
    /// A wait that runs out remembers the lock as stuck.
    ///
    /// # Errors
    /// As [`Self::lock`].
    pub(crate) fn lock_within(&self, wait: Duration) -> Result<Option<CacheLock<'_>>, Error> {
        let now = Instant::now();
        let entry = self.entry_id();
        if stuck::is_stuck(&self.lock, now, entry) {
            return self.lock(now);
        }
        let deadline = now.checked_add(wait).unwrap_or(now);
        let locked = self.lock(deadline)?;
        if locked.is_none() {
            log::debug!(
                target: crate::LOG_TARGET_SHARED_CACHE,
                "shared cache: {} held for {wait:?}; remembered as stuck",
                self.lock.display()
            );
            // The entry as it was when the wait began: a write since then
            // means the holder let go, and `entry_id` now would hide it.
            stuck::remember(&self.lock, Instant::now(), entry);
        }
        Ok(locked)
    }

    /// The entry file's identity (a rename gives a new one), if it exists.
    fn entry_id(&self) -> EntryId {
        fs::symlink_metadata(&self.entry)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }

    fn open_lock_file(&self) -> Result<File, Error> {
        match fs::symlink_metadata(&self.lock) {
            Ok(meta) => check(Facts::of(&meta), Kind::File, Some(self.uid), 0o022)
                .map_err(|why| refused(&self.lock, why))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&self.lock, "cannot stat", &e)),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.lock)
            .map_err(|e| io_error(&self.lock, "cannot open", &e))?;
        // Re-check what was opened: a file created between the stat and the
        // open by someone else would show here.
        let meta = file
            .metadata()
            .map_err(|e| io_error(&self.lock, "cannot stat", &e))?;
        check(Facts::of(&meta), Kind::File, Some(self.uid), 0o022)
            .map_err(|why| refused(&self.lock, why))?;
        Ok(file)
    }
}

impl CacheLock<'_> {
    /// [`SharedCache::read`], under the lock: what the previous holder wrote.
    pub(crate) fn read(&self) -> Option<Cached> {
        self.cache.read()
    }

    /// Replaces the entry with `token` atomically: a temporary file in the same
    /// directory (0600), fsynced, renamed over the entry, then the directory
    /// fsynced. A corrupt, foreign or symlinked entry is replaced, never
    /// written through.
    ///
    /// # Errors
    /// [`Error::Config`] when the temporary file cannot be written or renamed.
    pub(crate) fn write(&self, token: &Token, clock_offset_secs: f64) -> Result<(), Error> {
        let cache = self.cache;
        let written_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let body = entry_body(
            &cache.base_url,
            &cache.fingerprint,
            token.as_str(),
            clock_offset_secs,
            written_at,
        );
        let tmp = temp_path(&cache.dir, "entry");
        let written =
            write_new_private(&tmp, body.as_bytes()).and_then(|()| fs::rename(&tmp, &cache.entry));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(io_error(&cache.entry, "cannot write", &e));
        }
        // Make the rename itself durable; losing it only costs an exchange.
        if let Ok(d) = File::open(&cache.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for CacheLock<'_> {
    fn drop(&mut self) {
        // Closing the file would release it too; say so explicitly.
        let _ = self.file.unlock();
    }
}

/// How long to sleep before the next attempt at a busy lock, given the
/// current backoff and the time left; `None` once the deadline has passed.
pub(super) fn next_pause(backoff: Duration, left: Duration) -> Option<Duration> {
    (!left.is_zero()).then(|| backoff.min(left))
}
