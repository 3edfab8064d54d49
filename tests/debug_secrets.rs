//! Secrets stay out of `Debug` output and error messages: a credential
//! command's stderr (a `set -x` trace quoting the key), the command text
//! itself, and URLs carrying user info or a query string.

use std::time::Duration;

use tinker_auth::{AuthTokenProvider, CredentialCmdAuthProvider};

/// Every way an error can be shown.
fn shown(e: &dyn std::error::Error) -> String {
    let mut text = format!("{e} | {e:?} | {e:#?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

#[cfg(unix)]
#[test]
fn a_failing_commands_stderr_never_enters_the_error() {
    // `set -x` traces every command, the key's assignment included, to stderr.
    let p = CredentialCmdAuthProvider::new(
        "set -x; KEY=tml-traced-secret-0451; printf '%s' \"$KEY\" >/dev/null; exit 1",
    )
    .unwrap()
    .timeout(Duration::from_secs(5));
    let e = p.get_token().unwrap_err();
    let text = shown(&e);
    assert!(!text.contains("traced-secret"), "{text}");
    assert!(
        e.to_string()
            .starts_with("credential command: exited with status 1"),
        "{e}"
    );
}
