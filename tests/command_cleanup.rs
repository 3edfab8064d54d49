//! A credential command leaves nothing behind: after a timeout (or a success
//! that left a background job running), no process it started is alive and
//! the threads that read its output are gone.
//!
//! One test in this binary: it counts the process's threads and scans `/proc`
//! for processes the command started.
#![cfg(target_os = "linux")]

use std::fs;
use std::time::{Duration, Instant};

use tinker_auth::{AuthTokenProvider, CredentialCmdAuthProvider, Error};

/// Threads of this process, from `/proc/self/task`.
fn threads() -> usize {
    fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Live (not zombie) processes whose command line is exactly `argv`.
fn live_processes(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let dir = entry.path();
        let zombie = fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if !zombie && fs::read(dir.join("cmdline")).is_ok_and(|c| c == want) {
            found.push(pid);
        }
    }
    found
}

/// An argument for `sleep` that no other process on the machine has.
fn unique_sleep(tag: u32) -> String {
    format!("30.{}{tag:03}", std::process::id())
}

#[test]
fn a_credential_command_leaves_no_process_or_thread_behind() {
    let before = threads();

    // Timed out: `sh` and both sleeps (which hold the pipes) must die.
    let arg = unique_sleep(1);
    let p = CredentialCmdAuthProvider::new(format!("sleep {arg} & sleep {arg}"))
        .unwrap()
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let e = p.get_token().unwrap_err();
    assert!(matches!(e, Error::CommandTimedOut { .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let gone = testkit::wait_until(Duration::from_secs(2), || {
        live_processes(&["sleep", &arg]).is_empty()
    });
    assert!(
        gone,
        "still running: {:?}",
        live_processes(&["sleep", &arg])
    );
    let back = testkit::wait_until(Duration::from_secs(2), || threads() <= before);
    assert!(back, "threads: {before} before, {} after", threads());

    // Succeeded, with a background job still holding stdout: the credential
    // comes back promptly and the job does not outlive the call.
    let arg = unique_sleep(2);
    let p = CredentialCmdAuthProvider::new(format!("sleep {arg} & echo tml-cleanup-test"))
        .unwrap()
        .timeout(Duration::from_secs(10));
    let started = Instant::now();
    let token = p.get_token().unwrap().unwrap();
    assert_eq!(token.as_str(), "tml-cleanup-test");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let gone = testkit::wait_until(Duration::from_secs(2), || {
        live_processes(&["sleep", &arg]).is_empty()
    });
    assert!(
        gone,
        "still running: {:?}",
        live_processes(&["sleep", &arg])
    );
    let back = testkit::wait_until(Duration::from_secs(2), || threads() <= before);
    assert!(back, "threads: {before} before, {} after", threads());
}
