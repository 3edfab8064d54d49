//! One JWT per host: a token cache that providers in any number of processes
//! share through a directory ("one host, one token").
//!
//! Used by the provider (`JwtAuthProviderBuilder::shared_cache_dir`,
//! `shared_cache(true)` for [`default_dir`]; see `provider/host.rs`) and
//! through it by the `tinker-auth` CLI and the C ABI.
//!
//! Files: `files` (what we trust: kinds, owners, modes; private reads and
//! writes), `key` (the directory key and the keyed names), `format` (the
//! entry's JSON), `lock` (the `flock`, its bounded wait and the atomic
//! write), `stuck` (locks remembered as held by a stuck process).
//!
//! # Layout
//!
//! In the directory (0700, ours, not a symlink):
//!
//! - `hmac.key`: 32 random bytes (0600), created once by whichever process
//!   comes first. Every name and fingerprint below is an HMAC-SHA-256 under this
//!   key, so neither a file name nor a file's content says anything about the
//!   credential, even to someone who could guess it, unless they can read the
//!   key too.
//! - `<32 hex>.json`: the entry for one (base URL, credential), written to a
//!   temporary file in the same directory (0600, fsynced) and renamed into
//!   place, so a reader sees the old entry or the new one, never half of one:
//!
//!   ```json
//!   {"version":2,"base_url":"https://tinker.example.com",
//!    "credential_fingerprint":"<64 hex>","jwt":"eyJ...",
//!    "clock_offset_secs":0.25,"written_at":1700000000}
//!   ```
//!
//!   It holds the JWT and a keyed fingerprint of the credential, never the
//!   credential. An entry that is unreadable, malformed, for another URL or
//!   credential, not a regular file, not ours, or readable or writable by group
//!   or others is ignored, and the next write replaces it.
//! - `<32 hex>.lock`: an empty file whose `flock` serializes the exchanges of
//!   one entry. The kernel releases it when its holder exits, however it dies.
//!   Lock files are never deleted (deleting one would let two processes hold
//!   "the" lock on two different inodes). A `fork` while the lock is held
//!   shares it with the child until the child exits or `exec`s (std opens
//!   files close-on-exec); the lock is held only around an exchange.
//!
//! # A stuck lock holder
//!
//! The kernel keeps a `flock` for as long as its holder lives, also while it
//! is stopped (a debugger, Ctrl-Z, `SIGSTOP`, a frozen cgroup) or wedged (a
//! hanging credential command). Sharing must never cost availability, so:
//!
//! - a refresh waits for the lock at most 1 s, and at most half of what is
//!   left of its flight's deadline (`provider/host.rs`: `lock_wait`); then it
//!   re-reads the entry and, if the token there is still not fresh, exchanges
//!   on its own;
//! - it writes that token back only if the lock can be taken at once
//!   afterwards. Every write is made under the lock and never replaces a
//!   fresher entry, so a slow writer cannot put an older token over a newer
//!   one, and no reader ever sees a torn entry (rename);
//! - the lock is remembered as stuck (`stuck`: per lock file, in this
//!   process), and later refreshes only try it once, until this process
//!   takes it, the entry is rewritten (the holder let go), or 10 minutes
//!   pass. Sharing then resumes by itself.
//!
//! # Ownership without `unsafe`
//!
//! The crate forbids `unsafe` and has no `libc`, so there is no `geteuid()`.
//! Instead [`SharedCache::open`] creates a probe file in the directory with
//! `create_new` and reads its owner: the kernel stamps a new file with the
//! creating process's (file-system) uid, so that is "us", as the directory's
//! own file system reports uids (which keeps the comparison meaningful on file
//! systems that map ownership, such as some network mounts). The directory and
//! every file we read or lock must have that owner.

mod files;
mod format;
mod key;
mod lock;
mod stuck;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use files::{check, create_dir, io_error, probe_uid, read_private, refused, Facts, Kind};
#[cfg(any(fuzzing, test))]
pub(crate) use format::entry_body;
pub(crate) use format::parse_entry;
use key::{keyed_names, load_or_create_key};
pub(crate) use lock::CacheLock;

use crate::error::Error;
use crate::jwt::jwt_times;
use crate::token::Token;

/// The shared cache entry of one (base URL, credential) in one directory.
pub(crate) struct SharedCache {
    pub(super) dir: PathBuf,
    pub(super) entry: PathBuf,
    pub(super) lock: PathBuf,
    pub(super) base_url: String,
    pub(super) fingerprint: String,
    pub(super) uid: u32,
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths and URL are not secret; the fingerprint is left out anyway.
        f.debug_struct("SharedCache")
            .field("entry", &self.entry)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A token read from the shared cache. Whether it is fresh enough is the
/// caller's judgement.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    /// The JWT, with its `exp` and `iat` already read (its `Debug` redacts it).
    pub(crate) token: Token,
    /// The writer's estimate of the server clock minus the local clock.
    pub(crate) clock_offset_secs: f64,
}

/// `$XDG_CACHE_HOME/tinker-auth` (when absolute, as the XDG spec requires),
/// else `$HOME/.cache/tinker-auth`; `None` when neither is set usably.
pub(crate) fn default_dir() -> Option<PathBuf> {
    default_dir_from(
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// [`default_dir`] for given variables.
fn default_dir_from(xdg_cache_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = xdg_cache_home
        .filter(|p| p.is_absolute())
        .or_else(|| home.filter(|p| p.is_absolute()).map(|h| h.join(".cache")))?;
    Some(base.join("tinker-auth"))
}

/// The base URL as the cache keys it: trimmed, without trailing slashes.
fn normalize_base_url(base_url: &str) -> String {
    base_url.trim().trim_end_matches('/').to_owned()
}

impl SharedCache {
    /// Opens (creating it 0700 if needed) and validates `dir`, sets up its key,
    /// and names the entry of `base_url` and `credential`: the credential's
    /// value (a key, or what a credential command printed), never a command's
    /// text, so that a key rotated behind the same command never gets the old
    /// key's JWT. Touches no entry.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem when the directory is a symlink,
    /// not a directory, not ours, writable by group or others, or cannot be
    /// created or written; the caller should warn and keep a private token.
    pub(crate) fn open(dir: &Path, base_url: &str, credential: &str) -> Result<SharedCache, Error> {
        create_dir(dir)?;
        let meta = fs::symlink_metadata(dir).map_err(|e| io_error(dir, "cannot stat", &e))?;
        // Symlink and kind first: the probe must not land somewhere else.
        check(Facts::of(&meta), Kind::Dir, None, 0o022).map_err(|why| refused(dir, why))?;
        let uid = probe_uid(dir)?;
        check(Facts::of(&meta), Kind::Dir, Some(uid), 0o022).map_err(|why| refused(dir, why))?;
        let key = load_or_create_key(dir, uid)?;
        let base_url = normalize_base_url(base_url);
        let (fingerprint, name) = keyed_names(&key, &base_url, credential);
        Ok(SharedCache {
            dir: dir.to_owned(),
            entry: dir.join(format!("{name}.json")),
            lock: dir.join(format!("{name}.lock")),
            base_url,
            fingerprint,
            uid,
        })
    }

    /// Path of the entry file (names nothing secret).
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.entry
    }

    /// The cached token, if the entry exists, is ours and private, parses, is
    /// for this URL and credential and holds a readable JWT. Takes no lock:
    /// entries are replaced by rename, so this sees a whole entry or none.
    pub(crate) fn read(&self) -> Option<Cached> {
        let text = match read_private(&self.entry, self.uid) {
            Ok(text) => text?,
            Err(why) => {
                log::debug!(target: crate::LOG_TARGET_SHARED_CACHE, "shared cache: ignoring {}: {why}", self.entry.display());
                return None;
            }
        };
        let (jwt, clock_offset_secs) = parse_entry(&text, &self.base_url, &self.fingerprint)?;
        let times = jwt_times(&jwt).ok()?;
        Some(Cached {
            token: Token::from_parts(jwt, times),
            clock_offset_secs,
        })
    }
}
