//! The open-file cache (the counterpart of nginx's `open_file_cache`): per file, the open
//! descriptor, its metadata and validators, and for a small file its contents.
//!
//! Without it, every request for a file costs `openat2` + `statx` + the read + `close`, beside
//! the socket's own `recv` and `send`. With it, a keep-alive request for a cached small file
//! costs the socket's two calls and nothing else; a big one keeps its descriptor open for
//! `sendfile` or the model's own reads.
//!
//! - **Sans-I/O, still.** The cache never reads file contents: a small file's bytes are stored
//!   when the first response for it has had them read by the server
//!   ([`crate::Connection::fill_file_read`]). Opening and `statx` happen where they always did,
//!   in `route.rs`, and time comes in as an argument.
//! - **Revalidated.** An entry is trusted for [`FileCacheSettings::valid`] (default 1 s). After
//!   that, the next request opens the path again the normal way (`openat2` beneath the root, or
//!   the slow path with its `readlink` check) and compares the validators (inode, mtime in ns,
//!   size): a changed, replaced or deleted file — or a symlink swapped to point out of the
//!   root — is never served past that window.
//! - **Bounded.** At most [`FileCacheSettings::max_entries`] descriptors (least recently used
//!   goes first) and [`FileCacheSettings::max_content_bytes`] of contents; an entry unused for
//!   [`FileCacheSettings::inactive`] (default 20 s, as nginx) is closed.
//! - **Out of the way.** Cached descriptors are moved to numbers ≥ 1024 (`F_DUPFD_CLOEXEC`), so a
//!   full cache does not push `server-select` over `FD_SETSIZE` nor take the low numbers the
//!   servers' `EMFILE` handling counts on. Where that fails (a descriptor limit ≤ 1024) the file
//!   is simply not cached.
//! - **Threads.** One cache per [`crate::Config`], shared by every thread of a server (the
//!   Reactor's pool, `multi`'s loops) behind one mutex held for a hash lookup and a few
//!   reference-count increments, never across I/O. (Per-thread caches would hold N descriptors per file and
//!   miss N times.)

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::response::ContentType;
use crate::validators::Validators;

/// Cached descriptors are moved to this number or above.
pub const CACHED_FD_MIN: i32 = 1024;

/// How the open-file cache behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCacheSettings {
    /// How long an entry is trusted before the file is looked at again (`--file-cache-valid`).
    pub valid: Duration,
    /// An entry unused for this long is closed.
    pub inactive: Duration,
    /// Most files (descriptors) held at once.
    pub max_entries: usize,
    /// Most bytes of small-file contents held at once.
    pub max_content_bytes: u64,
}

impl Default for FileCacheSettings {
    fn default() -> FileCacheSettings {
        FileCacheSettings {
            valid: Duration::from_secs(1),
            inactive: Duration::from_secs(20),
            max_entries: 1000,
            max_content_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A file as the cache hands it out.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) file: Arc<File>,
    pub(crate) len: u64,
    pub(crate) content_type: ContentType,
    /// Shared: every response from this entry writes them; cloning the entry must not copy them.
    pub(crate) validators: Arc<Validators>,
    /// The whole contents of a small file, once a response has read them.
    pub(crate) content: Option<Arc<[u8]>>,
}

#[derive(Debug)]
struct Entry {
    cached: Cached,
    checked: Instant,
    used: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    /// Keyed by the path's bytes (`OsStr` hashes them in one go; `Path` hashes component by
    /// component).
    entries: HashMap<OsString, Entry>,
    content_bytes: u64,
    last_sweep: Option<Instant>,
}

/// The cache itself (see the module doc).
#[derive(Debug)]
pub(crate) struct FileCache {
    settings: FileCacheSettings,
    inner: Mutex<Inner>,
}

impl FileCache {
    pub(crate) fn new(settings: FileCacheSettings) -> FileCache {
        FileCache {
            settings,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn settings(&self) -> &FileCacheSettings {
        &self.settings
    }

    /// The entry for `path` if it may be trusted at `now` (checked less than `valid` ago).
    pub(crate) fn fresh(&self, path: &Path, now: Instant) -> Option<Cached> {
        let mut inner = self.lock();
        self.sweep(&mut inner, now);
        let entry = inner.entries.get_mut(path.as_os_str())?;
        if now.saturating_duration_since(entry.checked) >= self.settings.valid {
            return None;
        }
        entry.used = now;
        Some(entry.cached.clone())
    }

    /// `path` was just opened the normal way at `now`, with these validators. If the cached
    /// entry has the same validators, it stays (its contents too) and is trusted again from
    /// `now`, and the cached file is returned; otherwise the new file replaces it.
    pub(crate) fn revalidate_or_insert(&self, path: &Path, opened: Cached, now: Instant) -> Cached {
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get_mut(path.as_os_str()) {
            if entry.cached.validators == opened.validators {
                entry.checked = now;
                entry.used = now;
                return entry.cached.clone();
            }
        }
        self.remove(&mut inner, path);
        // A descriptor of our own, at 1024 or above; if that fails, serve uncached.
        let Ok(high) = rustix::io::fcntl_dupfd_cloexec(&*opened.file, CACHED_FD_MIN) else {
            return opened;
        };
        if inner.entries.len() >= self.settings.max_entries {
            self.evict_least_recent(&mut inner);
        }
        if inner.entries.len() >= self.settings.max_entries {
            return opened; // max_entries is 0
        }
        // A freshly opened file has no cached contents yet (`opened.content` is `None`).
        let cached = Cached {
            file: Arc::new(File::from(high)),
            ..opened
        };
        inner.entries.insert(
            path.as_os_str().to_owned(),
            Entry {
                cached: cached.clone(),
                checked: now,
                used: now,
            },
        );
        cached
    }

    /// `path` could not be opened (gone, forbidden…): forget it.
    pub(crate) fn forget(&self, path: &Path) {
        let mut inner = self.lock();
        self.remove(&mut inner, path);
    }

    /// A response read the whole contents of the small file `path` (whose validators were
    /// `validators` when it was opened): keep them, within the byte budget.
    pub(crate) fn store_content(&self, path: &Path, validators: &Validators, content: &[u8]) {
        let mut inner = self.lock();
        let budget = self.settings.max_content_bytes;
        let used = inner.content_bytes;
        let Some(entry) = inner.entries.get_mut(path.as_os_str()) else {
            return;
        };
        let fits = used.saturating_add(content.len() as u64) <= budget;
        if *entry.cached.validators != *validators
            || entry.cached.content.is_some()
            || entry.cached.len != content.len() as u64
            || !fits
        {
            return;
        }
        entry.cached.content = Some(Arc::from(content));
        inner.content_bytes += content.len() as u64;
    }

    /// Number of cached files.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn remove(&self, inner: &mut Inner, path: &Path) {
        if let Some(old) = inner.entries.remove(path.as_os_str()) {
            inner.content_bytes -= old.cached.content.map_or(0, |c| c.len() as u64);
        }
    }

    fn evict_least_recent(&self, inner: &mut Inner) {
        let oldest = inner
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.used)
            .map(|(path, _)| path.clone());
        if let Some(path) = oldest {
            self.remove(inner, Path::new(&path));
        }
    }

    /// At most once a second: close the entries unused for `inactive`.
    fn sweep(&self, inner: &mut Inner, now: Instant) {
        if inner
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        inner.last_sweep = Some(now);
        let inactive = self.settings.inactive;
        let stale: Vec<OsString> = inner
            .entries
            .iter()
            .filter(|(_, entry)| now.saturating_duration_since(entry.used) >= inactive)
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            self.remove(inner, Path::new(&path));
        }
    }

    /// A poisoned lock means a thread panicked while holding it; the map is still consistent
    /// (every update is one insert or remove).
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn opened(path: &Path) -> Cached {
        let file = File::open(path).expect("open");
        let meta = file.metadata().expect("stat");
        Cached {
            file: Arc::new(file),
            len: meta.len(),
            content_type: ContentType::TEXT,
            validators: Arc::new(Validators::of(&meta)),
            content: None,
        }
    }

    fn fixture(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    #[test]
    fn an_entry_is_trusted_for_the_validity_window_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fixture(dir.path(), "a", b"a");
        let cache = FileCache::new(FileCacheSettings::default());
        let t0 = Instant::now();
        assert!(cache.fresh(&path, t0).is_none(), "empty");
        let cached = cache.revalidate_or_insert(&path, opened(&path), t0);
        assert!(
            cached.file.as_raw_fd() >= CACHED_FD_MIN,
            "moved out of the way"
        );
        assert!(cache.fresh(&path, t0 + SEC / 2).is_some());
        assert!(cache.fresh(&path, t0 + SEC).is_none(), "the window is over");
        // The same file opened again: the entry stays, trusted anew.
        let again = cache.revalidate_or_insert(&path, opened(&path), t0 + SEC);
        assert_eq!(again.file.as_raw_fd(), cached.file.as_raw_fd());
        assert!(cache.fresh(&path, t0 + SEC + SEC / 2).is_some());
    }

    #[test]
    fn a_changed_file_replaces_its_entry_and_its_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fixture(dir.path(), "a", b"one");
        let cache = FileCache::new(FileCacheSettings::default());
        let t0 = Instant::now();
        let first = cache.revalidate_or_insert(&path, opened(&path), t0);
        cache.store_content(&path, &first.validators, b"one");
        assert_eq!(
            cache.fresh(&path, t0).and_then(|c| c.content).as_deref(),
            Some(&b"one"[..])
        );
        std::fs::write(dir.path().join("b"), b"three").expect("write");
        std::fs::rename(dir.path().join("b"), &path).expect("replace");
        let second = cache.revalidate_or_insert(&path, opened(&path), t0 + SEC);
        assert_ne!(second.validators, first.validators);
        assert_eq!(second.len, 5);
        assert!(second.content.is_none(), "the old content is gone");
        // Content of the old version is refused for the new entry.
        cache.store_content(&path, &first.validators, b"one");
        assert!(
            cache
                .fresh(&path, t0 + SEC)
                .and_then(|c| c.content)
                .is_none()
        );
    }

    #[test]
    fn content_is_kept_within_its_budget_and_only_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = fixture(dir.path(), "small", b"12345");
        let other = fixture(dir.path(), "other", b"123456");
        let settings = FileCacheSettings {
            max_content_bytes: 10,
            ..FileCacheSettings::default()
        };
        let cache = FileCache::new(settings);
        let t0 = Instant::now();
        let a = cache.revalidate_or_insert(&small, opened(&small), t0);
        let b = cache.revalidate_or_insert(&other, opened(&other), t0);
        cache.store_content(&small, &a.validators, b"1234");
        assert!(
            cache.fresh(&small, t0).and_then(|c| c.content).is_none(),
            "not all of it"
        );
        cache.store_content(&small, &a.validators, b"12345");
        cache.store_content(&other, &b.validators, b"123456");
        assert!(cache.fresh(&small, t0).and_then(|c| c.content).is_some());
        assert!(
            cache.fresh(&other, t0).and_then(|c| c.content).is_none(),
            "5 + 6 bytes is over the budget of 10"
        );
        cache.forget(&small);
        cache.store_content(&other, &b.validators, b"123456");
        assert!(
            cache.fresh(&other, t0).and_then(|c| c.content).is_some(),
            "forgetting gave the budget back"
        );
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_inactive_ones_are_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| fixture(dir.path(), &i.to_string(), b"x"))
            .collect();
        let settings = FileCacheSettings {
            max_entries: 2,
            valid: SEC * 100,
            inactive: SEC * 20,
            ..FileCacheSettings::default()
        };
        let cache = FileCache::new(settings);
        let t0 = Instant::now();
        cache.revalidate_or_insert(&paths[0], opened(&paths[0]), t0);
        cache.revalidate_or_insert(&paths[1], opened(&paths[1]), t0 + SEC);
        assert!(
            cache.fresh(&paths[0], t0 + SEC * 2).is_some(),
            "0 is used again"
        );
        cache.revalidate_or_insert(&paths[2], opened(&paths[2]), t0 + SEC * 3);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.fresh(&paths[1], t0 + SEC * 3).is_none(),
            "1 was least recent"
        );
        assert!(cache.fresh(&paths[0], t0 + SEC * 3).is_some());
        // 40 s later nothing was used for 20 s: everything is closed.
        assert!(cache.fresh(&paths[2], t0 + SEC * 40).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn storing_the_same_content_twice_counts_it_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = fixture(dir.path(), "a", b"12345");
        let b = fixture(dir.path(), "b", b"67890");
        let settings = FileCacheSettings {
            max_content_bytes: 10,
            ..FileCacheSettings::default()
        };
        let cache = FileCache::new(settings);
        let t0 = Instant::now();
        let first = cache.revalidate_or_insert(&a, opened(&a), t0);
        let second = cache.revalidate_or_insert(&b, opened(&b), t0);
        cache.store_content(&a, &first.validators, b"12345");
        cache.store_content(&a, &first.validators, b"12345");
        cache.store_content(&b, &second.validators, b"67890");
        assert!(
            cache.fresh(&b, t0).and_then(|c| c.content).is_some(),
            "5 + 5 bytes fit the budget of 10: a's bytes were counted once"
        );
    }

    #[test]
    fn a_sweep_a_second_after_the_last_closes_what_became_inactive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fixture(dir.path(), "a", b"a");
        let settings = FileCacheSettings {
            valid: SEC * 100,
            inactive: SEC,
            ..FileCacheSettings::default()
        };
        let cache = FileCache::new(settings);
        let t0 = Instant::now();
        cache.revalidate_or_insert(&path, opened(&path), t0);
        assert!(cache.fresh(&path, t0).is_some(), "sweeps at t0, used at t0");
        // Exactly one second later: a sweep is due, and the entry has been unused for `inactive`.
        assert!(cache.fresh(&path, t0 + SEC).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn no_entries_allowed_means_nothing_is_cached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fixture(dir.path(), "a", b"a");
        let settings = FileCacheSettings {
            max_entries: 0,
            ..FileCacheSettings::default()
        };
        let cache = FileCache::new(settings);
        let t0 = Instant::now();
        let served = cache.revalidate_or_insert(&path, opened(&path), t0);
        assert!(
            served.file.as_raw_fd() < CACHED_FD_MIN,
            "the file as opened"
        );
        assert_eq!(cache.len(), 0);
    }
}
