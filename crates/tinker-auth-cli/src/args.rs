//! Command-line parsing, by hand: three commands and a handful of flags do not
//! justify an argument-parsing dependency. Arguments arrive as `OsString`s
//! (`std::env::args` would panic on one that is not UTF-8); each must be
//! UTF-8, else it is a usage error. An OsString-based parser (`lexopt`) would
//! still need that conversion for every value (URLs, commands, numbers), so
//! converting once up front keeps the parser as small and no less correct.

use std::ffi::OsString;
use std::time::Duration;

pub(crate) const MAIN_HELP: &str = "\
tinker-auth: Tinker JWTs for scripts

Usage:
  tinker-auth token [OPTIONS]      print a fresh JWT (cached while it has runway)
  tinker-auth inspect [JWT]        show a JWT's claims and expiry (not verified)
  tinker-auth help [COMMAND]       show help
  tinker-auth --version            print the version (also -V)

Example:
  curl -H \"X-API-Key: $(tinker-auth token)\" \"$TINKER_BASE_URL/api/v1/...\"

Exit codes: 0 success, 2 usage or configuration, 3 credential rejected or
unusable, 4 server unreachable or failing.
Run `tinker-auth COMMAND --help` for a command's options.";

pub(crate) const TOKEN_HELP: &str = "\
Usage: tinker-auth token [OPTIONS]

Prints a JWT for the credential in TINKER_API_KEY (or the command in
TINKER_CREDENTIAL_CMD) from the Tinker API at TINKER_BASE_URL (default
https://tinker.thinkingmachines.dev/services/tinker-prod), on one line.
CF-Access-Client-Id/-Secret are sent from CLOUDFLARE_ACCESS_CLIENT_ID/_SECRET;
HTTPS_PROXY, ALL_PROXY and NO_PROXY choose the proxy.

A JWT is cached and reused while it has more than half its lifetime (and at
least --min-runway seconds) left, in the cache every program using the
tinker-auth library with shared_cache(true) shares:
$XDG_CACHE_HOME/tinker-auth/ (else ~/.cache/tinker-auth/), directory 0700,
files 0600, written atomically. An
entry holds the JWT and a keyed fingerprint of the credential (HMAC-SHA-256
under the directory's own key), never the credential itself; file names
reveal nothing. A credential command is run on every call, cache hit or not:
the entry is that of the credential it prints, so a rotated key never gets
the old key's JWT. A directory that is a symlink, not yours, or writable by
group or others is not used (a warning on stderr; the JWT is still printed).

Options:
  --base-url URL          the Tinker API (overrides TINKER_BASE_URL)
  --credential-cmd CMD    run CMD (via sh -c) for the credential (overrides
                          TINKER_API_KEY and TINKER_CREDENTIAL_CMD)
  --min-runway SECONDS    reuse a cached JWT only with this much left [default: 60]
  --no-cache              neither read nor write the shared cache
  --timeout SECONDS       bound on the token exchange [default: 30]
  --format text|json      `text`: the JWT alone [default]; `json`: one line
                          {\"token\": \"<JWT>\", \"expires_at\": \"<RFC 3339 UTC>\",
                          \"expires_in\": <whole seconds left>}, the expiry
                          being the JWT's `exp` claim and the seconds left
                          counted by this machine's clock (as `inspect` does)
  -h, --help              show this help

Exit codes: 0 success, 2 usage or configuration, 3 credential rejected or
unusable, 4 server unreachable or failing.";

pub(crate) const INSPECT_HELP: &str = "\
Usage: tinker-auth inspect [JWT]

Prints a JWT's claims, when it was issued, when it expires and the runway
left by this machine's clock. The JWT comes from the argument, or from stdin
when the argument is missing or `-` (prefer stdin: arguments are visible to
other users in the process list).

The signature is NOT verified: the claims are only decoded.

Options:
  -h, --help              show this help

Exit codes: 0 success, 2 usage or not a readable JWT.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Print this help text.
    Help(&'static str),
    Version,
    Token(TokenArgs),
    /// The JWT, or `None` to read stdin.
    Inspect(Option<String>),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenArgs {
    pub(crate) base_url: Option<String>,
    pub(crate) credential_cmd: Option<String>,
    pub(crate) min_runway: Duration,
    pub(crate) no_cache: bool,
    pub(crate) timeout: Duration,
    pub(crate) format: Format,
}

/// How `token` prints the JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The JWT alone, on one line.
    Text,
    /// One line of JSON: the JWT, its expiry and the seconds left.
    Json,
}

/// A usage error, worded for one line on stderr.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Usage(pub(crate) String);

/// Parses the arguments after the program's name.
pub(crate) fn parse(args: &[OsString]) -> Result<Command, Usage> {
    let args = args
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.to_str().map(str::to_owned).ok_or_else(|| {
                // Not shown: it may be a secret pasted in the wrong place.
                Usage(format!("argument {} is not valid UTF-8", i + 1))
            })
        })
        .collect::<Result<Vec<String>, Usage>>()?;
    parse_utf8(&args)
}

fn parse_utf8(args: &[String]) -> Result<Command, Usage> {
    let Some((first, rest)) = args.split_first() else {
        return Err(Usage("no command given (see `tinker-auth --help`)".into()));
    };
    match first.as_str() {
        "-h" | "--help" => Ok(Command::Help(MAIN_HELP)),
        "-V" | "--version" => Ok(Command::Version),
        "help" => match rest.first().map(String::as_str) {
            None => Ok(Command::Help(MAIN_HELP)),
            Some("token") => Ok(Command::Help(TOKEN_HELP)),
            Some("inspect") => Ok(Command::Help(INSPECT_HELP)),
            Some(other) => Err(Usage(format!(
                "help: unknown command `{}` (see `tinker-auth --help`)",
                shown(other)
            ))),
        },
        "token" => parse_token(rest),
        "inspect" => parse_inspect(rest),
        other => Err(Usage(format!(
            "unknown command `{}` (see `tinker-auth --help`)",
            shown(other)
        ))),
    }
}

/// An argument as shown in an error: never a long string that might be a
/// secret pasted in the wrong place, never a control character (the error is
/// one line): such an argument is hidden, and the rest is escaped.
fn shown(arg: &str) -> String {
    if arg.len() > 24
        || arg.starts_with("eyJ")
        || arg.starts_with("tml-")
        || arg.chars().any(char::is_control)
    {
        "<argument hidden>".into()
    } else {
        // Escaped: quotes, backslashes and invisible characters stay visible.
        arg.escape_debug().to_string()
    }
}

fn parse_token(args: &[String]) -> Result<Command, Usage> {
    let mut out = TokenArgs {
        base_url: None,
        credential_cmd: None,
        min_runway: tinker_auth::DEFAULT_REFRESH_ON_DEMAND_WITHIN,
        no_cache: false,
        timeout: tinker_auth::DEFAULT_FETCH_TIMEOUT,
        format: Format::Text,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, Usage> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Usage(format!("token: {name} needs a value")))
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help(TOKEN_HELP)),
            "--base-url" => out.base_url = Some(value(flag)?),
            "--credential-cmd" => out.credential_cmd = Some(value(flag)?),
            "--min-runway" => out.min_runway = seconds(flag, &value(flag)?)?,
            "--timeout" => {
                out.timeout = seconds(flag, &value(flag)?)?;
                if out.timeout.is_zero() {
                    return Err(Usage("token: --timeout must be positive".into()));
                }
            }
            "--format" => {
                out.format = match value(flag)?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => {
                        return Err(Usage(format!(
                            "token: --format takes `text` or `json`, not `{}`",
                            shown(other)
                        )))
                    }
                }
            }
            "--no-cache" if inline.is_none() => out.no_cache = true,
            _ => {
                return Err(Usage(format!(
                    "token: unexpected argument `{}` (see `tinker-auth token --help`)",
                    shown(arg)
                )))
            }
        }
    }
    Ok(Command::Token(out))
}

fn seconds(flag: &str, value: &str) -> Result<Duration, Usage> {
    value
        .parse::<u32>()
        .map(|s| Duration::from_secs(s.into()))
        .map_err(|_| {
            Usage(format!(
                "token: {flag} takes whole seconds, not `{}`",
                shown(value)
            ))
        })
}

fn parse_inspect(args: &[String]) -> Result<Command, Usage> {
    match args {
        [] => Ok(Command::Inspect(None)),
        [flag] if flag == "-h" || flag == "--help" => Ok(Command::Help(INSPECT_HELP)),
        [dash] if dash == "-" => Ok(Command::Inspect(None)),
        [flag] if flag.starts_with('-') => Err(Usage(format!(
            "inspect: unknown option `{}` (see `tinker-auth inspect --help`)",
            shown(flag)
        ))),
        [jwt] => Ok(Command::Inspect(Some(jwt.clone()))),
        _ => Err(Usage("inspect: takes at most one JWT".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn the_main_help_names_every_top_level_flag_it_parses() {
        for flag in ["--version", "-V", "--help", "-h"] {
            assert!(p(&[flag]).is_ok(), "{flag} parses");
            assert!(MAIN_HELP.contains(flag), "the main help names {flag}");
        }
    }

    #[test]
    fn token_flags_in_both_spellings() {
        let Ok(Command::Token(t)) = p(&[
            "token",
            "--base-url",
            "http://127.0.0.1:1",
            "--min-runway=5",
            "--no-cache",
            "--timeout",
            "3",
            "--format=json",
        ]) else {
            panic!("not a token command")
        };
        assert_eq!(t.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(t.min_runway, Duration::from_secs(5));
        assert!(t.no_cache);
        assert_eq!(t.timeout, Duration::from_secs(3));
        assert_eq!(t.credential_cmd, None);
        assert_eq!(t.format, Format::Json);
        let Ok(Command::Token(t)) = p(&["token", "--format", "text"]) else {
            panic!("not a token command")
        };
        assert_eq!(t.format, Format::Text);
    }

    #[test]
    fn usage_errors_are_reported() {
        assert!(p(&[]).is_err());
        assert!(p(&["frobnicate"]).is_err());
        assert!(p(&["token", "--min-runway"]).is_err());
        assert!(p(&["token", "--min-runway", "soon"]).is_err());
        assert!(p(&["token", "--timeout", "0"]).is_err());
        assert!(p(&["token", "--no-cache=yes"]).is_err());
        assert!(p(&["token", "--format"]).is_err());
        assert!(p(&["token", "--format", "yaml"]).is_err());
        assert!(p(&["inspect", "a", "b"]).is_err());
        assert!(p(&["inspect", "--bogus"]).is_err());
    }

    #[test]
    fn errors_do_not_echo_what_looks_like_a_secret() {
        let Err(Usage(e)) = p(&["token", "tml-secret-key-123"]) else {
            panic!("accepted")
        };
        assert!(!e.contains("secret"), "{e}");
        let Err(Usage(e)) = p(&["eyJhbGciOi.xx.yy"]) else {
            panic!("accepted")
        };
        assert!(!e.contains("eyJ"), "{e}");
        let Err(Usage(e)) = p(&["\n"]) else {
            panic!("accepted")
        };
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn errors_quote_arguments_on_one_line_and_hide_secrets_after_help() {
        let Err(Usage(e)) = p(&["help", "tml-token"]) else {
            panic!("accepted")
        };
        assert!(!e.contains("tml-token"), "{e}");
        for bad in [
            &["h\nlp"][..],
            &["token", "--x\u{1b}[31m"],
            &["inspect", "-\r"],
        ] {
            let Err(Usage(e)) = p(bad) else {
                panic!("accepted {bad:?}")
            };
            assert!(!e.chars().any(char::is_control), "{e:?}");
        }
    }

    #[test]
    fn help_everywhere() {
        assert_eq!(p(&["--help"]), Ok(Command::Help(MAIN_HELP)));
        assert_eq!(p(&["token", "--help"]), Ok(Command::Help(TOKEN_HELP)));
        assert_eq!(p(&["inspect", "-h"]), Ok(Command::Help(INSPECT_HELP)));
        assert_eq!(p(&["help", "inspect"]), Ok(Command::Help(INSPECT_HELP)));
        assert_eq!(p(&["inspect", "-"]), Ok(Command::Inspect(None)));
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_argument_is_a_usage_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"tml-\xffsecret".to_vec());
        let Err(Usage(e)) = parse(&["token".into(), "--base-url".into(), bad]) else {
            panic!("accepted")
        };
        assert_eq!(e, "argument 3 is not valid UTF-8");
    }

    #[cfg(unix)]
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::os::unix::ffi::OsStringExt;

        /// Arguments as a shell could pass them: known words, flags with and
        /// without values, arbitrary text and arbitrary bytes.
        fn arg() -> impl Strategy<Value = OsString> {
            prop_oneof![
                prop::sample::select(vec![
                    "token",
                    "inspect",
                    "help",
                    "-h",
                    "--help",
                    "-V",
                    "--version",
                    "-",
                    "--base-url",
                    "--credential-cmd",
                    "--min-runway",
                    "--timeout",
                    "--no-cache",
                    "--no-cache=",
                    "--format",
                    "json",
                    "--timeout=",
                    "--min-runway=5",
                    "=",
                    "--",
                ])
                .prop_map(OsString::from),
                ".{0,40}".prop_map(OsString::from),
                prop::collection::vec(any::<u8>(), 0..40).prop_map(OsString::from_vec),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_argument_vectors_never_panic(
                args in prop::collection::vec(arg(), 0..8),
            ) {
                match parse(&args) {
                    Ok(_) => prop_assert!(args.iter().all(|a| a.to_str().is_some())),
                    Err(Usage(e)) => {
                        prop_assert!(!e.contains('\n'), "{}", e);
                        prop_assert!(e.len() < 200, "{}", e);
                    }
                }
            }
        }
    }
}
