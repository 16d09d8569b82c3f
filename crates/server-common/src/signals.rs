//! Signals taken synchronously: a `sigset_t` built from raw numbers (`nix`'s `Signal` cannot name
//! real-time signals), blocked in every thread, and consumed with `sigtimedwait(2)`.
//!
//! Used by the two servers whose kernel (or C library) reports I/O through signals:
//! `server-sigio` (readiness: `F_SETSIG` puts the socket in `si_fd`) and `server-aio` (completion:
//! glibc puts the control block's token in `si_value`). Doing the work after `sigtimedwait`
//! returns, in ordinary code, avoids everything a handler may not do.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::time::Duration;

use libc::c_int;

use crate::sys::cvt;

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub struct SigSet {
    raw: libc::sigset_t,
}

impl std::fmt::Debug for SigSet {
    /// `SigSet[2, 15, 35]`: the signal numbers in the set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigSet")?;
        f.debug_list()
            .entries((1..=libc::SIGRTMAX()).filter(|&signo| {
                // SAFETY: `raw` is an initialized set; `sigismember` only reads it.
                unsafe { libc::sigismember(&self.raw, signo) == 1 }
            }))
            .finish()
    }
}

impl SigSet {
    /// The set holding exactly `signals`.
    pub fn of(signals: &[c_int]) -> io::Result<SigSet> {
        let mut raw = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigemptyset` initializes the whole set it is given a valid pointer to.
        let ret = unsafe { libc::sigemptyset(raw.as_mut_ptr()) };
        cvt(ret, "sigemptyset")?;
        // SAFETY: initialized by the successful `sigemptyset` just above.
        let mut raw = unsafe { raw.assume_init() };
        for &signal in signals {
            // SAFETY: `raw` is an initialized set; an invalid number only yields EINVAL.
            cvt(unsafe { libc::sigaddset(&mut raw, signal) }, "sigaddset")?;
        }
        Ok(SigSet { raw })
    }

    /// Block these signals in the calling thread; threads created later inherit the mask. A
    /// blocked signal is not delivered: it stays queued until [`SigSet::wait`] takes it. Call
    /// before starting any thread, so no thread can receive it asynchronously.
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: `raw` is an initialized set; the old mask is not wanted (null is allowed).
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.raw, ptr::null_mut()) };
        if ret == 0 {
            Ok(())
        } else {
            // pthread_* functions return the error number instead of setting errno.
            let err = io::Error::from_raw_os_error(ret);
            Err(io::Error::new(
                err.kind(),
                format!("pthread_sigmask: {err}"),
            ))
        }
    }

    /// Take one pending signal of this set, waiting at most `timeout` (`None`: forever).
    /// `Ok(None)`: the timeout passed (`EAGAIN`). `Err` of kind `Interrupted` (`EINTR`): a signal
    /// outside the set ran a handler (SIGINT/SIGTERM): check the flags and wait again.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<libc::siginfo_t>> {
        let ts = timeout.map(timespec);
        let ts_ptr = ts
            .as_ref()
            .map_or(ptr::null(), |ts| ts as *const libc::timespec);
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `raw` is an initialized set, `info` points to writable memory of the right
        // size, and `ts_ptr` is null or points to `ts`, which outlives the call.
        let ret = unsafe { libc::sigtimedwait(&self.raw, info.as_mut_ptr(), ts_ptr) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // The timeout passed with no signal of the set pending.
                Some(libc::EAGAIN) => Ok(None),
                _ => Err(err),
            };
        }
        // SAFETY: `sigtimedwait` succeeded, so it filled in `info` (which was zeroed before).
        Ok(Some(unsafe { info.assume_init() }))
    }
}

/// A [`Duration`] as the `timespec` that `sigtimedwait`, `aio_suspend` and friends take
/// (saturating at the largest `time_t`).
pub fn timespec(t: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 1e9, so it fits every `c_long`.
        tv_nsec: t.subsec_nanos() as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lists_the_signals_in_the_set() {
        let set = SigSet::of(&[libc::SIGTERM, libc::SIGINT]).expect("set");
        assert_eq!(format!("{set:?}"), "SigSet[2, 15]");
    }

    #[test]
    fn a_blocked_signal_waits_in_the_queue_until_taken() {
        // SIGRTMIN+7 is used by nothing else in this test binary.
        let signal = libc::SIGRTMIN() + 7;
        let set = SigSet::of(&[signal]).expect("set");
        set.block().expect("block");
        assert!(set.wait(Some(Duration::ZERO)).expect("wait").is_none());
        // SAFETY: sending a blocked real-time signal to our own thread only queues it.
        let ret = unsafe { libc::pthread_kill(libc::pthread_self(), signal) };
        assert_eq!(ret, 0);
        let info = set
            .wait(Some(Duration::from_secs(5)))
            .expect("wait")
            .expect("queued");
        assert_eq!(info.si_signo, signal);
    }
}
