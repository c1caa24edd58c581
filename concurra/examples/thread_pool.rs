//! Twin of the seed's `multiprocessing.pool.ThreadPool` example: a one-off asynchronous task.

use std::thread::sleep;
use std::time::Duration;

use concurra::ThreadPool;

// function to execute in a new thread
fn task() {
    // report a message
    println!("Hello from the task");
    // sleep a moment
    sleep(Duration::from_secs(1));
    // report another message
    println!("Task is all done");
}

fn main() -> concurra::Result<()> {
    // create the thread pool; dropping it is Python's `with` exit (terminate)
    let pool = ThreadPool::new();
    // issue the task asynchronously
    let async_result = pool.apply_async(task);
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    async_result.wait();
    Ok(())
}
