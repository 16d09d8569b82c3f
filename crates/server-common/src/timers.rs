//! Deadlines for an event loop: which connection times out next, and how long the loop may sleep.
//!
//! A thread-per-connection server can let the kernel time out each socket (`SO_RCVTIMEO`); an
//! event loop serving thousands of sockets cannot, so it keeps a min-heap of deadlines and passes
//! the nearest one as the timeout of its wait (`select`, `poll`, `epoll_wait`, `sigtimedwait`…).
//!
//! Entries are never removed early ("lazy deletion"): a connection's deadline moves every time it
//! makes progress, and pushing a new entry each time would grow the heap per request. Instead each
//! connection remembers the one deadline it has queued; when that entry pops, the loop compares it
//! with the connection's current deadline and either times the connection out or queues the new
//! deadline. An entry whose connection is gone, or whose remembered deadline differs, is stale and
//! ignored. See [`TimerQueue::pop_expired`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A min-heap of `(deadline, key)`.
#[derive(Debug)]
pub struct TimerQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue `key` to be looked at when `at` has passed.
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest queued deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// How long the loop may wait before the earliest deadline (zero if already due; `None`
    /// means "no deadline: wait for events only").
    pub fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(now))
    }

    /// The next entry whose deadline is `<= now`, removed from the queue. The caller checks it
    /// against the connection's current deadline (it may be stale).
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, K)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Number of queued entries (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Round a wait timeout up to whole milliseconds, as `poll`/`epoll_wait` take them; rounding
/// down would wake the loop just before the deadline and spin until it passes.
pub fn ceil_millis(timeout: Duration) -> u64 {
    let millis = timeout.as_millis();
    let rounded = if Duration::from_millis(millis as u64) < timeout {
        millis + 1
    } else {
        millis
    };
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let start = Instant::now();
        let mut queue = TimerQueue::new();
        queue.schedule(start + Duration::from_secs(2), 2);
        queue.schedule(start + Duration::from_secs(1), 1);
        assert_eq!(queue.wait_timeout(start), Some(Duration::from_secs(1)));
        assert_eq!(queue.pop_expired(start), None);
        let later = start + Duration::from_secs(3);
        assert_eq!(queue.pop_expired(later).map(|(_, k)| k), Some(1));
        assert_eq!(queue.pop_expired(later).map(|(_, k)| k), Some(2));
        assert!(queue.is_empty());
    }

    #[test]
    fn ceil_millis_never_rounds_down() {
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(5)), 5);
        assert_eq!(ceil_millis(Duration::from_micros(5001)), 6);
    }
}
