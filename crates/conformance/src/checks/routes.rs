//! Routes and static files: every path a client may ask for, and the ones it must not get.

use super::support::*;

/// `GET /` answers `index.html`: 200, the exact body, `text/html`, `Date`, `Server`,
/// `Content-Length`.
pub fn get_index(target: &Target) {
    let server = target.start();
    for path in ["/", "/index.html"] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        expect_file(&conn, &resp, INDEX_HTML.as_bytes(), "text/html");
        conn.check(
            resp.version == "HTTP/1.1",
            "a 1.1 request is answered as HTTP/1.1",
            &resp,
        );
    }
}

/// The realistic Firefox request of the course notes (many headers, a long cookie, keep-alive)
/// is served, twice on one connection.
pub fn browser_request_served(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    for (path, content, media) in [
        ("/", INDEX_HTML, "text/html"),
        ("/style.css", fixtures::STYLE_CSS, "text/css"),
    ] {
        conn.send(browser_request(path).as_bytes());
        let resp = conn.read_response();
        expect_file(&conn, &resp, content.as_bytes(), media);
    }
}

/// `GET path` as Firefox 86 sends it (the example request of the course notes).
fn browser_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: www.baidu.com\r\n\
         User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0\r\n\
         Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\n\
         Accept-Language: zh-CN,zh;q=0.8,zh-TW;q=0.7,zh-HK;q=0.5,en-US;q=0.3,en;q=0.2\r\n\
         Accept-Encoding: gzip, deflate, br\r\n\
         Connection: keep-alive\r\n\
         Cookie: BAIDUID=6729CB682DADC2CF738F533E35162D98:FG=1; \
         BIDUPSID=6729CB682DADC2CFE015A8099199557E; PSTM=1614320692; BD_UPN=13314752; \
         BDORZ=FFFB88E999055A3F8A630C64834BD6D0; \
         __yjs_duid=1_d05d52b14af4a339210722080a668ec21614320694782; BD_HOME=1; \
         H_PS_PSSID=33514_33257_33273_31660_33570_26350; BA_HECTOR=8h2001alag0lag85nk1g3hcm60q\r\n\
         Upgrade-Insecure-Requests: 1\r\n\
         Cache-Control: max-age=0\r\n\r\n"
    )
}

/// Every fixture file comes back byte for byte with the `Content-Type` of its extension.
pub fn get_file_types(target: &Target) {
    let server = target.start();
    for (url, _, content, media) in FILES {
        let (conn, resp) = client::exchange(server.addr(), get(url).as_bytes());
        expect_file(&conn, &resp, content, media);
    }
    let (conn, resp) = client::exchange(server.addr(), get("/big.bin").as_bytes());
    conn.expect_status(&resp, 200);
    conn.check(
        resp.media_type().as_deref() == Some("application/octet-stream"),
        "a .bin file is application/octet-stream",
        &resp,
    );
}

/// `HEAD` gets the same status and headers as `GET` and no body (the next response on the same
/// connection parses cleanly, so not one body byte was sent), also for a multi-MiB file.
pub fn head_has_no_body(target: &Target) {
    let server = target.start();
    for (path, len) in [
        ("/style.css", fixtures::STYLE_CSS.len()),
        ("/big.bin", BIG_BIN_LEN),
    ] {
        let (_, get_resp) = client::exchange(server.addr(), get(path).as_bytes());
        let mut conn = Conn::open(server.addr());
        conn.send(keepalive("HEAD", path).as_bytes());
        let head = conn.read_head_response();
        conn.expect_status(&head, 200);
        expect_common_headers(&conn, &head, true);
        conn.check(
            head.content_length() == Some(len as u64),
            &format!("HEAD {path} announces the full Content-Length {len}"),
            &head,
        );
        for name in ["content-length", "content-type", "server"] {
            conn.check(
                head.header(name) == get_resp.header(name),
                &format!(
                    "HEAD has the same {name} as GET (GET said {:?})",
                    get_resp.header(name)
                ),
                &head,
            );
        }
        // If the HEAD response carried body bytes, they would be parsed as this response's head.
        conn.send(get("/hello.txt").as_bytes());
        let next = conn.read_response();
        expect_file(&conn, &next, HELLO_TXT.as_bytes(), "text/plain");
    }
}

/// A directory serves its `index.html`; a directory without one is 404 (or 403), never a listing.
pub fn directory_index(target: &Target) {
    let server = target.start();
    let (conn, resp) = client::exchange(server.addr(), get("/dir/").as_bytes());
    expect_file(&conn, &resp, DIR_INDEX_HTML.as_bytes(), "text/html");

    // Without the trailing slash: the index, or a redirect to `/dir/`.
    let (conn, resp) = client::exchange(server.addr(), get("/dir").as_bytes());
    match resp.status {
        200 => expect_file(&conn, &resp, DIR_INDEX_HTML.as_bytes(), "text/html"),
        301 | 302 | 307 | 308 => conn.check(
            resp.header("location")
                .is_some_and(|l| l.ends_with("/dir/")),
            "a redirect for /dir points to /dir/",
            &resp,
        ),
        _ => conn.check(false, "GET /dir serves dir/index.html or redirects", &resp),
    }

    let (conn, resp) = client::exchange(server.addr(), get("/empty-dir/").as_bytes());
    conn.check(
        matches!(resp.status, 403 | 404),
        "a directory without index.html is 404 (or 403)",
        &resp,
    );
    expect_common_headers(&conn, &resp, false);
}

/// The query string is not part of the file name.
pub fn query_string_ignored(target: &Target) {
    let server = target.start();
    for (path, content, media) in [
        ("/hello.txt?x=1&y=2", HELLO_TXT, "text/plain"),
        ("/hello.txt?", HELLO_TXT, "text/plain"),
        ("/?page=1", INDEX_HTML, "text/html"),
        ("/dir/?a=%2F..%2F", DIR_INDEX_HTML, "text/html"),
    ] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        expect_file(&conn, &resp, content.as_bytes(), media);
    }
}

/// Percent-encoded bytes are decoded (space, UTF-8, even plain letters); a broken escape is
/// rejected (400, or 404), never served.
pub fn percent_decoding(target: &Target) {
    let server = target.start();
    for (path, content) in [
        ("/with%20space.txt", fixtures::SPACE_TXT),
        (fixtures::UNICODE_URL, fixtures::UNICODE_TXT),
        ("/na%c3%afve-%c3%bcn%c3%afcode.txt", fixtures::UNICODE_TXT),
        ("/%68ello.txt", HELLO_TXT),
        ("/dir/%69ndex.html", DIR_INDEX_HTML),
    ] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        conn.expect_status(&resp, 200);
        conn.check(
            resp.body == content.as_bytes(),
            &format!("{path} is decoded to the right file"),
            &resp,
        );
    }
    for path in ["/hello%zz.txt", "/hello.txt%", "/hello.tx%7"] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        conn.check(
            matches!(resp.status, 400 | 404),
            "an invalid percent escape is 400 (or 404)",
            &resp,
        );
    }
}

/// A file that does not exist is 404 with the usual headers.
pub fn missing_file_404(target: &Target) {
    let server = target.start();
    for path in ["/no-such-file.txt", "/dir/nope.html", "/no-such-dir/"] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        conn.expect_status(&resp, 404);
        expect_common_headers(&conn, &resp, false);
    }
    // A path through a regular file (ENOTDIR) is not found either.
    let (conn, resp) = client::exchange(server.addr(), get("/hello.txt/x").as_bytes());
    conn.check(
        matches!(resp.status, 403 | 404),
        "a path below a regular file is 404 (or 403)",
        &resp,
    );
}

/// `..` can never leave the document root, raw or percent-encoded.
pub fn dotdot_escape_forbidden(target: &Target) {
    let server = target.start();
    for path in [
        "/../outside/secret.txt",
        "/dir/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/dir/%2e%2e/%2e%2e/outside/secret.txt",
        "/..",
        "/../",
    ] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        expect_not_served(&conn, &resp);
    }
}

/// An encoded slash (`%2f`) is refused (403/404): it cannot smuggle a `..` or a path separator
/// past the checks.
pub fn encoded_slash(target: &Target) {
    let server = target.start();
    for path in [
        "/..%2foutside%2fsecret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/dir%2f..%2f..%2foutside%2fsecret.txt",
        "/dir%2F..%2F..%2Foutside%2Fsecret.txt",
        "/link-outside-dir%2fsecret.txt",
        "/dir%2findex.html",
    ] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        expect_not_served(&conn, &resp);
    }
}

/// A symlink inside the root that points outside it is not followed (403/404), whether it is a
/// file or a directory link.
pub fn symlink_outside_root_forbidden(target: &Target) {
    let server = target.start();
    for path in ["/link-outside.txt", "/link-outside-dir/secret.txt"] {
        for method in ["GET", "HEAD"] {
            let raw =
                format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
            let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
            expect_not_served(&conn, &resp);
        }
    }
}

/// A symlink that stays inside the root is served like its target.
pub fn symlink_inside_root_served(target: &Target) {
    let server = target.start();
    let (conn, resp) = client::exchange(server.addr(), get("/link-inside.txt").as_bytes());
    expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
}

/// A multi-MiB file read at full speed arrives complete and identical.
pub fn large_file_intact(target: &Target) {
    let server = target.start();
    let (conn, resp) = client::exchange(server.addr(), get("/big.bin").as_bytes());
    conn.expect_status(&resp, 200);
    expect_common_headers(&conn, &resp, false);
    expect_body(&conn, &resp, &fixtures::big_bin(), "/big.bin");
}

/// `GET /bytes/N` is exactly N bytes of the documented pattern (and `HEAD` announces N).
pub fn bytes_route(target: &Target) {
    let server = target.start();
    for n in [0usize, 1, 31, 32, 33, 1000, 100_000, 1_000_003] {
        let path = format!("/bytes/{n}");
        let (conn, resp) = client::exchange(server.addr(), get(&path).as_bytes());
        conn.expect_status(&resp, 200);
        expect_common_headers(&conn, &resp, false);
        expect_body(&conn, &resp, &fixtures::generated_bytes(n), &path);
    }
    let mut conn = Conn::open(server.addr());
    conn.send(keepalive("HEAD", "/bytes/100000").as_bytes());
    let head = conn.read_head_response();
    conn.expect_status(&head, 200);
    conn.check(
        head.content_length() == Some(100_000),
        "HEAD /bytes/100000 announces 100000 bytes",
        &head,
    );
    conn.send(get("/bytes/3").as_bytes());
    let next = conn.read_response();
    expect_body(&conn, &next, b"abc", "/bytes/3 after HEAD");
}

/// `/bytes/N` has a sane upper bound: an absurd N is refused with a small 4xx answer, and so
/// are N that are not numbers.
pub fn bytes_over_limit(target: &Target) {
    let server = target.start();
    for path in [
        "/bytes/1000000000000000000",
        "/bytes/18446744073709551616",
        "/bytes/-1",
        "/bytes/abc",
        "/bytes/",
    ] {
        let (conn, resp) = client::exchange(server.addr(), get(path).as_bytes());
        conn.check(
            (400..500).contains(&resp.status),
            &format!("{path} is refused with a 4xx status"),
            &resp,
        );
        conn.check(
            resp.body.len() < 64 * 1024,
            "the refusal is a short message",
            &resp,
        );
    }
    // And the server is still fine.
    let (conn, resp) = client::exchange(server.addr(), get("/bytes/5").as_bytes());
    expect_body(&conn, &resp, b"abcde", "/bytes/5");
}

/// `--work-routes`: `GET /cpu/US` and `/block/MS` are answered after the server ran the work
/// (`/block/60` takes at least 60 ms), pipelined behind a file and in order; more than a second
/// is `400`. Without the flag the paths are files like any other (`404`).
pub fn work_routes(target: &Target) {
    let plain = target.start();
    let (conn, resp) = client::exchange(plain.addr(), get("/cpu/100").as_bytes());
    conn.expect_status(&resp, 404);
    let server = target.start_with(&["--work-routes"]);
    let mut conn = Conn::open(server.addr());
    let started = Instant::now();
    conn.send(
        format!(
            "{}{}{}",
            keepalive("GET", "/hello.txt"),
            keepalive("GET", "/block/60"),
            keepalive("GET", "/cpu/200")
        )
        .as_bytes(),
    );
    let file = conn.read_response();
    expect_body(
        &conn,
        &file,
        HELLO_TXT.as_bytes(),
        "/hello.txt before the work",
    );
    let blocked = conn.read_response();
    conn.expect_status(&blocked, 200);
    expect_body(&conn, &blocked, b"blocked for 60 ms\n", "/block/60");
    conn.check(
        started.elapsed() >= Duration::from_millis(60),
        "/block/60 is answered after 60 ms, not before",
        &blocked,
    );
    let computed = conn.read_response();
    conn.expect_status(&computed, 200);
    expect_common_headers(&conn, &computed, false);
    expect_body(&conn, &computed, b"computed for 200 us\n", "/cpu/200");
    // A 400 closes its connection: one connection each.
    for path in ["/cpu/1000001", "/block/1001", "/block/x"] {
        let (conn, refused) = client::exchange(server.addr(), get(path).as_bytes());
        conn.expect_status(&refused, 400);
    }
}
