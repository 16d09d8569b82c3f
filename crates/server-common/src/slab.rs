//! Where a token-keyed event loop keeps its connections (`server-epoll`, `server-aio`,
//! `server-uring`): a vector of slots indexed by the token the kernel hands back with each event
//! (`epoll_event.data`, `sigval`, `user_data`), so finding a connection costs one index, not a
//! hash lookup.
//!
//! A token is `serial << 32 | slot`. Slots are reused after a connection closes; the serial
//! (a counter bumped on every insert) tells a late event for the old connection, still in the
//! batch `epoll_wait` returned or in a signal queue, from an event for the new one: such a stale
//! token finds nothing. The same tokens key the connections' deadlines
//! ([`crate::timers::Deadlines`]). The loops that the kernel tells an fd instead (`select`,
//! `poll`, `SIGIO`) keep [`crate::clients::Clients`].

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
        self.insert_with(|_| value)
    }

    /// Store the value `make` builds from its token (for a value that carries its own token,
    /// such as `server-aio`'s operation, whose completions must name it); returns the token.
    pub fn insert_with(&mut self, make: impl FnOnce(u64) -> T) -> u64 {
        let serial = self.next_serial;
        // Tokens near `u64::MAX` are free for a loop's own sources (`server-epoll`'s listener…):
        // they would need slot 0xFFFF_FFFD or above, far beyond any descriptor limit.
        self.next_serial = self.next_serial.wrapping_add(1);
        let index = self.free.pop().unwrap_or(self.slots.len());
        let token = (u64::from(serial) << 32) | index as u64;
        let slot = Slot {
            serial,
            value: Some(make(token)),
        };
        if index == self.slots.len() {
            self.slots.push(slot);
        } else {
            self.slots[index] = slot;
        }
        self.len += 1;
        token
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

    /// The value in slot `slot`, whatever its serial: for a loop whose events name only the
    /// slot (`server-uring`'s `user_data`), which must then keep a slot from being reused while
    /// any operation may still report on it.
    pub fn at_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot)?.value.as_mut()
    }

    /// The token of the value in slot `slot`, if one is stored there.
    pub fn token_at(&self, slot: usize) -> Option<u64> {
        let stored = self.slots.get(slot)?;
        stored
            .value
            .as_ref()
            .map(|_| (u64::from(stored.serial) << 32) | slot as u64)
    }

    /// The stored values, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|slot| slot.value.as_ref())
    }

    /// The stored values with their tokens, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut T)> + '_ {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| {
                let token = (u64::from(slot.serial) << 32) | index as u64;
                slot.value.as_mut().map(|value| (token, value))
            })
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

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The slot a token names.
pub fn slot_of(token: u64) -> usize {
    split(token).0
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
        assert_eq!(
            slab.get_mut(first),
            None,
            "a stale token finds nothing to change"
        );
        assert_eq!(slab.remove(first), None);
        assert_eq!(slab.get(second), Some(&"second"));
        assert!(!slab.is_empty());
        assert_eq!(slab.tokens(), vec![second]);
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_slot_names_its_current_value() {
        let mut slab = Slab::new();
        let first = slab.insert("first");
        let second = slab.insert("second");
        assert_eq!(slot_of(second), 1);
        assert_eq!(slab.token_at(slot_of(second)), Some(second));
        slab.remove(first);
        assert_eq!(slab.token_at(0), None, "an empty slot has no token");
        assert_eq!(slab.at_mut(0), None);
        let third = slab.insert("third");
        assert_eq!(slot_of(third), 0, "the freed slot is reused");
        assert_eq!(slab.at_mut(0), Some(&mut "third"));
        assert_eq!(slab.token_at(0), Some(third));
        assert_eq!(
            slab.values().copied().collect::<Vec<_>>(),
            ["third", "second"]
        );
        let pairs: Vec<(u64, &str)> = slab.iter_mut().map(|(t, v)| (t, *v)).collect();
        assert_eq!(pairs, [(third, "third"), (second, "second")]);
        assert_eq!(slab.len(), 2);
    }

    #[test]
    fn a_value_can_carry_its_own_token() {
        let mut slab = Slab::new();
        let first = slab.insert_with(|token| token);
        assert_eq!(slab.get(first), Some(&first));
        let second = slab.insert_with(|token| token);
        assert_eq!(slab.get(second), Some(&second));
        slab.remove(first);
        let reused = slab.insert_with(|token| token);
        assert_eq!(slot_of(reused), slot_of(first));
        assert_eq!(slab.get(reused), Some(&reused));
        assert_ne!(reused, first);
    }

    #[test]
    fn tokens_never_collide_with_the_reserved_ones() {
        let mut slab = Slab::new();
        let tokens: Vec<u64> = (0..1000).map(|i| slab.insert(i)).collect();
        for token in tokens {
            assert!(token < u64::MAX - 2, "the three highest tokens stay free");
        }
    }
}
