//! Task functions the process-engine tests send to workers.

/// `x * x`.
pub(crate) fn square(x: u64) -> u64 {
    x * x
}

/// The pid of the process running the call.
pub(crate) fn whoami() -> u32 {
    std::process::id()
}

/// Panics with `message`.
pub(crate) fn boom(message: String) -> u32 {
    panic!("{message}")
}

/// Exits the worker with `code`.
pub(crate) fn exit_with(code: i32) {
    std::process::exit(code)
}

/// Never returns.
pub(crate) fn forever() {
    loop {
        std::thread::park();
    }
}
