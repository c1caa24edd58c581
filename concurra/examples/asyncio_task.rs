//! Twin of the seed's asyncio example: a one-off task on the event loop.
//!
//! Python: `task = asyncio.create_task(task_coroutine()); await asyncio.sleep(0); print(...);
//! await task`, inside `asyncio.run(main())`. The output order is fixed by the loop, every
//! time: the task's first step is queued before main's `sleep(0)` puts main behind it, and
//! the task's one-second timer can only fire after main has printed.

use std::time::Duration;

use concurra::aio;

// define a coroutine to run as a task
async fn task_coroutine() {
    // report a message
    println!("Hello from the task");
    // sleep a moment
    aio::sleep(Duration::from_secs(1)).await;
    // report another message
    println!("Task is all done");
}

// entry point coroutine
async fn main_coroutine() {
    // create the task coroutine
    let coro = task_coroutine();
    // wrap in a task object and schedule execution
    let task = aio::create_task(coro);
    // suspend a moment to allow the task to run
    aio::sleep(Duration::ZERO).await;
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    task.await.expect("the task completes");
}

// entry point into the program
fn main() {
    aio::run(main_coroutine());
}
