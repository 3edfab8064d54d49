//! The documentation stays usable: the README is a front door (at most
//! 16 KiB), and every relative link in the README and `docs/` reaches a file,
//! and a heading when it names one (GitHub's anchors).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

const README_MAX_BYTES: usize = 16 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("the docs/ folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (but `-`
/// and `_`), spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(path: &Path) -> HashSet<String> {
    let text = fs::read_to_string(path).unwrap();
    prose(&text)
        .into_iter()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

/// The targets of `[text](target)` links.
fn link_targets(line: &str) -> Vec<&str> {
    line.match_indices("](")
        .filter_map(|(i, _)| {
            let rest = &line[i + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn the_readme_is_a_front_door() {
    let len = fs::read(root().join("README.md")).unwrap().len();
    assert!(len <= README_MAX_BYTES, "README.md is {len} bytes");
    for doc in [
        "ARCHITECTURE.md",
        "RELIABILITY.md",
        "PERFORMANCE.md",
        "USAGE.md",
    ] {
        let readme = fs::read_to_string(root().join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("](docs/{doc})")),
            "{doc} not linked"
        );
    }
}

#[test]
fn relative_links_reach_a_file_and_a_heading() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for line in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let dest = if path.is_empty() {
                    file.clone()
                } else {
                    file.parent().unwrap().join(path)
                };
                let ok = dest.exists()
                    && (fragment.is_empty()
                        || dest.extension().is_none_or(|x| x != "md")
                        || anchors(&dest).contains(fragment));
                if !ok {
                    broken.push(format!("{}: {target}", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}
