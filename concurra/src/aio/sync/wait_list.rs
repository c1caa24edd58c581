//! The wait list every primitive (and the queues) waits in; see the [module docs](super),
//! steps 1, 2 and 4. The cancellation rule (step 4) is written here once: [`WaitList::abandon`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Waker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Waiting,
    Notified,
    Consumed,
}

/// One waiter's place in a wait list.
#[derive(Debug)]
pub(crate) struct Slot {
    state: Cell<SlotState>,
    waker: RefCell<Option<Waker>>,
}

impl Slot {
    fn notified(&self) -> bool {
        self.state.get() == SlotState::Notified
    }

    fn set_waker(&self, waker: &Waker) {
        let mut w = self.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(waker) => {}
            _ => *w = Some(waker.clone()),
        }
    }

    /// True while the slot waits in its list.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.get() == SlotState::Waiting
    }

    /// Marks the slot consumed; true if it had been notified.
    fn consume(&self) -> bool {
        if self.notified() {
            self.state.set(SlotState::Consumed);
            true
        } else {
            false
        }
    }
}

/// A FIFO list of waiting slots (only `Waiting` slots are in it).
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    slots: RefCell<VecDeque<Rc<Slot>>>,
}

impl WaitList {
    /// Appends a new waiting slot.
    pub(crate) fn push(&self, waker: &Waker) -> Rc<Slot> {
        let slot = Rc::new(Slot {
            state: Cell::new(SlotState::Waiting),
            waker: RefCell::new(Some(waker.clone())),
        });
        self.slots.borrow_mut().push_back(slot.clone());
        slot
    }

    /// Removes a slot that is still waiting (its waiter went away).
    pub(crate) fn remove(&self, slot: &Rc<Slot>) {
        self.slots.borrow_mut().retain(|s| !Rc::ptr_eq(s, slot));
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.borrow().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.borrow().is_empty()
    }

    /// Notifies the first waiting slot; false if there was none.
    pub(crate) fn notify_one(&self) -> bool {
        let slot = self.slots.borrow_mut().pop_front();
        match slot {
            Some(slot) => {
                slot.state.set(SlotState::Notified);
                let waker = slot.waker.borrow_mut().take();
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            None => false,
        }
    }

    /// Notifies every waiting slot, in order; returns how many.
    pub(crate) fn notify_all(&self) -> usize {
        let mut n = 0;
        while self.notify_one() {
            n += 1;
        }
        n
    }
}

impl WaitList {
    /// Polls a waiter's slot: registers it on the first poll; true once notified (the
    /// notification is consumed and the slot dropped).
    pub(crate) fn poll(&self, slot: &mut Option<Rc<Slot>>, cx: &Context<'_>) -> bool {
        match slot {
            Some(s) => {
                if s.consume() {
                    *slot = None;
                    true
                } else {
                    s.set_waker(cx.waker());
                    false
                }
            }
            None => {
                *slot = Some(self.push(cx.waker()));
                false
            }
        }
    }

    /// Registers (or re-registers) a waiter that must wait (again): a slot still waiting gets
    /// the new waker, a notified or missing one is replaced by a new slot at the back.
    pub(crate) fn wait_in(&self, slot: &mut Option<Rc<Slot>>, cx: &Context<'_>) {
        match slot {
            Some(s) if s.is_waiting() => s.set_waker(cx.waker()),
            _ => *slot = Some(self.push(cx.waker())),
        }
    }

    /// A waiter that completed leaves the list (if it was still in it).
    pub(crate) fn leave(&self, slot: Option<Rc<Slot>>) {
        if let Some(s) = slot {
            if s.is_waiting() {
                self.remove(&s);
            }
        }
    }

    /// Step 4, the one cancellation rule: a waiter that goes away (its future dropped) leaves
    /// the list if it still waits (it consumed nothing); if it had been notified and had not
    /// consumed the notification, it passes its wake-up on by calling `pass_on` (release the
    /// lock or permit to the next waiter, notify the next getter, ...). No wake-up is lost.
    pub(crate) fn abandon(&self, slot: Option<Rc<Slot>>, pass_on: impl FnOnce()) {
        let Some(s) = slot else { return };
        match s.state.get() {
            SlotState::Waiting => self.remove(&s),
            SlotState::Notified => {
                s.state.set(SlotState::Consumed);
                pass_on();
            }
            SlotState::Consumed => {}
        }
    }
}
