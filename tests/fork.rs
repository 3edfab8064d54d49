//! Fork: a child process inherits a copy of the provider but not its refresh
//! thread (only the forking thread survives a `fork`). The child must see
//! that, refresh on demand, and never share the parent's pooled connections
//! or wait on an exchange that the parent's thread had in flight.
//!
//! One test in this binary: `fork` in a multi-threaded test harness is only
//! sound when the child does its work and leaves with `_exit`.
#![cfg(target_os = "linux")]

use std::thread;
use std::time::{Duration, Instant};

use testkit::probe::{self, dead_on_server, exp_secs, thread_count, unix_now};
use testkit::stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, JwtAuthProvider, Token};

/// Forks; the child runs `child` and exits with its code. The parent runs
/// `parent` meanwhile, then reaps the child (killing it after 15 s).
fn fork_and_wait(child: impl FnOnce() -> i32, parent: impl FnOnce()) -> i32 {
    // SAFETY: the child only runs `child`, then leaves with `_exit`, never
    // returning into the test harness, whose other threads do not exist there.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY: ends the child at once, running no destructors or atexit hooks.
        unsafe { libc::_exit(code) };
    }
    parent();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut status = 0;
    loop {
        // SAFETY: plain syscall on our own child's pid with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "waitpid failed");
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the child did not finish within 15 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(libc::WIFEXITED(status), "the child died: status {status}");
    libc::WEXITSTATUS(status)
}

/// Sleeps until `t` is dead on the server, plus a little.
fn sleep_past(t: &Token) {
    let left = exp_secs(t) - unix_now() + 0.2;
    if left > 0.0 {
        thread::sleep(Duration::from_secs_f64(left));
    }
}

/// In the child: a single thread, no refresh thread reported, and an
/// on-demand refresh that yields a new, live token without waiting on
/// anything the parent had in flight.
fn child_checks(p: &JwtAuthProvider, held: &Token) -> i32 {
    if thread_count() != 1 {
        return 10;
    }
    if p.background_running() {
        return 11;
    }
    sleep_past(held);
    let start = Instant::now();
    let t = match p.get_token() {
        Ok(Some(t)) => t,
        Ok(None) => return 12,
        Err(_) => return 13,
    };
    if start.elapsed() > Duration::from_millis(900) {
        return 14;
    }
    if t.same_as(held) || dead_on_server(&t, 0) {
        return 15;
    }
    if p.stats().fetches_started < 1 {
        return 16;
    }
    0
}

fn explain(code: i32) -> &'static str {
    match code {
        0 => "ok",
        10 => "the child has more than one thread",
        11 => "background_running() is true in the child",
        12 => "get_token answered Ok(None)",
        13 => "get_token failed in the child after the token expired",
        14 => "get_token in the child waited on the parent's exchange",
        15 => "the child was served a stale or dead token",
        16 => "no exchange counted",
        99 => "the child panicked",
        _ => "unknown",
    }
}

#[test]
fn child_has_no_refresh_thread_and_refreshes_on_demand() {
    let s = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(3),
        ..StandInConfig::default()
    });

    // 1. Fork while the parent's refresh thread has an exchange in flight
    //    (the endpoint hangs it): the child must not wait for it.
    let p = probe::builder(&s).build().unwrap();
    let held = p.get_token().unwrap().unwrap();
    assert!(p.background_running());
    s.set_mode(Mode::Hang);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.exchanges() < 2 {
        assert!(
            Instant::now() < deadline,
            "the refresh thread never started an exchange"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let code = fork_and_wait(|| child_checks(&p, &held), || s.set_mode(Mode::Healthy));
    assert_eq!(code, 0, "fork during an exchange: {}", explain(code));
    assert!(
        p.background_running(),
        "the parent keeps its refresh thread"
    );
    drop(p);

    // 2. Fork with an idle pooled connection to the endpoint: the child must
    //    open its own, never share the parent's socket.
    let p = probe::builder(&s)
        .background_refresh(false)
        .build()
        .unwrap();
    let held = p.get_token().unwrap().unwrap();
    let connections = s.connections();
    let code = fork_and_wait(|| child_checks(&p, &held), || ());
    assert_eq!(code, 0, "fork with a pooled connection: {}", explain(code));
    assert!(
        s.connections() > connections,
        "the child reused the parent's pooled connection"
    );
    // The parent's provider is unaffected.
    sleep_past(&held);
    let t = p.get_token().unwrap().unwrap();
    assert!(!t.same_as(&held) && !dead_on_server(&t, 0));
    assert_eq!(call(&s, &t), 200);
}

fn call(s: &StandIn, t: &Token) -> u16 {
    probe::call_protected(&probe::agent(), s, t.as_str())
}
