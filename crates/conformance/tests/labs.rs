//! The labs' bookkeeping, written as a test: `scripts/lab.sh --list` shows every lab file of
//! `scripts/labs/` with its one-line description, every lab is bounded in time, and every lab has
//! its test — a `fn lab_NAME` (dashes as underscores) in some `crates/*/tests/labs.rs` — so a lab
//! added without a test fails here. (The tests themselves run with their crates.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `scripts/lab.sh ARGS…` from the workspace root: (exit code, stdout, stderr).
fn lab_sh(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new("bash")
        .arg("scripts/lab.sh")
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("running bash scripts/lab.sh");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The lab files: `scripts/labs/*.sh` except the helpers, `lib.sh`.
fn lab_files() -> BTreeSet<String> {
    fs::read_dir(workspace().join("scripts/labs"))
        .expect("scripts/labs/ is readable")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sh").map(str::to_owned)
        })
        .filter(|name| name != "lib")
        .collect()
}

/// `(name, description)` of each line of `scripts/lab.sh --list`.
fn listed() -> Vec<(String, String)> {
    let (code, stdout, stderr) = lab_sh(&["--list"]);
    assert_eq!(code, Some(0), "scripts/lab.sh --list failed:\n{stderr}");
    stdout
        .lines()
        .map(|line| {
            let (name, description) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            (name.to_owned(), description.trim().to_owned())
        })
        .collect()
}

/// Every `#[test] fn lab_…` in `crates/*/tests/labs.rs`, as `(lab name with dashes, file)`.
fn lab_tests() -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(workspace().join("crates")).expect("crates/ is readable") {
        let path = entry.expect("a crates/ entry").path().join("tests/labs.rs");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        // Only test functions: `#[test]`, then maybe more attributes or comments, then `fn`.
        let mut is_test = false;
        for line in text.lines() {
            let line = line.trim_start();
            if line == "#[test]" {
                is_test = true;
                continue;
            }
            if line.starts_with("#[") || line.starts_with("//") {
                continue;
            }
            let Some(rest) = line.strip_prefix("fn lab_").filter(|_| is_test) else {
                is_test = false;
                continue;
            };
            is_test = false;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((name.replace('_', "-"), path.clone()));
        }
    }
    found
}

#[test]
fn every_lab_file_is_listed_with_its_description() {
    let files = lab_files();
    // Guards the checks below against passing on an empty directory.
    assert!(files.len() >= 5, "lab files: {files:?}");
    let listed = listed();
    let names: BTreeSet<String> = listed.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        names, files,
        "scripts/lab.sh --list and scripts/labs/*.sh differ"
    );
    for (name, description) in &listed {
        assert!(
            !description.is_empty() && !description.starts_with("(no description"),
            "lab {name}: its first comment line must be `# {name}: one-line description`, \
             --list says: {description:?}"
        );
    }
}

#[test]
fn every_lab_has_a_test() {
    let tests = lab_tests();
    for (name, _) in listed() {
        assert!(
            tests.iter().any(|(test, _)| *test == name),
            "lab {name} has no test: add `fn lab_{}()` to crates/CRATE/tests/labs.rs, checking the \
             failure happens with the mistake and not without it",
            name.replace('-', "_")
        );
    }
    // And the other way round: a `lab_` test whose lab is gone (or misnamed) is a stale claim.
    let files = lab_files();
    for (test, path) in tests {
        assert!(
            files.contains(&test),
            "{}: fn lab_{} has no scripts/labs/{test}.sh",
            path.display(),
            test.replace('-', "_")
        );
    }
}

#[test]
fn every_lab_is_bounded_in_time() {
    for name in lab_files() {
        let path = workspace().join(format!("scripts/labs/{name}.sh"));
        let text = fs::read_to_string(&path).expect("a lab file is readable");
        assert!(
            text.contains("scripts/labs/lib.sh") || text.contains("/lib.sh\""),
            "{name}: does not source lib.sh"
        );
        assert!(
            text.lines().any(|line| line.starts_with("lab_begin ")),
            "{name}: no `lab_begin SECONDS` (the time bound and the cleanup by PID)"
        );
    }
}

#[test]
fn an_unknown_lab_is_a_clear_error() {
    let (code, _, stderr) = lab_sh(&["no-such-lab"]);
    assert_eq!(
        code,
        Some(2),
        "exit code for an unknown lab; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("no lab named 'no-such-lab'") && stderr.contains("edge-no-drain"),
        "the error names the lab and lists the labs:\n{stderr}"
    );
    let (code, _, stderr) = lab_sh(&["../lab"]);
    assert_eq!(code, Some(2), "a path is not a lab name; stderr:\n{stderr}");
}
