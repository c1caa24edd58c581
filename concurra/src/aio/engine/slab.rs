//! A slab: values in a `Vec` by index, with freed slots reused, and keys that go stale.
//!
//! The loop keeps its live tasks here (a task's waker carries its key) and the timer heap keeps
//! its sleeps here (a [`Sleep`](crate::aio::Sleep) carries its key), so neither needs a map or a
//! shared allocation per entry.
//!
//! # Keys
//!
//! 1. A [`Key`] is a slot index and that slot's generation (16 bits, wrapping) when the value
//!    went in.
//! 2. Removing a value bumps its slot's generation, so every key handed out for it is stale
//!    from then on: [`get`](Slab::get) and [`remove`](Slab::remove) with a stale key find
//!    nothing, even after the slot holds another value. A wake with the key of a finished task
//!    therefore never reaches the task that reuses its slot (unless the slot was reused
//!    65,536 times meanwhile: then it is a spurious wake, which every future tolerates).
//! 3. Freed slots are reused last-freed first (warm in cache).

use std::fmt;

/// A slot index plus the generation it was filled in (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(u64);

impl Key {
    fn new(index: u32, generation: u16) -> Key {
        Key(u64::from(generation) << 32 | u64::from(index))
    }

    pub(crate) fn index(self) -> usize {
        (self.0 & u64::from(u32::MAX)) as usize
    }

    pub(crate) fn generation(self) -> u16 {
        (self.0 >> 32) as u16
    }

    /// The key of slot `index` in `generation` (for keys packed elsewhere, as in a waker).
    pub(crate) fn from_parts(index: u32, generation: u16) -> Key {
        Key::new(index, generation)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index(), self.generation())
    }
}

struct Slot<V> {
    generation: u16,
    /// `None` while the slot is free.
    value: Option<V>,
}

/// Values by [`Key`].
pub(crate) struct Slab<V> {
    slots: Vec<Slot<V>>,
    /// Indices of free slots; the last one is reused first.
    free: Vec<u32>,
    len: usize,
}

impl<V> Default for Slab<V> {
    fn default() -> Self {
        Slab::new()
    }
}

impl<V> Slab<V> {
    /// An empty slab (usable in a `static`).
    pub(crate) const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// The key the next [`insert`](Self::insert) will return.
    pub(crate) fn vacant_key(&self) -> Key {
        match self.free.last() {
            Some(&i) => Key::new(i, self.slots[i as usize].generation),
            None => Key::new(self.index_for_push(), 0),
        }
    }

    fn index_for_push(&self) -> u32 {
        u32::try_from(self.slots.len()).expect("more than 2^32 live entries in a slab")
    }

    /// Stores `value`; returns its key.
    pub(crate) fn insert(&mut self, value: V) -> Key {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                let slot = &mut self.slots[i as usize];
                debug_assert!(slot.value.is_none());
                slot.value = Some(value);
                Key::new(i, slot.generation)
            }
            None => {
                let i = self.index_for_push();
                self.slots.push(Slot {
                    generation: 0,
                    value: Some(value),
                });
                Key::new(i, 0)
            }
        }
    }

    /// The value under `key`, unless the key is stale.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<&V> {
        let slot = self.slots.get(key.index())?;
        if slot.generation == key.generation() {
            slot.value.as_ref()
        } else {
            None
        }
    }

    /// The generation of slot `index`, if it holds a value.
    pub(crate) fn generation_at(&self, index: usize) -> Option<u16> {
        let slot = self.slots.get(index)?;
        slot.value.as_ref().map(|_| slot.generation)
    }

    /// Takes the value under `key` out (the caller drops it), making every copy of the key
    /// stale.
    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        let index = key.index();
        let slot = self.slots.get_mut(index)?;
        if slot.generation != key.generation() {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    /// Takes every value out, in slot order (the caller drops them).
    pub(crate) fn drain(&mut self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.len);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(v) = slot.value.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(i as u32);
                out.push(v);
            }
        }
        self.len = 0;
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_find_nothing_after_reuse() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.vacant_key(), Key::new(1, 0));
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        let next = slab.vacant_key();
        let b = slab.insert("b");
        assert_eq!(next, b);
        assert_eq!(a.index(), b.index(), "the freed slot is reused");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn drain_takes_everything_in_slot_order() {
        let mut slab = Slab::default();
        let keys: Vec<_> = (0..5).map(|i| slab.insert(i)).collect();
        slab.remove(keys[1]);
        assert_eq!(slab.drain(), vec![0, 2, 3, 4]);
        assert_eq!(slab.len(), 0);
        assert!(keys.iter().all(|&k| slab.get(k).is_none()));
    }
}
