//! A shared-cache lock held by a process that is then stopped (SIGSTOP), as
//! a debugger, Ctrl-Z or a frozen cgroup would: the others get fresh tokens
//! on their own within `fetch_timeout` + the lock bound, later refreshes
//! only try the lock, and once the holder is continued and lets go, sharing
//! resumes. This binary re-invokes itself as the child processes (role in
//! `CHILD_ENV`), so it needs a process of its own per child.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::{kill_process, Pid, Signal};
use testkit::host::{call_protected, entries_text, hold_locks, ChildSpec, Scratch};
use testkit::probe::{exchange_bound, STEADY_LIFETIME};
use testkit::stand_in::{StandIn, StandInConfig};
use testkit::{body_for, jwt_at, TokenServer};
use tinker_auth::{AuthTokenProvider, Clock, JwtAuthProvider, ManualClock};

/// The child processes' `ChildSpec`, set for them only.
const CHILD_ENV: &str = "TINKER_AUTH_STOPPED_HOLDER_CHILD";
/// What the lock holder prints once it holds every lock file.
const LOCKED: &str = "STOPPED-HOLDER-LOCKED";

const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The documented bound on waiting for the lock.
const LOCK_BOUND: Duration = Duration::from_secs(1);

fn spawn(role: &str, url: &str, dir: &Path, seconds: Duration) -> Child {
    ChildSpec::new(role, url, dir, seconds)
        .command(CHILD_ENV)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The child roles. `lock`: (with a base URL, first a provider, which
/// creates the entry and its lock file) takes every lock file of `dir`,
/// prints [`LOCKED`], and lets go when its stdin closes. `call`: a
/// provider sharing `dir`, calling the protected endpoint every 20 ms for
/// `seconds`; prints `CHILD-REJECTED N`.
#[test]
fn child() {
    let Some(spec) = ChildSpec::from_env(CHILD_ENV) else {
        return;
    };
    let (role, url, dir) = (spec.role.as_str(), spec.url.as_str(), &spec.dir);
    let build = || {
        JwtAuthProvider::builder(url)
            .shared_cache_dir(dir)
            .fetch_timeout(FETCH_TIMEOUT)
            .build()
            .unwrap()
    };
    if role == "lock" {
        let _provider = (url != "-").then(build);
        let _held = hold_locks(dir);
        println!("\n{LOCKED}");
        std::io::stdout().flush().unwrap();
        let _ = std::io::stdin().lines().count();
        return;
    }
    let rejected = call_protected(&build(), url, spec.seconds);
    println!("\nCHILD-REJECTED {rejected}");
}

/// A lock holder, stopped once it holds the locks (with its stdout, read
/// to the end when it exits).
struct StoppedHolder(Child, BufReader<std::process::ChildStdout>);

impl StoppedHolder {
    fn start(url: &str, dir: &Path) -> StoppedHolder {
        let mut child = spawn("lock", url, dir, Duration::ZERO);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains(LOCKED) {
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "the holder took the locks");
        }
        kill_process(Pid::from_child(&child), Signal::STOP).unwrap();
        StoppedHolder(child, out)
    }

    /// SIGCONT, then closes its stdin: it lets go and exits.
    fn resume(mut self) {
        kill_process(Pid::from_child(&self.0), Signal::CONT).unwrap();
        drop(self.0.stdin.take());
        let _ = std::io::copy(&mut self.1, &mut std::io::sink());
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for StoppedHolder {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// 4 s tokens minted on the manual clock's time.
fn server_on(clock: &ManualClock) -> TokenServer {
    let c = clock.clone();
    TokenServer::new(move |_| {
        let now = c.now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        (200, body_for(&jwt_at(now, 4.0, 4.0)))
    })
}

#[test]
fn a_stopped_holder_costs_one_bounded_wait_then_only_tries() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let clock = ManualClock::new(SystemTime::now());
    let server = server_on(&clock);
    let scratch = Scratch::new("stopped-manual");
    let dir = scratch.path();
    let provider = server
        .builder()
        .clock(Arc::new(clock.clone()))
        .fetch_timeout(FETCH_TIMEOUT)
        .shared_cache_dir(dir)
        .build()
        .unwrap();
    let holder = StoppedHolder::start("-", dir);

    clock.advance(Duration::from_secs(5)); // past expiry
    let start = Instant::now();
    let token = provider.get_token();
    let took = start.elapsed();
    println!("behind a stopped holder: a fresh token after {took:?}");
    assert!(token.is_ok(), "{token:?}");
    assert_eq!(server.hits(), 2);
    assert!(took < FETCH_TIMEOUT + LOCK_BOUND, "{took:?}");

    let start = Instant::now();
    for i in 0..10 {
        clock.advance(Duration::from_secs(5));
        provider.get_token().unwrap().unwrap();
        assert_eq!(server.hits(), 3 + i);
    }
    let ten = start.elapsed();
    println!("10 refreshes behind the stopped holder: {ten:?}");
    // Waiting the bound each time would take 10 s.
    assert!(ten < 5 * LOCK_BOUND, "{ten:?}");

    holder.resume();
    clock.advance(Duration::from_secs(5));
    let shared = provider.get_token().unwrap().unwrap();
    assert!(
        entries_text(dir).contains(shared.as_str()),
        "written back once free"
    );
}

/// Tokens long enough that a loaded machine never meets them at the
/// one-second pacing floor, where a token that arrives already due backs the
/// pacing off (docs/RELIABILITY.md, sustained load).
const LIFETIME: Duration = STEADY_LIFETIME;
const PROCESSES: usize = 8;
/// Lifetimes the holder stays stopped while the fleet runs, then the
/// lifetimes the fleet runs after it let go (the first of those is settling).
const STOPPED: u32 = 2;
const AFTER: u32 = 3;

#[test]
fn eight_processes_are_served_behind_a_stopped_holder_and_share_again_after() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let server = StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    });
    let scratch = Scratch::new("stopped-fleet");
    let dir = scratch.path();
    let holder = StoppedHolder::start(&server.url(), dir);
    let start = Instant::now();
    let children: Vec<Child> = (0..PROCESSES)
        .map(|_| spawn("call", &server.url(), dir, LIFETIME * (STOPPED + AFTER)))
        .collect();
    std::thread::sleep(LIFETIME * STOPPED);
    let resumed = Instant::now();
    holder.resume();
    let mut rejected = 0;
    for child in children {
        drop(child.stdin);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut child.stdout.unwrap(), &mut text).unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("CHILD-REJECTED "))
            .unwrap_or_else(|| panic!("the child reports: {text}"));
        rejected += line.trim().parse::<u64>().unwrap();
    }
    let times = server.exchange_times();
    let count = |from: Instant, to: Instant| times.iter().filter(|&&t| t >= from && t < to).count();
    let settled = resumed + LIFETIME;
    let end = resumed + LIFETIME * AFTER;
    let stuck = count(start, resumed);
    let after = count(settled, end);
    println!(
        "{PROCESSES} processes, {LIFETIME:?} tokens: {} exchanges; while the holder was stopped \
         {:.2} per lifetime for the host, after it let go (from its second lifetime) {:.2}; \
         {} requests, {rejected} rejected",
        server.exchanges(),
        stuck as f64 / f64::from(STOPPED),
        after as f64 / f64::from(AFTER - 1),
        server.protected_total()
    );
    assert_eq!(rejected, 0, "served while the holder was stopped");
    assert_eq!(server.protected_401(), 0);
    // Sharing resumed: the host makes no more exchanges than one provider
    // may (its refreshes at half-life, less the clock's uncertainty and the
    // whole-second `iat`, plus the start-up's two). While the holder was
    // stopped each process exchanged on its own, eight times that rate.
    let bound = exchange_bound(LIFETIME, LIFETIME * (AFTER - 1));
    assert!(
        after as u64 <= bound,
        "sharing resumed: {after} exchanges over {} lifetimes, bound {bound}",
        AFTER - 1
    );
}
