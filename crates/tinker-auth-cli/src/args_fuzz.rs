//! The fuzz target body over the argument vector; compiled only for
//! `cargo fuzz` (`--cfg fuzzing`, which includes this file and `args.rs` by
//! path, the CLI having no library) and for this crate's tests, which replay
//! the committed seeds in `fuzz/corpus/cli_args/`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use crate::args::{parse, Command};

/// Longest argument an error may quote; see `args::shown`.
const LONGEST_SHOWN: usize = 24;

/// `data` split at NUL bytes is the argument vector (after the program's
/// name). Parsing never panics, is deterministic, never quotes an argument
/// that may be a secret, and gives positive timeouts.
pub(crate) fn args(data: &[u8]) {
    let argv: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    let parsed = parse(&argv);
    assert_eq!(parsed, parse(&argv), "parsing is not deterministic");
    match parsed {
        Ok(Command::Token(t)) => assert!(!t.timeout.is_zero(), "a zero timeout"),
        Ok(_) => {}
        Err(usage) => {
            let message = usage.0;
            assert!(
                !message.chars().any(char::is_control),
                "a usage error with a control character: {message:?}"
            );
            let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
            for arg in &args {
                let secret =
                    arg.len() > LONGEST_SHOWN || arg.starts_with("eyJ") || arg.starts_with("tml-");
                // Part of another argument, which may be shown: not a leak.
                let inside_another = args.iter().any(|o| o != arg && o.contains(arg));
                // The fixed text quotes `tinker-auth ... --help` itself.
                let fixed = arg.starts_with("tinker-auth");
                if secret && !inside_another && !fixed {
                    let quoted = format!("`{arg}`");
                    assert!(!message.contains(&quoted), "quoted {arg:?} in {message:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Replays every committed seed (absent from the packaged crate).
    #[test]
    fn seed_corpus_replay() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cli_args");
        if !dir.is_dir() {
            return;
        }
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            super::args(&std::fs::read(entry.unwrap().path()).unwrap());
            seeds += 1;
        }
        assert!(seeds > 0, "no seeds in {dir:?}");
    }
}
