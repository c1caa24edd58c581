//! The loop's engine: everything that makes the event loop run, behind a narrow surface.
//!
//! | file         | what                                                                 |
//! |--------------|----------------------------------------------------------------------|
//! | `core`       | `Core` (the loop thread's queues), `Shared` (what other threads reach), the iteration (`block_on`) |
//! | `context`    | the loop running on this thread, and the few calls the facades make on it |
//! | `handles`    | the public handles: [`Builder`], [`Loop`], [`LoopHandle`], [`Handle`] |
//! | `task`       | a task's one allocation, its steps, [`Task`] and [`Join`]            |
//! | `waker`      | wakers that are numbers                                              |
//! | `time`       | the timer heap, [`Sleep`], the clocks                                |
//! | `reactor`    | `mio`: the notifier, and the I/O registrations (a slab of `ScheduledIo`) |
//! | `registered` | the one registered-descriptor type every I/O type is built on        |
//! | `report`     | what the loop swallows, for the exception handler                    |
//! | `slab`       | values by generational key                                           |
//!
//! Data flows one way: facades (`aio/*.rs` outside this folder) call in through the items
//! re-exported below; nothing in here names a facade. No facade names `Core`.

mod context;
mod core;
mod handles;
mod reactor;
mod registered;
mod report;
mod slab;
mod task;
mod time;
mod waker;

// The public types (re-exported by `aio`).
pub use self::handles::{Builder, Handle, Loop, LoopHandle};
pub use self::report::{Report, ReportKind};
pub use self::task::{IntoCoroutine, Join, Task};
pub use self::time::{sleep, yield_now, Clock, PausedClock, Sleep, SystemClock};

// The facades' way in.
pub(super) use self::context::{cancelling, drop_cancelled, now, spawn, try_now, LoopId};
pub(super) use self::registered::Registered;
