//! Where a provider shares its token ([`Host`]): the directory and base URL
//! of its shared cache entry. Kept apart from `host.rs` (the flight's detour
//! through the cache), which needs the provider's state, so that the state
//! can hold a [`Host`] without importing that detour.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;

/// Where this provider shares its token, and whether it has warned yet.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) dir: PathBuf,
    pub(crate) base_url: String,
    warned: AtomicBool,
}

impl Host {
    pub(crate) fn new(dir: PathBuf, base_url: &str) -> Self {
        Host {
            dir,
            base_url: base_url.to_owned(),
            warned: AtomicBool::new(false),
        }
    }

    /// Warns once per provider (then at debug level): the provider keeps its
    /// private token, which works, only without sharing.
    pub(crate) fn warn(&self, e: &Error) {
        if self.warned.swap(true, Ordering::Relaxed) {
            log::debug!(target: crate::LOG_TARGET_SHARED_CACHE, "{e}; using a private token");
        } else {
            log::warn!(target: crate::LOG_TARGET_SHARED_CACHE, "{e}; using a private token");
        }
    }
}
