//! `harness compare --quick` on one server writes valid JSON and Markdown (into a temp dir).

mod common;

use std::process::Command;

use common::{HARNESS, profile_dir, server_blocking};

#[test]
fn quick_compare_of_one_server_writes_json_and_markdown() {
    let bin_dir = server_blocking()
        .parent()
        .expect("binary has a directory")
        .to_path_buf();
    assert_eq!(bin_dir, profile_dir());
    let out = tempfile::tempdir().expect("temp out dir");
    let status = Command::new(HARNESS)
        .args([
            "compare",
            "--quick",
            "--servers",
            "server-blocking",
            "--no-nginx",
        ])
        .args(["--duration", "0.2", "--bin-dir"])
        .arg(&bin_dir)
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("run harness compare");
    assert!(status.success());
    let runs: Vec<_> = std::fs::read_dir(out.path())
        .expect("read out dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    let run = &runs[0];

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert!(json["machine"]["cpus"].as_u64().is_some_and(|n| n >= 1));
    assert!(json["machine"]["kernel"].is_string());
    let rows = json["rows"].as_array().expect("rows");
    assert!(rows.len() >= 2, "every mode of server-blocking is a row");
    assert!(rows.iter().all(|r| r["server"] == "server-blocking"));
    let scenarios = json["scenarios"].as_array().expect("scenarios");
    assert!(!scenarios.is_empty());
    for row in rows {
        for s in scenarios {
            let id = s["id"].as_str().expect("scenario id");
            let cell = &row["cells"][id];
            assert!(
                cell["na"].is_string() || cell["load"]["requests"].is_u64(),
                "cell {id} of {} is neither measured nor n/a: {cell}",
                row["mode"]
            );
        }
    }
    // Thread-per-connection serves 10 keep-alive clients in any setting.
    let first = &rows[0]["cells"]["keepalive-10"];
    assert!(
        first["load"]["requests"].as_u64().is_some_and(|n| n > 0),
        "{first}"
    );
    assert!(first["server"]["cpu_seconds"].is_number(), "{first}");
    assert!(
        first["server"]["peak_rss_kib"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{first}"
    );

    let md = std::fs::read_to_string(run.join("results.md")).expect("results.md");
    assert!(md.starts_with("# io-models benchmark run"));
    assert!(md.contains("| server | req/s | MB/s |"));
    assert!(md.contains("`keepalive-10`"));
    assert!(md.contains("| server-blocking thread-per-conn |"));
    assert!(md.contains("## Syscalls per request"));
}
