//! One host, one token: providers sharing a cache directory (the
//! multi-process figures are in `tests/fleet_processes.rs`).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use testkit::host::Scratch;
use testkit::stand_in::StandIn;
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

fn provider(server: &StandIn, dir: &Path, key: &str) -> JwtAuthProvider {
    JwtAuthProvider::builder(server.url())
        .api_key(key)
        .background_refresh(false)
        .shared_cache_dir(dir)
        .build()
        .unwrap()
}

fn token(p: &JwtAuthProvider) -> String {
    p.get_token().unwrap().unwrap().as_str().to_owned()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

#[test]
fn a_second_provider_adopts_the_first_ones_token() {
    let server = StandIn::start();
    let scratch = Scratch::new("it-shared");
    let dir = scratch.join("cache");
    let a = provider(&server, &dir, &server.api_key());
    let b = provider(&server, &dir, &server.api_key());
    assert_eq!(server.exchanges(), 1, "b adopted a's token at build");
    assert_eq!(token(&a), token(&b));
    assert_eq!(b.stats().shared_adopted, 1);
    assert_eq!(b.stats().fetches_started, 0);
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let files = entries(&dir);
    assert_eq!(files.len(), 1);
    let text = fs::read_to_string(&files[0]).unwrap();
    assert!(
        !text.contains(&server.api_key()),
        "the credential is never written"
    );
    assert!(text.contains(&token(&a)));
}

#[test]
fn another_credential_never_gets_the_cached_jwt() {
    let server = StandIn::start();
    let scratch = Scratch::new("it-shared");
    let dir = scratch.join("cache");
    let a = provider(&server, &dir, &server.api_key());
    // The stand-in accepts one key: another one is rejected, not served a's JWT.
    let other = JwtAuthProvider::builder(server.url())
        .api_key("tml-another-key-000000000000")
        .background_refresh(false)
        .shared_cache_dir(&dir)
        .build();
    assert!(other.is_err(), "a different key is exchanged, not adopted");
    assert_eq!(server.exchanges(), 2);
    drop(a);
}

#[test]
fn a_symlinked_directory_is_refused_and_the_token_stays_private() {
    let server = StandIn::start();
    let scratch = Scratch::new("it-shared");
    let real = scratch.join("real");
    fs::DirBuilder::new().mode(0o700).create(&real).unwrap();
    let link = scratch.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let a = provider(&server, &link, &server.api_key());
    let b = provider(&server, &link, &server.api_key());
    assert_eq!(server.exchanges(), 2, "nothing shared through a symlink");
    assert!(entries(&real).is_empty(), "nothing written through it");
    assert_ne!(token(&a), token(&b));
}

#[test]
fn a_group_writable_entry_is_ignored_and_rewritten_private() {
    let server = StandIn::start();
    let scratch = Scratch::new("it-shared");
    let dir = scratch.join("cache");
    let a = provider(&server, &dir, &server.api_key());
    let entry = entries(&dir).pop().unwrap();
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o620)).unwrap();
    let b = provider(&server, &dir, &server.api_key());
    assert_eq!(
        server.exchanges(),
        2,
        "the group-writable entry was not trusted"
    );
    let mode = fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "rewritten private");
    assert_ne!(token(&a), token(&b));
    // The rewritten entry is shared again.
    let c = provider(&server, &dir, &server.api_key());
    assert_eq!(server.exchanges(), 2);
    assert_eq!(token(&b), token(&c));
}

#[test]
fn a_corrupt_entry_is_ignored_and_rewritten() {
    let server = StandIn::start();
    let scratch = Scratch::new("it-shared");
    let dir = scratch.join("cache");
    let _a = provider(&server, &dir, &server.api_key());
    let entry = entries(&dir).pop().unwrap();
    fs::write(&entry, b"{\"version\":2,\"jwt\":").unwrap();
    let b = provider(&server, &dir, &server.api_key());
    assert_eq!(server.exchanges(), 2);
    let text = fs::read_to_string(&entry).unwrap();
    assert!(text.contains(&token(&b)), "rewritten with b's token");
}
