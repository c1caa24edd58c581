//! Ctrl-C under `aio::run` / `aio::try_run`, with real `SIGINT`s, each case in a child
//! process of its own (a `SIGINT` that got through would kill the test process; and only the
//! main thread takes Ctrl-C, which libtest's worker threads are not). This file has its own
//! `main` (`harness = false`): with no argument it runs every case as a child and checks its
//! output and exit status; with a case's name it is that child.
//!
//! From CPython's `Lib/test/test_asyncio/test_runners.py`: `test_interrupt_call_soon` (a
//! `SIGINT` raised from a callback cancels main; `run` reports the interruption),
//! `test_interrupt_wait` (the future main awaits is cancelled with it),
//! `test_interrupt_cancelled_task` (a main already ending by its own cancellation reports
//! that, not an interruption). Beyond CPython: a second Ctrl-C during main's cleanup ends the
//! process at once; `run` (no error to return) ends the process by `SIGINT`; the disposition
//! is restored when `run` returns; off the main thread nothing is installed.

use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concurra::aio;
use concurra::signal::{self, Disposition, Signal};

const CASES: &[(&str, Expect)] = &[
    ("interrupt_call_soon", Expect::Ok("interrupted restored")),
    (
        "interrupt_wait",
        Expect::Ok("interrupted sub-cancelled restored"),
    ),
    ("interrupt_cancelled_task", Expect::Ok("cancelled restored")),
    (
        "interrupt_from_a_thread",
        Expect::Ok("interrupted restored"),
    ),
    (
        "second_sigint_ends_at_once",
        Expect::KilledBySigint("cleanup-started"),
    ),
    (
        "run_exits_by_sigint",
        Expect::KilledBySigint("about-to-interrupt"),
    ),
    (
        "completed_main_restores",
        Expect::Ok("42 handler-while-running restored"),
    ),
    ("not_on_the_main_thread", Expect::Ok("default-in-thread")),
    (
        "a_program_handler_takes_ctrl_c_over",
        Expect::Ok("5 restored"),
    ),
];

#[derive(Clone, Copy)]
enum Expect {
    /// Exit 0 with this line on stdout.
    Ok(&'static str),
    /// Death by SIGINT, after printing this line.
    KilledBySigint(&'static str),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        child(&args[pos + 1]);
        return;
    }
    // libtest's own flags (`--list`, filters) arrive here too: list nothing, run everything.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut failed = Vec::new();
    for (name, expect) in CASES {
        let started = Instant::now();
        let out = Command::new(&exe).args(["--child", name]).output().unwrap();
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ok = match expect {
            Expect::Ok(line) => out.status.success() && stdout == *line,
            Expect::KilledBySigint(line) => killed_by_sigint(out.status) && stdout == *line,
        } && took < Duration::from_secs(10);
        println!(
            "test {name} ... {} ({took:?})",
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            println!(
                "  status {:?}\n  stdout {stdout:?}\n  stderr {stderr}",
                out.status
            );
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}

fn killed_by_sigint(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGINT)
}

fn sigint() -> Disposition {
    signal::disposition(Signal::SIGINT).unwrap()
}

fn restored() -> &'static str {
    if sigint() == Disposition::Default {
        "restored"
    } else {
        "NOT-restored"
    }
}

fn child(name: &str) {
    match name {
        "interrupt_call_soon" => {
            let r = aio::try_run(async {
                aio::call_soon(|| signal::raise(Signal::SIGINT).unwrap());
                aio::sleep(Duration::from_secs(30)).await;
            });
            let what = if r.as_ref().is_err_and(|e| e.is_interrupted()) {
                "interrupted"
            } else {
                "not-interrupted"
            };
            println!("{what} {}", restored());
        }
        "interrupt_wait" => {
            let sub_cancelled = Arc::new(AtomicBool::new(false));
            let flag = sub_cancelled.clone();
            let r = aio::try_run(async move {
                struct OnDrop(Arc<AtomicBool>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let sub = aio::create_task(async move {
                    let _guard = OnDrop(flag);
                    aio::sleep(Duration::from_secs(30)).await;
                });
                aio::call_soon(|| signal::raise(Signal::SIGINT).unwrap());
                let _ = sub.await;
            });
            let what = if r.is_err_and(|e| e.is_interrupted()) {
                "interrupted"
            } else {
                "not-interrupted"
            };
            let sub = if sub_cancelled.load(Ordering::SeqCst) {
                "sub-cancelled"
            } else {
                "sub-alive"
            };
            println!("{what} {sub} {}", restored());
        }
        "interrupt_cancelled_task" => {
            // Main awaits a task that a second task cancels, then raises SIGINT: main ends by
            // that cancellation in the same iteration, and its own outcome is reported.
            let r = aio::try_run(async {
                let target = aio::create_task(aio::sleep(Duration::from_secs(30)));
                let outcome = target.future();
                let _killer = aio::create_task(async move {
                    aio::yield_now().await;
                    target.cancel();
                    signal::raise(Signal::SIGINT).unwrap();
                });
                outcome.await
            });
            let what = match r {
                Ok(Err(e)) if e.is_cancelled() => "cancelled",
                Err(e) if e.is_interrupted() => "interrupted",
                _ => "other",
            };
            println!("{what} {}", restored());
        }
        "interrupt_from_a_thread" => {
            let r = aio::try_run(async {
                let _t = aio::to_thread(|| signal::raise(Signal::SIGINT).unwrap());
                aio::sleep(Duration::from_secs(30)).await;
            });
            let what = if r.is_err_and(|e| e.is_interrupted()) {
                "interrupted"
            } else {
                "not-interrupted"
            };
            println!("{what} {}", restored());
        }
        "second_sigint_ends_at_once" => {
            let _ = aio::try_run(async {
                struct Cleanup;
                impl Drop for Cleanup {
                    fn drop(&mut self) {
                        use std::io::Write;
                        println!("cleanup-started");
                        std::io::stdout().flush().unwrap();
                        // A cleanup that hangs: only the second Ctrl-C gets us out.
                        signal::raise(Signal::SIGINT).unwrap();
                        std::thread::sleep(Duration::from_secs(30));
                        println!("survived");
                    }
                }
                let _cleanup = Cleanup;
                aio::call_soon(|| signal::raise(Signal::SIGINT).unwrap());
                aio::sleep(Duration::from_secs(30)).await;
            });
            println!("returned");
        }
        "run_exits_by_sigint" => {
            aio::run(async {
                use std::io::Write;
                println!("about-to-interrupt");
                std::io::stdout().flush().unwrap();
                aio::call_soon(|| signal::raise(Signal::SIGINT).unwrap());
                aio::sleep(Duration::from_secs(30)).await;
            });
            println!("returned");
        }
        "completed_main_restores" => {
            let during = aio::run(async { sigint() });
            let during = if during == Disposition::Handler {
                "handler-while-running"
            } else {
                "no-handler"
            };
            println!("42 {during} {}", restored());
        }
        "not_on_the_main_thread" => {
            let during = std::thread::spawn(|| aio::run(async { sigint() }))
                .join()
                .unwrap();
            let during = if during == Disposition::Default {
                "default-in-thread"
            } else {
                "handler-in-thread"
            };
            println!("{during}");
        }
        "a_program_handler_takes_ctrl_c_over" => {
            let r = aio::try_run(async {
                let got = std::rc::Rc::new(aio::Event::new());
                let g = got.clone();
                aio::add_signal_handler(Signal::SIGINT, move || g.set()).unwrap();
                signal::raise(Signal::SIGINT).unwrap();
                got.wait().await;
                // Main goes on after the program's handler ran.
                aio::sleep(Duration::from_millis(1)).await;
                5
            });
            println!("{} {}", r.unwrap(), restored());
        }
        other => panic!("no case {other}"),
    }
}
