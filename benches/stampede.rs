//! Item 3: 64 threads arrive with an expired token; the time until all hold
//! the new one, against one bare exchange round trip on loopback.
//!
//! `cargo bench --bench stampede`

use testkit::measure;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    for threads in [1, 8, 64] {
        let s = measure::stampede(threads, 21);
        println!(
            "{:>2} threads: first call to all holding the new token {:>6.0} µs ({:.0} waited), \
             {} exchange(s) per stampede; from the barrier's release {:>6.0} µs; \
             one bare exchange {:>4.0} µs; releasing the threads alone {:>5.0} µs; \
             first call minus round trip {:+.0} µs (medians of {})",
            s.threads,
            s.from_first_call,
            s.waiters,
            s.max_exchanges,
            s.all_hold_new,
            s.round_trip,
            s.release_floor,
            s.from_first_call - s.round_trip,
            s.samples
        );
        println!(
            "    of which: first caller's flight {:.0} µs, then handing out to the rest {:.0} µs",
            s.flight, s.hand_out
        );
    }
}
