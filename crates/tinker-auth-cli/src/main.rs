//! `tinker-auth`: Tinker JWTs for shell scripts.
//!
//! `tinker-auth token` prints a fresh JWT (cached while it has runway);
//! `tinker-auth inspect` decodes one. See `tinker-auth --help`.

#![forbid(unsafe_code)]
#![warn(rust_2018_idioms)]

mod args;
mod cache;
mod inspect;

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tinker_auth::{
    resolve_auth_provider, AuthTokenProvider, CredentialCmdAuthProvider, Error, JwtAuthProvider,
    Token,
};

use crate::args::{Command, TokenArgs, Usage};
use crate::cache::Entry;

const EXIT_USAGE: u8 = 2;
const EXIT_UNAVAILABLE: u8 = 4;

/// Most we read of a JWT from stdin.
const MAX_STDIN: u64 = 64 * 1024;

/// A failure: exit code and one line for stderr (never a secret).
struct Failure {
    code: u8,
    message: String,
}

impl From<Usage> for Failure {
    fn from(u: Usage) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: u.0,
        }
    }
}

/// A library error as a failure; its message already says `context: cause`.
fn fail(code: u8, e: &Error) -> Failure {
    Failure {
        code,
        message: e.to_string(),
    }
}

/// The exit code for a library error: the library's one classification table.
fn exit_code(e: &Error) -> u8 {
    e.kind().exit_code()
}

fn main() -> ExitCode {
    // As `OsString`s: `std::env::args` panics on an argument that is not UTF-8.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let outcome = args::parse(&argv)
        .map_err(Failure::from)
        .and_then(|command| match command {
            Command::Help(text) => print(text),
            Command::Version => print(concat!("tinker-auth ", env!("CARGO_PKG_VERSION"))),
            Command::Token(t) => token(&t),
            Command::Inspect(jwt) => run_inspect(jwt),
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let line = f.message.replace(['\n', '\r'], " ");
            let _ = writeln!(io::stderr(), "tinker-auth: {line}");
            ExitCode::from(f.code)
        }
    }
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure {
            code: EXIT_USAGE,
            message: format!("cannot write to stdout: {e}"),
        })
}

/// The credential itself: `--credential-cmd`'s output, else whatever the
/// library's [`resolve_auth_provider`] picks from `TINKER_API_KEY` and
/// `TINKER_CREDENTIAL_CMD` (a command is run here, once per invocation).
///
/// The cache is keyed by this value, never by the command's text: when the key
/// behind a command rotates, the old key's JWT is not served.
fn credential(args: &TokenArgs) -> Result<Token, Failure> {
    let provider: Box<dyn AuthTokenProvider> = match &args.credential_cmd {
        Some(cmd) => CredentialCmdAuthProvider::new(cmd.clone()).map(|p| Box::new(p) as _),
        None => resolve_auth_provider(None, false),
    }
    .map_err(|e| fail(exit_code(&e), &e))?;
    provider
        .get_token()
        .map_err(|e| fail(exit_code(&e), &e))?
        .ok_or_else(|| {
            fail(
                exit_code(&Error::MissingCredential),
                &Error::MissingCredential,
            )
        })
}

/// The credential resolved once, handed to the exchange as is.
struct Resolved(Token);

impl AuthTokenProvider for Resolved {
    fn get_token(&self) -> Result<Option<Token>, Error> {
        Ok(Some(self.0.clone()))
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Seconds the JWT has left on the server's clock, if its `exp` is readable.
fn runway(jwt: &str, clock_offset_secs: f64) -> Option<f64> {
    let exp = tinker_auth::jwt_expiry(jwt).ok()?;
    let exp = exp.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(exp - (unix_now() + clock_offset_secs))
}

fn token(args: &TokenArgs) -> Result<(), Failure> {
    // --base-url, else TINKER_BASE_URL, else the library's default.
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(tinker_auth::base_url_from_env);
    let credential = credential(args)?;
    let entry = if args.no_cache {
        None
    } else {
        cache::default_dir().map(|dir| Entry::new(&dir, &base_url, credential.as_str()))
    };
    let min_runway = args.min_runway.as_secs_f64();
    if let Some(cached) = entry.as_ref().and_then(Entry::load) {
        if runway(&cached.jwt, cached.clock_offset_secs).is_some_and(|r| r >= min_runway) {
            return print(&cached.jwt);
        }
    }
    let provider = JwtAuthProvider::builder(base_url)
        .background_refresh(false)
        .fetch_timeout(args.timeout)
        .credential(Resolved(credential))
        .build()
        .map_err(|e| fail(exit_code(&e), &e))?;
    let jwt = provider
        .get_token()
        .map_err(|e| fail(exit_code(&e), &e))?
        .ok_or_else(|| Failure {
            code: EXIT_UNAVAILABLE,
            message: "token: the provider returned no token".into(),
        })?;
    if let Some(entry) = &entry {
        if let Err(e) = entry.store(jwt.as_str(), provider.clock_offset_secs()) {
            // The token is still good; a cache we cannot write only costs time.
            let _ = writeln!(
                io::stderr(),
                "tinker-auth: warning: cache not written to {}: {e}",
                entry.path().display()
            );
        }
    }
    print(jwt.as_str())
}

fn run_inspect(jwt: Option<String>) -> Result<(), Failure> {
    let jwt = match jwt {
        Some(jwt) => jwt,
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                return Err(Failure::from(Usage(
                    "inspect: no JWT: pass it as an argument or on stdin".into(),
                )));
            }
            let mut text = String::new();
            stdin
                .lock()
                .take(MAX_STDIN)
                .read_to_string(&mut text)
                .map_err(|e| Failure {
                    code: EXIT_USAGE,
                    message: format!("inspect: cannot read stdin: {e}"),
                })?;
            text
        }
    };
    let report =
        inspect::report(jwt.trim(), SystemTime::now()).map_err(|e| fail(EXIT_USAGE, &e))?;
    print(report.trim_end())
}
