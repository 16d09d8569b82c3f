//! The temporary document root every check serves, and the bytes each file must come back with.
//!
//! Layout (inside one temporary directory, removed on drop):
//!
//! ```text
//! <tmp>/root/                     the --root given to the server
//!     index.html  style.css  hello.txt  image.png  data.json  photo.jpg
//!     with space.txt              percent-encoded space in the URL
//!     naïve-ünïcode.txt           percent-encoded UTF-8 in the URL
//!     big.bin                     BIG_BIN_LEN bytes of a deterministic pattern
//!     dir/index.html  dir/page.txt
//!     empty-dir/                  a directory without index.html
//!     link-inside.txt  -> hello.txt            (a symlink that stays inside: served)
//!     link-outside.txt -> ../outside/secret.txt (escapes the root: must not be served)
//!     link-outside-dir -> ../outside           (a directory symlink that escapes)
//! <tmp>/outside/secret.txt        SECRET: must never appear in any response
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// `/` and `/index.html`.
pub const INDEX_HTML: &str = "<!doctype html>\n<html><head><title>conformance root</title>\
<link rel=\"stylesheet\" href=\"style.css\"></head>\n<body><h1>io-models conformance</h1></body></html>\n";
/// `/style.css`.
pub const STYLE_CSS: &str = "body { font-family: sans-serif; color: #222; }\n";
/// `/hello.txt` (14 bytes, like the benchmark file).
pub const HELLO_TXT: &str = "Hello, world!\n";
/// `/dir/` and `/dir/index.html`.
pub const DIR_INDEX_HTML: &str = "<!doctype html>\n<p>the index of dir/</p>\n";
/// `/dir/page.txt`.
pub const DIR_PAGE_TXT: &str = "a page inside dir/\n";
/// `/data.json`.
pub const DATA_JSON: &str = "{\"conformance\": true}\n";
/// `/with%20space.txt`.
pub const SPACE_TXT: &str = "a file whose name has a space\n";
/// `/na%C3%AFve-%C3%BCn%C3%AFcode.txt`.
pub const UNICODE_TXT: &str = "a file whose name is not ASCII\n";
/// File name of [`UNICODE_TXT`] on disk.
pub const UNICODE_NAME: &str = "naïve-ünïcode.txt";
/// The same name percent-encoded as a client sends it.
pub const UNICODE_URL: &str = "/na%C3%AFve-%C3%BCn%C3%AFcode.txt";
/// Content of `<tmp>/outside/secret.txt`, which no response may ever contain.
pub const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-DOCUMENT-ROOT\n";
/// A few bytes that start like a PNG file (enough for the extension → type mapping).
pub const IMAGE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
/// A few bytes that start like a JPEG file.
pub const PHOTO_JPG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9";
/// Length of `/big.bin`: a few MiB, deliberately not a multiple of any buffer size.
pub const BIG_BIN_LEN: usize = 6 * 1024 * 1024 + 12_345;

/// The 32 bytes `GET /bytes/N` repeats: byte `i` of the body is `BYTES_PATTERN[i % 32]`
/// (the pattern documented by `http_core::BYTES_PATTERN`; written out again here so the suite
/// stays an independent oracle).
pub const BYTES_PATTERN: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// The exact body of `GET /bytes/n`.
pub fn generated_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| BYTES_PATTERN[i % BYTES_PATTERN.len()])
        .collect()
}

/// The small files of the root: URL path, path on disk, content, expected media type
/// (`Content-Type` without parameters).
pub const FILES: &[(&str, &str, &[u8], &str)] = &[
    (
        "/index.html",
        "index.html",
        INDEX_HTML.as_bytes(),
        "text/html",
    ),
    ("/style.css", "style.css", STYLE_CSS.as_bytes(), "text/css"),
    (
        "/hello.txt",
        "hello.txt",
        HELLO_TXT.as_bytes(),
        "text/plain",
    ),
    ("/image.png", "image.png", IMAGE_PNG, "image/png"),
    ("/photo.jpg", "photo.jpg", PHOTO_JPG, "image/jpeg"),
    (
        "/data.json",
        "data.json",
        DATA_JSON.as_bytes(),
        "application/json",
    ),
    (
        "/dir/index.html",
        "dir/index.html",
        DIR_INDEX_HTML.as_bytes(),
        "text/html",
    ),
    (
        "/dir/page.txt",
        "dir/page.txt",
        DIR_PAGE_TXT.as_bytes(),
        "text/plain",
    ),
    (
        "/with%20space.txt",
        "with space.txt",
        SPACE_TXT.as_bytes(),
        "text/plain",
    ),
    (
        UNICODE_URL,
        UNICODE_NAME,
        UNICODE_TXT.as_bytes(),
        "text/plain",
    ),
];

/// The content of `/big.bin`: byte `i` is a simple function of `i` that does not repeat with any
/// power-of-two period, so a chunk sent twice, skipped or reordered is detected.
pub fn big_bin() -> Vec<u8> {
    (0..BIG_BIN_LEN).map(big_bin_byte).collect()
}

/// Byte `i` of `/big.bin`.
pub fn big_bin_byte(i: usize) -> u8 {
    // Two periods (251 and 256·253) that are coprime with every buffer size.
    (i % 251) as u8 ^ ((i / 256) % 253) as u8
}

/// A fresh document root with the files above, plus the sibling `outside/` directory.
#[derive(Debug)]
pub struct Fixtures {
    dir: TempDir,
    root: PathBuf,
}

impl Fixtures {
    /// Create the directories, files and symlinks.
    pub fn create() -> io::Result<Fixtures> {
        let dir = tempfile::Builder::new().prefix("conformance-").tempdir()?;
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("dir"))?;
        fs::create_dir_all(root.join("empty-dir"))?;
        fs::create_dir_all(&outside)?;
        for (_, path, content, _) in FILES {
            fs::write(root.join(path), content)?;
        }
        fs::write(root.join("big.bin"), big_bin())?;
        fs::write(outside.join("secret.txt"), SECRET)?;
        std::os::unix::fs::symlink("hello.txt", root.join("link-inside.txt"))?;
        std::os::unix::fs::symlink("../outside/secret.txt", root.join("link-outside.txt"))?;
        std::os::unix::fs::symlink("../outside", root.join("link-outside-dir"))?;
        Ok(Fixtures { dir, root })
    }

    /// The document root to pass as `--root`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary directory holding `root/` and `outside/`.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_bin_has_no_short_period() {
        let data = big_bin();
        assert_eq!(data.len(), BIG_BIN_LEN);
        for period in [1usize, 2, 4, 8, 512, 4096, 8192, 16_384, 65_536, 131_072] {
            assert_ne!(
                data[..period],
                data[period..2 * period],
                "big.bin repeats with period {period}"
            );
        }
    }

    #[test]
    fn create_lays_out_every_file() {
        let fixtures = Fixtures::create().expect("create fixtures");
        for (_, path, content, _) in FILES {
            let on_disk = fs::read(fixtures.root().join(path)).expect("read fixture");
            assert_eq!(&on_disk, content, "{path}");
        }
        let via_link = fs::read(fixtures.root().join("link-outside.txt")).expect("read link");
        assert_eq!(via_link, SECRET.as_bytes());
        assert!(fixtures.root().join("empty-dir").is_dir());
    }
}
