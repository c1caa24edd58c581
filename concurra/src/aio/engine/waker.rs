//! Task wakers that are numbers: making, cloning and dropping one allocates nothing and
//! touches no reference count.
//!
//! # Encoding
//!
//! A task's [`Waker`] carries one 64-bit word where a waker usually carries a pointer. The word
//! names the loop and the task:
//!
//! | bits   | what |
//! |--------|------|
//! | 0–27   | the task's slot in its loop's task slab; all ones for the main coroutine |
//! | 28–43  | that slot's generation ([`slab`](super::slab)) |
//! | 44–55  | the loop's slot in the process-wide registry of running loops |
//! | 56–63  | the low 8 bits of that slot's generation |
//!
//! # Protocol
//!
//! 1. A loop registers its [`Shared`] part in the registry when it is made and leaves it when
//!    it is dropped; its word bits are fixed meanwhile.
//! 2. Waking on a thread whose running loop has the waker's loop bits schedules the task
//!    directly (no lock, no atomic). The task slab's generation check drops a wake whose task
//!    has ended.
//! 3. Waking anywhere else looks the loop up in the registry (one global lock, only on this
//!    cross-thread path) and pushes the task's key into its inject queue. A loop that is gone
//!    is not found: the wake is dropped. A stale word whose loop slot was reused (256
//!    generations later) reaches another loop, whose task slab may well match it (a new
//!    loop's generations start at 0): then a task is polled once without reason, which every
//!    future tolerates. Nothing worse can happen.
//!
//! # Safety
//!
//! The vtable's functions never dereference the data word: `clone` copies it, `drop` does
//! nothing, `wake` decodes it. So every clone, wake and drop is sound on every thread, in any
//! order, also after the loop and the task are gone — the [`RawWaker`] contract holds trivially.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::core::{self, Shared, WakeKey};
use super::slab::{Key, Slab};

const _: () = assert!(
    usize::BITS >= 64,
    "concurra's event loop packs its wakers into 64-bit words"
);

const TASK_INDEX_BITS: u32 = 28;
const TASK_GEN_SHIFT: u32 = TASK_INDEX_BITS;
const LOOP_SHIFT: u32 = 44;
const LOOP_INDEX_BITS: u32 = 12;
const LOOP_GEN_SHIFT: u32 = LOOP_SHIFT + LOOP_INDEX_BITS;
/// The task-index value that means "the main coroutine".
const MAIN_INDEX: u64 = (1 << TASK_INDEX_BITS) - 1;

/// The loop part of a waker word: bits 44–63, the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoopBits(u64);

/// Running loops, by registry slot.
static LOOPS: Mutex<Slab<Arc<Shared>>> = Mutex::new(Slab::new());

fn loops() -> std::sync::MutexGuard<'static, Slab<Arc<Shared>>> {
    LOOPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Step 1: registers a new loop; returns the bits its wakers carry.
///
/// # Panics
/// With more than 4,095 loops running at once.
pub(crate) fn register(shared: Arc<Shared>) -> LoopBits {
    let key = {
        let mut loops = loops();
        // Checked before the insert, so that a refused loop leaves no slot behind.
        let vacant = loops.vacant_key().index() as u64;
        assert!(
            vacant < 1 << LOOP_INDEX_BITS,
            "more than 4095 event loops running at once"
        );
        loops.insert(shared)
    };
    let index = key.index() as u64;
    let generation = u64::from(key.generation() & 0xff);
    LoopBits(index << LOOP_SHIFT | generation << LOOP_GEN_SHIFT)
}

/// Step 1: the loop is gone; its wakers find nothing from now on.
pub(crate) fn unregister(bits: LoopBits) {
    let gone = {
        let mut loops = loops();
        match find(&loops, bits) {
            Some(key) => loops.remove(key),
            None => None,
        }
    };
    drop(gone);
}

/// The registry key that `bits` names, if that loop is still registered.
fn find(loops: &Slab<Arc<Shared>>, bits: LoopBits) -> Option<Key> {
    let index = (bits.0 >> LOOP_SHIFT) & ((1 << LOOP_INDEX_BITS) - 1);
    let low_gen = (bits.0 >> LOOP_GEN_SHIFT) as u16;
    let index = index as u32;
    // Only the low 8 bits of the generation travel: try the slot's current generation.
    let current = loops.generation_at(index as usize)?;
    (current & 0xff == low_gen).then(|| Key::from_parts(index, current))
}

/// Step 3: the loop's shared part, if it is still registered.
pub(crate) fn lookup(bits: LoopBits) -> Option<Arc<Shared>> {
    let loops = loops();
    let key = find(&loops, bits)?;
    loops.get(key).cloned()
}

/// A waker's data word (see the module docs): 8 bytes that make the waker on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakeWord(u64);

impl WakeWord {
    /// The word of `task` on the loop with `bits`.
    ///
    /// # Panics
    /// With 2^28 - 1 tasks alive on one loop.
    pub(crate) fn new(bits: LoopBits, task: WakeKey) -> WakeWord {
        let task_bits = match task {
            WakeKey::Main => MAIN_INDEX,
            WakeKey::Task(key) => {
                let index = key.index() as u64;
                assert!(
                    index < MAIN_INDEX,
                    "more than 2^28 - 1 tasks alive on one event loop"
                );
                index | u64::from(key.generation()) << TASK_GEN_SHIFT
            }
        };
        WakeWord(bits.0 | task_bits)
    }

    /// Which task this word wakes.
    pub(crate) fn task(self) -> WakeKey {
        decode(std::ptr::without_provenance(self.0 as usize)).1
    }

    /// The waker (no allocation).
    pub(crate) fn waker(self) -> Waker {
        let raw = RawWaker::new(std::ptr::without_provenance(self.0 as usize), &VTABLE);
        // SAFETY: the vtable's functions never dereference the data word (see the module
        // docs, # Safety): they are sound on any thread and for any word, so the `RawWaker`
        // contract (thread-safe functions; clone gives a waker of the same task; wake
        // consumes) holds.
        #[allow(unsafe_code)]
        unsafe {
            Waker::from_raw(raw)
        }
    }
}

/// The waker of `task` on the loop with `bits`.
pub(crate) fn waker(bits: LoopBits, task: WakeKey) -> Waker {
    WakeWord::new(bits, task).waker()
}

/// Splits a waker word into its loop and its task.
fn decode(data: *const ()) -> (LoopBits, WakeKey) {
    let word = data.addr() as u64;
    let bits = LoopBits(word & !((1 << LOOP_SHIFT) - 1));
    let index = word & MAIN_INDEX;
    let task = if index == MAIN_INDEX {
        WakeKey::Main
    } else {
        let generation = (word >> TASK_GEN_SHIFT) as u16;
        WakeKey::Task(Key::from_parts(index as u32, generation))
    };
    (bits, task)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, forget);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    let (bits, task) = decode(data);
    core::wake(bits, task);
}

fn forget(_data: *const ()) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let bits = LoopBits(5 << LOOP_SHIFT | 0xab << LOOP_GEN_SHIFT);
        for task in [
            WakeKey::Main,
            WakeKey::Task(Key::from_parts(0, 0)),
            WakeKey::Task(Key::from_parts((1 << 28) - 2, u16::MAX)),
        ] {
            let w = waker(bits, task);
            assert_eq!(decode(w.data()), (bits, task));
            assert!(w.will_wake(&w.clone()));
        }
    }

    /// Wakers of a loop that is not registered are cloned, woken and dropped on other threads
    /// without effect (run under Miri: `cargo +nightly miri test -p concurra --lib waker`).
    #[test]
    fn unregistered_wakers_are_inert_on_any_thread() {
        let bits = LoopBits(((1 << LOOP_INDEX_BITS) - 1) << LOOP_SHIFT);
        let w = waker(bits, WakeKey::Task(Key::from_parts(3, 1)));
        let copies: Vec<Waker> = (0..4).map(|_| w.clone()).collect();
        std::thread::scope(|s| {
            for c in copies {
                s.spawn(move || {
                    c.wake_by_ref();
                    let twin = c.clone();
                    drop(c);
                    twin.wake();
                });
            }
        });
        w.wake();
    }
}
