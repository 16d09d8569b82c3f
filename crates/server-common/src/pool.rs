//! A fixed-size thread pool with a bounded job queue (线程池, as in the course notes).
//!
//! Threads are created once, at start-up, and share one bounded queue (an `mpsc` channel whose
//! receiver sits behind a `Mutex`). The queue is bounded, so a producer that outruns the workers
//! blocks in [`ThreadPool::execute`] instead of growing memory without limit. Nobody busy-waits,
//! but be precise about *where* the idle workers sleep: one of them holds the mutex and sleeps in
//! the channel's `recv()`; all the others sleep on the mutex itself. A job wakes the one in
//! `recv`; it releases the mutex and runs the job, and the next worker takes the mutex and waits
//! in `recv` in turn. Handing a job over therefore costs the wake-up of the worker in `recv` plus,
//! later, of the next one in line — where a condition variable per pool, as in the course's C
//! version, wakes exactly one waiter per job.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed through one bounded queue.
#[derive(Debug)]
pub struct ThreadPool {
    queue: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

/// The pool was shut down, so the job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolClosed;

impl std::fmt::Display for PoolClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("thread pool is shut down")
    }
}

impl std::error::Error for PoolClosed {}

impl ThreadPool {
    // ANCHOR: pool_queue
    /// Start `threads` workers (at least one) named `{name}-{i}`, sharing a queue that holds at
    /// most `queue_capacity` waiting jobs.
    pub fn new(name: &str, threads: usize, queue_capacity: usize) -> io::Result<ThreadPool> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(queue_capacity);
        let jobs = Arc::new(Mutex::new(jobs));
        let workers = (0..threads.max(1))
            .map(|i| {
                let jobs = Arc::clone(&jobs);
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || worker_loop(&jobs))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ThreadPool {
            queue: Some(queue),
            workers,
        })
    }

    // ANCHOR: pool_execute
    /// Queue a job, blocking while the queue is full (backpressure instead of unbounded memory).
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> Result<(), PoolClosed> {
        match &self.queue {
            Some(queue) => queue.send(Box::new(job)).map_err(|_| PoolClosed),
            None => Err(PoolClosed),
        }
    }
    // ANCHOR_END: pool_execute
    // ANCHOR_END: pool_queue

    /// Stop taking jobs, let the workers finish the queued ones, and join them.
    pub fn join(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        // Dropping the sender ends every worker's `recv` once the queue is empty.
        self.queue.take();
        for worker in self.workers.drain(..) {
            // A job that panicked already reported itself; the pool keeps shutting down.
            let _ = worker.join();
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

// ANCHOR: pool_worker
fn worker_loop(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only while taking a job, never while running it.
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match next {
            Ok(job) => job(),
            Err(_) => return, // the pool was shut down and the queue is empty
        }
    }
}
// ANCHOR_END: pool_worker

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn a_closed_pool_says_so() {
        assert_eq!(PoolClosed.to_string(), "thread pool is shut down");
    }

    /// Jobs that take a while, each counted when it finishes.
    fn slow_jobs(pool: &ThreadPool, n: usize) -> Arc<AtomicUsize> {
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let done = Arc::clone(&done);
            pool.execute(move || {
                std::thread::sleep(Duration::from_millis(30));
                done.fetch_add(1, Ordering::SeqCst);
            })
            .expect("the pool is open");
        }
        done
    }

    #[test]
    fn join_returns_once_every_queued_job_has_run() {
        let pool = ThreadPool::new("test-join", 2, 16).expect("threads");
        let done = slow_jobs(&pool, 6);
        pool.join();
        assert_eq!(done.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn dropping_the_pool_also_waits_for_its_jobs() {
        let pool = ThreadPool::new("test-drop", 1, 16).expect("threads");
        let done = slow_jobs(&pool, 3);
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn every_worker_takes_jobs() {
        let pool = ThreadPool::new("test-spread", 3, 16).expect("threads");
        let names = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        // Three jobs that wait for each other can only finish if three threads run them.
        let barrier = Arc::new(std::sync::Barrier::new(3));
        for _ in 0..3 {
            let (names, barrier) = (Arc::clone(&names), Arc::clone(&barrier));
            pool.execute(move || {
                barrier.wait();
                let name = std::thread::current().name().map(str::to_owned);
                if let Ok(mut names) = names.lock() {
                    names.insert(name.unwrap_or_default());
                }
            })
            .expect("the pool is open");
        }
        pool.join();
        let names = names.lock().map(|n| n.clone()).unwrap_or_default();
        let expected: std::collections::BTreeSet<String> =
            (0..3).map(|i| format!("test-spread-{i}")).collect();
        assert_eq!(names, expected);
    }
}
