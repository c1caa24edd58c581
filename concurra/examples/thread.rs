//! Twin of the seed's `threading.Thread` example: a one-off asynchronous task on a new thread.

use std::thread::sleep;
use std::time::Duration;

use concurra::Thread;

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
    // create and start the new thread
    let thread = Thread::builder().start(task)?;
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    thread.join()
}
