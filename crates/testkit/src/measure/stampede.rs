//! The stampede: many threads released at once onto a due token.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tinker_auth::{AuthTokenProvider, JwtAuthProvider, ManualClock};

use super::common::{median, server};
use crate::stand_in::TOKEN_PATH;

/// Item 3: the stampede, medians in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stampede {
    /// Threads released at once.
    pub threads: usize,
    /// From the barrier's release until the last thread holds the new token.
    pub all_hold_new: f64,
    /// From the first thread's call of `get_token` until the last thread
    /// holds the new token: the provider's part, without the time the
    /// machine takes to wake the first thread from the barrier.
    pub from_first_call: f64,
    /// Threads that waited for the flight (median); the others arrived after
    /// it had landed and took the fast path.
    pub waiters: f64,
    /// From the first call until that (first) caller returns: the flight,
    /// run while the other threads are still being woken.
    pub flight: f64,
    /// From the first caller's return until the last thread's: handing the
    /// new token to the waiters (and to late arrivals).
    pub hand_out: f64,
    /// One bare exchange (`POST` token path, body read) with `ureq` on a
    /// kept-alive loopback connection, with the provider's 30 s timeout.
    pub round_trip: f64,
    /// From the barrier's release until the last thread has merely woken up:
    /// the scheduling floor of releasing that many threads on this machine.
    pub release_floor: f64,
    /// Most exchanges seen during one stampede (must be 1).
    pub max_exchanges: u64,
    /// Samples taken.
    pub samples: usize,
}

/// What [`released`] saw: the release instant and, per thread, when its
/// work started and ended, and what it returned.
struct Released<T> {
    release: Instant,
    runs: Vec<(Instant, Instant, T)>,
}

impl<T> Released<T> {
    fn last_end(&self) -> Instant {
        self.runs.iter().map(|r| r.1).max().unwrap()
    }

    /// From the release to the last end, µs.
    fn since_release(&self) -> f64 {
        (self.last_end() - self.release).as_secs_f64() * 1e6
    }

    /// From the first start to the last end, µs.
    fn since_first_start(&self) -> f64 {
        let first = self.runs.iter().map(|r| r.0).min().unwrap();
        (self.last_end() - first).as_secs_f64() * 1e6
    }

    /// The run that started first.
    fn first(&self) -> &(Instant, Instant, T) {
        self.runs.iter().min_by_key(|r| r.0).unwrap()
    }
}

/// Releases `threads` threads (plus the caller) from one barrier, each then
/// running `work`.
fn released<T: Send>(threads: usize, work: impl Fn() -> T + Sync) -> Released<T> {
    let barrier = Barrier::new(threads + 1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    let out = work();
                    (start, Instant::now(), out)
                })
            })
            .collect();
        // Let every thread reach the barrier, so that the caller releases it.
        thread::sleep(Duration::from_millis(20));
        let release = Instant::now();
        barrier.wait();
        let runs = handles.into_iter().map(|h| h.join().unwrap()).collect();
        Released { release, runs }
    })
}

/// Measures [`Stampede`]: each round moves an injected clock (and the
/// server's, by the same whole seconds) past the token's expiry, then
/// releases `threads` threads into `get_token`.
pub fn stampede(threads: usize, samples: usize) -> Stampede {
    let lifetime = Duration::from_secs(60);
    let server = server(lifetime);
    let clock = ManualClock::new(SystemTime::now());
    let p = JwtAuthProvider::builder(server.url())
        .api_key(server.api_key())
        .clock(Arc::new(clock.clone()))
        .background_refresh(false)
        .build()
        .expect("build");
    // With the provider's default fetch timeout: on this VM a `ureq` timeout
    // alone costs tens of µs per request, and the provider's exchange pays it.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("{}{TOKEN_PATH}", server.url());
    let key = server.api_key();
    let bare = || {
        let t = Instant::now();
        let body = agent
            .post(&url)
            .header("X-API-Key", &key)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send("{}")
            .expect("bare exchange")
            .body_mut()
            .read_to_string()
            .expect("bare exchange body");
        assert!(body.contains("jwt"));
        t.elapsed()
    };
    bare();
    let step = lifetime + Duration::from_secs(1);
    let mut skew = 0i64;
    let (mut all, mut first, mut waiters) = (vec![], vec![], vec![]);
    let (mut flight, mut hand_out) = (vec![], vec![]);
    let (mut trip, mut floor) = (vec![], vec![]);
    let mut max_exchanges = 0;
    for _ in 0..samples {
        // Idle first, as the stampede's flight is: both start cold alike.
        thread::sleep(Duration::from_millis(20));
        trip.push(bare().as_secs_f64() * 1e6);

        let old = p.get_token().unwrap().unwrap();
        skew += step.as_secs() as i64;
        server.set_skew_secs(skew);
        clock.advance(step);
        let (exchanges, waits) = (server.exchanges(), p.stats().waits);
        let r = released(threads, || p.get_token().unwrap().unwrap());
        max_exchanges = max_exchanges.max(server.exchanges() - exchanges);
        waiters.push((p.stats().waits - waits) as f64);
        let new = &r.runs[0].2;
        assert!(r
            .runs
            .iter()
            .all(|(_, _, t)| t.same_as(new) && !t.same_as(&old)));
        all.push(r.since_release());
        first.push(r.since_first_start());
        let (start, end, _) = r.first();
        flight.push((*end - *start).as_secs_f64() * 1e6);
        hand_out.push((r.last_end() - *end).as_secs_f64() * 1e6);

        floor.push(released(threads, || ()).since_release());
    }
    Stampede {
        threads,
        all_hold_new: median(all),
        from_first_call: median(first),
        waiters: median(waiters),
        flight: median(flight),
        hand_out: median(hand_out),
        round_trip: median(trip),
        release_floor: median(floor),
        max_exchanges,
        samples,
    }
}
