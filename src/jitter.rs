//! Randomness for jitter (not for anything secret), and the arithmetic every
//! backoff shares.

use std::time::Duration;

/// A uniform sample in `[0, 1)`, from `fastrand`'s per-thread generator
/// (wyrand, seeded per thread from the standard library's hash seed and the
/// thread's id).
pub(crate) fn unit() -> f64 {
    fastrand::f64()
}

/// The ceiling of exponential backoff before attempt `n` (1 for the first):
/// `min(cap, base * 2^(n-1))`, doubling at most 30 times, saturating.
pub(crate) fn doubling(n: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = n.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << doublings).min(cap)
}

/// `d * r` for `r` clamped to `[0, 1]` (NaN as 0), never more than `d`.
/// `Duration::mul_f64` would panic where `d * r` rounds past `Duration::MAX`
/// (as `Duration::MAX * 1.0` does in `f64`).
pub(crate) fn scale(d: Duration, r: f64) -> Duration {
    let r = if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) };
    Duration::try_from_secs_f64(d.as_secs_f64() * r)
        .unwrap_or(d)
        .min(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_cover_the_unit_interval() {
        let xs: Vec<f64> = (0..10_000).map(|_| super::unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
        assert!(xs.iter().any(|&x| x < 0.05) && xs.iter().any(|&x| x > 0.95));
    }
}
