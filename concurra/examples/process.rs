//! Twin of the seed's `Process` example: a one-off asynchronous task in a new process.
//!
//! Python: `process = Process(target=task); process.start(); print(...); process.join()`.
//! The two task lines are printed by the child process, which shares our standard output.

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use concurra::Process;

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
    // a process started from this program serves here and never returns (Python's
    // `if __name__ == '__main__':` guard, the other way round)
    concurra::init();
    // create and start the new process
    let process = Process::start(task)?;
    // do other things, like report a message
    println!("Main is doing other things...");
    // wait for the task to complete
    process.join().unwrap();
    Ok(())
}
