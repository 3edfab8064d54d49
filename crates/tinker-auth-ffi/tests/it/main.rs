//! The C ABI's tests, as one test binary: from C (`tests/c/*.c` compiled
//! against the header and the static library), the header against the Rust
//! declarations, and the options struct's durations at their extremes.

mod c_programs;
mod duration_knobs;
mod header;
