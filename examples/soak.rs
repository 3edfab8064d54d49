//! A long soak of the provider against the loopback stand-in, for runs longer
//! than the test suite affords. Not run in CI.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 600 --threads 8 --lifetime 5 --faults
//! ```
//!
//! - `--seconds N`  how long to run (default 60)
//! - `--threads N`  callers (default 8)
//! - `--lifetime S` JWT lifetime in whole seconds (default 4; 3 or more, see docs/RELIABILITY.md)
//! - `--faults`     cycle the token endpoint through every fault mode, each for
//!   about one and a half lifetimes, with healthy spells between
//!
//! Every caller calls `get_token`, then sends the request itself with the
//! token in `X-API-Key`; the stand-in judges it by its own clock. A status
//! line every 5 s, a table at the end; the exit status is 1 if any request was
//! answered `401` or any token was served after the server's expiry.

use testkit::stand_in;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stand_in::{Mode, StandIn, StandInConfig};
use tinker_auth::JwtAuthProvider;

struct Args {
    seconds: u64,
    threads: usize,
    lifetime: u64,
    faults: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 60,
        threads: 8,
        lifetime: 4,
        faults: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match flag.as_str() {
            "--seconds" => a.seconds = value("--seconds")?,
            "--threads" => a.threads = value("--threads")?.max(1) as usize,
            "--lifetime" => a.lifetime = value("--lifetime")?.max(1),
            "--faults" => a.faults = true,
            "-h" | "--help" => {
                return Err(
                    "usage: soak [--seconds N] [--threads N] [--lifetime S] [--faults]".into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    unauthorized: AtomicU64,
    other_status: AtomicU64,
    errors: AtomicU64,
    served_dead: AtomicU64,
    slowest_us: AtomicU64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let s = Arc::new(StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(args.lifetime),
        ..StandInConfig::default()
    }));
    let p = Arc::new(
        JwtAuthProvider::builder(s.url())
            .api_key(s.api_key())
            .fetch_timeout(Duration::from_secs(2))
            .retry_delay(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|e| {
                eprintln!("soak: first exchange: {e}");
                std::process::exit(1)
            }),
    );
    println!(
        "soak: {} threads, {} s tokens, {} s{} against {}",
        args.threads,
        args.lifetime,
        args.seconds,
        if args.faults { ", with faults" } else { "" },
        s.url()
    );
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let (s, p, tally, done) = (s.clone(), p.clone(), tally.clone(), done.clone());
            thread::spawn(move || work(&s, &p, &tally, &done))
        })
        .collect();

    let faults = [
        Mode::Status500,
        Mode::Status503 {
            retry_after_secs: 1,
        },
        Mode::Hang,
        Mode::Slow(Duration::from_secs(3)),
        Mode::Garbage,
        Mode::MissingJwt,
        Mode::NoExp,
        Mode::SameToken,
        Mode::Reset,
        Mode::Oversized,
        Mode::Rejected,
    ];
    let spell = Duration::from_millis(args.lifetime * 1500);
    let mut next_switch = started + spell;
    let mut next_status = started + Duration::from_secs(5);
    let mut fault_index = 0;
    let mut in_fault = false;
    let end = started + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if args.faults && now >= next_switch {
            next_switch = now + spell;
            if in_fault {
                s.set_mode(Mode::Healthy);
            } else {
                s.set_mode(faults[fault_index % faults.len()].clone());
                fault_index += 1;
            }
            in_fault = !in_fault;
        }
        if now >= next_status {
            next_status = now + Duration::from_secs(5);
            println!(
                "{:>5.0}s  mode {:<28} ok {:>8}  401 {:>3}  errors {:>6}  exchanges {:>5}  runway {:>6.1?}",
                started.elapsed().as_secs_f64(),
                format!("{:?}", s.mode()),
                tally.ok.load(Ordering::Relaxed),
                tally.unauthorized.load(Ordering::Relaxed),
                tally.errors.load(Ordering::Relaxed),
                s.exchanges(),
                p.runway().unwrap_or_default(),
            );
        }
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let st = p.stats();
    let rows = [
        ("run (s)", format!("{elapsed:.1}")),
        ("requests ok", tally.ok.load(Ordering::Relaxed).to_string()),
        (
            "requests 401",
            tally.unauthorized.load(Ordering::Relaxed).to_string(),
        ),
        (
            "other statuses",
            tally.other_status.load(Ordering::Relaxed).to_string(),
        ),
        (
            "get_token errors",
            tally.errors.load(Ordering::Relaxed).to_string(),
        ),
        (
            "tokens served past expiry",
            tally.served_dead.load(Ordering::Relaxed).to_string(),
        ),
        (
            "slowest get_token (ms)",
            (tally.slowest_us.load(Ordering::Relaxed) / 1000).to_string(),
        ),
        ("exchanges (server)", s.exchanges().to_string()),
        (
            "exchanges per lifetime",
            format!(
                "{:.2}",
                s.exchanges() as f64 / (elapsed / args.lifetime as f64)
            ),
        ),
        (
            "fetches ok / failed",
            format!("{} / {}", st.fetches_succeeded, st.fetches_failed),
        ),
        (
            "on demand / background",
            format!("{} / {}", st.on_demand, st.background),
        ),
        (
            "waits / served cached",
            format!("{} / {}", st.waits, st.served_cached),
        ),
        ("fault spells", fault_index.to_string()),
    ];
    println!("\n| measure | value |\n| --- | ---: |");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    let bad =
        tally.unauthorized.load(Ordering::Relaxed) + tally.served_dead.load(Ordering::Relaxed);
    if bad > 0 {
        std::process::exit(1);
    }
}

fn work(s: &StandIn, p: &JwtAuthProvider, tally: &Tally, done: &AtomicBool) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{}/api/v1/ping", s.url());
    while !done.load(Ordering::Relaxed) {
        let start = Instant::now();
        let result = p.token();
        let us = start.elapsed().as_micros() as u64;
        tally.slowest_us.fetch_max(us, Ordering::Relaxed);
        match result {
            Ok(t) => {
                let exp = t
                    .expires_at()
                    .and_then(|e| e.duration_since(UNIX_EPOCH).ok());
                if exp.is_some_and(|e| e.as_secs_f64() <= unix_now()) {
                    tally.served_dead.fetch_add(1, Ordering::Relaxed);
                }
                let status = agent
                    .get(&url)
                    .header("X-API-Key", t.as_str())
                    .call()
                    .map(|r| r.status().as_u16());
                match status {
                    Ok(200) => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(401) => tally.unauthorized.fetch_add(1, Ordering::Relaxed),
                    _ => tally.other_status.fetch_add(1, Ordering::Relaxed),
                };
            }
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
}
