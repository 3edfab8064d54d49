#![no_main]
//! Body: `tinker_auth::fuzz_api::cache_entry` (src/fuzz_api.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinker_auth::fuzz_api::cache_entry(data));
