//! The JWT cache of `tinker-auth token`: one small JSON file per base URL and
//! credential under `$XDG_CACHE_HOME/tinker-auth/` (or `~/.cache/tinker-auth/`).
//!
//! The file holds a secret (the JWT), so the directory is 0700, the file 0600,
//! and it is written to a temporary file in the same directory and renamed
//! into place: a reader sees the old file or the new one, never half of one.
//! It never holds the credential, only a fingerprint of it: the first 16 hex
//! digits of SHA-256 over a domain-separated string. The credential is the
//! value itself (a credential command's output, not its text), so a key
//! rotated behind the same command gets a new entry. Anything unreadable,
//! malformed or for another URL or credential is ignored (and overwritten).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const FORMAT_VERSION: u64 = 1;

/// The cache entry for one base URL and credential.
pub(crate) struct Entry {
    path: PathBuf,
    base_url: String,
    fingerprint: String,
}

/// A cached JWT and the server clock offset measured when it was fetched.
pub(crate) struct Cached {
    pub(crate) jwt: String,
    pub(crate) clock_offset_secs: f64,
}

fn sha256_hex(parts: &[&str], hex_digits: usize) -> String {
    let mut h = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two different part lists hash alike.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..hex_digits]
        .to_owned()
}

/// A fingerprint of the credential itself (a key, or what a credential
/// command printed; never the command's text, which stays the same when the
/// key behind it rotates): enough to tell credentials apart, too short (64
/// bits of a one-way hash) to stand in for a long random key.
pub(crate) fn fingerprint(credential: &str) -> String {
    sha256_hex(&["tinker-auth credential fingerprint v2", credential], 16)
}

/// The cache directory: `$XDG_CACHE_HOME/tinker-auth` (an absolute path, as
/// the XDG spec requires), else `$HOME/.cache/tinker-auth`.
pub(crate) fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|home| home.join(".cache"))
    })?;
    Some(base.join("tinker-auth"))
}

impl Entry {
    pub(crate) fn new(dir: &Path, base_url: &str, credential: &str) -> Self {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        let fingerprint = fingerprint(credential);
        let name = sha256_hex(&["tinker-auth cache file v1", &base_url, &fingerprint], 32);
        Entry {
            path: dir.join(format!("{name}.json")),
            base_url,
            fingerprint,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The cached JWT, if the file exists, parses and is for this URL and
    /// credential. Expiry is the caller's judgement.
    pub(crate) fn load(&self) -> Option<Cached> {
        let text = fs::read_to_string(&self.path).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        if v["version"].as_u64() != Some(FORMAT_VERSION)
            || v["base_url"].as_str() != Some(&self.base_url)
            || v["credential_fingerprint"].as_str() != Some(&self.fingerprint)
        {
            return None;
        }
        Some(Cached {
            jwt: v["jwt"].as_str()?.to_owned(),
            clock_offset_secs: v["clock_offset_secs"].as_f64().unwrap_or(0.0),
        })
    }

    /// Writes the entry atomically with mode 0600, its directory 0700.
    pub(crate) fn store(&self, jwt: &str, clock_offset_secs: f64) -> io::Result<()> {
        let dir = self.path.parent().expect("a cache file has a directory");
        create_private_dir(dir)?;
        let body = json!({
            "version": FORMAT_VERSION,
            "base_url": self.base_url,
            "credential_fingerprint": self.fingerprint,
            "jwt": jwt,
            "clock_offset_secs": clock_offset_secs,
            "written_at": SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs(),
        });
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .subsec_nanos();
        let file_name = self
            .path
            .file_name()
            .expect("a cache file has a name")
            .to_string_lossy();
        let tmp = dir.join(format!(".{file_name}.{}.{nanos}.tmp", std::process::id()));
        let written = write_private(&tmp, body.to_string().as_bytes())
            .and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file: File = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        // An existing directory keeps its mode otherwise; ours must be private.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        builder.create(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_distinct_and_hide_the_credential() {
        let a = fingerprint("tml-aaaa");
        assert_eq!(a, fingerprint("tml-aaaa"));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, fingerprint("tml-aaab"));
        assert!(!a.contains("aaaa"));
    }

    #[test]
    fn one_file_per_url_and_credential() {
        let dir = Path::new("/cache");
        let key = "tml-k";
        let e = Entry::new(dir, "https://a.example/", key);
        assert_eq!(e.path, Entry::new(dir, " https://a.example", key).path);
        assert_ne!(e.path, Entry::new(dir, "https://b.example", key).path);
        assert_ne!(e.path, Entry::new(dir, "https://a.example", "tml-l").path);
        assert!(!e.path.to_string_lossy().contains("tml-k"));
    }
}
