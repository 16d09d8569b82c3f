//! The work routes, `/cpu/US` and `/block/MS` (`Config::work_routes`): the core hands the server
//! the logic to run and answers only when told it is done.

mod common;

use std::time::Duration;

use common::{Root, drain, exchange, parse, parse_one};
use http_core::{Phase, Work};

fn with_work_routes() -> Root {
    Root::with(|config| config.work_routes = true)
}

#[test]
fn off_by_default_the_paths_are_files() {
    let root = Root::new();
    for target in ["/cpu/500", "/block/5"] {
        let (out, conn) = exchange(
            &root,
            format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_eq!(parse_one(&out).status, 404, "{target}");
        assert_eq!(conn.work(), None);
    }
}

#[test]
fn the_response_waits_for_the_work() {
    let root = with_work_routes();
    for (target, work, body) in [
        (
            "/cpu/500",
            Work::Cpu(Duration::from_micros(500)),
            "computed for 500 us\n",
        ),
        (
            "/block/20",
            Work::Block(Duration::from_millis(20)),
            "blocked for 20 ms\n",
        ),
        (
            "/cpu/1000000",
            Work::Cpu(Duration::from_secs(1)),
            "computed for 1000000 us\n",
        ),
        (
            "/block/1000",
            Work::Block(Duration::from_secs(1)),
            "blocked for 1000 ms\n",
        ),
        (
            "/block/0",
            Work::Block(Duration::ZERO),
            "blocked for 0 ms\n",
        ),
    ] {
        let mut conn = root.conn();
        conn.handle_input(
            format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
            root.t0,
        );
        assert_eq!(conn.work(), Some(work), "{target}");
        assert_eq!(conn.phase(), Phase::Respond);
        assert!(
            !conn.wants_write(),
            "{target}: nothing to write before the work is done"
        );
        assert!(drain(&mut conn, root.t0).is_empty());
        let later = root.t0 + Duration::from_millis(20);
        conn.work_done(later);
        assert_eq!(conn.work(), None);
        let resp = parse_one(&drain(&mut conn, later));
        assert_eq!(resp.status, 200, "{target}");
        assert_eq!(resp.body, body.as_bytes(), "{target}");
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(conn.phase(), Phase::RequestLine);
        assert_eq!(conn.responses_sent(), 1);
        // The idle clock restarts when the work is done, not when the request arrived.
        assert_eq!(
            conn.deadline(),
            Some(later + root.config.limits.idle_timeout)
        );
    }
}

#[test]
fn more_than_a_second_or_not_a_number_is_400() {
    let root = with_work_routes();
    for target in [
        "/cpu/1000001",
        "/block/1001",
        "/cpu/abc",
        "/block/",
        "/cpu/-5",
        "/block/99999999999999999999999",
    ] {
        let (out, conn) = exchange(
            &root,
            format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        );
        assert_eq!(parse_one(&out).status, 400, "{target}");
        assert_eq!(conn.work(), None, "{target}");
    }
}

#[test]
fn head_gets_the_head_and_post_is_not_allowed() {
    let root = with_work_routes();
    let mut conn = root.conn();
    conn.handle_input(b"HEAD /cpu/7 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert_eq!(conn.work(), Some(Work::Cpu(Duration::from_micros(7))));
    conn.work_done(root.t0);
    let out = drain(&mut conn, root.t0);
    let resp = &parse(&out, &[true])[0];
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("18")); // "computed for 7 us\n"
    assert!(out.ends_with(b"\r\n\r\n"), "no body after a HEAD's head");
    let (out, _) = exchange(
        &root,
        b"POST /block/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(parse_one(&out).status, 405);
}

#[test]
fn pipelined_requests_wait_their_turn() {
    let root = with_work_routes();
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /block/5 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /cpu/3 HTTP/1.1\r\nHost: a\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        root.t0,
    );
    // The first response can go out; the one after the work is not parsed yet.
    let first = drain(&mut conn, root.t0);
    assert_eq!(parse(&first, &[]).len(), 1);
    assert_eq!(conn.work(), Some(Work::Block(Duration::from_millis(5))));
    conn.work_done(root.t0);
    // The next pipelined request is parsed at once and needs work too.
    assert_eq!(conn.work(), Some(Work::Cpu(Duration::from_micros(3))));
    conn.work_done(root.t0);
    assert_eq!(conn.work(), None);
    let rest = parse(&drain(&mut conn, root.t0), &[]);
    let bodies: Vec<&[u8]> = rest.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(
        bodies,
        [
            &b"blocked for 5 ms\n"[..],
            b"computed for 3 us\n",
            b"hello\n"
        ]
    );
    assert_eq!(conn.responses_sent(), 4);
}

#[test]
fn a_closing_request_closes_after_its_work() {
    let root = with_work_routes();
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /cpu/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        root.t0,
    );
    assert!(!conn.is_closed(), "the work is still to be done");
    conn.work_done(root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn the_log_records_the_work_request() {
    let root = Root::with(|config| {
        config.work_routes = true;
        config.log_requests = true;
    });
    let mut conn = root.conn();
    conn.handle_input(b"GET /block/2 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(conn.take_exchange().is_none(), "logged only once answered");
    conn.work_done(root.t0);
    let logged = conn.take_exchange().expect("one exchange");
    assert_eq!(
        (logged.method.as_str(), logged.target.as_str()),
        ("GET", "/block/2")
    );
    assert_eq!((logged.status, logged.body_bytes), (200, 17));
}

#[test]
fn work_done_without_work_does_nothing() {
    let root = with_work_routes();
    let mut conn = root.conn();
    conn.work_done(root.t0);
    assert_eq!(conn.phase(), Phase::RequestLine);
    assert!(!conn.wants_write());
}
