//! Item 5: memory per provider, the refresh thread's stack, and its wake-ups.
//!
//! `cargo bench --bench footprint` (about 15 s: it watches an 8 s token's
//! background refreshes).

use testkit::measure;

#[global_allocator]
static ALLOC: measure::Counting = measure::Counting;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let f = measure::footprint(1000, 8);
    println!(
        "{} providers per configuration, seeded (no exchange):",
        f.providers
    );
    println!(
        "  background off: heap {:>7.0} B, RSS {:>7.0} B per provider",
        f.heap_off, f.rss_off
    );
    println!(
        "  background on:  heap {:>7.0} B, RSS {:>7.0} B per provider more than off",
        f.heap_on, f.rss_on
    );
    println!(
        "after the first exchange (pooled connection), background off: heap {:.0} B per provider",
        f.heap_exchanged
    );
    println!(
        "refresh thread stack: {} KiB mapped, {} KiB touched after {} background refreshes over loopback http",
        f.stack_size / 1024, f.stack_touched / 1024, f.refreshes
    );
    println!(
        "refresh thread wake-ups ({} s tokens): {} voluntary switches in a quiet {:.1} s span; {} in {:.1} s holding {} refreshes",
        f.lifetime, f.idle_switches, f.idle_span.as_secs_f64(), f.switches, f.window.as_secs_f64(), f.refreshes
    );
}
