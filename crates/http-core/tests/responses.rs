//! What the bytes of a response say: media types with their charset, and error bodies that
//! explain themselves.

mod common;

use common::{Root, exchange, parse_one, write};

#[test]
fn text_like_media_types_carry_utf8_and_binary_ones_do_not() {
    let root = Root::new();
    for (name, expected) in [
        ("a.js", "charset=utf-8"),
        ("a.json", "charset=utf-8"),
        ("a.svg", "charset=utf-8"),
        ("a.txt", "charset=utf-8"),
        ("a.png", "image/png"),
        ("a.wasm", "application/wasm"),
    ] {
        write(&root.www().join(name), b"x");
        let req = format!("GET /{name} HTTP/1.1\r\nHost: a\r\n\r\n");
        let resp = parse_one(&exchange(&root, req.as_bytes()).0);
        let content_type = resp.header("content-type").expect("Content-Type");
        if expected.starts_with("charset") {
            assert!(
                content_type.ends_with("; charset=utf-8"),
                "{name}: {content_type}"
            );
        } else {
            assert_eq!(content_type, expected, "{name}");
        }
    }
}

#[test]
fn an_error_body_names_its_status_and_reason() {
    let root = Root::new();
    let resp = parse_one(&exchange(&root, b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n").0);
    let body = String::from_utf8_lossy(&resp.body);
    assert!(body.starts_with("404 Not Found: "), "{body}");
    assert!(body.ends_with('\n'));
}

#[test]
fn a_body_error_is_logged_with_the_requests_method_and_target() {
    let root = Root::with(|c| c.log_requests = true);
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        root.t0,
    );
    let exchange = conn.take_exchange().expect("the 400 is recorded");
    assert_eq!(
        (
            exchange.method.as_str(),
            exchange.target.as_str(),
            exchange.status
        ),
        ("POST", "/echo", 400)
    );
}
