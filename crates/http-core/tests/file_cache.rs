//! The open-file cache as a server sees it: a cached small file needs no file read at all, a
//! cached big one keeps its descriptor; nothing stale is served past the validity window
//! (changed, deleted, or a symlink swapped to leave the root); and the cache can be turned off.

mod common;

use std::os::fd::AsRawFd;
use std::time::Duration;

use common::{Root, drain, parse_one};
use http_core::{CACHED_FD_MIN, FileCacheSettings};

const WINDOW: Duration = Duration::from_secs(1);

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")
}

#[test]
fn a_cached_small_file_is_answered_without_any_file_read() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(get("/hello.txt").as_bytes(), root.t0);
    assert!(
        conn.file_read().is_some(),
        "first time: the server reads it"
    );
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).body, b"hello\n");
    // The same connection, or another one: the bytes come from the cache.
    for mut conn in [conn, root.conn()] {
        conn.handle_input(get("/hello.txt").as_bytes(), root.t0);
        assert!(
            conn.file_read().is_none(),
            "no read: the cache has the bytes"
        );
        let out = conn.next_output().to_vec();
        assert!(
            out.ends_with(b"\r\n\r\nhello\n"),
            "head and body in one buffer"
        );
    }
}

#[test]
fn a_cached_big_file_keeps_one_descriptor_out_of_the_way() {
    let root = Root::new();
    let fds =
        |conn: &http_core::Connection| conn.sendfile_range().map(|range| range.file.as_raw_fd());
    let mut first = root.conn();
    first.handle_input(get("/big.bin").as_bytes(), root.t0);
    let head = first.next_output().len();
    first.consume(head, root.t0);
    let mut second = root.conn();
    second.handle_input(get("/big.bin").as_bytes(), root.t0);
    let head = second.next_output().len();
    second.consume(head, root.t0);
    let (a, b) = (fds(&first), fds(&second));
    assert!(a.is_some());
    assert_eq!(a, b, "both responses send from the one cached descriptor");
    assert!(a.is_some_and(|fd| fd >= CACHED_FD_MIN), "{a:?}");
}

#[test]
fn a_deleted_file_is_404_once_the_window_is_over() {
    let root = Root::new();
    let status = |after: Duration| {
        let mut conn = root.conn();
        conn.handle_input(get("/style.css").as_bytes(), root.t0 + after);
        parse_one(&drain(&mut conn, root.t0 + after)).status
    };
    assert_eq!(status(Duration::ZERO), 200);
    std::fs::remove_file(root.www().join("style.css")).expect("delete");
    assert_eq!(
        status(WINDOW / 2),
        200,
        "within the window: the cached file"
    );
    assert_eq!(status(WINDOW), 404);
    assert_eq!(status(WINDOW * 2), 404, "and it stays gone");
}

#[test]
fn a_symlink_swapped_to_leave_the_root_is_403_once_the_window_is_over() {
    let root = Root::new();
    let link = root.www().join("swapped.txt");
    std::os::unix::fs::symlink(root.www().join("hello.txt"), &link).expect("symlink in");
    let answer = |after: Duration| {
        let mut conn = root.conn();
        conn.handle_input(get("/swapped.txt").as_bytes(), root.t0 + after);
        parse_one(&drain(&mut conn, root.t0 + after))
    };
    assert_eq!(answer(Duration::ZERO).body, b"hello\n");
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(root.dir.path().join("secret.txt"), &link).expect("symlink out");
    let resp = answer(WINDOW);
    assert_eq!(resp.status, 403);
    assert!(
        !resp.body.starts_with(b"secret"),
        "the secret is never served"
    );
}

#[test]
fn with_the_cache_off_every_request_reads_the_file() {
    let root = Root::with(|config| config.set_file_cache(None));
    assert!(root.config.file_cache_settings().is_none());
    for _ in 0..2 {
        let mut conn = root.conn();
        conn.handle_input(get("/hello.txt").as_bytes(), root.t0);
        assert!(conn.file_read().is_some(), "no cache: a read every time");
        let resp = parse_one(&drain(&mut conn, root.t0));
        assert_eq!(resp.body, b"hello\n");
    }
}

#[test]
fn the_cache_is_on_by_default_with_the_documented_settings() {
    let root = Root::new();
    let settings = root.config.file_cache_settings().expect("on");
    assert_eq!(
        *settings,
        FileCacheSettings {
            valid: Duration::from_secs(1),
            inactive: Duration::from_secs(20),
            max_entries: 1000,
            max_content_bytes: 16 * 1024 * 1024,
        }
    );
    assert_eq!(CACHED_FD_MIN, 1024);
}

#[test]
fn a_range_or_a_head_of_a_cached_file_is_cut_from_the_cached_bytes() {
    let root = Root::new();
    let mut warm = root.conn();
    warm.handle_input(get("/hello.txt").as_bytes(), root.t0);
    drain(&mut warm, root.t0);
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=1-3\r\n\r\n",
        root.t0,
    );
    assert!(conn.file_read().is_none());
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.status, 206);
    assert_eq!(resp.body, b"ell");
    let mut conn = root.conn();
    conn.handle_input(b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(
        conn.next_output().ends_with(b"\r\n\r\n"),
        "no body after HEAD"
    );
}

#[test]
fn the_settings_given_are_the_settings_used() {
    let custom = FileCacheSettings {
        valid: Duration::from_millis(250),
        inactive: Duration::from_secs(3),
        max_entries: 7,
        max_content_bytes: 1_000,
    };
    let expected = custom.clone();
    let root = Root::with(move |config| config.set_file_cache(Some(custom)));
    assert_eq!(root.config.file_cache_settings(), Some(&expected));
    // And they are obeyed: trusted for 250 ms only.
    let status_after = |after: Duration| {
        let mut conn = root.conn();
        conn.handle_input(get("/style.css").as_bytes(), root.t0 + after);
        parse_one(&drain(&mut conn, root.t0 + after)).status
    };
    assert_eq!(status_after(Duration::ZERO), 200);
    std::fs::remove_file(root.www().join("style.css")).expect("delete");
    assert_eq!(status_after(Duration::from_millis(250)), 404);
}

#[test]
fn a_served_file_is_not_left_non_blocking() {
    // Opened with O_NONBLOCK (a FIFO must not block `open`), then cleared: io_uring answers a
    // read of an O_NONBLOCK file that misses the page cache with EAGAIN instead of waiting.
    for cache in [true, false] {
        let root = Root::with(move |config| {
            if !cache {
                config.set_file_cache(None);
            }
        });
        let mut conn = root.conn();
        conn.handle_input(get("/big.bin").as_bytes(), root.t0);
        let head = conn.next_output().len();
        conn.consume(head, root.t0);
        let range = conn.sendfile_range().expect("the file is next");
        let flags = nix::fcntl::fcntl(range.file, nix::fcntl::FcntlArg::F_GETFL).expect("F_GETFL");
        assert_eq!(flags & libc::O_NONBLOCK, 0, "cache {cache}");
    }
}

#[test]
fn a_file_replaced_by_a_directory_is_redirected_once_the_window_is_over() {
    let root = Root::new();
    let answer = |after: Duration| {
        let mut conn = root.conn();
        conn.handle_input(get("/style.css").as_bytes(), root.t0 + after);
        parse_one(&drain(&mut conn, root.t0 + after))
    };
    assert_eq!(answer(Duration::ZERO).status, 200);
    std::fs::remove_file(root.www().join("style.css")).expect("delete");
    common::write(
        &root.www().join("style.css/index.html"),
        b"<p>now a directory</p>\n",
    );
    assert_eq!(answer(WINDOW).status, 301);
    assert_eq!(
        answer(WINDOW / 2 * 3).status,
        301,
        "the old file is not served again"
    );
}
