//! What we trust in the directory (kind, owner, mode, no symlink), and
//! private reads and writes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;

/// Largest entry we read (a JWT is at most 64 KiB, see `jwt.rs`).
pub(super) const MAX_ENTRY_BYTES: u64 = 128 * 1024;

/// Distinguishes the temporary files of one process.
pub(super) static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What kind of file a path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
}

/// The facts about a file that decide whether we trust it (from `lstat` or
/// `fstat`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts {
    pub(super) symlink: bool,
    pub(super) kind: Option<Kind>,
    pub(super) uid: u32,
    pub(super) mode: u32,
}

impl Facts {
    pub(super) fn of(meta: &fs::Metadata) -> Facts {
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
pub(super) fn check(
    facts: Facts,
    want: Kind,
    uid: Option<u32>,
    forbidden: u32,
) -> Result<(), &'static str> {
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

pub(super) fn refused(path: &Path, why: &str) -> Error {
    Error::config(format!("shared cache: {} {why}", path.display()))
}

pub(super) fn io_error(path: &Path, what: &str, e: &io::Error) -> Error {
    Error::config(format!("shared cache: {what} {}: {e}", path.display()))
}

/// Creates `dir` 0700 (its parents with the default mode) unless it exists.
pub(super) fn create_dir(dir: &Path) -> Result<(), Error> {
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
pub(super) fn temp_path(dir: &Path, what: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    dir.join(format!(".{what}.{}.{n}.{nanos}.tmp", std::process::id()))
}

/// Our uid as `dir`'s file system reports it: the owner of a file we create.
pub(super) fn probe_uid(dir: &Path) -> Result<u32, Error> {
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
pub(super) fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads a file we trust as text; see [`read_private_bytes`].
pub(super) fn read_private(path: &Path, uid: u32) -> Result<Option<String>, String> {
    match read_private_bytes(path, uid)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "is not utf-8".into()),
    }
}

/// Reads a file we trust: `Ok(None)` if absent, `Err(reason)` if it is not a
/// regular file of ours with no group or other permissions, is too large or
/// cannot be read.
pub(super) fn read_private_bytes(path: &Path, uid: u32) -> Result<Option<Vec<u8>>, String> {
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
