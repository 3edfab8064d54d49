//! The clocks the fast path could read, and the Python SDK's `get_token`,
//! measured beside `get_token` and its floor.

use std::hint::black_box;
use std::process::Command;
use std::time::{Instant, SystemTime};

use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

use super::{interleaved, Loop};

/// One candidate: a name and its median nanoseconds per call.
pub type Figure = (&'static str, f64);

/// A loop timing `n` calls of `f`.
fn timed<'a, T>(f: impl Fn() -> T + 'a) -> Loop<'a> {
    Box::new(move |n| {
        let t = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        t.elapsed()
    })
}

/// Nanoseconds per read of each clock the fast path could judge a deadline
/// on (and the pair it reads on Linux), interleaved with `get_token` itself.
pub fn clock_reads(p: &JwtAuthProvider, iters: u64, samples: usize) -> Vec<Figure> {
    let mut named: Vec<(&'static str, Loop<'_>)> = vec![
        (
            "`SystemTime::now()` (`CLOCK_REALTIME`)",
            timed(SystemTime::now),
        ),
        ("`Instant::now()` (`CLOCK_MONOTONIC`)", timed(Instant::now)),
    ];
    #[cfg(target_os = "linux")]
    {
        use rustix::time::{clock_gettime, ClockId};
        named.extend([
            (
                "`CLOCK_BOOTTIME`",
                timed(|| clock_gettime(ClockId::Boottime)),
            ),
            (
                "`CLOCK_MONOTONIC_COARSE`",
                timed(|| clock_gettime(ClockId::MonotonicCoarse)),
            ),
            (
                "`CLOCK_REALTIME_COARSE`",
                timed(|| clock_gettime(ClockId::RealtimeCoarse)),
            ),
            (
                "`SystemTime::now()` + `CLOCK_MONOTONIC_COARSE` (the fast path's pair)",
                timed(|| (SystemTime::now(), clock_gettime(ClockId::MonotonicCoarse))),
            ),
        ]);
    }
    named.push((
        "`SystemTime::now()` + `Instant::now()` (the former pair)",
        timed(|| (SystemTime::now(), Instant::now())),
    ));
    named.push(("`get_token()`", timed(|| p.get_token())));
    let (names, mut loops): (Vec<_>, Vec<_>) = named.into_iter().unzip();
    let r = interleaved(&mut loops, iters, samples);
    names.into_iter().zip(r).collect()
}

/// The replica of the Python SDK's `get_token` (see the script's header).
pub const PYTHON_SDK: &str = include_str!("python_sdk.py");

/// Median nanoseconds per awaited `get_token()` of the Python SDK replica,
/// run by `python3`; `Err` says why not (no `python3`, say).
pub fn python_sdk(iters: u64, samples: usize) -> Result<f64, String> {
    let out = Command::new("python3")
        .args(["-c", PYTHON_SDK])
        .arg(iters.to_string())
        .arg(samples.to_string())
        .output()
        .map_err(|e| format!("python3 not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("python3 printed no figure: {e}"))
}
