//! The `remote_squares` example as its docs say: a `worker` node and a `submit` that prints
//! the sum of squares (the example binary `cargo test` builds).

use std::process::{Command, Stdio};

mod common;
use common::Redis;

/// `target/<profile>/examples/remote_squares`, next to this test's `deps/` directory.
fn example() -> Option<std::path::PathBuf> {
    let me = std::env::current_exe().ok()?;
    let path = me
        .parent()?
        .parent()?
        .join("examples")
        .join("remote_squares");
    path.is_file().then_some(path)
}

#[test]
fn remote_squares_worker_and_submit() {
    let Some(redis) = Redis::start() else { return };
    let exe = example().expect("cargo test builds examples/remote_squares.rs");
    let url = redis.plain_url();
    let mut worker = Command::new(&exe)
        .args(["worker", "--broker", &url])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Serving once it says so.
    let err = worker.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(err));
    assert!(lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("concurra-redis worker ")));
    std::thread::spawn(move || for _ in lines {});
    let out = Command::new(&exe)
        .args(["submit", "--broker", &url, "--n", "10000"])
        .output()
        .unwrap();
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: u128 = (0..10_000u128).map(|x| x * x).sum();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sum of squares: {expected}")
    );
    // A broker that is not there: a clear error, exit 1.
    let out = Command::new(&exe)
        .args(["submit", "--broker", "redis+unix:///nonexistent/r.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broker error"));
}
