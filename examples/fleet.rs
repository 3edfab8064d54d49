//! N in-process providers started together against the loopback stand-in:
//! how evenly their background refreshes spread.
//!
//! ```sh
//! cargo run --release --example fleet -- --providers 200 --lifetime 6 --seconds 36
//! ```
//!
//! Prints the busiest 0.25 s of token exchanges after the first lifetime
//! against the mean 0.25 s there, and exchanges per provider per lifetime.

use std::time::{Duration, Instant};

use testkit::stand_in::{StandIn, StandInConfig};
use tinker_auth::JwtAuthProvider;

const BIN: f64 = 0.25;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let providers = arg(&args, "--providers", 200) as usize;
    let lifetime = arg(&args, "--lifetime", 6);
    let seconds = arg(&args, "--seconds", 36);
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(lifetime),
        ..StandInConfig::default()
    });
    let start = Instant::now();
    // Started together: every build exchanges at once.
    let fleet: Vec<JwtAuthProvider> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..providers)
            .map(|_| {
                s.spawn(|| {
                    JwtAuthProvider::builder(server.url())
                        .api_key(server.api_key())
                        .build()
                        .expect("build")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    std::thread::sleep(Duration::from_secs(seconds).saturating_sub(start.elapsed()));
    drop(fleet);
    let times: Vec<f64> = server
        .exchange_times()
        .into_iter()
        .map(|t| t.saturating_duration_since(start).as_secs_f64())
        .filter(|&t| t < seconds as f64)
        .collect();
    let bins = (seconds as f64 / BIN).ceil() as usize;
    let mut counts = vec![0u32; bins];
    for t in &times {
        counts[((t / BIN) as usize).min(bins - 1)] += 1;
    }
    let after = &counts[(lifetime as f64 / BIN).ceil() as usize..];
    let mean = after.iter().map(|&c| f64::from(c)).sum::<f64>() / after.len() as f64;
    let peak = f64::from(after.iter().copied().max().unwrap_or(0));
    let per_lifetime = times.len() as f64 / providers as f64 / (seconds as f64 / lifetime as f64);
    println!(
        "{providers} providers, {lifetime} s tokens, {seconds} s: {} exchanges; busiest {BIN} s \
         {:.2}x the mean after the first lifetime ({peak} vs {mean:.1}); {per_lifetime:.2} \
         exchanges per provider per lifetime",
        times.len(),
        peak / mean
    );
}
