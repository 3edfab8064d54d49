//! The main job in miniature: a loopback token server minting 4 s JWTs, one
//! provider, 8 threads calling `get_token` for about 12 s.
//!
//! ```text
//! cargo run --example demo
//! RUST_LOG=debug cargo run --example demo   # see every refresh
//! ```

use testkit::stand_in;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use stand_in::{StandIn, StandInConfig};
use tinker_auth::{jwt_expiry, JwtAuthProvider};

const THREADS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(12);
const LIFETIME: Duration = Duration::from_secs(4);

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    expired: AtomicU64,
    errors: AtomicU64,
    longest_wait_us: AtomicU64,
    requests: AtomicU64,
    rejected: AtomicU64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let server = StandIn::start_with(StandInConfig {
        lifetime: LIFETIME,
        ..StandInConfig::default()
    });
    println!(
        "token server on {} minting {}s JWTs; {THREADS} threads for {}s",
        server.url(),
        LIFETIME.as_secs(),
        RUN_FOR.as_secs()
    );

    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .build()?,
    );
    let tally = Arc::new(Tally::default());
    let started = Instant::now();

    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (provider, tally, url) = (provider.clone(), tally.clone(), server.url());
            thread::spawn(move || work(i, &provider, &tally, &url, started))
        })
        .collect();

    while started.elapsed() < RUN_FOR {
        thread::sleep(Duration::from_secs(1));
        let runway = provider.runway().unwrap_or_default();
        println!(
            "t={:>4.1}s  calls={:>10}  exchanges={:>2}  runway={:>4.1}s  requests={:>3} (401s: {})",
            started.elapsed().as_secs_f64(),
            tally.calls.load(Ordering::Relaxed),
            server.exchanges(),
            runway.as_secs_f64(),
            tally.requests.load(Ordering::Relaxed),
            tally.rejected.load(Ordering::Relaxed),
        );
    }
    for w in workers {
        w.join().expect("worker panicked");
    }

    let stats = provider.stats();
    let expired = tally.expired.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let rejected = tally.rejected.load(Ordering::Relaxed);
    println!();
    println!(
        "calls                       {}",
        tally.calls.load(Ordering::Relaxed)
    );
    println!(
        "exchanges                   {} ({} background, {} on demand, {} failed)",
        server.exchanges(),
        stats.background,
        stats.on_demand,
        stats.fetches_failed
    );
    println!(
        "longest get_token wait      {:.3} ms",
        tally.longest_wait_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    println!("tokens served past expiry   {expired}");
    println!("get_token errors            {errors}");
    println!(
        "protected requests          {} ({rejected} rejected with 401)",
        tally.requests.load(Ordering::Relaxed)
    );
    provider.shutdown();
    if expired + errors + rejected > 0 {
        return Err("the provider served a stale token or failed".into());
    }
    Ok(())
}

/// Calls `get_token` in a loop; thread 0 also sends a protected request
/// with the token every 250 ms, as a real client would.
fn work(i: usize, provider: &JwtAuthProvider, tally: &Tally, url: &str, started: Instant) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut next_request = Instant::now();
    while started.elapsed() < RUN_FOR {
        let t0 = Instant::now();
        let token = match provider.token() {
            Ok(t) => t,
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let waited = t0.elapsed().as_micros() as u64;
        tally.longest_wait_us.fetch_max(waited, Ordering::Relaxed);
        tally.calls.fetch_add(1, Ordering::Relaxed);
        let expires = jwt_expiry(token.as_str()).expect("the server mints exp");
        if expires <= SystemTime::now() {
            tally.expired.fetch_add(1, Ordering::Relaxed);
        }
        if i == 0 && Instant::now() >= next_request {
            next_request += Duration::from_millis(250);
            let status = agent
                .get(format!("{url}/api/v1/ping"))
                .header("X-API-Key", token.as_str())
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            tally.requests.fetch_add(1, Ordering::Relaxed);
            if status == 401 {
                tally.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
