//! The seeded fleet simulation: this crate's schedule (the real
//! [`Schedule`]) against the late edge it used before, a fixed 300 s margin
//! and the Python SDK's, for how evenly a fleet loads the token endpoint, how
//! many exchanges it makes, how long an outage it survives, and how it comes
//! back after one. `cargo test --lib spread -- --nocapture` prints the table.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::jwt::JwtTimes;
use crate::provider::policy::{pacing, Schedule, CLOCK_RESOLUTION};

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

/// The defaults' timing.
fn defaults() -> Timing {
    Timing {
        refresh_before_expiry: Duration::ZERO,
        refresh_on_demand_within: s(60.0),
        retry_delay: s(60.0),
    }
}

/// A seeded xorshift64* source, so the simulation is the same every run.
struct Seeded(u64);

impl Seeded {
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A schedule: the delay to the next refresh of a token received at time
/// `t` (seconds into the run), given whether it is the first.
type Policy = Box<dyn FnMut(bool, f64, &mut Seeded) -> f64>;

/// A fresh token received at `at` (seconds into the run), as the provider
/// sees it: `iat` the whole second before receipt, the server's clock offset
/// estimated from it (or from an equally whole-second `Date`) as the
/// provider estimates it, half a second into that second.
fn received(at: f64, lifetime: f64) -> (JwtTimes, f64, std::time::SystemTime) {
    let now = UNIX_EPOCH + s(1_700_000_000.0 + at);
    let iat = UNIX_EPOCH + s(1_700_000_000.0 + at.floor());
    let times = JwtTimes {
        exp: iat + s(lifetime),
        iat: Some(iat),
    };
    (times, at.floor() - at + 0.5, now)
}

/// This crate's: the real [`Schedule`], built as the provider builds it on
/// receipt of a fresh token, with the draw the provider uses: spread for
/// the first token, routine after.
fn ours(lifetime: f64) -> Policy {
    let t = defaults();
    Box::new(move |first, at, rng| {
        let (times, offset, now) = received(at, lifetime);
        let draw = if first { Draw::Spread } else { Draw::Routine };
        Schedule::new(times, offset, CLOCK_RESOLUTION, now, &t, draw, rng.unit())
            .refresh_delay(now)
            .as_secs_f64()
    })
}

/// The late edge this crate used before: routinely `min(120 s, 2L/5)`
/// before expiry, the first drawn uniformly from 1 s to it.
fn old_late_edge(lifetime: f64) -> Policy {
    let late = lifetime - 120f64.min(lifetime * 0.4);
    Box::new(move |first, _, rng| {
        if first {
            1.0 + (late - 1.0) * rng.unit()
        } else {
            late
        }
    })
}

/// The design this crate replaces: `exp - min(300 s, L/2) * (1 - U(0, 0.1))`.
fn margin_300(lifetime: f64) -> Policy {
    Box::new(move |_, _, rng| lifetime - 300f64.min(lifetime / 2.0) * (1.0 - 0.1 * rng.unit()))
}

/// The Python SDK's (tinker 0.38): `L * U(0.45, 0.55)`.
fn python_sdk(lifetime: f64) -> Policy {
    Box::new(move |_, _, rng| lifetime * (0.45 + 0.1 * rng.unit()))
}

/// The latest age each design refreshes at, so the outage it survives at
/// worst (the token served until `U` before expiry, as here): ours from the
/// real schedule, over receipts at several fractions of a second.
fn worst_outage(name: &str, lifetime: f64) -> f64 {
    let u = CLOCK_RESOLUTION.as_secs_f64();
    match name {
        "ours" => (0..10)
            .map(|i| {
                let (times, offset, now) = received(f64::from(i) / 10.0, lifetime);
                let t = defaults();
                let sched =
                    Schedule::new(times, offset, CLOCK_RESOLUTION, now, &t, Draw::Routine, 0.0);
                // Served until `usable_until` on the local clock, never past
                // the server's `exp` (the local clock reads the server's).
                let true_exp = times.exp.duration_since(UNIX_EPOCH).unwrap();
                let local_exp = sched.usable_until.duration_since(UNIX_EPOCH).unwrap();
                assert!(local_exp <= true_exp, "{local_exp:?} {true_exp:?}");
                let served = sched.usable_until.duration_since(sched.background_at);
                served.unwrap_or_default().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min),
        "old late edge" => 120f64.min(lifetime * 0.4) - u,
        "300 s margin" => 300f64.min(lifetime / 2.0) * 0.9 - u,
        _ => lifetime * 0.45 - u,
    }
}

/// What a simulated fleet did: the busiest bin after the first lifetime
/// against the mean bin there, and exchanges per provider per lifetime.
#[derive(Debug, Clone, Copy)]
struct Figures {
    peak_to_mean: f64,
    per_lifetime: f64,
}

/// Providers started together, each refreshing at `next(..)` after receiving
/// a token that lives `lifetime`; the token endpoint answers at once. Counts
/// exchanges in bins of `bin` over `horizon`.
fn fleet(
    providers: usize,
    lifetime: f64,
    horizon: f64,
    bin: f64,
    seed: u64,
    mut next: Policy,
) -> Figures {
    let mut rng = Seeded(seed);
    let bins = (horizon / bin).ceil() as usize;
    let mut counts = vec![0u32; bins];
    let mut exchanges = 0u64;
    for _ in 0..providers {
        // The first exchange, at the start, then the refreshes.
        counts[0] += 1;
        exchanges += 1;
        let mut t = next(true, 0.0, &mut rng);
        let mut refreshes = 0u64;
        while t < horizon {
            counts[(t / bin) as usize] += 1;
            exchanges += 1;
            refreshes += 1;
            // A schedule that stops moving on (or nearly) would loop here
            // for ever (or for hours): none of those simulated refreshes a
            // provider ten times a lifetime.
            assert!(
                refreshes as f64 <= (horizon / lifetime + 1.0) * 10.0,
                "{refreshes} refreshes of one provider in {horizon} s of {lifetime} s tokens"
            );
            t += next(false, t, &mut rng);
        }
    }
    let after = &counts[(lifetime / bin).ceil() as usize..];
    let mean = after.iter().map(|&c| f64::from(c)).sum::<f64>() / after.len() as f64;
    let peak = f64::from(*after.iter().max().unwrap());
    Figures {
        peak_to_mean: peak / mean,
        per_lifetime: exchanges as f64 / providers as f64 / (horizon / lifetime),
    }
}

/// Runs `schedule` for five seeds and returns the worst figures.
fn worst(
    providers: usize,
    lifetime: f64,
    horizon: f64,
    bin: f64,
    schedule: fn(f64) -> Policy,
) -> Figures {
    (1..=5u64)
        .map(|seed| {
            let seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            fleet(providers, lifetime, horizon, bin, seed, schedule(lifetime))
        })
        .fold(
            Figures {
                peak_to_mean: 0.0,
                per_lifetime: 0.0,
            },
            |a, b| Figures {
                peak_to_mean: a.peak_to_mean.max(b.peak_to_mean),
                per_lifetime: a.per_lifetime.max(b.per_lifetime),
            },
        )
}

/// Simulates the four designs on one fleet, prints a table row for each, and
/// returns ours and its worst outage survived (a fraction of the lifetime).
fn compare(providers: usize, lifetime: f64, horizon: f64, bin: f64) -> (Figures, f64) {
    type Named = (&'static str, fn(f64) -> Policy);
    let designs: [Named; 4] = [
        ("ours", ours),
        ("old late edge", old_late_edge),
        ("300 s margin", margin_300),
        ("python sdk", python_sdk),
    ];
    println!(
        "| {providers} x {lifetime} s tokens, {horizon} s | busiest {bin} s / mean | \
         exchanges per provider per lifetime | worst outage survived |"
    );
    println!("|---|---|---|---|");
    let rows = designs.map(|(name, f)| {
        let w = worst(providers, lifetime, horizon, bin, f);
        let outage = worst_outage(name, lifetime) / lifetime;
        println!(
            "| {name} | {:.2}x | {:.3} | {:.3} L |",
            w.peak_to_mean, w.per_lifetime, outage
        );
        (w, outage)
    });
    rows[0]
}

#[test]
fn a_thousand_providers_with_900_s_tokens_stay_spread_for_a_day() {
    let (w, outage) = compare(1000, 900.0, 86_400.0, 10.0);
    assert!(w.peak_to_mean <= 2.0, "{:.2}", w.peak_to_mean);
    // A refresh every 449 s after receipt, and the first lifetime's early
    // spread draws: 2.015.
    assert!(w.per_lifetime <= 2.1, "{:.3}", w.per_lifetime);
    assert!(outage >= 0.5, "{outage}");
}

#[test]
fn two_hundred_providers_with_6_s_tokens_spread_within_a_lifetime() {
    let (w, outage) = compare(200, 6.0, 36.0, 0.25);
    assert!(w.peak_to_mean <= 3.0, "{:.2}", w.peak_to_mean);
    // A refresh every 2 s after receipt (half the lifetime, less the
    // half-second uncertainty, less the half second a whole-second `iat`
    // costs), and the first lifetime's early spread draws: 3.17.
    assert!(w.per_lifetime <= 3.2, "{:.3}", w.per_lifetime);
    assert!(outage >= 0.5, "{outage}");
}

#[test]
fn the_worst_outage_survived_is_half_a_lifetime_from_4_s_to_a_day() {
    for lifetime in [4.0, 6.0, 60.0, 900.0, 3600.0, 86_400.0] {
        let served = worst_outage("ours", lifetime);
        assert!(served >= lifetime / 2.0, "{lifetime} s: {served} s");
    }
}

/// A fleet of `providers` with 900 s tokens on spread phases; the endpoint
/// fails from `down` for `outage` seconds, the background threads backing
/// off with the real [`pacing`] (callers, who cool down at most 4 s, are not
/// modelled). Returns the busiest second of exchanges in the minute after
/// the endpoint returns, and how long after its return the last provider
/// got a fresh token.
fn recovery(providers: usize, outage: f64, seed: u64) -> (u32, f64) {
    let t = defaults();
    let mut rng = Seeded(seed);
    let (down, up) = (3_600.0, 3_600.0 + outage);
    let mut burst = vec![0u32; 60];
    let mut last_fresh: f64 = 0.0;
    for _ in 0..providers {
        // A routine refresh somewhere in its period when the outage begins.
        let mut at = down + 449.5 * rng.unit();
        if at >= up {
            // Not due during the outage: untouched by it.
            continue;
        }
        let mut streak = 0u32;
        loop {
            if at >= up {
                let since = at - up;
                if let Some(b) = burst.get_mut(since as usize) {
                    *b += 1;
                }
                last_fresh = last_fresh.max(since);
                break;
            }
            streak += 1;
            // Retries at least a second apart: a pacing that stops moving
            // on would loop here for ever.
            assert!(
                f64::from(streak) <= outage + 1.0,
                "{streak} retries in a {outage} s outage"
            );
            at += pacing(streak, t.retry_delay, rng.unit())
                .background
                .as_secs_f64();
        }
    }
    (*burst.iter().max().unwrap(), last_fresh)
}

#[test]
fn after_an_outage_a_fleet_comes_back_spread_within_one_retry_delay() {
    for outage in [60.0, 600.0, 3_600.0] {
        let (busiest, last) = (1..=3u64)
            .map(|seed| recovery(1000, outage, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .fold((0, 0f64), |(b, l), (b2, l2)| (b.max(b2), l.max(l2)));
        println!(
            "recovery after a {outage} s outage, 1000 providers: busiest second {busiest} \
             exchanges, every provider fresh within {last:.1} s"
        );
        assert!(last <= 60.0, "{last}");
        assert!(busiest <= 60, "{busiest}");
    }
}
