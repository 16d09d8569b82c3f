//! Style rules written as tests (as rust-analyzer does): every server crate opens with its
//! lesson, points to a sibling to compare with, runs the conformance suite, and appears in the
//! README's model table — so the README cannot silently fall behind the workspace.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `crates/server-*` folder except the shared one.
fn server_crates() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(workspace().join("crates"))
        .expect("crates/ is readable")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("server-") && name != "server-common")
        .collect();
    names.sort();
    names
}

#[test]
fn there_are_servers_to_check() {
    // Guards the tests below against passing vacuously on an empty list.
    assert!(server_crates().len() >= 8, "found {:?}", server_crates());
}

#[test]
fn every_server_opens_with_its_lesson() {
    for name in server_crates() {
        let path = workspace().join("crates").join(&name).join("src/main.rs");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.starts_with("//!"),
            "{name}: src/main.rs must start with a `//!` lesson"
        );
        let lesson: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            lesson.lines().count() >= 20,
            "{name}: the lesson is too short to teach the model"
        );
        assert!(
            lesson.to_lowercase().contains("compare"),
            "{name}: the lesson must point to a sibling server to compare with"
        );
    }
}

#[test]
fn every_server_runs_the_conformance_suite() {
    for name in server_crates() {
        let tests = workspace().join("crates").join(&name).join("tests");
        let suite = fs::read_to_string(tests.join("conformance.rs"))
            .unwrap_or_else(|e| panic!("{name}: tests/conformance.rs: {e}"));
        assert!(
            suite.contains("conformance::suite!"),
            "{name}: tests/conformance.rs must run conformance::suite!"
        );
        // The binary may be named there or in a helper module beside it (server-uring).
        let binary = format!("CARGO_BIN_EXE_{name}");
        let names_binary = walk(&tests)
            .iter()
            .any(|file| fs::read_to_string(file).is_ok_and(|text| text.contains(&binary)));
        assert!(names_binary, "{name}: its tests never start {binary}");
    }
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn readme_lists_every_server() {
    let readme = fs::read_to_string(workspace().join("README.md")).expect("README.md");
    for name in server_crates() {
        let row = format!("| [`{name}`](crates/{name}/src/main.rs) |");
        assert!(
            readme.contains(&row),
            "README.md's model table has no row for {name}"
        );
    }
}
