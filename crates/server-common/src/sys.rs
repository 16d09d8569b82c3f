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

/// [`raise_fd_limit`] for a server's `main`: failing is not fatal (the server just holds fewer
/// connections), so it is reported in one warning line. Returns the soft limit in force.
pub fn raise_fd_limit_or_warn() -> u64 {
    raise_fd_limit().unwrap_or_else(|err| {
        eprintln!("warning: cannot raise the descriptor limit: {err}");
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        use nix::sys::resource::{Resource, getrlimit};
        let limit = raise_fd_limit_or_warn();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(soft, hard);
        assert_eq!(limit, soft);
    }

    #[test]
    fn cvt_adds_what_was_attempted() {
        assert_eq!(cvt(5, "x").expect("not -1"), 5);
        let err = cvt(-1, "frobnicate").expect_err("-1 is an error");
        assert!(err.to_string().starts_with("frobnicate: "), "{err}");
    }
}
