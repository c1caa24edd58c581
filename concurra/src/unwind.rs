//! The one door through which a panic becomes an [`Error::Panicked`].
//!
//! `catch_unwind` hands back the payload but not where the panic happened. So the first time
//! concurra catches a panic it installs a panic hook that chains to the one already set: while a
//! thread is inside [`catch`], the hook records the location (and does not print: the panic is
//! reported on the task's future, as Python stores a task's exception on its future); outside,
//! it calls the previous hook unchanged. A program that replaces the hook later only loses the
//! location, never the error.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::Error;

/// This thread's catching state: one thread-local, so entering and leaving [`catch`] costs one
/// lookup each.
struct Catching {
    /// Depth of nested [`catch`] calls; the hook stays quiet while it is non-zero.
    depth: Cell<usize>,
    /// Location of the last panic caught on this thread, set by the hook.
    location: RefCell<Option<String>>,
}

thread_local! {
    static STATE: Catching = const {
        Catching {
            depth: Cell::new(0),
            location: RefCell::new(None),
        }
    };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let caught = STATE.try_with(|s| s.depth.get() > 0).unwrap_or(false);
            if caught {
                let location = info.location().map(|l| l.to_string());
                let _ = STATE.try_with(|s| *s.location.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Restores the depth counter even when the closure unwinds.
struct DepthGuard;

impl DepthGuard {
    /// Enters a catch, forgetting any location an earlier panic left (one a task caught
    /// itself must not be reported).
    fn enter() -> Self {
        STATE.with(|s| {
            s.depth.set(s.depth.get() + 1);
            if s.location.borrow().is_some() {
                *s.location.borrow_mut() = None;
            }
        });
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        STATE.with(|s| s.depth.set(s.depth.get() - 1));
    }
}

/// Runs `f`, turning a panic into [`Error::Panicked`] with its message and location.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    // Setting a hook while unwinding would abort; the first catch during an unwind only loses
    // the location.
    if !std::thread::panicking() {
        install_hook();
    }
    let guard = DepthGuard::enter();
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    drop(guard);
    outcome.map_err(|payload| {
        let location = STATE.with(|s| s.location.borrow_mut().take());
        Error::Panicked {
            message: payload_message(payload.as_ref()),
            location,
        }
    })
}

/// Runs a callback that must not take its caller down: a panic is printed to stderr with
/// `what` and swallowed, as Python logs "exception calling callback for ...".
pub(crate) fn report(what: &dyn std::fmt::Display, f: impl FnOnce()) {
    if let Err(e) = catch(f) {
        print_report(&format_args!("{what} panicked: {e}"));
    }
}

/// The one place concurra writes a swallowed failure to stderr.
pub(crate) fn print_report(message: &dyn std::fmt::Display) {
    use std::io::Write;
    // Not `eprintln!`, which panics when stderr is gone: reports are printed from destructors,
    // where a panic while unwinding aborts.
    let _ = writeln!(std::io::stderr().lock(), "concurra: {message}");
}

/// The text of a panic payload: the `&str` or `String` it carries, or a placeholder.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_error_with_location() {
        let err = catch(|| panic!("boom {}", 7)).unwrap_err();
        match err {
            Error::Panicked { message, location } => {
                assert_eq!(message, "boom 7");
                assert!(location.unwrap().contains("unwind.rs"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn non_string_payload() {
        let err = catch(|| std::panic::panic_any(42_u32)).unwrap_err();
        assert_eq!(err.panic_message(), Some("<non-string panic payload>"));
    }

    #[test]
    fn nested_catch_keeps_depth() {
        let r = catch(|| catch(|| panic!("inner")).is_err());
        assert!(r.unwrap());
        assert_eq!(STATE.with(|s| s.depth.get()), 0);
    }
}
