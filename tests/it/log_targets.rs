//! The log targets are stable: every log call in `src/` names one of the
//! pinned targets (`tinker_auth::LOG_TARGETS`) rather than its module path,
//! and `docs/OBSERVABILITY.md` lists each of them. Reads text only; the
//! targets the running code uses are checked by `tests/secrets.rs`, which
//! captures every line of a suite of faults.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file:line, what follows the opening parenthesis)` of every `log::*!(` call.
fn log_calls(text: &str, file: &str) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    for level in ["error", "warn", "info", "debug", "trace", "log"] {
        let needle = format!("log::{level}!(");
        let mut at = 0;
        while let Some(found) = text[at..].find(&needle) {
            let start = at + found;
            let line = text[..start].lines().count().max(1);
            let head = text[..start].rsplit('\n').next().unwrap_or("");
            at = start + needle.len();
            // Mentions in comments are not calls.
            if head.trim_start().starts_with("//") {
                continue;
            }
            let args: String = text[at..].chars().take(80).collect();
            calls.push((format!("{file}:{line}"), args.trim_start().to_owned()));
        }
    }
    calls
}

#[test]
fn every_log_call_names_a_pinned_target() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut calls = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("a readable source file");
        let name = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        calls.extend(log_calls(&text, &name));
    }
    assert!(calls.len() >= 15, "the scan found too few calls: {calls:?}");
    let unpinned: Vec<_> = calls
        .iter()
        .filter(|(_, args)| {
            let Some(target) = args.strip_prefix("target:") else {
                return true;
            };
            let target = target.trim_start();
            // A `LOG_TARGET_*` constant of the crate, or a file's local alias of one.
            !(target.starts_with("crate::LOG_TARGET_") || target.starts_with("LOG_TARGET"))
        })
        .collect();
    assert!(
        unpinned.is_empty(),
        "log calls without a pinned `target:` (use one of tinker_auth::LOG_TARGETS): {unpinned:#?}"
    );
}

#[test]
fn the_targets_are_distinct_under_the_crate_and_documented() {
    let doc = fs::read_to_string(root().join("docs/OBSERVABILITY.md")).expect("the doc");
    let mut seen = std::collections::HashSet::new();
    for target in tinker_auth::LOG_TARGETS {
        assert!(target.starts_with("tinker_auth::"), "{target}");
        assert!(seen.insert(target), "{target} twice");
        assert!(
            doc.contains(&format!("| `{target}` |")),
            "docs/OBSERVABILITY.md has no table row for {target}"
        );
    }
}

#[test]
fn the_scanner_sees_calls_and_skips_comments() {
    let text = "// log::warn!(\"x\")\nlog::debug!(target: crate::LOG_TARGET_AGENT, \"a\");\n  log::warn!(\n \"b\");\n";
    let calls = log_calls(text, "f.rs");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls
        .iter()
        .any(|(_, a)| a.starts_with("target: crate::LOG_TARGET_AGENT")));
    assert!(calls
        .iter()
        .any(|(at, a)| a.starts_with("\"b\"") && at == "f.rs:3"));
}
