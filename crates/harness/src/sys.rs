//! The few raw syscalls the load generator makes, each behind a small safe function.
//!
//! The hot path is `read`, `write` and `epoll_wait` on non-blocking sockets; everything here is a
//! thin wrapper that turns `-1` + `errno` into an `io::Error`.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `-1` + `errno` → `io::Error`; anything else is the value.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for calls returning `ssize_t`.
fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Add what was attempted to an error.
pub fn context(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// One `epoll` instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

/// Readiness a connection waits for.
pub const READABLE: u32 = libc::EPOLLIN as u32;
/// Writability (a connect finishing, or room in the send buffer).
pub const WRITABLE: u32 = libc::EPOLLOUT as u32;

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers are passed; the result is checked before use.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
            .map_err(|e| context(e, "epoll_create1"))?;
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` is a valid epoll_event that lives for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) })?;
        Ok(())
    }

    /// Watch `fd` for `events` (level-triggered), tagged with `data`.
    pub fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, data)
    }

    /// Change what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, data)
    }

    /// Wait up to `timeout_ms` for events; `EINTR` counts as "no events".
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` is a writable buffer of `max` epoll_event structs.
        let ret =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        match cvt(ret) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(context(e, "epoll_wait")),
        }
    }
}

/// An empty event, to fill an event buffer.
pub const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

/// A new non-blocking TCP socket for `addr`'s family.
pub fn tcp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Disable Nagle's algorithm (`TCP_NODELAY`), as wrk does: a request is one write and must
/// leave at once, whatever is still unacknowledged.
pub fn set_nodelay(fd: &OwnedFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int that outlives the call; the length matches.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Bind `fd` to source address `ip` but let `connect` choose the port
/// (`IP_BIND_ADDRESS_NO_PORT`), so each source address gets its own ~28k ephemeral ports per
/// destination.
pub fn bind_source(fd: &OwnedFd, ip: Ipv4Addr) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int that outlives the call; the length matches.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    let (storage, len) = sockaddr(&SocketAddr::from((ip, 0)));
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    Ok(())
}

/// Start a non-blocking connect: `Ok(true)` connected at once, `Ok(false)` in progress (wait for
/// writability, then [`socket_error`]).
pub fn connect(fd: &OwnedFd, addr: &SocketAddr) -> io::Result<bool> {
    let (storage, len) = sockaddr(addr);
    loop {
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
        let ret = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        match cvt(ret) {
            Ok(_) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The pending error of a socket (`SO_ERROR`): how a non-blocking connect ended.
pub fn socket_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes; `len` holds the size of `err`.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

/// `read(2)`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` (`send` with `MSG_NOSIGNAL`, so a dead peer is an `EPIPE` error, never a signal).
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// Pin the calling thread (and threads it starts later) to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    pin_pid_to_cpu(0, cpu)
}

/// Pin the calling thread (and threads it starts later) to a set of CPUs.
pub fn pin_to_cpus(cpus: &[usize]) -> io::Result<()> {
    CpuSet::of(cpus)?
        .apply_to_current_thread()
        .map_err(|e| context(e, &format!("sched_setaffinity(cpus {cpus:?})")))
}

/// Parse a CPU list as `taskset -c` and cpuset(7) write it: numbers and ranges, comma
/// separated (`0`, `0,2`, `0-3,6`). Sorted, without duplicates; never empty.
pub fn parse_cpu_list(text: &str) -> io::Result<Vec<usize>> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| bad(format!("CPU list {text:?}: {s:?} is not a CPU number")))
    };
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    return Err(bad(format!(
                        "CPU list {text:?}: range {part:?} is backwards"
                    )));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(bad(format!("CPU list {text:?} names no CPU")));
    }
    Ok(cpus)
}

/// Pin process/thread `pid` (0 = the caller) to one CPU.
pub fn pin_pid_to_cpu(pid: libc::pid_t, cpu: usize) -> io::Result<()> {
    let set = CpuSet::single(cpu)?;
    // SAFETY: `set.0` is a valid cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_setaffinity(pid, mem::size_of::<libc::cpu_set_t>(), &set.0) })
        .map_err(|e| context(e, &format!("sched_setaffinity(cpu {cpu})")))?;
    Ok(())
}

/// A CPU affinity mask, built before `fork` so the child only has to hand it to the kernel.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl CpuSet {
    /// The set holding `cpus` (at least one).
    pub fn of(cpus: &[usize]) -> io::Result<CpuSet> {
        let Some((&first, rest)) = cpus.split_first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an empty CPU set",
            ));
        };
        let mut set = CpuSet::single(first)?;
        for &cpu in rest {
            set.add(cpu)?;
        }
        Ok(set)
    }

    /// Add `cpu` to the set.
    fn add(&mut self, cpu: usize) -> io::Result<()> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no CPU {cpu}"),
            ));
        }
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit is inside the set.
        unsafe { libc::CPU_SET(cpu, &mut self.0) };
        Ok(())
    }

    /// The set holding only `cpu`.
    pub fn single(cpu: usize) -> io::Result<CpuSet> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no CPU {cpu}"),
            ));
        }
        // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit is inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        Ok(CpuSet(set))
    }

    /// Restrict the calling thread to this set. Allocates nothing and takes no lock, so it may
    /// run between `fork` and `exec` (its error is the raw errno, which needs no allocation).
    pub fn apply_to_current_thread(&self) -> io::Result<()> {
        // SAFETY: `self.0` is a valid cpu_set_t of the size passed.
        let ret = unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &self.0) };
        if ret == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpus = (0..libc::CPU_SETSIZE as usize)
            // SAFETY: every index is below CPU_SETSIZE.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.0) });
        f.debug_list().entries(cpus).finish()
    }
}

/// The CPUs this process may run on (`sched_getaffinity`), in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) })
        .map_err(|e| context(e, "sched_getaffinity"))?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: every index is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Raise `RLIMIT_NOFILE`'s soft limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: rlimit is plain data.
    let mut limit: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: `limit` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// Send `signal` to process `pid` (never a process group: `pid` must be positive).
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    // SAFETY: plain syscall; `pid` is a positive single-process id.
    cvt(unsafe { libc::kill(pid, signal) })?;
    Ok(())
}

/// Resource usage of a reaped child.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildUsage {
    /// Exit status as `wait` reports it.
    pub status: libc::c_int,
    /// Voluntary + involuntary context switches of all its threads.
    pub context_switches: u64,
}

/// `wait4(pid, WNOHANG)`: `Ok(None)` while the child runs.
pub fn try_wait4(pid: u32) -> io::Result<Option<ChildUsage>> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data.
    let mut usage: libc::rusage = unsafe { mem::zeroed() };
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    // SAFETY: `status` and `usage` are valid for writes.
    let ret = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    match cvt(ret) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(ChildUsage {
            status,
            context_switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        })),
        Err(e) => Err(context(e, "wait4")),
    }
}

/// CPU time of a whole process in nanoseconds: every thread it has, **including threads that
/// already exited** (`clock_getcpuclockid(3)`, then `clock_gettime(2)` on that clock; the kernel
/// adds the exited threads' run time to the thread group's total when they exit). Summing
/// `/proc/PID/task/*/schedstat` instead misses a thread that started and ended between two
/// samples, as glibc's POSIX AIO helper threads do.
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    // The clock id is made of `!pid << 3`: past this, the shift would wrap into another clock
    // (pid 0 is this process's own clock). Linux pids stop at 2^22.
    if pid == 0 || pid > (i32::MAX >> 3) as u32 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("clock_getcpuclockid: {pid} is not a process id"),
        ));
    }
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the clock id for the duration of the call. The
    // function returns an error number instead of setting errno.
    let err = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if err != 0 {
        return Err(context(
            io::Error::from_raw_os_error(err),
            "clock_getcpuclockid",
        ));
    }
    clock_ns(clock).map_err(|e| context(e, "clock_gettime(process CPU clock)"))
}

/// `clock_gettime(2)` on `clock`, in nanoseconds.
fn clock_ns(clock: libc::clockid_t) -> io::Result<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the duration of the call.
    cvt(unsafe { libc::clock_gettime(clock, &mut now) })?;
    Ok(now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), for `/proc/<pid>/stat` times.
pub fn clock_ticks() -> f64 {
    // SAFETY: plain syscall.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid (unspecified) address.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_cpus_include_the_one_we_run_on() {
        let allowed = allowed_cpus().expect("sched_getaffinity");
        assert!(!allowed.is_empty());
        assert!(allowed.windows(2).all(|w| w[0] < w[1]), "ascending");
        // SAFETY: sched_getcpu takes no arguments.
        let here = unsafe { libc::sched_getcpu() };
        assert!(allowed.contains(&usize::try_from(here).expect("a CPU number")));
    }

    #[test]
    fn a_set_applies_to_the_calling_thread_only_that_cpu() {
        let allowed = allowed_cpus().expect("sched_getaffinity");
        let cpu = *allowed.last().expect("one CPU at least");
        let set = CpuSet::single(cpu).expect("a valid CPU");
        let seen = std::thread::spawn(move || {
            set.apply_to_current_thread().expect("sched_setaffinity");
            allowed_cpus().expect("sched_getaffinity")
        })
        .join()
        .expect("the pinned thread");
        assert_eq!(seen, vec![cpu]);
        assert_eq!(format!("{set:?}"), format!("[{cpu}]"));
    }

    #[test]
    fn cpu_lists_are_read_as_taskset_writes_them() {
        assert_eq!(parse_cpu_list("1").expect("one"), [1]);
        assert_eq!(parse_cpu_list("0-3,6").expect("range"), [0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("2,0,2").expect("dups"), [0, 2]);
        for bad in ["", ",", "a", "3-1", "1-x"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cpu_past_the_mask_is_refused_before_any_syscall() {
        let err = CpuSet::single(libc::CPU_SETSIZE as usize).expect_err("no such CPU");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    /// The calling thread's own CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
    fn thread_cpu_ns() -> u64 {
        clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).expect("clock_gettime")
    }

    #[test]
    fn the_process_clock_counts_a_thread_that_came_and_went() {
        let pid = std::process::id();
        let before = process_cpu_ns(pid).expect("our own CPU clock");
        // A thread that spins for 30 ms of its own CPU time, then exits.
        let spun = std::thread::spawn(|| {
            let start = thread_cpu_ns();
            while thread_cpu_ns() - start < 30_000_000 {}
            thread_cpu_ns() - start
        })
        .join()
        .expect("the spinning thread");
        let after = process_cpu_ns(pid).expect("our own CPU clock");
        // Summing the live threads' schedstat would have lost those 30 ms: the thread is gone.
        assert!(
            after - before >= spun,
            "grew {} ns, the exited thread ran {spun} ns",
            after - before
        );
        for not_a_pid in [0, u32::MAX >> 1] {
            let err = process_cpu_ns(not_a_pid).expect_err("not a pid");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{not_a_pid}");
        }
        // A child that has exited and been reaped has no clock any more.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let gone = child.id();
        child.wait().expect("reap true");
        let err = process_cpu_ns(gone).expect_err("a reaped child");
        assert!(err.to_string().contains("clock_getcpuclockid"), "{err}");
    }
}
