#![no_main]
//! Body: crates/tinker-auth-cli/src/args_fuzz.rs. The CLI is a binary without
//! a library, so its argument parser is included here by path.

#[allow(dead_code)]
#[path = "../../crates/tinker-auth-cli/src/args.rs"]
mod args;
#[path = "../../crates/tinker-auth-cli/src/args_fuzz.rs"]
mod args_fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| args_fuzz::args(data));
