//! A map's output list written in place: the list is allocated once, at the map's length, and
//! each chunk's worker writes its values straight into the chunk's own range of it. No chunk
//! has a list of its own, so nothing is copied or concatenated when the last chunk is done
//! (the thread pool's `map`; measured in `bench pool-map`).
//!
//! # Who may touch which slot
//! 1. [`Slots::new`] allocates room for `len` values, cut into ranges of `size` slots; range
//!    `i` is slots `i * size ..` up to `size` of them (the last may be shorter).
//! 2. [`Slots::range`] hands out range `i` once: a [`Range`] is the only writer of its slots.
//!    It writes a prefix of them, in order, and stops at the first panic.
//! 3. When a `Range` is dropped (after its chunk ran, or unrun) it records how many of its
//!    slots it wrote; that is its last access. It holds an `Arc` on the slots, so the buffer
//!    outlives every writer whatever happens to the chunk's task.
//! 4. Whoever owns the [`Slots`] last (every `Range` dropped: `Arc::try_unwrap` succeeded)
//!    either takes the list ([`Slots::into_vec`], only when every range wrote every slot) or
//!    drops it, which drops exactly the values written and frees the buffer.
//!
//! The whole module is `unsafe` territory (each block says why it holds); its tests run under
//! Miri (`scripts/miri.sh`).
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::Error;
use crate::unwind;

/// The output buffer of one map: `len` slots in ranges of `size` (see the module doc).
pub(crate) struct Slots<T> {
    buf: NonNull<T>,
    cap: usize,
    len: usize,
    size: usize,
    /// Per range: how many of its slots hold a value (a prefix), recorded by its `Range`'s drop.
    written: Box<[AtomicUsize]>,
    /// Per range: handed out already (rule 2 is checked, not only promised).
    claimed: Box<[AtomicBool]>,
    /// Set by `into_vec`: the values now belong to a `Vec`.
    taken: bool,
    _owns: PhantomData<T>,
}

// SAFETY: `Slots` owns `T`s (like `Vec<T>`), so sending it sends them: `T: Send` suffices.
unsafe impl<T: Send> Send for Slots<T> {}
// SAFETY: through `&Slots` nobody reads or writes a value: the only writers are the `Range`s,
// each the sole writer of disjoint slots (rule 2), and values are read only by the last owner
// (rule 4, through `&mut`/by value). Sharing `&Slots` between threads therefore only shares the
// atomics and the address; moving values in from other threads needs `T: Send`.
unsafe impl<T: Send> Sync for Slots<T> {}

impl<T> Slots<T> {
    /// Room for `len` values, in ranges of `size` (at least 1).
    ///
    /// # Errors
    /// When the room cannot be had (a size hint far beyond memory, say).
    pub(crate) fn new(
        len: usize,
        size: usize,
    ) -> Result<Slots<T>, std::collections::TryReserveError> {
        let size = size.max(1);
        let mut list = Vec::<T>::new();
        list.try_reserve_exact(len)?;
        let mut list = ManuallyDrop::new(list);
        let ranges = len.div_ceil(size);
        Ok(Slots {
            buf: NonNull::new(list.as_mut_ptr()).expect("a Vec's pointer is never null"),
            cap: list.capacity(),
            len,
            size,
            written: (0..ranges).map(|_| AtomicUsize::new(0)).collect(),
            claimed: (0..ranges).map(|_| AtomicBool::new(false)).collect(),
            taken: false,
            _owns: PhantomData,
        })
    }

    /// How many ranges the slots are cut into.
    pub(crate) fn ranges(&self) -> usize {
        self.written.len()
    }

    /// The first slot of range `index` and how many slots it has.
    fn bounds(&self, index: usize) -> (usize, usize) {
        let start = index * self.size;
        (start, self.size.min(self.len - start))
    }

    /// Range `index`, to be written by one worker. Call it once per index (`submit_all` does).
    ///
    /// # Panics
    /// If `index` is not below [`ranges`](Self::ranges), or was handed out before (a bug in
    /// the caller: two writers of one range would race).
    pub(crate) fn range(slots: &Arc<Slots<T>>, index: usize) -> Range<T> {
        assert!(index < slots.ranges(), "range {index} out of bounds");
        // ORDERING: only the flag itself matters; the range's writes are ordered by rule 3.
        let again = slots.claimed[index].swap(true, Ordering::Relaxed);
        assert!(!again, "range {index} handed out twice");
        let (start, len) = slots.bounds(index);
        Range {
            slots: Arc::clone(slots),
            index,
            start,
            len,
            written: 0,
        }
    }

    /// The whole list, if every range wrote every one of its slots; `None` otherwise (the
    /// values written are then dropped with the slots).
    pub(crate) fn into_vec(mut self) -> Option<Vec<T>> {
        let full = (0..self.ranges())
            // ORDERING: Acquire pairs with the Release in `Range::drop`; the `Arc` hand-over
            // that made `self` unique already ordered those writes, this only states it.
            .all(|i| self.written[i].load(Ordering::Acquire) == self.bounds(i).1);
        if !full {
            return None;
        }
        self.taken = true;
        // SAFETY: `buf` and `cap` come from a `Vec<T>` that was never freed (`taken` was false,
        // and is now true so `drop` will not free it); every one of the first `len` slots
        // holds a value (each range wrote all of its slots, and the ranges tile `0..len`).
        Some(unsafe { Vec::from_raw_parts(self.buf.as_ptr(), self.len, self.cap) })
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        for i in 0..self.ranges() {
            let (start, len) = self.bounds(i);
            let written = self.written[i].load(Ordering::Acquire).min(len);
            // SAFETY: the `written` slots from `start` hold values (a range writes a prefix of
            // its slots and records its count last, rule 3) that nobody else owns: this is the
            // last owner (rule 4) and the values were never moved out (`taken` is false).
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                    self.buf.as_ptr().add(start),
                    written,
                ));
            }
        }
        // SAFETY: `buf` and `cap` come from a `Vec<T>` allocation that is still live; length 0
        // so only the allocation is freed (the values were dropped above).
        drop(unsafe { Vec::from_raw_parts(self.buf.as_ptr(), 0, self.cap) });
    }
}

/// One range of a map's [`Slots`]: the only writer of its slots (rule 2).
pub(crate) struct Range<T> {
    slots: Arc<Slots<T>>,
    index: usize,
    start: usize,
    len: usize,
    written: usize,
}

// SAFETY: a `Range` moves `T`s into slots it alone writes (rule 2) and shares the `Slots`
// through an `Arc` (`Send + Sync` for `T: Send`, above).
unsafe impl<T: Send> Send for Range<T> {}

impl<T> Range<T> {
    /// Writes `f` of each item into the range's slots, in order, under one catch; stops at the
    /// first panic (as Python's chunk, `list(map(f, chunk))`, stops at its first exception)
    /// and returns its error. Items beyond the range's length are not run (there are none:
    /// the chunk was cut to the range).
    pub(crate) fn fill<A>(
        mut self,
        f: &(impl Fn(A) -> T + ?Sized),
        items: impl IntoIterator<Item = A>,
    ) -> Option<Error> {
        // SAFETY: slots `start .. start + len` lie inside the allocation (`bounds`), belong to
        // this range alone (rule 2) and are not read before this range is dropped (rule 4);
        // `MaybeUninit<T>` has `T`'s layout, so the slice may cover slots not yet written.
        let slots: &mut [MaybeUninit<T>] = unsafe {
            std::slice::from_raw_parts_mut(
                self.slots
                    .buf
                    .as_ptr()
                    .add(self.start)
                    .cast::<MaybeUninit<T>>(),
                self.len,
            )
        };
        let run = if std::mem::needs_drop::<T>() {
            // Counted item by item: after a panic, exactly the values written get dropped.
            let written = &mut self.written;
            unwind::catch(move || {
                for (slot, item) in slots.iter_mut().zip(items) {
                    slot.write(f(item));
                    *written += 1;
                }
            })
        } else {
            // Values that need no drop need no count in memory: the closure counts in a local
            // (a register, not a store per item: measured in `bench pool-map`) and returns it
            // once the loop is done. After a panic the range counts as unwritten, which only
            // fails the list, as the panic does anyway.
            unwind::catch(move || {
                let mut written = 0;
                for (slot, item) in slots.iter_mut().zip(items) {
                    slot.write(f(item));
                    written += 1;
                }
                written
            })
            .map(|written| self.written = written)
        };
        run.err()
    }
}

impl<T> Drop for Range<T> {
    fn drop(&mut self) {
        // ORDERING: Release publishes the values written before the count (rule 3); the
        // last owner's Acquire load (or the `Arc`'s own hand-over) reads them.
        self.slots.written[self.index].store(self.written, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    //! Run under Miri by `scripts/miri.sh`: it checks every slot written is dropped once, no
    //! value leaks, and no access leaves a range.
    use super::*;

    fn fill_all(
        slots: &Arc<Slots<String>>,
        items: impl Fn(usize) -> Vec<u32>,
    ) -> Vec<Option<Error>> {
        (0..slots.ranges())
            .map(|i| Slots::range(slots, i).fill(&|x: u32| x.to_string(), items(i)))
            .collect()
    }

    fn unwrap<T>(slots: Arc<Slots<T>>) -> Slots<T> {
        Arc::try_unwrap(slots).ok().expect("every range dropped")
    }

    #[test]
    fn every_range_written_makes_the_list_in_order() {
        let slots = Arc::new(Slots::<String>::new(7, 3).unwrap());
        assert_eq!(slots.ranges(), 3);
        let errors = fill_all(&slots, |i| {
            (i as u32 * 3..(i as u32 * 3 + 3).min(7)).collect()
        });
        assert!(errors.iter().all(Option::is_none));
        let list = unwrap(slots).into_vec().expect("full");
        assert_eq!(list, ["0", "1", "2", "3", "4", "5", "6"]);
    }

    #[test]
    fn a_panic_stops_its_range_and_the_written_values_are_dropped() {
        let slots = Arc::new(Slots::<String>::new(6, 3).unwrap());
        let first = Slots::range(&slots, 0).fill(&|x: u32| x.to_string(), vec![0, 1, 2]);
        let second = Slots::range(&slots, 1).fill(
            &|x: u32| {
                assert!(x != 4, "item {x}");
                x.to_string()
            },
            vec![3, 4, 5],
        );
        assert!(first.is_none());
        assert!(second.unwrap().to_string().contains("item 4"));
        assert_eq!(slots.written[1].load(Ordering::Relaxed), 1);
        assert!(unwrap(slots).into_vec().is_none());
    }

    #[test]
    fn plain_values_are_counted_at_the_end_and_a_panic_leaves_the_range_unwritten() {
        let slots = Arc::new(Slots::<u64>::new(4, 2).unwrap());
        assert!(Slots::range(&slots, 0)
            .fill(&|x: u64| x * 2, vec![1, 2])
            .is_none());
        assert_eq!(slots.written[0].load(Ordering::Relaxed), 2);
        let boom = |x: u64| {
            assert!(x != 3, "item {x}");
            x
        };
        assert!(Slots::range(&slots, 1).fill(&boom, vec![3, 4]).is_some());
        assert_eq!(slots.written[1].load(Ordering::Relaxed), 0);
        assert!(unwrap(slots).into_vec().is_none());
    }

    #[test]
    fn a_range_dropped_unrun_or_short_leaves_no_list_and_no_leak() {
        let slots = Arc::new(Slots::<String>::new(5, 2).unwrap());
        assert!(Slots::range(&slots, 0)
            .fill(&|x: u32| x.to_string(), vec![0, 1])
            .is_none());
        drop(Slots::range(&slots, 1));
        assert!(Slots::range(&slots, 2)
            .fill(&|x: u32| x.to_string(), vec![])
            .is_none());
        assert!(unwrap(slots).into_vec().is_none());
    }

    #[test]
    fn more_items_than_slots_are_not_run() {
        let slots = Arc::new(Slots::<String>::new(2, 2).unwrap());
        let ran = std::cell::Cell::new(0);
        let f = |x: u32| {
            ran.set(ran.get() + 1);
            x.to_string()
        };
        assert!(Slots::range(&slots, 0).fill(&f, vec![0, 1, 2, 3]).is_none());
        assert_eq!(ran.get(), 2);
        assert_eq!(unwrap(slots).into_vec().unwrap(), ["0", "1"]);
    }

    #[test]
    fn ranges_written_from_threads_at_once() {
        let slots = Arc::new(Slots::<String>::new(40, 10).unwrap());
        let writers: Vec<_> = (0..4)
            .map(|i| {
                let range = Slots::range(&slots, i);
                std::thread::spawn(move || {
                    range.fill(&|x: u32| x.to_string(), i as u32 * 10..i as u32 * 10 + 10)
                })
            })
            .collect();
        for w in writers {
            assert!(w.join().unwrap().is_none());
        }
        let list = unwrap(slots).into_vec().unwrap();
        assert_eq!(list, (0..40).map(|x| x.to_string()).collect::<Vec<_>>());
    }

    #[test]
    #[should_panic(expected = "handed out twice")]
    fn a_range_is_handed_out_once() {
        let slots = Arc::new(Slots::<u64>::new(4, 2).unwrap());
        let _first = Slots::range(&slots, 1);
        let _again = Slots::range(&slots, 1);
    }

    #[test]
    fn no_room_is_an_error_not_an_abort() {
        assert!(Slots::<u64>::new(usize::MAX / 2, 1024).is_err());
    }

    #[test]
    fn empty_and_zero_sized() {
        assert_eq!(
            unwrap(Arc::new(Slots::<String>::new(0, 4).unwrap()))
                .into_vec()
                .unwrap(),
            Vec::<String>::new()
        );
        let slots = Arc::new(Slots::<()>::new(3, 2).unwrap());
        for i in 0..slots.ranges() {
            assert!(Slots::range(&slots, i)
                .fill(&|_: u8| (), vec![0; 2])
                .is_none());
        }
        assert_eq!(unwrap(slots).into_vec().unwrap().len(), 3);
    }
}
