//! Parse and answer a realistic browser request (the Firefox request with cookies from the course
//! notes) for a small file, and drain the response: the per-request CPU cost of `http-core`
//! without any socket. Criterion prints requests/s (one element = one request).
//!
//! Run: `cargo bench -p http-core -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use std::os::unix::fs::FileExt;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_core::{Config, Connection};

/// The server's part: read the file the connection asks for, as a readiness server does
/// (`pread`), so that head and body are one buffer.
fn read_file(conn: &mut Connection, now: Instant) {
    conn.fill_file_read(now, |file, offset, buf| file.read_at(buf, offset))
        .expect("read the small file");
}

/// The request from the course notes (Firefox 86 asking www.baidu.com for `/`), cookies on one
/// line as a browser sends them.
const FIREFOX_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
Host: www.baidu.com\r\n\
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:86.0) Gecko/20100101 Firefox/86.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\n\
Accept-Language: zh-CN,zh;q=0.8,zh-TW;q=0.7,zh-HK;q=0.5,en-US;q=0.3,en;q=0.2\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: BAIDUID=6729CB682DADC2CF738F533E35162D98:FG=1; BIDUPSID=6729CB682DADC2CFE015A8099199557E; \
PSTM=1614320692; BD_UPN=13314752; BDORZ=FFFB88E999055A3F8A630C64834BD6D0; \
__yjs_duid=1_d05d52b14af4a339210722080a668ec21614320694782; BD_HOME=1; \
H_PS_PSSID=33514_33257_33273_31660_33570_26350; BA_HECTOR=8h2001alag0lag85nk1g3hcm60q\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Cache-Control: max-age=0\r\n\
\r\n";

fn parse_and_answer(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp root");
    // A small page, like the www/ index: read into the same buffer as the head.
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>io-models</title><h1>It works</h1>\n".repeat(8),
    )
    .expect("write index.html");
    let config = Arc::new(Config::new(dir.path()).expect("config"));
    let now = Instant::now();

    let mut group = c.benchmark_group("http-core");
    group.throughput(Throughput::Elements(1));
    // One keep-alive connection answering request after request (what `wrk -c1` does).
    group.bench_function("firefox_request_keepalive", |b| {
        let mut conn = Connection::new(config.clone(), now);
        b.iter(|| {
            conn.handle_input(black_box(FIREFOX_REQUEST), now);
            read_file(&mut conn, now);
            let out = conn.next_output();
            let n = black_box(out).len();
            conn.consume(n, now);
            assert!(
                n > 0 && !conn.wants_write(),
                "one buffer holds the whole response"
            );
        });
    });
    // A fresh connection per request (what `ab` without -k does), including the setup cost.
    group.bench_function("firefox_request_new_connection", |b| {
        b.iter(|| {
            let mut conn = Connection::new(config.clone(), now);
            conn.handle_input(black_box(FIREFOX_REQUEST), now);
            read_file(&mut conn, now);
            let n = black_box(conn.next_output()).len();
            conn.consume(n, now);
            black_box(conn.responses_sent())
        });
    });
    // The same request for `/bytes/450` (a small generated body): no system call at all, so
    // this is the parsing, routing and formatting cost alone.
    let bytes_request = [&b"GET /bytes/450"[..], &FIREFOX_REQUEST[5..]].concat();
    group.bench_function("firefox_request_bytes_no_syscalls", |b| {
        let mut conn = Connection::new(config.clone(), now);
        b.iter(|| {
            conn.handle_input(black_box(&bytes_request), now);
            let n = black_box(conn.next_output()).len();
            conn.consume(n, now);
            assert!(
                n > 450 && !conn.wants_write(),
                "one buffer holds the whole response"
            );
        });
    });
    group.finish();
}

criterion_group!(benches, parse_and_answer);
criterion_main!(benches);
