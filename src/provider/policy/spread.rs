//! When the background thread refreshes a token: spread across a fleet.
//!
//! A training job starts hundreds of processes at once, each with its own
//! provider, and each gets its first token at the same moment. If every
//! provider then refreshed at the same point of each token's life, plus a
//! little jitter, the fleet would hit the token endpoint in bursts for hours.
//!
//! The rule here makes the spread once, when providers may be in step, and
//! keeps it:
//!
//! - A [`Draw::Routine`] refresh (the previous one went as planned, or the
//!   token was adopted from the host's shared cache) happens at the token's
//!   *late edge*, the age that still leaves `min(refresh_before_expiry, 2/5
//!   of the lifetime)` (by default twice the on-demand window) for retries
//!   before `get_token` would refresh on demand; with no jitter: a fleet
//!   already spread stays spread, and each provider makes `lifetime / late`
//!   exchanges per lifetime (about 1.15 for a 900 s token).
//! - A [`Draw::Spread`] refresh (a provider's first token, or the first after
//!   a failure, an unproductive exchange or an on-demand refresh: the moments
//!   when a fleet may be in step) is drawn uniformly over one whole period,
//!   from issue to the late edge. Providers started together (or recovering
//!   together from an outage) thus refresh at phases spread evenly over one
//!   period, and the routine refreshes that follow keep those phases. Each
//!   such draw costs at most one early exchange.
//!
//! Jittering every routine refresh would not spread the fleet further: it
//! only adds noise, so that the busiest few seconds of a day hold twice the
//! mean rate or more. Tested by simulation below.

use std::time::Duration;

use super::Timing;

/// How a token's background refresh time is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    /// At the late edge: the previous refresh went as planned, or the token
    /// is the host's (adopted from the shared cache, its writer drew it).
    Routine,
    /// Uniform over one period, from issue to the late edge: the first token,
    /// or the first after a failed, unproductive or on-demand refresh.
    Spread,
}

/// The age (time since issue) at which a token of this lifetime still has
/// `min(refresh_before_expiry, 2 * lifetime / 5)` left: the latest background
/// refresh, and the period of a provider's routine refreshes.
pub(crate) fn late_edge(t: &Timing, lifetime: Duration) -> Duration {
    lifetime.saturating_sub(t.refresh_before_expiry.min(lifetime / 5 * 2))
}

/// The age at which the background thread refreshes a token of this
/// lifetime, for a sample `r` in `[0, 1)` (used only by [`Draw::Spread`]).
pub(crate) fn background_age(t: &Timing, lifetime: Duration, draw: Draw, r: f64) -> Duration {
    let late = late_edge(t, lifetime);
    match draw {
        Draw::Routine => late,
        Draw::Spread => Duration::try_from_secs_f64(late.as_secs_f64() * unit(r))
            .unwrap_or(late)
            .min(late),
    }
}

/// [`background_age`], no earlier than `floor`: the age the token will have
/// when the pacing gap after the exchange that brought it has passed (its age
/// on arrival, larger for a seed or a token adopted from the shared cache,
/// plus [`MIN_EXCHANGE_GAP`](super::MIN_EXCHANGE_GAP)). What
/// [`Schedule::new`](super::Schedule::new) calls.
///
/// A draw before `floor` is drawn again, uniformly over `[floor, late]` (the
/// same sample rescaled, so the result stays uniform and deterministic);
/// with `floor` past the late edge, the late edge (due at once). The late edge
/// is never passed.
pub(crate) fn background_age_from(
    t: &Timing,
    lifetime: Duration,
    draw: Draw,
    r: f64,
    floor: Duration,
) -> Duration {
    let age = background_age(t, lifetime, draw, r);
    if age >= floor {
        return age;
    }
    let late = late_edge(t, lifetime);
    if floor >= late {
        return late;
    }
    // `age < floor < late`, so `late` is positive and the Spread draw's `r`
    // was below `floor / late`: rescaled, it is uniform in `[0, 1)` again.
    let rescaled = match draw {
        Draw::Spread => unit(r) * late.as_secs_f64() / floor.as_secs_f64(),
        Draw::Routine => 0.0,
    };
    let left = late - floor;
    let ahead = Duration::try_from_secs_f64(left.as_secs_f64() * unit(rescaled))
        .unwrap_or(left)
        .min(left);
    floor + ahead
}

/// `r` clamped to `[0, 1]`, NaN as 0.
fn unit(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else {
        r.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::JwtTimes;
    use crate::provider::policy::{Schedule, CLOCK_RESOLUTION};
    use std::time::UNIX_EPOCH;

    fn timing(before: u64) -> Timing {
        Timing {
            refresh_before_expiry: Duration::from_secs(before),
            refresh_on_demand_within: Duration::from_secs(60),
            retry_delay: Duration::from_secs(60),
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_late_edge_leaves_twice_the_on_demand_window() {
        let t = timing(120);
        assert_eq!(late_edge(&t, s(900.0)), s(780.0));
        // Short tokens: 2/5 of the lifetime is left, twice the on-demand fifth.
        assert_eq!(late_edge(&t, s(6.0)), s(3.6));
        // A larger margin moves the late edge earlier, to 3/5 of the lifetime at most.
        assert_eq!(late_edge(&timing(300), s(900.0)), s(600.0));
        assert_eq!(late_edge(&timing(10_000), s(900.0)), s(540.0));
    }

    #[test]
    fn routine_refreshes_at_the_late_edge_and_spread_ones_cover_a_period() {
        let t = timing(120);
        let l = s(900.0);
        assert_eq!(background_age(&t, l, Draw::Routine, 0.3), s(780.0));
        assert_eq!(background_age(&t, l, Draw::Spread, 0.0), s(0.0));
        assert_eq!(background_age(&t, l, Draw::Spread, 0.5), s(390.0));
        let top = background_age(&t, l, Draw::Spread, 0.999_999);
        assert!(top <= s(780.0) && top > s(779.9), "{top:?}");
    }

    #[test]
    fn a_draw_before_the_floor_is_drawn_again_after_it_never_past_the_late_edge() {
        let t = timing(120);
        let l = s(900.0);
        // r = 0.05 would be 39 s; with a floor of 300 s, it is rescaled over
        // [300 s, 780 s]: 0.05 * 780 / 300 = 0.13 of the way.
        let age = background_age_from(&t, l, Draw::Spread, 0.05, s(300.0));
        assert!(
            (age.as_secs_f64() - (300.0 + 0.13 * 480.0)).abs() < 1e-6,
            "{age:?}"
        );
        // Routine below the floor: the floor itself.
        assert_eq!(
            background_age_from(&t, l, Draw::Routine, 0.5, s(800.0)),
            s(780.0)
        );
        for r in [0.0, 0.2, 0.5, 0.99] {
            let age = background_age_from(&t, l, Draw::Spread, r, s(500.0));
            assert!(age >= s(500.0) && age <= s(780.0), "{r}: {age:?}");
        }
    }

    #[test]
    fn every_input_extreme_gives_an_age_within_the_lifetime() {
        let knobs = [Duration::ZERO, Duration::from_nanos(1), Duration::MAX];
        let lifetimes = [
            Duration::ZERO,
            Duration::from_nanos(1),
            s(1.0),
            Duration::MAX,
        ];
        let samples = [0.0, 0.5, 0.999, 1.0, -1.0, f64::NAN, f64::INFINITY];
        for before in knobs {
            for lifetime in lifetimes {
                let t = Timing {
                    refresh_before_expiry: before,
                    refresh_on_demand_within: before,
                    retry_delay: before,
                };
                let late = late_edge(&t, lifetime);
                assert!(late <= lifetime);
                for r in samples {
                    for draw in [Draw::Routine, Draw::Spread] {
                        let age = background_age(&t, lifetime, draw, r);
                        assert!(age <= late, "{before:?} {lifetime:?} {r} {draw:?}");
                        for floor in knobs.into_iter().chain(lifetimes) {
                            let age = background_age_from(&t, lifetime, draw, r, floor);
                            assert!(age <= late, "{before:?} {lifetime:?} {r} {floor:?}");
                        }
                    }
                }
            }
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

    /// What a simulated fleet did: the busiest bin after the first lifetime
    /// against the mean bin there, and exchanges per provider per lifetime.
    struct Figures {
        peak_to_mean: f64,
        per_lifetime: f64,
    }

    /// Providers started together, each refreshing at `next(age_draw)` after
    /// receiving a token that lives `lifetime`; the token endpoint answers at
    /// once. Counts exchanges in bins of `bin` over `horizon`.
    fn fleet(
        providers: usize,
        lifetime: f64,
        horizon: f64,
        bin: f64,
        seed: u64,
        mut next: impl FnMut(bool, &mut Seeded) -> f64,
    ) -> Figures {
        let mut rng = Seeded(seed);
        let bins = (horizon / bin).ceil() as usize;
        let mut counts = vec![0u32; bins];
        let mut exchanges = 0u64;
        for _ in 0..providers {
            // The first exchange, at the start, then the refreshes.
            counts[0] += 1;
            exchanges += 1;
            let mut t = next(true, &mut rng);
            while t < horizon {
                counts[(t / bin) as usize] += 1;
                exchanges += 1;
                t += next(false, &mut rng);
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

    /// This crate's: the real [`Schedule`], built as the provider builds it
    /// on receipt of a fresh token (`iat` now, known offset), with the draw
    /// the provider uses: spread for the first token, routine after.
    fn ours(lifetime: f64) -> impl FnMut(bool, &mut Seeded) -> f64 {
        let t = timing(120);
        move |first, rng| {
            let now = UNIX_EPOCH + s(1_700_000_000.0);
            let times = JwtTimes {
                exp: now + s(lifetime),
                iat: Some(now),
            };
            let draw = if first { Draw::Spread } else { Draw::Routine };
            Schedule::new(times, 0.0, CLOCK_RESOLUTION, now, &t, draw, rng.unit())
                .refresh_delay(now)
                .as_secs_f64()
        }
    }

    /// The schedule this crate used before: `exp - min(300 s, L/2) * (1 - U(0, 0.1))`.
    fn before(lifetime: f64) -> impl FnMut(bool, &mut Seeded) -> f64 {
        move |_, rng| lifetime - (300f64).min(lifetime / 2.0) * (1.0 - 0.1 * rng.unit())
    }

    /// The Python SDK's (tinker 0.38): `L * U(0.45, 0.55)`.
    fn python_sdk(lifetime: f64) -> impl FnMut(bool, &mut Seeded) -> f64 {
        move |_, rng| lifetime * (0.45 + 0.1 * rng.unit())
    }

    /// A schedule: the next refresh's delay, given whether it is the first.
    type Policy = Box<dyn FnMut(bool, &mut Seeded) -> f64>;

    /// Runs `schedule` for five seeds and returns the worst figures.
    fn worst(
        providers: usize,
        lifetime: f64,
        horizon: f64,
        bin: f64,
        schedule: impl Fn(f64) -> Policy,
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

    /// Simulates ours, the old schedule and the Python SDK's on one fleet,
    /// prints the three, and returns ours.
    fn compare(providers: usize, lifetime: f64, horizon: f64, bin: f64) -> Figures {
        type Named = (&'static str, fn(f64) -> Policy);
        let schedules: [Named; 3] = [
            ("this crate", |l| Box::new(ours(l))),
            ("before", |l| Box::new(before(l))),
            ("python sdk", |l| Box::new(python_sdk(l))),
        ];
        let mut figures = schedules.map(|(name, f)| {
            let w = worst(providers, lifetime, horizon, bin, f);
            println!(
                "{lifetime} s tokens, {providers} providers, {horizon} s, {name}: busiest {bin} s \
                 {:.2}x the mean after the first lifetime, {:.2} exchanges per provider per \
                 lifetime",
                w.peak_to_mean, w.per_lifetime
            );
            Some(w)
        });
        figures[0].take().expect("ours")
    }

    #[test]
    fn a_thousand_providers_with_900_s_tokens_stay_spread_for_a_day() {
        let w = compare(1000, 900.0, 86_400.0, 10.0);
        assert!(w.peak_to_mean <= 2.0, "{:.2}", w.peak_to_mean);
        assert!(w.per_lifetime <= 1.6, "{:.2}", w.per_lifetime);
    }

    #[test]
    fn two_hundred_providers_with_6_s_tokens_spread_within_a_lifetime() {
        let w = compare(200, 6.0, 36.0, 0.25);
        assert!(w.peak_to_mean <= 3.0, "{:.2}", w.peak_to_mean);
        assert!(w.per_lifetime <= 2.0, "{:.2}", w.per_lifetime);
    }
}
