//! The directory's HMAC key, and the keyed names and fingerprints made with it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::{io_error, read_private_bytes, refused, temp_path, write_new_private};
use crate::error::Error;

/// Name of the per-directory HMAC key.
pub(super) const KEY_FILE: &str = "hmac.key";

/// Length of the HMAC key, in bytes.
pub(super) const KEY_LEN: usize = 32;

/// The directory's HMAC key: read if valid, else created (or replaced, when
/// corrupt or foreign) from `/dev/urandom`.
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

/// Length-prefixed concatenation, so no two different part lists collide.
pub(super) fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key` (at most one block).
pub(super) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
