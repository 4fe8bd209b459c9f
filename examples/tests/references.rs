//! Every document the repository cites is in the repository: no file names a protocol or
//! design document kept elsewhere, or the README of the project chanbind started from. The
//! protocol is `docs/protocol.md`; docs, comments, tests and the client link to it.
//!
//! ```text
//! cargo test -p chanbind-examples --test references
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// What no tracked file may say. Spelled in pieces so this file does not say it either.
const FORBIDDEN: [&str; 3] = [
    concat!("PROTOCOL", ".md"),
    concat!("DESIGN", ".md"),
    concat!("seed", " README"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// The files git tracks (and those added but not committed yet), or, outside a git checkout,
/// every file but build output and installed packages.
fn files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    match listed {
        Ok(out) if out.status.success() => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect(),
        _ => {
            let mut found = Vec::new();
            walk(root, &mut found);
            found
        }
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some("target" | "node_modules" | ".git" | "dist")
        ) {
            continue;
        }
        if path.is_dir() {
            walk(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[test]
fn nothing_cites_a_document_outside_the_repository() {
    let root = root();
    let files = files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("docs/protocol.md")),
        "docs/protocol.md is among the files"
    );
    let mut hits = Vec::new();
    for file in &files {
        // Binary files (images, fuzz corpus entries) are not prose; missing ones were deleted
        // in the working tree.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            // File names as written (`docs/protocol.md` is fine), words in any case.
            let lower = line.to_lowercase();
            for word in FORBIDDEN {
                let found = if word.ends_with(".md") {
                    line.contains(word)
                } else {
                    lower.contains(&word.to_lowercase())
                };
                if found {
                    let shown = file.strip_prefix(&root).unwrap_or(file).display();
                    hits.push(format!("{shown}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "cite docs/protocol.md (or another file in the repository) instead:\n{}",
        hits.join("\n")
    );
}
