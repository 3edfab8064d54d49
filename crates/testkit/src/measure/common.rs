//! What every measurement shares: medians over interleaved samples, a
//! stand-in server and a provider wired to it.

use std::time::Duration;

use tinker_auth::JwtAuthProvider;

use crate::stand_in::{StandIn, StandInConfig};

/// Path of a protected endpoint of the stand-in (any path but the token path).
pub const PROTECTED_PATH: &str = "/api/v1/ping";

/// The median of `v` (which must not be empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A timed loop: runs its body `n` times and returns the elapsed time.
pub type Loop<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Runs `samples` rounds in which each candidate runs `iters` iterations, and
/// returns each candidate's median time per iteration, in nanoseconds.
pub fn interleaved(cands: &mut [Loop<'_>], iters: u64, samples: usize) -> Vec<f64> {
    // One unmeasured round warms caches and branch predictors.
    for c in cands.iter_mut() {
        c(iters);
    }
    let mut per_call: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); cands.len()];
    for _ in 0..samples {
        for (c, out) in cands.iter_mut().zip(per_call.iter_mut()) {
            out.push(c(iters).as_nanos() as f64 / iters as f64);
        }
    }
    per_call.into_iter().map(median).collect()
}

/// A stand-in server minting tokens of `lifetime`.
pub fn server(lifetime: Duration) -> StandIn {
    StandIn::start_with(StandInConfig {
        lifetime,
        ..StandInConfig::default()
    })
}

/// A provider that has done its first exchange against `server`.
pub fn provider(server: &StandIn, background: bool) -> JwtAuthProvider {
    JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .background_refresh(background)
        .build()
        .expect("build a provider against the stand-in")
}
