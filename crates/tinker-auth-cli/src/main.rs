//! `tinker-auth`: Tinker JWTs for shell scripts.
//!
//! `tinker-auth token` prints a fresh JWT (cached while it has runway);
//! `tinker-auth inspect` decodes one. See `tinker-auth --help`.

#![forbid(unsafe_code)]
#![warn(rust_2018_idioms)]

mod args;
mod expiry;
// Arguments from bytes need OsStringExt (unix).
#[cfg(all(unix, any(fuzzing, test)))]
mod args_fuzz;
mod inspect;
mod warn;

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use tinker_auth::{
    resolve_auth_provider, AuthTokenProvider, CredentialCmdAuthProvider, Error, JwtAuthProvider,
    Token,
};

use crate::args::{Command, Format, TokenArgs, Usage};

const EXIT_USAGE: u8 = 2;

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
    warn::init();
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
/// The shared cache is keyed by this value, never by the command's text: when
/// the key behind a command rotates, the old key's JWT is not served.
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

/// Prints a JWT from a provider built for this one call, through the
/// library's shared cache (`$XDG_CACHE_HOME/tinker-auth`, the directory every
/// `shared_cache(true)` provider on the host uses) unless `--no-cache`.
///
/// `--min-runway`: the on-demand window is `min(min_runway, lifetime / 5)`
/// and `build()` adopts a cached token only if it is not due, so a cached
/// token is never taken with less than that window left; the background
/// margin (the other half of "due": a token past its background refresh, at
/// half-life unless the margin asks for more) is set to `min_runway` too, so
/// a cached token is adopted while it has more than half its lifetime (or
/// `min_runway`, if more) left, and otherwise exchanged and written back. For
/// short tokens (`min_runway` above a fifth of their lifetime) an adopted
/// token can still have less than `min_runway` left: it is then invalidated,
/// and the next `token()` exchanges (the cached entry is not fresher than the
/// one held) and writes the new token for the others. A token this call
/// exchanged itself is printed whatever its runway: there is none better.
fn token(args: &TokenArgs) -> Result<(), Failure> {
    // --base-url, else TINKER_BASE_URL, else the library's default.
    let base_url = match &args.base_url {
        Some(url) => url.clone(),
        None => tinker_auth::base_url_from_env().map_err(|e| fail(exit_code(&e), &e))?,
    };
    let credential = credential(args)?;
    let provider = JwtAuthProvider::builder(base_url)
        .background_refresh(false)
        .refresh_on_demand_within(args.min_runway)
        .refresh_before_expiry(args.min_runway)
        .fetch_timeout(args.timeout)
        .shared_cache(!args.no_cache)
        .credential(Resolved(credential))
        .build()
        .map_err(|e| fail(exit_code(&e), &e))?;
    let mut jwt = provider.token().map_err(|e| fail(exit_code(&e), &e))?;
    let stats = provider.stats();
    let adopted = stats.shared_adopted > 0 && stats.fetches_succeeded == 0;
    if adopted && provider.runway().is_none_or(|r| r < args.min_runway) {
        provider.invalidate(&jwt);
        jwt = provider.token().map_err(|e| fail(exit_code(&e), &e))?;
    }
    match args.format {
        Format::Text => print(jwt.as_str()),
        Format::Json => print(&json_line(jwt.as_str(), SystemTime::now())),
    }
}

/// `{"token": "...", "expires_at": "<RFC 3339>", "expires_in": <seconds>}`:
/// the expiry is the JWT's `exp` (as `inspect` reads it), the seconds left
/// are whole, by this machine's clock, and never negative. A JWT without a
/// readable `exp` never gets here: the library refuses it at the exchange.
fn json_line(jwt: &str, now: SystemTime) -> String {
    let at = expiry::expires_at(jwt);
    let text = at.and_then(expiry::rfc3339);
    let left = at.map_or(0.0, |at| expiry::seconds_left(at, now).max(0.0));
    format!(
        "{{\"token\": {}, \"expires_at\": {}, \"expires_in\": {}}}",
        serde_json::Value::from(jwt),
        serde_json::Value::from(text),
        left.floor() as u64
    )
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
