//! A long job in the style of a rollout polling for its result: one request
//! every 100 ms for about 15 s, through an `AuthenticatedAgent`, against a
//! loopback stand-in of the Tinker API whose tokens live 3 s, which answers
//! `401 Invalid JWT` to expired tokens and `503` to one request in ten.
//!
//! Halfway through, the server's clock steps 5 s ahead (as after a fail-over
//! to a replica with another clock), so the token in hand is suddenly expired
//! by the server's reckoning: the agent gets a `401`, the provider refreshes,
//! and the request is re-sent. No request may fail.
//!
//! ```text
//! cargo run --example long_job
//! RUST_LOG=tinker_auth=debug cargo run --example long_job   # every retry
//! ```

use testkit::stand_in;

use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use stand_in::{StandIn, ECHO_PATH};
use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};

const RUN_FOR: Duration = Duration::from_secs(15);
const POLL_EVERY: Duration = Duration::from_millis(100);
const CLOCK_STEP_SECS: i64 = 5;

fn main() -> ExitCode {
    env_logger::init();
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("long_job: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the job; returns the number of failed requests.
fn run() -> Result<u64, tinker_auth::Error> {
    let server = StandIn::start();
    server.set_lifetime(Duration::from_secs(3));
    server.set_protected_fail_every(10);

    let provider = Arc::new(
        JwtAuthProvider::builder(server.url())
            .api_key(server.api_key())
            .build()?,
    );
    let api = AuthenticatedAgent::builder_for(provider.clone()).build()?;
    println!(
        "long_job: polling {} every {POLL_EVERY:?} for {RUN_FOR:?} (tokens live 3 s, 1 request in 10 answered 503)",
        server.url()
    );

    let started = Instant::now();
    let mut next = started;
    let mut stepped = false;
    let mut mismatches = 0u64;
    let mut poll = 0u64;
    while started.elapsed() < RUN_FOR {
        if !stepped && started.elapsed() >= RUN_FOR / 2 {
            println!("long_job: the server's clock steps {CLOCK_STEP_SECS} s ahead");
            server.set_skew_secs(CLOCK_STEP_SECS);
            stepped = true;
        }
        poll += 1;
        let body = json!({ "request_id": "rollout-1", "poll": poll });
        match api.post(ECHO_PATH, &body) {
            Ok(echo) if echo == body => {}
            Ok(_) => {
                eprintln!("long_job: poll {poll}: the echo differs from the request");
                mismatches += 1;
            }
            Err(e) => eprintln!("long_job: poll {poll}: {e}"),
        }
        next += POLL_EVERY;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }

    let s = api.stats();
    let failures = s.failed + mismatches;
    println!("requests sent:   {}", s.requests);
    println!("attempts:        {}", s.attempts);
    println!("retries:         {}", s.retries);
    println!("401s recovered:  {}", s.recovered);
    println!("failures:        {failures}");
    println!(
        "token exchanges: {} ({} by the background thread)",
        provider.stats().fetches_succeeded,
        provider.stats().background
    );
    println!(
        "server saw:      {} requests, {} answered 401",
        server.protected_total(),
        server.protected_401()
    );
    Ok(failures)
}
