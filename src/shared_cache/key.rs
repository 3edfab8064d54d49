//! The directory's HMAC key, and the keyed names and fingerprints made with it.

use std::fs;
use std::io;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::files::{io_error, read_private_bytes, refused, temp_path, write_new_private};
use crate::error::Error;

/// Name of the per-directory HMAC key.
pub(super) const KEY_FILE: &str = "hmac.key";

/// Length of the HMAC key, in bytes.
pub(super) const KEY_LEN: usize = 32;

/// The directory's HMAC key: read if valid, else created (or replaced, when
/// corrupt or foreign) from the operating system's random source (`getrandom`).
///
/// Creation is race-free (`hard_link` of a complete file: the first wins, the
/// others read its key). Replacing a bad key is not: two processes repairing
/// it at once may each keep their own key until they reopen, which only
/// costs them sharing (each still has a correct private entry).
pub(super) fn load_or_create_key(dir: &Path, uid: u32) -> Result<[u8; KEY_LEN], Error> {
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
            log::debug!(target: crate::LOG_TARGET_SHARED_CACHE, "shared cache: replacing {}: {why}", path.display());
            true
        }
    };
    let mut key = [0u8; KEY_LEN];
    getrandom::getrandom(&mut key).map_err(|e| {
        Error::config(format!(
            "shared cache: cannot draw a key from the operating system: {e}"
        ))
    })?;
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

/// The credential's fingerprint (hex HMAC) and the entry's file stem (the
/// first 32 hex digits of the HMAC of the base URL and that fingerprint),
/// both keyed with the directory's `key`. Every process sharing the directory
/// must compute the same two strings: they are the cache's on-disk format.
pub(super) fn keyed_names(key: &[u8], base_url: &str, credential: &str) -> (String, String) {
    let fingerprint = hex(&hmac_sha256(
        key,
        &framed(&[
            b"tinker-auth credential v2",
            b"secret",
            credential.as_bytes(),
        ]),
    ));
    let mut name = hex(&hmac_sha256(
        key,
        &framed(&[
            b"tinker-auth cache file v2",
            base_url.as_bytes(),
            fingerprint.as_bytes(),
        ]),
    ));
    name.truncate(32);
    (fingerprint, name)
}

/// Length-prefixed concatenation, so no two different part lists collide.
pub(super) fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key`.
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail here.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
