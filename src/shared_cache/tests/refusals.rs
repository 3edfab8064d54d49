//! Everything the cache must refuse or replace: symlinks, foreign or shared
//! files, corrupt entries, busy locks.

use super::super::key::{framed, hex, hmac_sha256, keyed_names};
use super::*;

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
    let other = SharedCache::open(&dir, URL, "tml-other").unwrap();
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
fn hmac_matches_rfc_4231() {
    // RFC 4231, test case 2 (short key) and test case 6 (a key longer than
    // the block, hashed first).
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    assert_ne!(framed(&[b"ab", b"c"]), framed(&[b"a", b"bc"]));
}

#[test]
fn fingerprint_and_entry_name_are_the_on_disk_format() {
    // Pinned from the format's first release: processes of different
    // versions sharing one directory must name and recognise the same entry.
    let key: Vec<u8> = (0u8..32).collect();
    let (fingerprint, name) = keyed_names(&key, "https://tinker.example", "tml-known-vector");
    assert_eq!(
        fingerprint,
        "8957e106f72f8a808106b160e66e943414266cd4b2fab4b774b02333c7b756c1"
    );
    assert_eq!(name, "99f98567894f078a457e548d33011f14");
}
