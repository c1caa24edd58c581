//! Twin of the seed's `ThreadPoolExecutor` example: a one-off asynchronous task on a thread
//! pool.
//!
//! Python: `with ThreadPoolExecutor() as exe: future = exe.submit(task); print(...); wait(...)`.

use std::thread::sleep;
use std::time::Duration;

use concurra::ThreadPoolExecutor;

// function to execute in a worker thread
fn task() {
    // report a message
    println!("Hello from the task");
    // sleep a moment
    sleep(Duration::from_secs(1));
    // report another message
    println!("Task is all done");
}

fn main() {
    // create the thread pool; dropping it at the end of `main` is Python's `with` exit
    let exe = ThreadPoolExecutor::new();
    // issue the task asynchronously
    let future = exe.submit(task);
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    future.wait();
}
