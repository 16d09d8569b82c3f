//! What a process holds, read from `/proc` (proc(5)): open descriptors and resident memory.

use std::fs;
use std::io;

/// Open file descriptors of `pid`: the entries of `/proc/PID/fd`.
pub fn descriptors(pid: u32) -> io::Result<usize> {
    Ok(descriptor_numbers(pid)?
        .filter(|&fd| fd < http_core::CACHED_FD_MIN)
        .count())
}

/// The descriptors of `pid`'s open-file cache: those at [`http_core::CACHED_FD_MIN`] or above,
/// where the cache moves its own (no connection ever gets one that high first, since the
/// kernel hands out the lowest free number).
pub fn cache_descriptors(pid: u32) -> io::Result<usize> {
    Ok(descriptor_numbers(pid)?
        .filter(|&fd| fd >= http_core::CACHED_FD_MIN)
        .count())
}

fn descriptor_numbers(pid: u32) -> io::Result<impl Iterator<Item = i32>> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.parse().ok())))
}

/// Resident set size of `pid` in KiB: `VmRSS` in `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| io::Error::other(format!("no VmRSS for {pid}")))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    4242 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(4242));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    /// A child's descriptors once it has exec'd (before that it may briefly hold the parent's
    /// close-on-exec pipe): polled until two reads agree.
    fn settled_descriptors(pid: u32) -> usize {
        let mut last = usize::MAX;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = descriptors(pid).expect("read /proc/PID/fd");
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    #[test]
    fn two_more_open_files_are_two_more_descriptors() {
        use std::process::{Command, Stdio};
        // Both children inherit whatever the test runner leaves open; only the two redirections
        // differ between them.
        let spawn = |script: &str| {
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sh")
        };
        let mut plain = spawn("exec sleep 10");
        let mut two_more = spawn("exec sleep 10 5</dev/null 6</dev/null");
        let counts = (
            settled_descriptors(plain.id()),
            settled_descriptors(two_more.id()),
        );
        let rss = rss_kib(plain.id());
        for child in [&mut plain, &mut two_more] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(counts.1, counts.0 + 2, "{counts:?}");
        assert!(rss.expect("VmRSS") > 0);
    }
}
