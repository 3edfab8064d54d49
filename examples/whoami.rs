//! Who am I, to the Tinker API: the server's capabilities and the token's
//! runway, from the environment alone.
//!
//! ```sh
//! TINKER_API_KEY=tml-... cargo run --example whoami
//! ```
//!
//! `TINKER_BASE_URL` overrides the service (the default is the Python SDK's);
//! `CLOUDFLARE_ACCESS_CLIENT_ID`/`_SECRET`, `HTTPS_PROXY`, `NO_PROXY` are
//! honoured. Errors are one line on stderr and exit code 1.

use std::process::ExitCode;
use std::sync::Arc;

use tinker_auth::{AuthenticatedAgent, JwtAuthProvider};

fn whoami() -> Result<(), tinker_auth::Error> {
    // As `AuthenticatedAgent::from_env()`, keeping the provider for its runway.
    let provider = Arc::new(JwtAuthProvider::from_env()?);
    let api = AuthenticatedAgent::builder_for(provider.clone()).build()?;
    let caps = api.get("/api/v1/get_server_capabilities")?;
    println!("server: {}", provider.base_url());
    match caps["supported_models"].as_array() {
        Some(models) => {
            println!("supported models: {}", models.len());
            for m in models {
                let name = m["model_name"]
                    .as_str()
                    .map_or_else(|| m.to_string(), str::to_owned);
                println!("  {name}");
            }
        }
        None => println!("capabilities: {caps}"),
    }
    match provider.runway() {
        Some(r) => println!("token runway: {:.0} s", r.as_secs_f64()),
        None => println!("token runway: unknown"),
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::init();
    match whoami() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whoami: {e}");
            ExitCode::from(1)
        }
    }
}
