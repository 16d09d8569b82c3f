//! Table-driven request → response tests. Each row runs twice: the request in one piece and the
//! request fed one byte at a time; both must give the same bytes.

mod common;

use common::{Root, exchange, exchange_bytewise, parse};

/// `name: request => status, close?, [(header, value)...], body check`
macro_rules! cases {
    ($(
        $name:ident: $req:expr => $status:expr, close = $close:expr,
            [$(($h:expr, $v:expr)),* $(,)?] $(, body = $body:expr)? ;
    )*) => {$(
        #[test]
        fn $name() {
            let root = Root::new();
            let req: &[u8] = $req;
            let (whole, conn) = exchange(&root, req);
            let (bytewise, _) = exchange_bytewise(&root, req);
            assert_eq!(
                String::from_utf8_lossy(&whole),
                String::from_utf8_lossy(&bytewise),
                "one piece vs byte by byte"
            );
            let head_only = req.starts_with(b"HEAD ");
            let resps = parse(&whole, &[head_only]);
            let resp = resps.iter().find(|r| r.status != 100).expect("a final response");
            assert_eq!(resp.status, $status, "{}", String::from_utf8_lossy(&whole));
            // Every response carries these four.
            for h in ["date", "server", "content-length", "content-type"] {
                assert!(resp.header(h).is_some(), "missing {h}");
            }
            assert_eq!(resp.header("date"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
            assert_eq!(resp.header("server"), Some("io-models"));
            let close: bool = $close;
            assert_eq!(resp.header("connection") == Some("close"), close, "Connection: close");
            assert_eq!(conn.is_closed(), close, "connection closed after the response");
            $(assert_eq!(resp.header($h), Some($v), "header {}", $h);)*
            $(
                let body: &[u8] = $body;
                assert_eq!(String::from_utf8_lossy(&resp.body), String::from_utf8_lossy(body));
            )?
            if head_only {
                assert!(whole.ends_with(b"\r\n\r\n"), "HEAD has no body");
            }
            assert_eq!(conn.responses_sent(), 1);
        }
    )*};
}

cases! {
    get_root_is_index: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-type", "text/html; charset=utf-8"), ("content-length", "15")],
        body = b"<h1>index</h1>\n";
    get_text_file: b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-type", "text/plain; charset=utf-8")], body = b"hello\n";
    get_css: b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-type", "text/css; charset=utf-8")], body = b"body{}\n";
    unknown_extension_is_octet_stream: b"GET /data.weird-ext HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [("content-type", "application/octet-stream")], body = b"??";
    query_string_ignored: b"GET /hello.txt?x=1&y=../.. HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"hello\n";
    percent_decoded_path: b"GET /sub/a%20b.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"space\n";
    directory_without_slash_redirects: b"GET /sub HTTP/1.1\r\nHost: a\r\n\r\n" => 301,
        close = false, [("location", "/sub/")];
    directory_redirect_keeps_the_query: b"GET /sub?a=1&b=2#frag HTTP/1.1\r\nHost: a\r\n\r\n" => 301,
        close = false, [("location", "/sub/?a=1&b=2")];
    directory_redirect_keeps_the_encoding: b"GET /s%75b HTTP/1.1\r\nHost: a\r\n\r\n" => 301,
        close = false, [("location", "/s%75b/")];
    absolute_form_directory_redirect: b"GET http://a/sub HTTP/1.1\r\nHost: a\r\n\r\n" => 301,
        close = false, [("location", "/sub/")];
    directory_slash_means_index: b"GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"<p>sub</p>\n";
    directory_without_index_404: b"GET /empty/ HTTP/1.1\r\nHost: a\r\n\r\n" => 404,
        close = false, [];
    absolute_form_target: b"GET http://a/hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"hello\n";
    symlink_inside_root_ok: b"GET /alias.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"hello\n";
    head_same_headers_no_body: b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [("content-length", "6"), ("content-type", "text/plain; charset=utf-8")];
    missing_file_404: b"GET /nope.html HTTP/1.1\r\nHost: a\r\n\r\n" => 404, close = false,
        [("content-type", "text/plain; charset=utf-8")];
    file_as_directory_404: b"GET /hello.txt/x HTTP/1.1\r\nHost: a\r\n\r\n" => 404,
        close = false, [];
    http10_closes: b"GET /hello.txt HTTP/1.0\r\n\r\n" => 200, close = true, [], body = b"hello\n";
    http10_keep_alive: b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" => 200,
        close = false, [("connection", "keep-alive")], body = b"hello\n";
    http11_connection_close: b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        => 200, close = true, [], body = b"hello\n";
    connection_token_list: b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"
        => 200, close = true, [];
    bytes_small: b"GET /bytes/40 HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-type", "application/octet-stream"), ("content-length", "40")],
        body = b"abcdefghijklmnopqrstuvwxyz012345abcdefgh";
    bytes_zero: b"GET /bytes/0 HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-length", "0")], body = b"";
    bytes_head: b"HEAD /bytes/100000 HTTP/1.1\r\nHost: a\r\n\r\n" => 200, close = false,
        [("content-length", "100000")];
    bytes_not_a_number_400: b"GET /bytes/12x HTTP/1.1\r\nHost: a\r\n\r\n" => 400, close = true,
        [];
    bytes_over_limit_400: b"GET /bytes/1073741825 HTTP/1.1\r\nHost: a\r\n\r\n" => 400,
        close = true, [];
    bytes_overflow_400: b"GET /bytes/99999999999999999999 HTTP/1.1\r\nHost: a\r\n\r\n" => 400,
        close = true, [];
    echo_content_length: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        => 200, close = false, [("content-length", "5")], body = b"hello";
    echo_empty: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" => 200,
        close = false, [("content-length", "0")], body = b"";
    echo_chunked: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nhello\r\n1;ext=\"x\"\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
        => 200, close = false, [("content-length", "16")], body = b"hello 0123456789";
    echo_chunked_te_case: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n\
        2\r\nhi\r\n0\r\n\r\n" => 200, close = false, [], body = b"hi";
    echo_absolute_form: b"POST http://a/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
        => 200, close = false, [], body = b"ok";
    get_with_body_discarded: b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
        => 200, close = false, [], body = b"hello\n";
    leading_empty_lines_ignored: b"\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 200,
        close = false, [], body = b"hello\n";
    bare_lf_line_endings: b"GET /hello.txt HTTP/1.1\nHost: a\n\n" => 200, close = false, [],
        body = b"hello\n";

    // ---- errors ----
    post_to_file_405: b"POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx" => 405,
        close = false, [("allow", "GET, HEAD")];
    delete_405: b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n" => 405, close = false,
        [("allow", "GET, HEAD")];
    get_echo_405: b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n" => 405, close = false,
        [("allow", "POST")];
    put_bytes_405: b"PUT /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n" => 405, close = false,
        [("allow", "GET, HEAD")];
    options_star_405: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" => 405, close = false, [];
    unknown_method_501: b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n" => 501, close = true, [];
    lowercase_method_501: b"get / HTTP/1.1\r\nHost: a\r\n\r\n" => 501, close = true, [];
    http2_version_505: b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => 505, close = true, [];
    http12_version_505: b"GET / HTTP/1.2\r\nHost: a\r\n\r\n" => 505, close = true, [];
    missing_host_400: b"GET / HTTP/1.1\r\n\r\n" => 400, close = true, [];
    two_hosts_400: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => 400, close = true, [];
    malformed_request_line_400: b"GET  HTTP/1.1\r\nHost: a\r\n\r\n" => 400, close = true, [];
    bad_header_name_400: b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n" => 400,
        close = true, [];
    header_without_colon_400: b"GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n" => 400,
        close = true, [];
    relative_target_400: b"GET hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 400, close = true, [];
    negative_content_length_400: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"
        => 400, close = true, [];
    non_numeric_content_length_400:
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n" => 400, close = true, [];
    plus_content_length_400: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n"
        => 400, close = true, [];
    conflicting_content_length_400:
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
        => 400, close = true, [];
    conflicting_content_length_list_400:
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd" => 400,
        close = true, [];
    duplicate_equal_content_length_ok:
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
        => 200, close = false, [], body = b"abc";
    content_length_with_te_400: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\
        Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" => 400, close = true, [];
    gzip_te_501: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        => 501, close = true, [];
    bad_chunk_size_400: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        zz\r\n" => 400, close = true, [];
    missing_chunk_crlf_400: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        2\r\nhiXX" => 400, close = true, [];
    body_over_limit_413: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n"
        => 413, close = true, [];
    chunked_over_limit_413: b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        100001\r\n" => 413, close = true, [];
    dotdot_403: b"GET /../secret.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 403, close = false, [];
    dotdot_inside_403: b"GET /sub/../hello.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 403,
        close = false, [];
    encoded_dotdot_403: b"GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 403,
        close = false, [];
    encoded_dotdot_mixed_403: b"GET /.%2E/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 403,
        close = false, [];
    encoded_slash_404: b"GET /..%2fsecret.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 404, close = false,
        [];
    encoded_slash_upper_404: b"GET /sub%2Findex.html HTTP/1.1\r\nHost: a\r\n\r\n" => 404,
        close = false, [];
    symlink_outside_root_403: b"GET /escape.txt HTTP/1.1\r\nHost: a\r\n\r\n" => 403,
        close = false, [];
    bad_percent_escape_400: b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n" => 400, close = true, [];
    truncated_percent_escape_400: b"GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n" => 400, close = true,
        [];
    encoded_nul_400: b"GET /hello.txt%00.html HTTP/1.1\r\nHost: a\r\n\r\n" => 400,
        close = true, [];
    too_many_headers_431: &too_many_headers() => 431, close = true, [];
    head_too_large_431: &head_too_large() => 431, close = true, [];
    uri_too_long_414: &uri_too_long() => 414, close = true, [];
    request_line_without_end_414: &request_line_never_ends() => 414, close = true, [];
}

fn too_many_headers() -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..64 {
        r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

fn head_too_large() -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for _ in 0..20 {
        r.extend_from_slice(b"X-Big: ");
        r.extend(std::iter::repeat_n(b'v', 1000));
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

fn uri_too_long() -> Vec<u8> {
    // The line ends within the window, but the target is over the limit.
    let mut r = b"GET /".to_vec();
    r.extend(std::iter::repeat_n(b'a', 8 * 1024));
    r.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    r
}

fn request_line_never_ends() -> Vec<u8> {
    let mut r = b"GET /".to_vec();
    r.extend(std::iter::repeat_n(b'a', 9 * 1024));
    r
}
