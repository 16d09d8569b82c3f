//! The raw-syscall helpers the shared code needs. Server crates keep their model's own syscalls
//! (`epoll`, `F_SETSIG`, `aio_*`, `io_uring`) in their own files.

use std::io;

/// Turn a C-style return value (`-1` + `errno` on failure) into an `io::Result`, adding what was
/// being attempted to the error message.
pub fn cvt<T: Into<i64> + Copy>(ret: T, what: &str) -> io::Result<T> {
    if ret.into() == -1 {
        let err = io::Error::last_os_error();
        Err(io::Error::new(err.kind(), format!("{what}: {err}")))
    } else {
        Ok(ret)
    }
}

/// Set `RLIMIT_NOFILE`'s soft limit to its hard limit, so a server can hold as many connections
/// as the machine allows (returns the new soft limit).
pub fn raise_fd_limit() -> io::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard.max(soft))
}
