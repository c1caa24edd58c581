//! Runs the built `examples/subprocess.rs` and `examples/signals.rs` as a user would (the
//! issue's expected output). `cargo test` builds the examples first; a targeted
//! `cargo test --test examples_subprocess_signals` needs `cargo build --examples` before.

mod common;

use common::examples::example;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn subprocess_example_prints_status_stdout_stderr() {
    let cmd = "echo hello; echo oops >&2; exit 3";
    let out = Command::new(example("subprocess"))
        .arg(cmd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("['{cmd}' exited with 3]\n[stdout]\nhello\n\n[stderr]\noops\n\n")
    );
}

fn signals_example_stops_on(signal: i32, name: &str) {
    let mut child = Command::new(example("signals"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(
        first,
        format!("Waiting for SIGINT or SIGTERM (pid {})\n", child.id())
    );
    // SAFETY: kill(2) to our own child, not yet waited for.
    let rc = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(rc, 0);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, format!("Got {name}, shutting down\nClean exit\n"));
}

#[test]
fn signals_example_shuts_down_on_sigterm() {
    signals_example_stops_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn signals_example_shuts_down_on_sigint() {
    signals_example_stops_on(libc::SIGINT, "SIGINT");
}
