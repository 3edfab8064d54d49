//! Measurements shared by the bench targets and `examples/bench_report.rs`.
//!
//! Every figure is a median over interleaved samples: candidates that are
//! compared run in turn within each round, so that load from other processes
//! on the (shared, 2-core) machine falls on all of them alike.
//!
//! One file per measurement (`clocks`, `fast_path`, `stampede`, `overhead`,
//! `footprint`); `common` holds the medians and the stand-in wiring they share.

mod clocks;
mod common;
mod fast_path;
mod footprint;
mod overhead;
mod stampede;

pub use clocks::{clock_reads, python_sdk, Figure, PYTHON_SDK};
pub use common::{interleaved, median, provider, server, Loop, PROTECTED_PATH};
pub use fast_path::{fast_path, scaling, throughput, throughput_of, FastPath, LockedPath, Scaling};
pub use footprint::{
    counted, footprint, rss, stack_mapping, threads_named, voluntary_switches, Counting, Footprint,
};
pub use overhead::{request_overhead, Overhead};
pub use stampede::{stampede, Stampede};
