//! Other processes: lock contention and a holder killed mid-exchange.

use super::*;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// Selects the child role of [`child_lock_holder`]: the cache directory.
const CHILD_DIR_ENV: &str = "TINKER_AUTH_TEST_SHARED_CACHE_CHILD_DIR";
/// How long the child holds the lock, in milliseconds.
const CHILD_HOLD_ENV: &str = "TINKER_AUTH_TEST_SHARED_CACHE_CHILD_HOLD_MS";
/// What the child prints once it holds the lock.
const HELD: &str = "SHARED-CACHE-LOCK-HELD";

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
            "shared_cache::tests::processes::child_lock_holder",
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
