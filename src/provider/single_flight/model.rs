//! The single flight, model-checked with loom: every interleaving of the
//! threads below (up to a preemption bound) runs [`begin`], [`fly`],
//! [`wait`] and [`publish`], the code the provider runs, on loom's `Mutex`,
//! `Condvar` and atomics. Run it (release: loom is slow in debug) with
//!
//! ```text
//! RUSTFLAGS="--cfg tinker_auth_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tinker-auth --release --lib single_flight::model -- --nocapture --test-threads=1
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the bound ([`PREEMPTIONS`]); each model
//! prints the interleavings it explored and its run time.
//!
//! # What the model stands for
//! - A token is the number of the flight that received it (its generation
//!   when it started), so a newer token has a larger number.
//! - Time is a logical clock in ticks. loom's `Condvar::wait_timeout` never
//!   times out (it is a plain `wait`), so a timed wait ending is modelled by
//!   the clock thread: it advances the clock and notifies the condition
//!   variable under the lock, as a real timed wait started before the move
//!   would have timed out by then. A wait loop that waits again after its
//!   deadline, or misses a wake-up, leaves a thread blocked for good, which
//!   loom reports as a deadlock.
//! - The refresh thread's stop channel (crossbeam) cannot run under loom: its
//!   protocol (the stop message is kept until read; the thread checks it
//!   before each refresh and naps on it) is modelled by a flag and a
//!   condition variable from [`super::sync`].
//! - A panic while installing is not modelled: loom's `Mutex` keeps a std
//!   mutex inside, which a panic with the guard held poisons, failing every
//!   later `lock`. `FlightEnd` on that path is tested on the real locks
//!   (`flight::tests::a_panic_while_installing_still_ends_the_flight`).

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicU64 as Ticks, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use super::sync::{AtomicU64, Condvar, Mutex};
use super::{begin, busy, fly, publish, wait, FlightClock, Ledger, Marks, Waited};
use crate::fork::Origin;

/// Default preemption bound: every interleaving with at most this many
/// preemptions is explored.
const PREEMPTIONS: usize = 3;

/// Ticks from a flight's start to its deadline.
const FLIGHT: u64 = 2;

/// What a caller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Token(u64),
    /// The flight with this number failed.
    Failed(u64),
    TimedOut,
}

struct Model {
    in_flight: bool,
    origin: Origin,
    start: u64,
    deadline: u64,
    generation: u64,
    /// The flight that ended last, and what it received.
    outcome: (u64, Result<u64, ()>),
    current: Option<u64>,
    /// `invalidate` marked the current token rejected.
    rejected: bool,
    panicked: bool,
}

impl Ledger for Model {
    type Instant = u64;

    fn marks(&mut self) -> Marks<'_, u64> {
        Marks {
            in_flight: &mut self.in_flight,
            origin: &mut self.origin,
            start: &mut self.start,
            deadline: &mut self.deadline,
            generation: &mut self.generation,
        }
    }

    fn panicked(&mut self) {
        self.panicked = true;
    }
}

struct Clock(Ticks);

impl Clock {
    fn now(&self) -> u64 {
        self.0.load(SeqCst)
    }
}

impl FlightClock for Clock {
    type Instant = u64;

    fn left(&self, until: u64) -> Duration {
        Duration::from_nanos(until.saturating_sub(self.now()))
    }
}

struct Provider {
    state: Mutex<Model>,
    fetched: Condvar,
    version: AtomicU64,
    clock: Clock,
    /// Exchanges running now.
    exchanging: AtomicUsize,
    /// The flight whose exchange fails, if any.
    failing: Option<u64>,
}

impl Provider {
    /// A provider holding `seed` (a token from before flight `first`).
    fn new(seed: Option<u64>, first: u64, failing: Option<u64>) -> Self {
        Provider {
            state: Mutex::new(Model {
                in_flight: false,
                origin: Origin::here(),
                start: 0,
                deadline: 0,
                generation: first,
                outcome: (0, Err(())),
                current: seed,
                rejected: false,
                panicked: false,
            }),
            fetched: Condvar::new(),
            version: AtomicU64::new(0),
            clock: Clock(Ticks::new(0)),
            exchanging: AtomicUsize::new(0),
            failing,
        }
    }

    /// `get_token` with the lock: serve a usable token, wait for the flight
    /// in flight (until `deadline` at most), or lead one.
    fn get(&self, deadline: Option<u64>) -> Got {
        let mut st = self.state.lock();
        if let Some(token) = st.current.filter(|_| !st.rejected) {
            return Got::Token(token);
        }
        if busy(&mut *st) {
            let awaited = st.generation;
            let wake = deadline.map_or(st.deadline, |d| d.min(st.deadline));
            return match wait(&mut st, &self.fetched, &self.clock, deadline) {
                Waited::Ended => {
                    let (flight, outcome) = st.outcome;
                    assert!(flight >= awaited, "a waiter got an older flight's outcome");
                    got(flight, outcome)
                }
                Waited::TimedOut => {
                    assert!(self.clock.now() >= wake, "a waiter gave up early");
                    assert_eq!(st.generation, awaited, "a waiter missed its flight's end");
                    Got::TimedOut
                }
            };
        }
        let start = self.clock.now();
        begin(&mut *st, start, start + FLIGHT);
        let flight = st.generation;
        let exchange = || self.exchange(flight);
        fly(&mut st, &self.fetched, exchange, |st, r| {
            self.install(st, flight, r);
        });
        let (ended, outcome) = st.outcome;
        assert_eq!(ended, flight, "the leader got another flight's outcome");
        got(flight, outcome)
    }

    fn exchange(&self, flight: u64) -> Result<u64, ()> {
        let running = self.exchanging.fetch_add(1, SeqCst);
        assert_eq!(running, 0, "two exchanges in flight");
        self.exchanging.fetch_sub(1, SeqCst);
        if self.failing == Some(flight) {
            Err(())
        } else {
            Ok(flight)
        }
    }

    fn install(&self, st: &mut Model, flight: u64, result: Result<u64, ()>) {
        if let Ok(token) = result {
            let older = st.current.is_some_and(|c| c >= token);
            assert!(!older, "an older flight's token replaced a newer one");
            st.current = Some(token);
            st.rejected = false;
            publish(&self.version);
        }
        st.outcome = (flight, result);
    }

    /// Marks `token` rejected if it is still the current one.
    fn invalidate(&self, token: u64) {
        let mut st = self.state.lock();
        if st.current == Some(token) && !st.rejected {
            st.rejected = true;
            publish(&self.version);
        }
    }
}

fn got(flight: u64, outcome: Result<u64, ()>) -> Got {
    outcome.map_or(Got::Failed(flight), Got::Token)
}

/// The refresh thread's stop signal (see the module docs).
struct Stop {
    stopped: Mutex<bool>,
    told: Condvar,
}

impl Stop {
    fn new() -> Self {
        Stop {
            stopped: Mutex::new(false),
            told: Condvar::new(),
        }
    }

    fn stop(&self) {
        *self.stopped.lock() = true;
        self.told.notify_all();
    }
}

/// The refresh thread: unless told to stop, one refresh, then a nap that
/// only the stop ends (a timed wait never times out under loom: the nap
/// stands for one longer than the model).
fn refresh_thread(p: &Provider, stop: &Stop) -> Option<Got> {
    if *stop.stopped.lock() {
        return None;
    }
    let got = p.get(None);
    let mut stopped = stop.stopped.lock();
    while !*stopped {
        let _ = stop.told.wait_for(&mut stopped, Duration::from_secs(3600));
    }
    Some(got)
}

/// Runs `f` in every interleaving, then prints how many and how long.
fn check(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(PREEMPTIONS));
    let bound = builder.preemption_bound;
    let started = Instant::now();
    let counter = std::sync::Arc::clone(&runs);
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        f();
    });
    let runs = runs.load(Relaxed);
    let took = started.elapsed();
    println!("loom {name}: {runs} interleavings, preemption bound {bound:?}, {took:.1?}");
}

/// Three readers and the refresh thread need a token, the first flight fails,
/// and the provider shuts down meanwhile: one exchange at a time, every
/// waiter gets its flight's outcome (or a later one), tokens only get newer,
/// and the refresh thread ends.
#[test]
fn readers_refresher_failing_flight_and_shutdown() {
    check("readers_refresher_failing_flight_and_shutdown", || {
        let p = Arc::new(Provider::new(None, 0, Some(0)));
        let stop = Arc::new(Stop::new());
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let p = Arc::clone(&p);
                thread::spawn(move || p.get(None))
            })
            .collect();
        let refresher = {
            let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
            thread::spawn(move || refresh_thread(&p, &stop))
        };
        stop.stop();
        let mut results: Vec<Got> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        results.extend(refresher.join().unwrap());
        let st = p.state.lock();
        assert!(!st.in_flight && !st.panicked);
        for r in results {
            match r {
                Got::Token(t) => assert!(t >= 1 && t < st.generation, "{r:?}"),
                Got::Failed(f) => assert_eq!(f, 0, "only the first flight fails"),
                Got::TimedOut => panic!("a wait ended before its flight, with time standing still"),
            }
        }
    });
}

/// Two threads see the API reject the seed token and invalidate it: exactly
/// one exchange replaces it, an invalidation of the replaced token is a
/// no-op, and every change is published.
#[test]
fn invalidate_makes_way_for_one_newer_token() {
    check("invalidate_makes_way_for_one_newer_token", || {
        let p = Arc::new(Provider::new(Some(0), 1, None));
        let rejecter = |p: Arc<Provider>| {
            move || {
                p.invalidate(0);
                p.get(None)
            }
        };
        let a = thread::spawn(rejecter(Arc::clone(&p)));
        let b = thread::spawn(rejecter(Arc::clone(&p)));
        let reader = {
            let p = Arc::clone(&p);
            thread::spawn(move || p.get(None))
        };
        assert_eq!(a.join().unwrap(), Got::Token(1));
        assert_eq!(b.join().unwrap(), Got::Token(1));
        assert!(matches!(reader.join().unwrap(), Got::Token(0 | 1)));
        let st = p.state.lock();
        assert_eq!(st.generation, 2, "one exchange");
        assert_eq!(p.version.load(SeqCst), 2, "the rejection and the new token");
    });
}

/// A flight stuck in its exchange: a waiter without a deadline gives up at
/// the flight's deadline, one with an earlier deadline at its own, neither
/// waits past it, and the flight still ends cleanly later.
#[test]
fn a_stuck_flight_bounds_every_wait() {
    check("a_stuck_flight_bounds_every_wait", || {
        let p = Arc::new(Provider::new(None, 0, None));
        // A leader has begun flight 0 and is stuck in its exchange.
        begin(&mut *p.state.lock(), 0, FLIGHT);
        let waiters: Vec<_> = [None, Some(1)]
            .into_iter()
            .map(|deadline| {
                let p = Arc::clone(&p);
                thread::spawn(move || p.get(deadline))
            })
            .collect();
        let ticker = {
            let p = Arc::clone(&p);
            thread::spawn(move || {
                for tick in 1..=FLIGHT {
                    let _st = p.state.lock();
                    p.clock.0.store(tick, SeqCst);
                    p.fetched.notify_all();
                }
            })
        };
        for w in waiters {
            assert_eq!(w.join().unwrap(), Got::TimedOut);
        }
        ticker.join().unwrap();
        // The stuck exchange returns at last; its flight ends.
        let mut st = p.state.lock();
        assert!(st.in_flight);
        fly(&mut st, &p.fetched, || Ok(0), |st, r| p.install(st, 0, r));
        assert!(!st.in_flight && st.generation == 1 && st.current == Some(0));
    });
}
