//! The C ABI's tests, as one test binary: from C (`tests/c/*.c` compiled
//! against the header and the static library), the header against the Rust
//! declarations, the options struct's durations at their extremes, and the
//! library as `install.sh` installs it (C and Python examples built from the
//! installed prefix).

mod c_programs;
mod duration_knobs;
mod header;
mod installed;
