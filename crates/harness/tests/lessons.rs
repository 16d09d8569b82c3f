//! The lessons (each crate's `//!` docs) quote measured speeds by reference to the committed run
//! in `bench-results/`, never by copying them: a copied throughput or latency goes stale the
//! moment the code or the machine changes, and nothing notices. This test notices.
//!
//! It flags, in module docs (`//!`) of every crate: a number followed by `req/s`, a number
//! followed by `µs`, and a ratio to nginx (`0.9× nginx`). Counts that do not drift with the
//! machine (syscalls per request, threads, bytes) and the programs' own constants (a 10 ms
//! back-off) are allowed.

mod common;

use std::fs;
use std::path::Path;

/// Whether a doc line states a measured throughput, latency or ratio to nginx.
fn copies_a_figure(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let is_number = |w: &str| {
        let w = w.trim_start_matches(['(', '~', '≈']);
        w.chars().next().is_some_and(|c| c.is_ascii_digit())
            && w.chars()
                .all(|c| c.is_ascii_digit() || ",.–-k×x".contains(c))
    };
    words.windows(2).any(|pair| {
        let (number, unit) = (pair[0], pair[1].trim_end_matches([',', '.', ';', ')', ':']));
        is_number(number) && (unit == "req/s" || unit == "µs")
    }) || words
        .windows(2)
        .any(|pair| pair[0].ends_with('×') && is_number(pair[0]) && pair[1].starts_with("nginx"))
}

#[test]
fn the_rule_recognises_copied_figures() {
    assert!(copies_a_figure("//! it answered 131,000 req/s here"));
    assert!(copies_a_figure("//! | `server-poll` | 11 µs | 17 µs |"));
    assert!(copies_a_figure(
        "//! about 0.9× nginx's requests per second"
    ));
    assert!(!copies_a_figure("//! sleeps 1 ms, doubling up to 10 ms"));
    assert!(!copies_a_figure(
        "//! 2.05 calls per request with the cache"
    ));
    assert!(!copies_a_figure(
        "//! the req/s column of the committed run"
    ));
}

#[test]
fn crate_docs_quote_measured_speeds_by_reference() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in fs::read_dir(&crates).expect("crates/") {
        let src = entry.expect("dir entry").path().join("src");
        if src.is_dir() {
            files.extend(common::rust_sources(&src));
        }
    }
    assert!(files.len() > 20, "found the workspace's sources");
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("readable source");
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//!") && copies_a_figure(line) {
                found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "copied figures (reference the committed run in bench-results/ instead):\n{}",
        found.join("\n")
    );
}
