//! The C ABI of [`tinker_auth`], declared for C in `include/tinker_auth.h`.
//!
//! `install.sh --prefix DIR` (in this crate's directory) builds it in release
//! and installs `include/tinker_auth.h`, `lib/libtinker_auth.a`,
//! `lib/libtinker_auth.so.X.Y.Z` (soname `libtinker_auth.so.X`, with the
//! usual symlinks) and `lib/pkgconfig/tinker-auth.pc`; then
//! `cc app.c $(pkg-config --cflags --libs tinker-auth)` links a C program
//! against it (`examples/whoami.c`; `examples/whoami.py` uses it from Python
//! through `ctypes`). Without the script, `cargo build --release -p
//! tinker-auth-ffi` builds `target/release/libtinker_auth_ffi.a` and
//! `libtinker_auth_ffi.so`. Rust
//! programs should use [`tinker_auth::JwtAuthProvider`] directly; this crate
//! exists for C and for anything that speaks the C ABI (a Rust program that
//! links it gets its `#[no_mangle]` symbols, which is why it is a crate of its
//! own rather than a feature of the library).
//!
//! The rules, stated in full in the header:
//!
//! - **Handles** are plain integers, not pointers: [`tinker_auth_new`] registers
//!   a provider in a process-wide table under a number that is never reused.
//!   A freed or never-issued handle is therefore detected and answered with
//!   [`TINKER_AUTH_ERR_INVALID_HANDLE`] instead of undefined behaviour.
//! - **Memory**: the library never hands out memory the caller must free. The
//!   token is copied into the caller's buffer; error messages into the
//!   caller's [`TinkerAuthError`] or buffer.
//! - **Threads**: every function may be called from any thread at once, on the
//!   same handle or different ones. [`tinker_auth_free`] while other threads
//!   are inside [`tinker_auth_get_token`] on that handle is safe: their calls
//!   finish, later calls get [`TINKER_AUTH_ERR_INVALID_HANDLE`]. The last error
//!   is kept per thread.
//! - **Failure**: every function catches panics; none crosses into C. Null
//!   pointers, invalid UTF-8, short buffers and bad handles are error codes.
//!   What cannot be checked (a pointer to too little memory, a string with no
//!   NUL) is the caller's responsibility, as everywhere in C.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(rust_2018_idioms, unreachable_pub)]

// Every `unsafe` block of the crate is in these modules, each with a
// `// SAFETY:` comment (enforced by `clippy::undocumented_unsafe_blocks`).
mod c_out;
mod c_str;
mod codes;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzz_api;
mod handles;
mod info;
mod options;

pub use codes::{
    tinker_auth_last_error, TinkerAuthError, TINKER_AUTH_ERROR_MESSAGE_LEN,
    TINKER_AUTH_ERR_BUFFER_TOO_SMALL, TINKER_AUTH_ERR_CREDENTIAL, TINKER_AUTH_ERR_INVALID_ARGUMENT,
    TINKER_AUTH_ERR_INVALID_HANDLE, TINKER_AUTH_ERR_INVALID_UTF8, TINKER_AUTH_ERR_NULL_POINTER,
    TINKER_AUTH_ERR_PANIC, TINKER_AUTH_ERR_REJECTED, TINKER_AUTH_ERR_UNAVAILABLE, TINKER_AUTH_OK,
};
pub use handles::{
    tinker_auth_free, tinker_auth_get_token, tinker_auth_invalidate, tinker_auth_new,
    tinker_auth_new_with_options, TinkerAuthHandle,
};
pub use info::{
    tinker_auth_get_stats, tinker_auth_token_expiry, tinker_auth_version, TinkerAuthStats,
    TINKER_AUTH_VERSION_MAJOR, TINKER_AUTH_VERSION_MINOR, TINKER_AUTH_VERSION_PATCH,
};
pub use options::{tinker_auth_options_default, TinkerAuthOptions};
