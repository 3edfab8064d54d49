//! One JWT per host: a token cache that providers in any number of processes
//! share through a directory (issue 12, "one host, one token").
//!
//! **Not wired in yet.** The provider builder (`shared_cache_dir(path)`,
//! `shared_cache(true)` for [`default_dir`]) and the `tinker-auth` CLI will
//! adopt this module; until then it is crate-private and only its tests use it
//! (hence the module-level `allow(dead_code)` outside tests).
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
//! # Ownership without `unsafe`
//!
//! The crate forbids `unsafe` and has no `libc`, so there is no `geteuid()`.
//! Instead [`SharedCache::open`] creates a probe file in the directory with
//! `create_new` and reads its owner: the kernel stamps a new file with the
//! creating process's (file-system) uid, so that is "us", as the directory's
//! own file system reports uids (which keeps the comparison meaningful on file
//! systems that map ownership, such as some network mounts). The directory and
//! every file we read or lock must have that owner.

#![cfg_attr(not(test), allow(dead_code))]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::jwt::jwt_times;
use crate::token::Token;

/// Version of the entry format; entries of any other version are ignored.
const FORMAT_VERSION: u64 = 2;

/// Name of the per-directory HMAC key.
const KEY_FILE: &str = "hmac.key";

/// Length of the HMAC key, in bytes.
const KEY_LEN: usize = 32;

/// Largest entry we read (a JWT is at most 64 KiB, see `jwt.rs`).
const MAX_ENTRY_BYTES: u64 = 128 * 1024;

/// First pause between two attempts to take a busy lock.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);

/// Longest pause between two attempts to take a busy lock.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What identifies the long-lived credential; fingerprinted, never stored.
#[derive(Clone, Copy)]
pub(crate) enum CredentialId<'a> {
    /// The credential itself: an API key, or what a credential provider returned.
    Secret(&'a str),
    /// The credential command whose output is the credential (so a cache hit
    /// need not run it).
    Command(&'a str),
}

impl fmt::Debug for CredentialId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialId::Secret(_) => f.write_str("Secret(<redacted>)"),
            CredentialId::Command(_) => f.write_str("Command(<redacted>)"),
        }
    }
}

/// The shared cache entry of one (base URL, credential) in one directory.
pub(crate) struct SharedCache {
    dir: PathBuf,
    entry: PathBuf,
    lock: PathBuf,
    base_url: String,
    fingerprint: String,
    uid: u32,
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
    /// and names the entry of `base_url` and `credential`. Touches no entry.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem when the directory is a symlink,
    /// not a directory, not ours, writable by group or others, or cannot be
    /// created or written; the caller should warn and keep a private token.
    pub(crate) fn open(
        dir: &Path,
        base_url: &str,
        credential: CredentialId<'_>,
    ) -> Result<SharedCache, Error> {
        create_dir(dir)?;
        let meta = fs::symlink_metadata(dir).map_err(|e| io_error(dir, "cannot stat", &e))?;
        // Symlink and kind first: the probe must not land somewhere else.
        check(Facts::of(&meta), Kind::Dir, None, 0o022).map_err(|why| refused(dir, why))?;
        let uid = probe_uid(dir)?;
        check(Facts::of(&meta), Kind::Dir, Some(uid), 0o022).map_err(|why| refused(dir, why))?;
        let key = load_or_create_key(dir, uid)?;
        let base_url = normalize_base_url(base_url);
        let (kind, value) = match credential {
            CredentialId::Secret(s) => ("secret", s),
            CredentialId::Command(c) => ("credential-command", c),
        };
        let fingerprint = hex(&hmac_sha256(
            &key,
            &framed(&[
                b"tinker-auth credential v2",
                kind.as_bytes(),
                value.as_bytes(),
            ]),
        ));
        let name = hex(&hmac_sha256(
            &key,
            &framed(&[
                b"tinker-auth cache file v2",
                base_url.as_bytes(),
                fingerprint.as_bytes(),
            ]),
        ))[..32]
            .to_owned();
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
                log::debug!("shared cache: ignoring {}: {why}", self.entry.display());
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
                Ok(()) => return Ok(Some(CacheLock { cache: self, file })),
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
        let body = json!({
            "version": FORMAT_VERSION,
            "base_url": cache.base_url,
            "credential_fingerprint": cache.fingerprint,
            "jwt": token.as_str(),
            "clock_offset_secs": if clock_offset_secs.is_finite() { clock_offset_secs } else { 0.0 },
            "written_at": written_at,
        });
        let tmp = temp_path(&cache.dir, "entry");
        let written = write_new_private(&tmp, body.to_string().as_bytes())
            .and_then(|()| fs::rename(&tmp, &cache.entry));
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

/// What kind of file a path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// The facts about a file that decide whether we trust it (from `lstat` or
/// `fstat`).
#[derive(Debug, Clone, Copy)]
struct Facts {
    symlink: bool,
    kind: Option<Kind>,
    uid: u32,
    mode: u32,
}

impl Facts {
    fn of(meta: &fs::Metadata) -> Facts {
        let ft = meta.file_type();
        Facts {
            symlink: ft.is_symlink(),
            kind: if ft.is_dir() {
                Some(Kind::Dir)
            } else if ft.is_file() {
                Some(Kind::File)
            } else {
                None
            },
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// Whether to trust a file: not a symlink, of the `want`ed kind, owned by
/// `uid` (when known), with none of the `forbidden` permission bits. The
/// reason is a short phrase for an error message.
fn check(facts: Facts, want: Kind, uid: Option<u32>, forbidden: u32) -> Result<(), &'static str> {
    if facts.symlink {
        return Err("is a symlink");
    }
    if facts.kind != Some(want) {
        return Err(match want {
            Kind::Dir => "is not a directory",
            Kind::File => "is not a regular file",
        });
    }
    if uid.is_some_and(|uid| uid != facts.uid) {
        return Err("is not owned by the current user");
    }
    if facts.mode & forbidden & 0o022 != 0 {
        return Err("is writable by group or others");
    }
    if facts.mode & forbidden != 0 {
        return Err("is accessible by group or others");
    }
    Ok(())
}

/// How long to sleep before the next attempt at a busy lock, given the
/// current backoff and the time left; `None` once the deadline has passed.
fn next_pause(backoff: Duration, left: Duration) -> Option<Duration> {
    (!left.is_zero()).then(|| backoff.min(left))
}

/// The JWT and clock offset of an entry's text, if it is a version-2 entry
/// for this base URL and fingerprint.
fn parse_entry(text: &str, base_url: &str, fingerprint: &str) -> Option<(String, f64)> {
    let v: Value = serde_json::from_str(text).ok()?;
    if v["version"].as_u64() != Some(FORMAT_VERSION)
        || v["base_url"].as_str() != Some(base_url)
        || v["credential_fingerprint"].as_str() != Some(fingerprint)
    {
        return None;
    }
    let jwt = v["jwt"].as_str().filter(|j| !j.is_empty())?.to_owned();
    let offset = v["clock_offset_secs"]
        .as_f64()
        .filter(|o| o.is_finite())
        .unwrap_or(0.0);
    Some((jwt, offset))
}

fn refused(path: &Path, why: &str) -> Error {
    Error::config(format!("shared cache: {} {why}", path.display()))
}

fn io_error(path: &Path, what: &str, e: &io::Error) -> Error {
    Error::config(format!("shared cache: {what} {}: {e}", path.display()))
}

/// Creates `dir` 0700 (its parents with the default mode) unless it exists.
fn create_dir(dir: &Path) -> Result<(), Error> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_error(parent, "cannot create", &e))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error(dir, "cannot create", &e)),
    }
}

/// A fresh name for a temporary file in `dir` (pid, counter and clock, so
/// neither threads nor processes collide).
fn temp_path(dir: &Path, what: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    dir.join(format!(".{what}.{}.{n}.{nanos}.tmp", std::process::id()))
}

/// Our uid as `dir`'s file system reports it: the owner of a file we create.
fn probe_uid(dir: &Path) -> Result<u32, Error> {
    let probe = temp_path(dir, "probe");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)
        .map_err(|e| io_error(dir, "cannot create a file in", &e))?;
    let uid = file.metadata().map(|m| m.uid());
    drop(file);
    let _ = fs::remove_file(&probe);
    uid.map_err(|e| io_error(dir, "cannot stat a file in", &e))
}

/// Writes a new file (it must not exist) with mode 0600 and fsyncs it.
fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads a file we trust as text; see [`read_private_bytes`].
fn read_private(path: &Path, uid: u32) -> Result<Option<String>, String> {
    match read_private_bytes(path, uid)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "is not utf-8".into()),
    }
}

/// The directory's HMAC key: read if valid, else created (or replaced, when
/// corrupt or foreign) from `/dev/urandom`.
///
/// Creation is race-free (`hard_link` of a complete file: the first wins, the
/// others read its key). Replacing a bad key is not: two processes repairing
/// it at once may each keep their own key until they reopen, which only
/// costs them sharing (each still has a correct private entry).
fn load_or_create_key(dir: &Path, uid: u32) -> Result<[u8; KEY_LEN], Error> {
    let path = dir.join(KEY_FILE);
    let valid = |path: &Path| -> Result<Option<[u8; KEY_LEN]>, String> {
        let Some(text) = read_private_bytes(path, uid)? else {
            return Ok(None);
        };
        text.try_into()
            .map(Some)
            .map_err(|_| "has the wrong length".to_owned())
    };
    let existing = match valid(&path) {
        Ok(Some(key)) => return Ok(key),
        Ok(None) => false,
        Err(why) => {
            log::debug!("shared cache: replacing {}: {why}", path.display());
            true
        }
    };
    let mut key = [0u8; KEY_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| io_error(Path::new("/dev/urandom"), "cannot read", &e))?;
    let tmp = temp_path(dir, "key");
    write_new_private(&tmp, &key).map_err(|e| io_error(&tmp, "cannot write", &e))?;
    // A missing key is created only if still missing (hard_link fails if a
    // racing process got there first: we then use theirs); a bad one is
    // replaced.
    let placed = if existing {
        fs::rename(&tmp, &path)
    } else {
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    };
    if let Err(e) = placed {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(&path, "cannot write", &e));
    }
    // Whatever is on disk now is the key every process uses.
    match valid(&path) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(refused(&path, "vanished while being created")),
        Err(why) => Err(Error::config(format!(
            "shared cache: {} {why}",
            path.display()
        ))),
    }
}

/// Reads a file we trust: `Ok(None)` if absent, `Err(reason)` if it is not a
/// regular file of ours with no group or other permissions, is too large or
/// cannot be read.
fn read_private_bytes(path: &Path, uid: u32) -> Result<Option<Vec<u8>>, String> {
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot stat: {e}")),
    };
    check(Facts::of(&before), Kind::File, Some(uid), 0o077)?;
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    // The file opened must be the one checked (no swap in between).
    if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
        return Err("was replaced while being opened".into());
    }
    check(Facts::of(&meta), Kind::File, Some(uid), 0o077)?;
    if meta.len() > MAX_ENTRY_BYTES {
        return Err("is too large".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(Some(bytes))
}

/// Length-prefixed concatenation, so no two different part lists collide.
fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key` (at most one block).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    const URL: &str = "https://tinker.example.com";
    const KEY: &str = "tml-SECRETSECRET-credential-0123456789";
    const CRED: CredentialId<'static> = CredentialId::Secret(KEY);

    /// Selects the child role of [`child_lock_holder`]: the cache directory.
    const CHILD_DIR_ENV: &str = "TINKER_AUTH_TEST_SHARED_CACHE_CHILD_DIR";
    /// How long the child holds the lock, in milliseconds.
    const CHILD_HOLD_ENV: &str = "TINKER_AUTH_TEST_SHARED_CACHE_CHILD_HOLD_MS";
    /// What the child prints once it holds the lock.
    const HELD: &str = "SHARED-CACHE-LOCK-HELD";

    /// A private scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "tinker-auth-shared-cache-{}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            ));
            fs::DirBuilder::new().mode(0o700).create(&path).unwrap();
            Scratch(path)
        }

        fn cache_dir(&self) -> PathBuf {
            self.0.join("cache").join("tinker-auth")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn b64(data: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    /// A JWT issued now, expiring in `secs`, with a marker in its subject.
    fn token(secs: u64, subject: &str) -> Token {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let payload = format!(
            r#"{{"sub":"{subject}","iat":{now},"exp":{}}}"#,
            now.saturating_add(secs)
        );
        let jwt = format!(
            "{}.{}.sig",
            b64(br#"{"alg":"none"}"#),
            b64(payload.as_bytes())
        );
        Token::from_jwt(jwt).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn write_entry(cache: &SharedCache, t: &Token) {
        let guard = cache
            .lock(Instant::now() + Duration::from_secs(2))
            .unwrap()
            .expect("the lock is free");
        guard.write(t, 0.5).unwrap();
    }

    /// Gives `path` to another user, if this process may (root): the
    /// foreign-owner cases need it.
    fn can_chown(path: &Path) -> bool {
        let mine = fs::symlink_metadata(path).unwrap().uid();
        let other = if mine == 65534 { 65533 } else { 65534 };
        let ok = std::os::unix::fs::chown(path, Some(other), None).is_ok();
        if !ok {
            eprintln!("skipping a foreign-owner case: chown needs root");
        }
        ok
    }

    #[test]
    fn round_trip_with_private_modes_and_no_leftovers() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let cache = SharedCache::open(&dir, URL, CRED).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert!(cache.read().is_none(), "nothing cached yet");

        let t = token(900, "round-trip");
        write_entry(&cache, &t);
        let got = cache.read().expect("the entry just written");
        assert!(got.token.same_as(&t));
        assert_eq!(got.token.expires_at(), t.expires_at());
        assert_eq!(got.clock_offset_secs, 0.5);
        assert_eq!(mode(cache.path()), 0o600);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&cache.lock), 0o600);

        // A second writer under the lock sees the first one's token, then
        // replaces it.
        let again = SharedCache::open(&dir, &format!(" {URL}/ "), CRED).unwrap();
        assert_eq!(
            again.path(),
            cache.path(),
            "same URL and credential, same file"
        );
        let guard = again
            .lock(Instant::now() + Duration::from_secs(2))
            .unwrap()
            .unwrap();
        assert!(guard.read().unwrap().token.same_as(&t));
        let newer = token(900, "newer");
        guard.write(&newer, f64::NAN).unwrap();
        drop(guard);
        let got = cache.read().unwrap();
        assert!(got.token.same_as(&newer));
        assert_eq!(
            got.clock_offset_secs, 0.0,
            "a non-finite offset is stored as 0"
        );

        // Only the key, the entry and its lock: no probe or temporary files.
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&KEY_FILE.to_owned()), "{names:?}");
    }

    #[test]
    fn neither_file_nor_name_holds_the_credential() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let cache = SharedCache::open(&dir, URL, CRED).unwrap();
        write_entry(&cache, &token(900, "x"));
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            assert!(!name.contains("SECRET") && !name.contains("tml-"), "{name}");
            let bytes = fs::read(entry.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("SECRET"), "{name}: {text}");
        }
        let text = fs::read_to_string(cache.path()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["base_url"], URL);
        assert_eq!(v["credential_fingerprint"].as_str().unwrap().len(), 64);
        let shown = format!("{cache:?} {:?} {CRED:?}", cache.read().unwrap());
        assert!(
            !shown.contains("SECRET") && !shown.contains("eyJ"),
            "{shown}"
        );
    }

    #[test]
    fn one_file_per_url_and_credential() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let open = |url: &str, id| SharedCache::open(&dir, url, id).unwrap();
        let a = open(URL, CRED);
        let names = [
            open(URL, CredentialId::Secret("tml-other-key")),
            open("https://other.example.com", CRED),
            open(URL, CredentialId::Command(KEY)),
        ];
        for other in &names {
            assert_ne!(a.path(), other.path());
        }
        assert_ne!(a.fingerprint, names[0].fingerprint);
        assert_eq!(
            a.fingerprint, names[1].fingerprint,
            "a credential's, whatever the URL"
        );
        assert_ne!(
            a.fingerprint, names[2].fingerprint,
            "a key is not a command"
        );
        // Another credential's entry, even copied under our name, is not ours.
        write_entry(&names[0], &token(900, "other credential"));
        fs::copy(names[0].path(), a.path()).unwrap();
        fs::set_permissions(a.path(), fs::Permissions::from_mode(0o600)).unwrap();
        assert!(a.read().is_none());
        // So is an entry of another format version.
        let text = fs::read_to_string(names[0].path()).unwrap();
        assert!(parse_entry(&text, &names[0].base_url, &names[0].fingerprint).is_some());
        let v1 = text.replace("\"version\":2", "\"version\":1");
        assert!(parse_entry(&v1, &names[0].base_url, &names[0].fingerprint).is_none());
    }

    #[test]
    fn names_depend_on_the_directory_key() {
        let one = Scratch::new();
        let two = Scratch::new();
        let a = SharedCache::open(&one.cache_dir(), URL, CRED).unwrap();
        let b = SharedCache::open(&two.cache_dir(), URL, CRED).unwrap();
        assert_ne!(a.path().file_name(), b.path().file_name());
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn racing_openers_agree_on_one_key() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| SharedCache::open(&dir, URL, CRED).unwrap().entry))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(paths.windows(2).all(|w| w[0] == w[1]), "{paths:?}");
    }

    #[test]
    fn a_corrupt_key_is_replaced() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let first = SharedCache::open(&dir, URL, CRED).unwrap();
        fs::write(dir.join(KEY_FILE), b"short").unwrap();
        let second = SharedCache::open(&dir, URL, CRED).unwrap();
        assert_ne!(first.path(), second.path());
        assert_eq!(fs::read(dir.join(KEY_FILE)).unwrap().len(), KEY_LEN);
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        let third = SharedCache::open(&dir, URL, CRED).unwrap();
        assert_eq!(second.path(), third.path());
    }

    #[test]
    fn a_symlinked_directory_is_refused() {
        let scratch = Scratch::new();
        let real = scratch.0.join("real");
        fs::DirBuilder::new().mode(0o700).create(&real).unwrap();
        let link = scratch.0.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = SharedCache::open(&link, URL, CRED).unwrap_err().to_string();
        assert!(err.contains("is a symlink"), "{err}");
        assert!(
            err.starts_with("invalid configuration: shared cache: "),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");
        assert_eq!(
            fs::read_dir(&real).unwrap().count(),
            0,
            "nothing written through it"
        );
    }

    #[test]
    fn a_shared_or_foreign_or_non_directory_is_refused() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        fs::create_dir_all(&dir).unwrap();
        for m in [0o770, 0o707, 0o777] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(m)).unwrap();
            let err = SharedCache::open(&dir, URL, CRED).unwrap_err().to_string();
            assert!(err.contains("writable by group or others"), "{m:o}: {err}");
        }
        // Readable by others is fine: the files are 0600 and their names say nothing.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        SharedCache::open(&dir, URL, CRED).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        if can_chown(&dir) {
            let err = SharedCache::open(&dir, URL, CRED).unwrap_err().to_string();
            assert!(err.contains("not owned by the current user"), "{err}");
        }
        let file = scratch.0.join("file");
        fs::write(&file, b"").unwrap();
        let err = SharedCache::open(&file, URL, CRED).unwrap_err().to_string();
        assert!(err.contains("file"), "{err}");
    }

    #[test]
    fn a_group_writable_entry_is_ignored_and_rewritten() {
        let scratch = Scratch::new();
        let cache = SharedCache::open(&scratch.cache_dir(), URL, CRED).unwrap();
        write_entry(&cache, &token(900, "first"));
        for m in [0o620, 0o602, 0o640, 0o604] {
            fs::set_permissions(cache.path(), fs::Permissions::from_mode(m)).unwrap();
            assert!(cache.read().is_none(), "{m:o}");
        }
        let fresh = token(900, "rewritten");
        write_entry(&cache, &fresh);
        assert!(cache.read().unwrap().token.same_as(&fresh));
        assert_eq!(mode(cache.path()), 0o600);
    }

    #[test]
    fn a_foreign_entry_is_ignored_and_rewritten() {
        let scratch = Scratch::new();
        let cache = SharedCache::open(&scratch.cache_dir(), URL, CRED).unwrap();
        write_entry(&cache, &token(900, "theirs"));
        if !can_chown(cache.path()) {
            return;
        }
        assert!(cache.read().is_none());
        let ours = token(900, "ours");
        write_entry(&cache, &ours);
        assert!(cache.read().unwrap().token.same_as(&ours));
        assert_eq!(fs::metadata(cache.path()).unwrap().uid(), cache.uid);
    }

    #[test]
    fn a_corrupt_entry_is_ignored_and_rewritten() {
        let scratch = Scratch::new();
        let cache = SharedCache::open(&scratch.cache_dir(), URL, CRED).unwrap();
        write_entry(&cache, &token(900, "good"));
        let good = fs::read_to_string(cache.path()).unwrap();
        let v: Value = serde_json::from_str(&good).unwrap();
        let jwt = v["jwt"].as_str().unwrap();
        let corrupt = [
            String::new(),
            "{".into(),
            "[]".into(),
            good[..good.len() / 2].to_owned(),
            good.replace(jwt, "not-a-jwt"),
            good.replace(jwt, ""),
            "\u{0}\u{1}binary".into(),
        ];
        for text in &corrupt {
            fs::write(cache.path(), text).unwrap();
            assert!(cache.read().is_none(), "{text:?}");
        }
        fs::write(cache.path(), vec![b' '; 200 * 1024]).unwrap();
        assert!(cache.read().is_none(), "too large");
        let fresh = token(900, "rewritten");
        write_entry(&cache, &fresh);
        assert!(cache.read().unwrap().token.same_as(&fresh));
    }

    #[test]
    fn a_symlinked_entry_is_ignored_and_replaced_not_written_through() {
        let scratch = Scratch::new();
        let cache = SharedCache::open(&scratch.cache_dir(), URL, CRED).unwrap();
        write_entry(&cache, &token(900, "target"));
        let target = scratch.0.join("target.json");
        fs::rename(cache.path(), &target).unwrap();
        std::os::unix::fs::symlink(&target, cache.path()).unwrap();
        assert!(cache.read().is_none());
        let before = fs::read(&target).unwrap();
        write_entry(&cache, &token(900, "replaced"));
        assert_eq!(
            fs::read(&target).unwrap(),
            before,
            "the target is untouched"
        );
        assert!(!fs::symlink_metadata(cache.path()).unwrap().is_symlink());
        assert!(cache.read().is_some());
    }

    #[test]
    fn a_bad_lock_file_is_refused() {
        let scratch = Scratch::new();
        let cache = SharedCache::open(&scratch.cache_dir(), URL, CRED).unwrap();
        let elsewhere = scratch.0.join("elsewhere");
        fs::write(&elsewhere, b"").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &cache.lock).unwrap();
        let err = cache.lock(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("is a symlink"), "{err}");
        fs::remove_file(&cache.lock).unwrap();
        fs::write(&cache.lock, b"").unwrap();
        fs::set_permissions(&cache.lock, fs::Permissions::from_mode(0o622)).unwrap();
        let err = cache.lock(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("writable by group or others"), "{err}");
        fs::set_permissions(&cache.lock, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            cache.lock(Instant::now()).unwrap().is_some(),
            "readable is fine"
        );
    }

    #[test]
    fn a_busy_lock_gives_up_at_the_deadline() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let a = SharedCache::open(&dir, URL, CRED).unwrap();
        let b = SharedCache::open(&dir, URL, CRED).unwrap();
        let held = a.lock(Instant::now()).unwrap().expect("free");
        let start = Instant::now();
        assert!(b
            .lock(start + Duration::from_millis(200))
            .unwrap()
            .is_none());
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_millis(1500), "{waited:?}");
        // A deadline already past still tries once.
        assert!(b.lock(start).unwrap().is_none());
        drop(held);
        assert!(b.lock(start).unwrap().is_some());
        // Another credential's lock is independent.
        let other = SharedCache::open(&dir, URL, CredentialId::Secret("tml-other")).unwrap();
        let _held = a.lock(Instant::now()).unwrap().unwrap();
        assert!(other.lock(Instant::now()).unwrap().is_some());
    }

    #[test]
    fn pure_decisions() {
        let ours = Facts {
            symlink: false,
            kind: Some(Kind::File),
            uid: 1000,
            mode: 0o600,
        };
        assert_eq!(check(ours, Kind::File, Some(1000), 0o077), Ok(()));
        assert_eq!(check(ours, Kind::File, None, 0o077), Ok(()));
        let symlink = Facts {
            symlink: true,
            kind: None,
            ..ours
        };
        assert_eq!(
            check(symlink, Kind::File, Some(1000), 0o077),
            Err("is a symlink")
        );
        assert_eq!(
            check(ours, Kind::Dir, Some(1000), 0o022),
            Err("is not a directory")
        );
        assert_eq!(
            check(ours, Kind::File, Some(0), 0o077),
            Err("is not owned by the current user")
        );
        let shared = Facts {
            mode: 0o640,
            ..ours
        };
        assert_eq!(
            check(shared, Kind::File, Some(1000), 0o077),
            Err("is accessible by group or others")
        );
        assert_eq!(check(shared, Kind::File, Some(1000), 0o022), Ok(()));
        let writable = Facts {
            mode: 0o660,
            ..ours
        };
        assert_eq!(
            check(writable, Kind::File, Some(1000), 0o022),
            Err("is writable by group or others")
        );

        let ms = Duration::from_millis;
        assert_eq!(next_pause(ms(1), ms(100)), Some(ms(1)));
        assert_eq!(next_pause(ms(50), ms(20)), Some(ms(20)));
        assert_eq!(next_pause(ms(50), Duration::ZERO), None);
        let mut backoff = FIRST_BACKOFF;
        for _ in 0..20 {
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
        }
        assert_eq!(backoff, MAX_BACKOFF);

        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            default_dir_from(Some("/xdg".into()), home.clone()),
            Some(PathBuf::from("/xdg/tinker-auth"))
        );
        assert_eq!(
            default_dir_from(Some("relative".into()), home.clone()),
            Some(PathBuf::from("/home/u/.cache/tinker-auth"))
        );
        assert_eq!(
            default_dir_from(None, home),
            Some(PathBuf::from("/home/u/.cache/tinker-auth"))
        );
        assert_eq!(default_dir_from(None, Some("rel".into())), None);
        assert_eq!(default_dir_from(None, None), None);
        if let Some(dir) = default_dir() {
            assert!(dir.is_absolute() && dir.ends_with("tinker-auth"), "{dir:?}");
        }
        assert_eq!(
            normalize_base_url(" https://a.example// "),
            "https://a.example"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_and_the_hmac_crate() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        use hmac::{Hmac, Mac};
        for key_len in [0, 1, 32, 64, 65, 131] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
            let message = framed(&[b"a", b"", b"tml-key"]);
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(&message);
            let want: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(&key, &message), want, "key of {key_len} bytes");
        }
        assert_ne!(framed(&[b"ab", b"c"]), framed(&[b"a", b"bc"]));
    }

    /// The child role of the multi-process tests: holds the lock, says so,
    /// writes a token, and releases the lock after the given time. A no-op
    /// unless started by [`spawn_holder`].
    #[test]
    fn child_lock_holder() {
        let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
            return;
        };
        let hold: u64 = std::env::var(CHILD_HOLD_ENV).unwrap().parse().unwrap();
        let cache = SharedCache::open(Path::new(&dir), URL, CRED).unwrap();
        let guard = cache
            .lock(Instant::now() + Duration::from_secs(3))
            .unwrap()
            .expect("the lock is free when the child starts");
        println!("{HELD}");
        io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_millis(hold));
        guard.write(&token(900, "from the child"), 1.5).unwrap();
    }

    /// Starts [`child_lock_holder`] in a new process and returns once it holds the lock.
    fn spawn_holder(dir: &Path, hold: Duration) -> Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shared_cache::tests::child_lock_holder",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir)
            .env(CHILD_HOLD_ENV, hold.as_millis().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines() {
                if line.is_ok_and(|l| l.contains(HELD)) {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(4)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not take the lock");
        }
        child
    }

    #[test]
    fn lock_contention_between_processes_respects_the_deadline() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let cache = SharedCache::open(&dir, URL, CRED).unwrap();
        let mut child = spawn_holder(&dir, Duration::from_millis(1200));

        let start = Instant::now();
        assert!(cache
            .lock(start + Duration::from_millis(300))
            .unwrap()
            .is_none());
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_millis(1000), "{waited:?}");
        assert!(cache.read().is_none(), "the holder has not written yet");

        // Then a waiter with time to spare gets the lock once the holder is
        // done, and finds its token: no exchange needed.
        let start = Instant::now();
        let guard = cache
            .lock(start + Duration::from_secs(4))
            .unwrap()
            .expect("the holder releases within the deadline");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        let cached = guard.read().expect("the holder's token");
        assert_eq!(cached.clock_offset_secs, 1.5);
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn a_killed_holder_releases_the_lock() {
        let scratch = Scratch::new();
        let dir = scratch.cache_dir();
        let cache = SharedCache::open(&dir, URL, CRED).unwrap();
        let mut child = spawn_holder(&dir, Duration::from_secs(30));
        assert!(
            cache.lock(Instant::now()).unwrap().is_none(),
            "the child holds it"
        );

        child.kill().unwrap(); // SIGKILL: no destructor, no unlock
        let start = Instant::now();
        let guard = cache
            .lock(start + Duration::from_secs(3))
            .unwrap()
            .expect("the kernel released the dead holder's lock");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert!(guard.read().is_none(), "it died before writing");
        assert!(!child.wait().unwrap().success());
    }
}
