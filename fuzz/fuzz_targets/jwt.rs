#![no_main]
//! Body: `tinker_auth::fuzz_api::jwt` (src/fuzz_api.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinker_auth::fuzz_api::jwt(data));
