//! Deadlines for an event loop: which connection times out next, and how long the loop may sleep.
//!
//! A thread-per-connection server can let the kernel time out each socket (`SO_RCVTIMEO`); an
//! event loop serving thousands of sockets cannot, so it keeps a min-heap of deadlines and passes
//! the nearest one as the timeout of its wait (`select`, `poll`, `epoll_wait`, `sigtimedwait`…).
//!
//! Entries are never removed early ("lazy deletion"): a connection's deadline moves every time it
//! makes progress, and pushing a new entry each time would grow the heap per request. Instead the
//! table remembers, per connection, the one deadline it has queued; when that entry pops, it is
//! compared with the connection's current deadline, and the connection either times out or has
//! its new deadline queued. An entry whose connection is gone, or that an earlier deadline
//! replaced, is stale and dropped. [`Deadlines`] does this bookkeeping for every event loop of
//! the workspace; [`TimerQueue`] is the bare heap under it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::hash::Hash;

use crate::slab::Slab;
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

/// Every connection's deadline, one heap entry per connection (lazy deletion, see the module
/// doc). Keys name connections and are never reused while an entry may still name them: a slab
/// token with its serial, or an fd with the serial of the connection on it.
#[derive(Debug)]
pub struct Deadlines<K: Ord + Hash> {
    queue: TimerQueue<K>,
    /// The deadline each key has in `queue` (stale entries of the key aside). An entry leaves
    /// when its deadline pops, so this never holds more keys than `queue` holds entries.
    queued: HashMap<K, Instant>,
}

impl<K: Ord + Hash> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            queue: TimerQueue::default(),
            queued: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Copy> Deadlines<K> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    // ANCHOR: timers_watch
    /// Call after every event on `key`'s connection with its current deadline: if it is earlier
    /// than the one queued (or none is queued), queue it. A deadline that moved later (the usual
    /// case: the connection made progress) is left alone; it is found when the old entry pops.
    /// That keeps the heap at about one entry per connection instead of one per event.
    pub fn watch(&mut self, key: K, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return;
        };
        if self
            .queued
            .get(&key)
            .is_none_or(|&queued| deadline < queued)
        {
            self.queued.insert(key, deadline);
            self.queue.schedule(deadline, key);
        }
    }
    // ANCHOR_END: timers_watch

    // ANCHOR: timers_next_due
    /// The next connection whose deadline has really passed at `now`; its caller times it out.
    /// `current(key)` tells the connection's deadline now: `None` if the connection is gone,
    /// `Some(None)` if it has no deadline (nothing is queued for it then). On the way, stale
    /// entries are dropped and deadlines that moved later are queued again.
    pub fn next_due(
        &mut self,
        now: Instant,
        mut current: impl FnMut(K) -> Option<Option<Instant>>,
    ) -> Option<K> {
        while let Some((at, key)) = self.queue.pop_expired(now) {
            if self.queued.get(&key) != Some(&at) {
                continue; // an earlier deadline replaced this entry
            }
            self.queued.remove(&key);
            match current(key) {
                Some(Some(deadline)) if deadline <= now => return Some(key),
                // Progress since: its deadline moved later; queue that one.
                Some(deadline) => self.watch(key, deadline),
                None => {} // the connection is gone
            }
        }
        None
    }
    // ANCHOR_END: timers_next_due

    /// The earliest queued deadline (perhaps a stale one: waking early for it costs one turn).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Number of heap entries (stale ones included): about one per connection.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl Deadlines<u64> {
    /// [`Deadlines::next_due`] for connections kept in a [`Slab`] under their tokens: a token
    /// that finds nothing is gone, and `deadline` tells the current deadline of what it finds.
    pub fn next_due_in<T>(
        &mut self,
        now: Instant,
        slab: &Slab<T>,
        deadline: impl Fn(&T) -> Option<Instant>,
    ) -> Option<u64> {
        self.next_due(now, |token| slab.get(token).map(&deadline))
    }
}

// ANCHOR: timers_wait_until_nearest
/// How long a loop may wait: until the nearest of `deadlines` (its connections' next deadline,
/// the end of the shutdown grace, an accept back-off…), zero if one has passed, `None` (wait for
/// events only) if there is none.
pub fn wait_until_nearest(
    now: Instant,
    deadlines: impl IntoIterator<Item = Option<Instant>>,
) -> Option<Duration> {
    deadlines
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
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
// ANCHOR_END: timers_wait_until_nearest

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let start = Instant::now();
        let mut queue = TimerQueue::new();
        queue.schedule(start + Duration::from_secs(2), 2);
        queue.schedule(start + Duration::from_secs(1), 1);
        assert!(!queue.is_empty());
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.next_deadline(), Some(start + Duration::from_secs(1)));
        assert_eq!(queue.pop_expired(start), None);
        let later = start + Duration::from_secs(3);
        assert_eq!(queue.pop_expired(later).map(|(_, k)| k), Some(1));
        assert_eq!(queue.pop_expired(later).map(|(_, k)| k), Some(2));
        assert!(queue.is_empty());
    }

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_due_key_is_reported_once_and_only_when_due() {
        let t0 = Instant::now();
        let mut table = Deadlines::new();
        table.watch(7u64, Some(t0 + SEC));
        table.watch(8u64, None);
        assert_eq!(table.len(), 1, "no deadline: nothing queued");
        assert!(!table.is_empty());
        assert_eq!(table.next_deadline(), Some(t0 + SEC));
        let always = |_| Some(Some(t0 + SEC));
        assert_eq!(table.next_due(t0 + SEC / 2, always), None, "not yet");
        assert_eq!(
            table.next_due(t0 + SEC, always),
            Some(7),
            "due at its deadline"
        );
        assert_eq!(table.next_due(t0 + SEC * 2, always), None, "reported once");
        assert!(table.is_empty());
        assert!(table.queued.is_empty(), "nothing remembered once popped");
    }

    #[test]
    fn an_earlier_deadline_replaces_the_queued_one_a_later_one_waits_for_it() {
        let t0 = Instant::now();
        let mut table = Deadlines::new();
        table.watch(1u64, Some(t0 + SEC * 2));
        table.watch(1, Some(t0 + SEC * 3)); // later: found when the queued entry pops
        table.watch(1, Some(t0 + SEC * 2)); // the same: nothing new
        assert_eq!(table.len(), 1);
        table.watch(1, Some(t0 + SEC)); // earlier: queued
        assert_eq!(table.len(), 2);
        assert_eq!(table.next_deadline(), Some(t0 + SEC));
        // Its connection's deadline is now 3 s: the 1 s entry pops, the 3 s one is queued, and
        // the superseded 2 s entry is dropped without being queued again.
        let current = |_| Some(Some(t0 + SEC * 3));
        assert_eq!(table.next_due(t0 + SEC * 2, current), None);
        assert_eq!(table.len(), 1, "only the moved deadline stays queued");
        assert_eq!(table.next_deadline(), Some(t0 + SEC * 3));
        assert_eq!(table.next_due(t0 + SEC * 3, current), Some(1));
    }

    #[test]
    fn gone_keys_and_keys_without_a_deadline_are_forgotten() {
        let t0 = Instant::now();
        let mut table = Deadlines::new();
        table.watch(1u64, Some(t0 + SEC));
        table.watch(2u64, Some(t0 + SEC));
        let current = |key| (key == 2).then_some(None);
        assert_eq!(table.next_due(t0 + SEC, current), None);
        assert!(table.is_empty());
        assert!(table.queued.is_empty());
        // A key that comes back later starts afresh.
        table.watch(2, Some(t0 + SEC * 5));
        assert_eq!(table.next_deadline(), Some(t0 + SEC * 5));
    }

    #[test]
    fn a_slab_tells_which_tokens_are_gone() {
        let t0 = Instant::now();
        let mut slab = Slab::new();
        let (gone, due, later) = (slab.insert(t0), slab.insert(t0), slab.insert(t0 + SEC * 9));
        let mut table = Deadlines::new();
        for token in [gone, due, later] {
            table.watch(token, Some(t0));
        }
        slab.remove(gone);
        let found: Vec<u64> =
            std::iter::from_fn(|| table.next_due_in(t0, &slab, |at| Some(*at))).collect();
        assert_eq!(found, [due]);
        assert_eq!(
            table.next_deadline(),
            Some(t0 + SEC * 9),
            "moved later: queued again"
        );
    }

    #[test]
    fn the_loop_waits_for_the_nearest_of_its_deadlines() {
        let t0 = Instant::now();
        assert_eq!(wait_until_nearest(t0, [None, None]), None);
        assert_eq!(
            wait_until_nearest(t0, [Some(t0 + SEC * 2), None, Some(t0 + SEC)]),
            Some(SEC)
        );
        assert_eq!(
            wait_until_nearest(t0 + SEC * 3, [Some(t0 + SEC)]),
            Some(Duration::ZERO),
            "passed: do not wait"
        );
    }

    #[test]
    fn ceil_millis_never_rounds_down() {
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(5)), 5);
        assert_eq!(ceil_millis(Duration::from_micros(5001)), 6);
    }
}
