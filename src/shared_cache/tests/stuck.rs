//! Locks remembered as stuck: the rule, and the bounded wait that applies it.

use super::*;
use crate::shared_cache::stuck::{still_stuck, Mark, REMEMBER_FOR};

#[test]
fn a_mark_holds_until_the_entry_changes_or_its_time_is_up() {
    let t0 = Instant::now();
    let mark = Mark {
        since: t0,
        entry: Some((1, 2)),
    };
    assert!(still_stuck(mark, t0, Some((1, 2))));
    assert!(still_stuck(mark, t0 + REMEMBER_FOR / 2, Some((1, 2))));
    assert!(
        !still_stuck(mark, t0 + REMEMBER_FOR, Some((1, 2))),
        "time is up"
    );
    assert!(
        !still_stuck(mark, t0, Some((1, 3))),
        "rewritten: the holder let go"
    );
    assert!(!still_stuck(mark, t0, None), "removed");
    // A clock read before the mark (another thread) counts as no time.
    assert!(still_stuck(
        mark,
        t0.checked_sub(Duration::from_secs(1)).unwrap_or(t0),
        Some((1, 2))
    ));
    let none = Mark {
        since: t0,
        entry: None,
    };
    assert!(still_stuck(none, t0, None));
    assert!(!still_stuck(none, t0, Some((1, 2))), "first written since");
}

/// Holds the cache's lock through another open file description.
fn hold(cache: &SharedCache) -> fs::File {
    let f = fs::File::open(&cache.lock).unwrap();
    f.lock().unwrap();
    f
}

#[test]
fn a_stuck_lock_is_waited_for_once_then_only_tried() {
    let scratch = Scratch::new();
    let dir = scratch.cache_dir();
    let cache = SharedCache::open(&dir, URL, CRED).unwrap();
    drop(
        cache
            .lock(Instant::now())
            .unwrap()
            .expect("free: creates the file"),
    );
    let held = hold(&cache);

    let start = Instant::now();
    assert!(cache
        .lock_within(Duration::from_millis(200))
        .unwrap()
        .is_none());
    assert!(start.elapsed() >= Duration::from_millis(200));

    // Remembered: a long wait is now a single try (a loaded machine may
    // take long for one try, never 30 s).
    let start = Instant::now();
    assert!(cache
        .lock_within(Duration::from_secs(30))
        .unwrap()
        .is_none());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    // Free again: taken at the next try, and forgotten.
    drop(held);
    let guard = cache.lock_within(Duration::from_secs(30)).unwrap();
    assert!(guard.is_some());
    drop(guard);
    let held = hold(&cache);
    let start = Instant::now();
    assert!(cache
        .lock_within(Duration::from_millis(200))
        .unwrap()
        .is_none());
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "waited again"
    );
    drop(held);
}

#[test]
fn a_rewritten_entry_means_the_holder_let_go() {
    let scratch = Scratch::new();
    let dir = scratch.cache_dir();
    let cache = SharedCache::open(&dir, URL, CRED).unwrap();
    drop(
        cache
            .lock(Instant::now())
            .unwrap()
            .expect("free: creates the file"),
    );
    let held = hold(&cache);
    assert!(cache
        .lock_within(Duration::from_millis(50))
        .unwrap()
        .is_none());
    // The holder writes (as it would under the lock) but holds on: the next
    // refresh waits its bounded time again instead of only trying.
    let t = token(900, "from the holder");
    let body = entry_body(&cache.base_url, &cache.fingerprint, t.as_str(), 0.5, 0);
    let tmp = dir.join("holder.tmp");
    fs::write(&tmp, body).unwrap();
    fs::rename(&tmp, cache.path()).unwrap();
    let start = Instant::now();
    assert!(cache
        .lock_within(Duration::from_millis(200))
        .unwrap()
        .is_none());
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "waited again"
    );
    drop(held);
}
