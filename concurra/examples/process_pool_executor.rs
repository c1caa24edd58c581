//! Twin of the seed's `ProcessPoolExecutor` example: a one-off asynchronous task on a process
//! pool.
//!
//! Python: `with ProcessPoolExecutor() as exe: future = exe.submit(task); print(...);
//! _ = future.result()`. The two task lines are printed by the worker process, which shares
//! our standard output.

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use concurra::ProcessPoolExecutor;

// function to execute in a new process
fn task() {
    // report a message (flushed, as the seed's `flush=True`)
    println!("Hello from the task");
    std::io::stdout().flush().unwrap();
    // sleep a moment
    sleep(Duration::from_secs(1));
    // report another message
    println!("Task is all done");
    std::io::stdout().flush().unwrap();
}

fn main() -> concurra::Result<()> {
    // a worker started from this program serves here and never returns (Python's
    // `if __name__ == '__main__':` guard, the other way round)
    concurra::init();
    // create the process pool; dropping it at the end of `main` is Python's `with` exit
    let exe = ProcessPoolExecutor::new();
    // issue the task asynchronously
    let future = exe.submit(task);
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    future.result()?;
    Ok(())
}
