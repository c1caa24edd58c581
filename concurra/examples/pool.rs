//! Twin of the seed's `multiprocessing.pool.Pool` example: a one-off asynchronous task on a
//! pool of worker processes.
//!
//! Python: `with Pool() as pool: async_result = pool.apply_async(task); print(...);
//! async_result.wait()`. The two task lines are printed by the worker process, which shares
//! our standard output.

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use concurra::ProcessPool;

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
    // create the process pool; dropping it is Python's `with` exit (terminate), so we wait
    // for the task first, as the seed does
    let pool = ProcessPool::new();
    // issue the task asynchronously
    let async_result = pool.apply_async(task);
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    async_result.wait();
    Ok(())
}
