//! Size rules for the harness, written as a test so they cannot quietly regress: no source file
//! over 800 lines, and no function over 80 lines unless a comment starting `// Long:` right above
//! it (among its doc lines and attributes) says why.
//!
//! Anchor comments for the course's `{{#include}}`s do not count as lines of a function.
//!
//! The scan relies on rustfmt's layout (checked in CI): a function's body closes with a `}` at the
//! indentation of its `fn` line.

mod common;

use std::fs;
use std::path::Path;

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 80;

/// `(name, first line, length in lines, has a "// Long:" reason)` of every function in `text`.
fn functions(text: &str) -> Vec<(String, usize, usize, bool)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let after_vis = trimmed
            .strip_prefix("pub(crate) ")
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .or_else(|| trimmed.strip_prefix("pub "))
            .unwrap_or(trimmed);
        let after_unsafe = after_vis.strip_prefix("unsafe ").unwrap_or(after_vis);
        let Some(rest) = after_unsafe.strip_prefix("fn ") else {
            i += 1;
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = " ".repeat(indent) + "}";
        let Some(end) = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == close) else {
            i += 1;
            continue;
        };
        let mut reason = false;
        let mut k = i;
        while k > 0 {
            let above = lines[k - 1].trim_start();
            if above.starts_with("// Long:") {
                reason = true;
            }
            if !(above.starts_with("//") || above.starts_with("#[")) {
                break;
            }
            k -= 1;
        }
        // The course's include markers (`// ANCHOR: name`, `// ANCHOR_END: name`) are book markup,
        // not code: they do not count.
        let markers = lines[i..=end]
            .iter()
            .filter(|l| l.trim_start().starts_with("// ANCHOR"))
            .count();
        found.push((name, i + 1, end - i + 1 - markers, reason));
        i = end + 1;
    }
    found
}

#[test]
fn no_harness_file_is_over_800_lines_nor_an_unexplained_function_over_80() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = common::rust_sources(&src);
    assert!(files.len() >= 10, "found only {} source files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            problems.push(format!("{rel}: {lines} lines (at most {MAX_FILE_LINES})"));
        }
        for (name, line, len, reason) in functions(&text) {
            if len <= MAX_FN_LINES || reason {
                continue;
            }
            problems.push(format!(
                "{rel}:{line}: fn {name} is {len} lines (at most {MAX_FN_LINES}, or a `// Long:` reason)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_measures_functions_and_sees_reasons() {
    let text = "fn short() {\n    x();\n}\n\n/// Doc.\n// Long: a reason.\npub fn long() {\n    a();\n    b();\n}\n";
    let found = functions(text);
    assert_eq!(
        found,
        [
            ("short".to_owned(), 1, 3, false),
            ("long".to_owned(), 7, 4, true)
        ]
    );
    let anchored = "fn f() {\n    // ANCHOR: part\n    x();\n    // ANCHOR_END: part\n}\n";
    assert_eq!(functions(anchored), [("f".to_owned(), 1, 3, false)]);
}
