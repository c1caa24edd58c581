//! Runs the built echo examples (`examples/echo_server.rs`, `examples/echo_client.rs`) as a
//! user would: the server prints `Serving on ADDR`, two clients get their line back, a
//! refused client exits 1 with a clear message. `cargo test` builds the examples first;
//! a targeted `cargo test --test examples_echo` needs `cargo build --examples` before.

mod common;

use common::examples::example;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn echo_server_and_client() {
    let mut server = Command::new(example("echo_server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .strip_prefix("Serving on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_owned();
    for message in ["Hello World!", "second client"] {
        let out = Command::new(example("echo_client"))
            .args([&addr, message])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("Send: {message}\nReceived: {message}\n")
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // The server is gone: the client reports the refusal and exits 1.
    let out = Command::new(example("echo_client"))
        .args([&addr, "anyone?"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("refused"), "{err}");
}
