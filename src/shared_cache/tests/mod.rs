//! The shared cache's unit tests: entries and keys here, refusals in
//! `refusals`, other processes in `processes`, stuck locks in `stuck`.

mod processes;
mod refusals;
mod stuck;

use super::files::*;
use super::format::*;
use super::key::*;
use super::lock::*;
use super::*;
use serde_json::Value;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const URL: &str = "https://tinker.example.com";
const KEY: &str = "tml-SECRETSECRET-credential-0123456789";
const CRED: &str = KEY;

/// A private scratch directory, removed on drop.
pub(super) struct Scratch(PathBuf);

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
    let shown = format!("{cache:?} {:?}", cache.read().unwrap());
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
        open(URL, "tml-other-key"),
        open("https://other.example.com", CRED),
    ];
    for other in &names {
        assert_ne!(a.path(), other.path());
    }
    assert_ne!(a.fingerprint, names[0].fingerprint);
    assert_eq!(
        a.fingerprint, names[1].fingerprint,
        "a credential's, whatever the URL"
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
