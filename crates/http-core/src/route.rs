//! Routing a complete request to its answer: `/echo`, `/bytes/N`, or a static file under the
//! document root, with the path checks that keep every answer inside the root.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::request::Method;
use crate::{Config, MAX_WORK, Work};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::Cached;
use crate::response::ContentType;
use crate::validators::Validators;

/// What to answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An error status with a one-line reason; `allow` for `405`.
    Error {
        status: u16,
        message: &'static str,
        allow: Option<&'static str>,
    },
    /// `POST /echo`: the request body.
    Echo(Vec<u8>),
    /// `GET /bytes/N`.
    Bytes(u64),
    /// `GET /cpu/US` or `/block/MS` (only with [`Config::work_routes`]): the server runs the
    /// work, then the connection answers.
    Work(Work),
    /// A regular file, opened (perhaps by the open-file cache), of this length; `content`: its
    /// whole contents, when the cache has them; `cache_key`: where the cache keeps it (so that
    /// the contents, once read, can be stored there).
    File {
        file: Arc<File>,
        len: u64,
        content_type: ContentType,
        validators: Arc<Validators>,
        content: Option<Arc<[u8]>>,
        cache_key: Option<PathBuf>,
    },
    /// `301`: a directory was named without its trailing slash; `location` adds it (relative
    /// links in its `index.html` resolve against the slash).
    Redirect { location: String },
}

impl Reply {
    fn error(status: u16, message: &'static str) -> Reply {
        Reply::Error {
            status,
            message,
            allow: None,
        }
    }

    fn not_allowed(allow: &'static str) -> Reply {
        Reply::Error {
            status: 405,
            message: "method not allowed on this resource",
            allow: Some(allow),
        }
    }
}

/// Decide the answer to `method target` (the body, if any, has been read).
pub(crate) fn resolve(
    config: &Config,
    method: Method,
    target: &str,
    body: Vec<u8>,
    now: Instant,
) -> Reply {
    let Some(path) = origin_path(target) else {
        return match method {
            // `CONNECT host:port` and `OPTIONS *` are well-formed; we just do not do them.
            Method::Connect | Method::Options => Reply::not_allowed("GET, HEAD, POST"),
            _ => Reply::error(400, "request target must be an absolute path"),
        };
    };
    let get_or_head = matches!(method, Method::Get | Method::Head);
    if path == "/echo" {
        return match method {
            Method::Post => Reply::Echo(body),
            _ => Reply::not_allowed("POST"),
        };
    }
    if !get_or_head {
        return Reply::not_allowed("GET, HEAD");
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match parse_count(n) {
            Some(n) if n <= config.limits.max_generated_bytes => Reply::Bytes(n),
            Some(_) => Reply::error(400, "/bytes/N: N is over the limit (1 GiB by default)"),
            None => Reply::error(400, "/bytes/N: N must be a decimal number"),
        };
    }
    if config.work_routes {
        if let Some(reply) = work_route(path) {
            return reply;
        }
    }
    match static_file(config, path, now) {
        Ok(Some(reply)) => reply,
        Ok(None) => Reply::Redirect {
            location: with_slash(target, path),
        },
        Err((status, message)) => Reply::error(status, message),
    }
}

/// `/cpu/US` and `/block/MS`, bounded by [`MAX_WORK`]; `None`: not a work route.
fn work_route(path: &str) -> Option<Reply> {
    let (n, unit, work): (_, _, fn(Duration) -> Work) = if let Some(n) = path.strip_prefix("/cpu/")
    {
        (n, Duration::from_micros as fn(u64) -> Duration, Work::Cpu)
    } else if let Some(n) = path.strip_prefix("/block/") {
        (n, Duration::from_millis as fn(u64) -> Duration, Work::Block)
    } else {
        return None;
    };
    Some(match parse_count(n).map(unit) {
        Some(d) if d <= MAX_WORK => Reply::Work(work(d)),
        Some(_) => Reply::error(400, "/cpu/US and /block/MS: at most one second of work"),
        None => Reply::error(400, "/cpu/US and /block/MS: a decimal number"),
    })
}

/// Where a directory named without its trailing slash lives: the path as the client sent it
/// (still percent-encoded), a `/`, and the query string, if any.
fn with_slash(target: &str, path: &str) -> String {
    let query = target
        .find('?')
        .map_or("", |i| &target[i..target.find('#').unwrap_or(target.len())]);
    format!("{path}/{query}")
}

/// The path part of an origin-form (`/a/b?q`) or absolute-form (`http://host/a/b?q`) target,
/// without query or fragment.
pub(crate) fn origin_path(target: &str) -> Option<&str> {
    let path = if target.starts_with('/') {
        target
    } else {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &target[7..]
        } else if lower.starts_with("https://") {
            &target[8..]
        } else {
            return None;
        };
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(&path[..end])
}

/// `N` of `/bytes/N`: 1 to 20 decimal digits, no overflow. (`str::parse` alone would also take
/// a leading `+`; it refuses an empty string and an overflow itself.)
fn parse_count(s: &str) -> Option<u64> {
    if s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

type Refusal = (u16, &'static str);

/// Percent-decode `path` and check it, segment by segment, before it touches the file system.
///
/// - an invalid escape (`%zz`, `%4`) or a NUL byte → `400`;
/// - an encoded slash (`%2f`) → `404` (it would let a client name a path the server's own
///   segment check never saw);
/// - a `..` segment after decoding (so `%2e%2e` too) → `403`.
pub(crate) fn decode_path(path: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            ) else {
                return Err((400, "invalid percent-encoding in path"));
            };
            let decoded = hi << 4 | lo;
            if decoded == b'/' {
                return Err((404, "encoded slash in path"));
            }
            out.push(decoded);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.contains(&0) {
        return Err((400, "NUL byte in path"));
    }
    if out.split(|&b| b == b'/').any(|seg| seg == b"..") {
        return Err((403, "path escapes the document root"));
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An empty segment (`a//b`) or `.` stays where it is: it adds nothing to the path.
fn names_no_step(seg: &[u8]) -> bool {
    seg.is_empty() || seg == b"."
}

/// The file `path` names: from the open-file cache while its entry may be trusted, else
/// opened ([`open_static`]) and given to the cache, which keeps it or, if the file is the one it
/// has, keeps its own. `Ok(None)`: a directory named without its trailing slash.
fn static_file(config: &Config, path: &str, now: Instant) -> Result<Option<Reply>, Refusal> {
    let decoded = decode_path(path)?;
    let full = file_path(&config.root, &decoded);
    let cache = config.file_cache();
    if let Some(hit) = cache.and_then(|cache| cache.fresh(&full, now)) {
        return Ok(Some(file_reply(hit, Some(full))));
    }
    let (file, meta, served) = match open_static(config.root_dir(), &config.root, &decoded, &full) {
        Ok(Some(opened)) => opened,
        outcome => {
            // Gone, no longer allowed, or now a directory: never served from the cache again.
            if let Some(cache) = cache {
                cache.forget(&full);
            }
            return outcome.map(|_| None);
        }
    };
    let opened = Cached {
        file: Arc::new(file),
        len: meta.len(),
        content_type: ContentType::for_path(&served),
        validators: Arc::new(Validators::of(&meta)),
        content: None,
    };
    Ok(Some(match cache {
        Some(cache) => file_reply(cache.revalidate_or_insert(&full, opened, now), Some(full)),
        None => file_reply(opened, None),
    }))
}

/// The file path a decoded request path names under `root` (`/` and `dir/` mean their
/// `index.html`); the open-file cache's key.
fn file_path(root: &Path, decoded: &[u8]) -> PathBuf {
    // Room for every segment and `index.html` up front: one allocation, not one per push.
    let room = root.as_os_str().len() + decoded.len() + "/index.html".len();
    let mut full = PathBuf::with_capacity(room);
    full.push(root);
    for seg in decoded.split(|&b| b == b'/') {
        if names_no_step(seg) {
            continue;
        }
        full.push(OsStr::from_bytes(seg));
    }
    if decoded.is_empty() || decoded.ends_with(b"/") {
        full.push("index.html");
    }
    full
}

fn file_reply(cached: Cached, cache_key: Option<PathBuf>) -> Reply {
    Reply::File {
        file: cached.file,
        len: cached.len,
        content_type: cached.content_type,
        validators: cached.validators,
        content: cached.content,
        cache_key,
    }
}

/// Open the file at `full` (see [`file_path`]): only regular files are served (a directory
/// means its `index.html`); the opened file's real path must lie inside `root` (a symlink to
/// `/etc/passwd` placed in the root is refused with `403`). Returns the file, its metadata and
/// the path finally opened. `Ok(None)`: `full` is a directory the request named without its
/// trailing slash (the caller redirects).
fn open_static(
    root_dir: Option<&RootDir>,
    root: &Path,
    decoded: &[u8],
    full: &Path,
) -> Result<Option<(File, std::fs::Metadata, PathBuf)>, Refusal> {
    let mut full = full.to_path_buf();
    // Fast path: one `openat2` that the kernel itself keeps inside the root.
    if let Some(dir) = root_dir.filter(|dir| dir.is_root(root)) {
        if let Some(opened) = dir.open_beneath(&full) {
            let (file, meta) = opened?;
            return Ok(Some((file, meta, full)));
        }
    }
    // Slow path (directories, absolute symlinks inside the root, kernels without `openat2`):
    // `open`, then ask the kernel where the file really is.
    let (file, meta) = match open_regular(&full)? {
        Opened::File(file, meta) => (file, meta),
        Opened::Directory if !decoded.ends_with(b"/") => return Ok(None),
        Opened::Directory => {
            full.push("index.html");
            match open_regular(&full)? {
                Opened::File(file, meta) => (file, meta),
                Opened::Directory => return Err((404, "no index.html in this directory")),
            }
        }
    };
    if !inside_root(&file, &full, root) {
        return Err((403, "path escapes the document root"));
    }
    Ok(Some((file, meta, full)))
}

enum Opened {
    File(File, std::fs::Metadata),
    Directory,
}

/// `open` + `fstat`: a regular file, a directory, or a refusal.
fn open_regular(path: &Path) -> Result<Opened, Refusal> {
    // O_NONBLOCK: opening a FIFO someone placed in the root must not block the server (it has no
    // effect on regular files).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error_status(&e))?;
    let meta = file.metadata().map_err(|e| open_error_status(&e))?;
    if meta.is_dir() {
        Ok(Opened::Directory)
    } else if meta.is_file() {
        Ok(Opened::File(blocking(file)?, meta))
    } else {
        Err((403, "not a regular file"))
    }
}

/// Clear `O_NONBLOCK` on an opened regular file. It was opened with the flag so that a FIFO
/// placed in the root cannot block the server in `open`; on a regular file `read` ignores it, but
/// `io_uring` does not: a read of a file with `O_NONBLOCK` that misses the page cache completes
/// with `EAGAIN` instead of being handed to a kernel worker. One `fcntl(F_SETFL)` per open (the
/// open-file cache makes opens rare).
fn blocking(file: File) -> Result<File, Refusal> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty()))
        .map(|_| file)
        .map_err(|e| open_error_status(&io::Error::from(e)))
}

/// The answer to a failed `open`/`fstat`: only "it is not there" is a 404. Running out of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOMEM`) is the server's trouble, not a missing
/// file: 503, so the client may retry; anything unexpected is a 500.
fn open_error_status(err: &io::Error) -> Refusal {
    match (err.kind(), err.raw_os_error()) {
        (io::ErrorKind::PermissionDenied, _) => (403, "permission denied"),
        (_, Some(libc::ELOOP)) => (403, "too many symbolic links"),
        (_, Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)) => (503, "server out of resources"),
        (
            // InvalidFilename is ENAMETOOLONG: a segment longer than NAME_MAX names no file.
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename,
            _,
        ) => (404, "no such file"),
        _ => (500, "cannot open file"),
    }
}

/// The document root, opened once, for `openat2(2)` with `RESOLVE_BENEATH`: the kernel resolves
/// the path and fails with `EXDEV` if any step (`..`, a symlink) would leave the root, so a served
/// file costs `openat2` + `fstat` instead of `open` + `fstat` + `readlink(/proc/self/fd/N)`.
#[derive(Debug)]
pub(crate) struct RootDir {
    path: PathBuf,
    dir: File,
}

impl RootDir {
    /// Whether this is the opened `root` (a `Config` whose root was changed after `new` has no
    /// opened directory for it, and takes the slow path).
    fn is_root(&self, root: &Path) -> bool {
        self.path == root
    }

    /// Open the (canonical) root directory; `None` if that fails (the slow path still works).
    pub(crate) fn open(root: &Path) -> Option<RootDir> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(root)
            .ok()?;
        Some(RootDir {
            path: root.to_path_buf(),
            dir,
        })
    }

    /// Open `full` (a path under the root) beneath the root. `None` means "not decided here":
    /// the target is a directory, the kernel refused the resolution (`EXDEV`: an escape or an
    /// absolute symlink; `ENOSYS`: no `openat2`), or another error the slow path will classify.
    fn open_beneath(&self, full: &Path) -> Option<Result<(File, std::fs::Metadata), Refusal>> {
        use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
        let relative = full.strip_prefix(&self.path).ok()?;
        let how = OpenHow::new()
            // O_NONBLOCK: a FIFO placed in the root must not block the server.
            .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(&self.dir, relative, how) {
            Ok(fd) => {
                let file = File::from(fd);
                match file.metadata() {
                    Ok(meta) if meta.is_file() => Some(blocking(file).map(|file| (file, meta))),
                    Ok(_) => None, // a directory (→ its index.html) or a special file
                    Err(e) => Some(Err(open_error_status(&e))),
                }
            }
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => {
                Some(Err((404, "no such file")))
            }
            Err(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE) => {
                Some(Err((503, "server out of resources")))
            }
            Err(_) => None,
        }
    }
}

/// Does the opened file really live under `root`? One `readlink` of `/proc/self/fd/N` gives the
/// path the kernel resolved (all symlinks followed); without `/proc`, canonicalize the path.
fn inside_root(file: &File, path: &Path, root: &Path) -> bool {
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let real: io::Result<PathBuf> =
        std::fs::read_link(proc_path).or_else(|_| std::fs::canonicalize(path));
    match real {
        Ok(real) => real.starts_with(root),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_map_to_the_right_status() {
        let status = |errno| open_error_status(&io::Error::from_raw_os_error(errno)).0;
        assert_eq!(status(libc::ENOENT), 404);
        assert_eq!(status(libc::ENOTDIR), 404);
        assert_eq!(status(libc::EACCES), 403);
        assert_eq!(status(libc::ELOOP), 403);
        // Out of descriptors is not "missing": the file exists, the server is short of fds.
        assert_eq!(status(libc::EMFILE), 503);
        assert_eq!(status(libc::ENFILE), 503);
        assert_eq!(status(libc::EIO), 500);
    }

    #[test]
    fn a_short_root_and_an_empty_path_name_the_index() {
        // The shortest inputs there are: the path must still be built (no arithmetic on the
        // lengths may underflow) and `/` must mean `index.html`.
        assert_eq!(file_path(Path::new("/"), b""), Path::new("/index.html"));
        assert_eq!(
            file_path(Path::new("w"), b"a/"),
            Path::new("w/a/index.html")
        );
        assert_eq!(file_path(Path::new("w"), b"./a//b"), Path::new("w/a/b"));
    }

    #[test]
    fn openat2_fast_path_decides_only_safe_cases() {
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, b"secret").expect("write secret");
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical root");
        std::fs::write(root.join("a.txt"), b"hello").expect("write a.txt");
        std::fs::create_dir(root.join("sub")).expect("mkdir sub");
        std::os::unix::fs::symlink("a.txt", root.join("rel-link")).expect("relative symlink");
        std::os::unix::fs::symlink(&secret, root.join("escape")).expect("absolute symlink");

        let dir = RootDir::open(&root).expect("open root");
        let served = dir
            .open_beneath(&root.join("a.txt"))
            .expect("decided")
            .expect("served");
        assert_eq!(served.1.len(), 5);
        let via_link = dir
            .open_beneath(&root.join("rel-link"))
            .expect("decided")
            .expect("served");
        assert_eq!(via_link.1.len(), 5);
        assert_eq!(
            dir.open_beneath(&root.join("missing")).map(|r| r.err()),
            Some(Some((404, "no such file")))
        );
        // A directory and a symlink leaving the root are left to the slow path, which answers
        // index.html / 403 (the conformance suite checks those answers end to end).
        assert!(dir.open_beneath(&root.join("sub")).is_none());
        assert!(dir.open_beneath(&root.join("escape")).is_none());
    }
}
