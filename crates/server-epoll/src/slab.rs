//! Where the event loop keeps its connections: a vector of slots indexed by the token that
//! `epoll_wait` hands back, so finding a connection costs one index, not a hash lookup.
//!
//! A token is `serial << 32 | slot`. Slots are reused after a connection closes; the serial
//! (a counter bumped on every insert) tells a late event for the old connection, still in the
//! batch `epoll_wait` returned, from an event for the new one: such a stale token finds nothing.

/// Connections indexed by token.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    next_serial: u32,
    len: usize,
}

#[derive(Debug)]
struct Slot<T> {
    serial: u32,
    value: Option<T>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            next_serial: 0,
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub fn new() -> Self {
        Self::default()
    }

    /// Store `value`; returns its token.
    pub fn insert(&mut self, value: T) -> u64 {
        let serial = self.next_serial;
        // The three highest tokens are reserved (`epoll::LISTENER`…); they would need slot
        // 0xFFFF_FFFD or above, far beyond any descriptor limit.
        self.next_serial = self.next_serial.wrapping_add(1);
        self.len += 1;
        let slot = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Slot {
                    serial,
                    value: Some(value),
                };
                index
            }
            None => {
                self.slots.push(Slot {
                    serial,
                    value: Some(value),
                });
                self.slots.len() - 1
            }
        };
        (u64::from(serial) << 32) | slot as u64
    }

    /// The value stored under `token`, unless it was removed since.
    pub fn get(&self, token: u64) -> Option<&T> {
        let (index, serial) = split(token);
        match self.slots.get(index) {
            Some(slot) if slot.serial == serial => slot.value.as_ref(),
            _ => None,
        }
    }

    /// The value stored under `token`, unless it was removed since.
    pub fn get_mut(&mut self, token: u64) -> Option<&mut T> {
        let (index, serial) = split(token);
        match self.slots.get_mut(index) {
            Some(slot) if slot.serial == serial => slot.value.as_mut(),
            _ => None,
        }
    }

    /// Take the value out; its slot becomes free.
    pub fn remove(&mut self, token: u64) -> Option<T> {
        let (index, serial) = split(token);
        let slot = self.slots.get_mut(index)?;
        if slot.serial != serial {
            return None;
        }
        let value = slot.value.take()?;
        self.free.push(index);
        self.len -= 1;
        Some(value)
    }

    /// The tokens of all stored values.
    pub fn tokens(&self) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.value.is_some())
            .map(|(index, slot)| (u64::from(slot.serial) << 32) | index as u64)
            .collect()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn split(token: u64) -> (usize, u32) {
    ((token & 0xFFFF_FFFF) as usize, (token >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_tokens_find_nothing_after_slot_reuse() {
        let mut slab = Slab::new();
        let first = slab.insert("first");
        assert_eq!(slab.remove(first), Some("first"));
        let second = slab.insert("second");
        assert_ne!(first, second, "a reused slot gets a new serial");
        assert_eq!(slab.get(first), None);
        assert_eq!(slab.remove(first), None);
        assert_eq!(slab.get(second), Some(&"second"));
        assert!(!slab.is_empty());
        assert_eq!(slab.tokens(), vec![second]);
    }

    #[test]
    fn tokens_never_collide_with_the_reserved_ones() {
        let mut slab = Slab::new();
        let tokens: Vec<u64> = (0..1000).map(|i| slab.insert(i)).collect();
        for token in tokens {
            assert!(token < crate::epoll::NOTIFY);
        }
    }
}
