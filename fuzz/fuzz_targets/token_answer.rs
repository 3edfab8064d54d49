#![no_main]
//! Body: `tinker_auth::fuzz_api::token_answer` (src/fuzz_api.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinker_auth::fuzz_api::token_answer(data));
