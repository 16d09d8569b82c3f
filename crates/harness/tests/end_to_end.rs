//! `harness load` against the real `server-blocking`: the request counts the load generator
//! reports must agree with what the server says it served (`served N requests on M
//! connections`, printed after SIGTERM).

mod common;

use common::{ServerProcess, load_json, served, server_blocking};

fn fixture_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp root");
    std::fs::write(
        root.path().join("index.html"),
        b"<p>hello from the harness test</p>\n",
    )
    .expect("write index.html");
    root
}

#[test]
fn counted_requests_match_what_the_server_served() {
    let root = fixture_root();
    let server = ServerProcess::start(&server_blocking(), root.path());
    let url = format!("http://{}/index.html", server.addr);
    let report = load_json(&["-c", "4", "-n", "3000", &url]);
    let stderr = server.stop();
    let (served_requests, served_connections) = served(&stderr);
    assert_eq!(report["requests"], 3000, "report: {report}");
    assert_eq!(report["errors"]["non_2xx"], 0);
    assert_eq!(report["status_codes"]["200"], 3000);
    assert_eq!(served_requests, 3000, "server stderr: {stderr}");
    assert_eq!(served_connections, 4, "four keep-alive connections");
    assert_eq!(report["connections"], 4);
}

#[test]
fn a_one_second_run_agrees_with_the_server_within_the_requests_in_flight() {
    let root = fixture_root();
    let server = ServerProcess::start(&server_blocking(), root.path());
    let url = format!("http://{}/index.html", server.addr);
    let clients = 8;
    let report = load_json(&["-c", &clients.to_string(), "-t", "1", &url]);
    let stderr = server.stop();
    let (served_requests, _) = served(&stderr);
    let counted = report["requests"].as_u64().expect("requests is a number");
    assert!(
        counted > 100,
        "a second of load answered only {counted} requests"
    );
    let errors = report["errors"].as_object().expect("errors object");
    assert!(errors.values().all(|v| v == 0), "errors: {report}");
    // The run stops with up to one request per client in flight: the server may have answered
    // those, the harness did not count them.
    assert!(
        served_requests >= counted && served_requests <= counted + clients,
        "server served {served_requests}, harness counted {counted}"
    );
}

#[test]
fn connection_per_request_opens_one_connection_each() {
    let root = fixture_root();
    let server = ServerProcess::start(&server_blocking(), root.path());
    let url = format!("http://{}/index.html", server.addr);
    let report = load_json(&["--close", "-c", "5", "-n", "300", &url]);
    let stderr = server.stop();
    let (served_requests, served_connections) = served(&stderr);
    assert_eq!(report["requests"], 300, "report: {report}");
    assert_eq!(report["connections"], 300);
    assert_eq!(served_requests, 300, "server stderr: {stderr}");
    assert_eq!(served_connections, 300);
    assert!(
        report["connect"]["count"].as_u64() == Some(300),
        "connect times: {report}"
    );
}

#[test]
fn idle_connections_are_held_during_the_run() {
    let root = fixture_root();
    let server = ServerProcess::start(&server_blocking(), root.path());
    let url = format!("http://{}/index.html", server.addr);
    let report = load_json(&["--idle", "50", "-c", "2", "-n", "200", &url]);
    let stderr = server.stop();
    let (served_requests, served_connections) = served(&stderr);
    assert_eq!(report["idle_established"], 50, "report: {report}");
    assert_eq!(report["requests"], 200);
    assert_eq!(served_requests, 200);
    assert_eq!(served_connections, 52, "2 active + 50 idle: {stderr}");
}
