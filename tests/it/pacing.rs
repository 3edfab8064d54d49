//! One pacing rule for every trigger: whatever a token's claims say, and
//! whatever the server's clock, a provider with eight busy callers and its
//! background thread makes a bounded number of exchanges.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use testkit::stand_in::{ClaimShape, Mode, StandIn, StandInConfig};
use tinker_auth::{AuthTokenProvider, JwtAuthProvider};

/// How long each shape is driven, and the bounds over that window.
const WINDOW: Duration = Duration::from_secs(10);
/// The pacing floor: at least this long between two exchanges.
const MIN_GAP: Duration = Duration::from_secs(1);
/// The background thread backs off from ~1 s, doubling: 1 + 2 + 4 = 7 s, so
/// at most 4 of its own exchanges fit in 10 s (6 leaves room for jitter).
const MAX_BACKGROUND: u64 = 6;
const CALLERS: usize = 8;

struct Row {
    name: &'static str,
    mode: Mode,
    /// Server clock minus local clock, seconds.
    skew: i64,
    lifetime: Duration,
}

fn row(name: &'static str, shape: ClaimShape, skew: i64) -> Row {
    Row {
        name,
        mode: Mode::Claims(shape),
        skew,
        lifetime: Duration::from_secs(4),
    }
}

/// The most exchanges the pacing floor allows over `elapsed`: one per
/// `MIN_GAP`, the first one, and one in flight when the count is read.
fn max_exchanges(elapsed: Duration) -> u64 {
    (elapsed.as_secs_f64() / MIN_GAP.as_secs_f64()).floor() as u64 + 2
}

/// Drives one shape for `WINDOW`: an expired seed, the background thread on,
/// eight callers asking for a token in a loop. Returns (exchanges, background
/// exchanges, calls answered with a token, the time the server was up when
/// the exchanges were counted).
fn drive(r: &Row) -> (u64, u64, u64, Duration) {
    let server = StandIn::start_with(StandInConfig {
        lifetime: r.lifetime,
        skew_secs: r.skew,
        ..StandInConfig::default()
    });
    // The window the exchanges are counted over, measured: on a loaded
    // machine the sleep below and the callers' join take longer than
    // `WINDOW`, and the floor goes on allowing one exchange a second.
    let up = Instant::now();
    server.set_mode(r.mode.clone());
    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            // Expired by the local clock whatever the server's (unsigned: never verified).
            .seed_token(testkit::jwt_expiring_in(-30.0, 60.0))
            .fetch_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (p, stop) = (Arc::clone(&provider), Arc::clone(&stop));
            thread::spawn(move || {
                let mut served = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if matches!(p.get_token(), Ok(Some(_))) {
                        served += 1;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                served
            })
        })
        .collect();
    thread::sleep(WINDOW);
    stop.store(true, Ordering::Relaxed);
    let served = callers.into_iter().map(|h| h.join().unwrap()).sum();
    let exchanges = server.exchanges();
    let elapsed = up.elapsed();
    let background = provider.stats().background;
    (exchanges, background, served, elapsed)
}

#[test]
fn every_claim_shape_and_server_clock_is_paced() {
    // The bound on a quiet machine, where the window is `WINDOW`.
    assert_eq!(max_exchanges(WINDOW), 12);
    let day = 86_400;
    let rows = vec![
        row("no iat, 120 s", ClaimShape::NoIat(120), 0),
        row("no iat, 240 s", ClaimShape::NoIat(240), 0),
        row("no iat, exp 1 s ahead", ClaimShape::NoIat(1), 0),
        row("iat a day old, 120 s", ClaimShape::OldIat(120), 0),
        row("iat after exp", ClaimShape::IatAfterExp(120), 0),
        row("exp in the past", ClaimShape::ExpPast, 0),
        row("exp in the year 30000", ClaimShape::Year30000, 0),
        row("lifetime 1 s", ClaimShape::Lifetime(1), 0),
        row("float claims, 1 s", ClaimShape::Float(1), 0),
        row("float claims, 120 s", ClaimShape::Float(120), 0),
        row(
            "lifetime 900 s, server a day ahead",
            ClaimShape::Lifetime(900),
            day,
        ),
        row(
            "no iat, 120 s, server a day behind",
            ClaimShape::NoIat(120),
            -day,
        ),
        row(
            "lifetime 1 s, server an hour ahead",
            ClaimShape::Lifetime(1),
            3600,
        ),
    ];
    let started = Instant::now();
    let handles: Vec<_> = rows
        .into_iter()
        .map(|r| thread::spawn(move || (r.name, drive(&r))))
        .collect();
    let mut failures = Vec::new();
    for h in handles {
        let (name, (exchanges, background, served, elapsed)) = h.join().unwrap();
        eprintln!(
            "{name:40} exchanges {exchanges:3}  background {background:2}  tokens served \
             {served} in {elapsed:.1?}"
        );
        if exchanges > max_exchanges(elapsed) || background > MAX_BACKGROUND {
            failures.push(format!(
                "{name}: {exchanges} exchanges ({background} background) in {elapsed:.1?}"
            ));
        }
    }
    eprintln!("table took {:.1?}", started.elapsed());
    assert!(failures.is_empty(), "not paced: {failures:#?}");
}
