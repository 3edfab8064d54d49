#![no_main]
//! Body: `tinker_auth_ffi::fuzz_api::options` (crates/tinker-auth-ffi/src/fuzz_api.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinker_auth_ffi::fuzz_api::options(data));
