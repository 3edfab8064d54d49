//! The integration tests, as one test binary (one module per area), so the
//! dependencies and `testkit` are linked once rather than once per file.
//!
//! A test stays a binary of its own in `tests/` when it needs a process to
//! itself (each file says why at its top):
//!
//! - `secrets.rs`, `agent_secrets.rs`, `failure.rs`: install the global logger;
//! - `shutdown.rs`, `thread_count.rs`: count the process's (refresh) threads;
//! - `command_cleanup.rs`: counts threads and scans `/proc` for processes;
//! - `fork.rs`: forks, which is only sound with one thread doing the work;
//! - `proxy_bypass.rs`, `proxy_env.rs`: set process-wide environment variables;
//! - `from_env.rs`: sets the environment and installs the global logger.

mod agent_401;
mod agent_api_key;
mod agent_requests;
mod agent_retry;
mod background;
mod bad_input;
mod clock_jumps;
mod date_vs_iat;
mod deadlines;
mod debug_secrets;
mod docs;
mod duration_knobs;
mod echoes;
mod fast_path;
mod faults;
mod hostile_inputs;
mod https;
mod lifecycle;
mod log_targets;
mod manual_background;
mod manual_clock;
mod middleware;
mod outage;
mod pacing;
mod panics;
mod parsing;
mod redirects;
mod rejected_tokens;
mod rejected_tokens_manual;
mod same_token;
mod server_skew;
mod shared_cache;
mod single_flight;
mod skew;
mod soak;
mod stuck_lock;
mod thread_cache;
mod timeouts;
mod user_agent;
