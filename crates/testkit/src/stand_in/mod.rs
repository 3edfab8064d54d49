//! A stand-in for the Tinker API, for tests and examples.
//!
//! [`StandIn`] is a small threaded HTTP/1.1 server bound to `127.0.0.1` on an
//! ephemeral port, built on `std::net` and `std::thread` only. It mints
//! HS256-signed JWTs on `POST /api/v1/auth/token` and guards every other path
//! with them, judging expiry by its own (optionally skewed) clock. Its
//! [`Mode`] can be switched at run time to make the token endpoint misbehave
//! in the ways a client must survive.
//!
//! Tests, benches and examples use it as `testkit::stand_in`. It depends on
//! neither the `tinker-auth` crate nor the rest of `testkit`.
//!
//! One concern per file: `types` (paths, defaults, [`Mode`], settings),
//! `handle` ([`StandIn`]), `server` (what each endpoint answers), `request`
//! and `http` (HTTP/1.1 parsing and connections), `jwt` (HS256 and strict
//! base64url), `date` (the `Date` header).

mod date;
mod handle;
mod http;
mod jwt;
mod request;
mod server;
mod types;

pub use date::http_date;
pub use handle::StandIn;
pub use jwt::{b64url_decode, b64url_encode, decode_claims, sign_hs256, verify_hs256};
pub use types::{
    ClaimShape, Mode, SeenRequest, StandInConfig, CAPABILITIES_PATH, DEFAULT_API_KEY,
    DEFAULT_LIFETIME, DEFAULT_SECRET, ECHO_PATH, MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_SEEN,
    OVERSIZED_BODY_LEN, SUBJECT, SUPPORTED_MODELS, TOKEN_PATH,
};
