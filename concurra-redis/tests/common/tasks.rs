//! The functions the tests send to the workers.

#![allow(dead_code, unreachable_pub)]

use super::{node_pid, with_redis};

pub fn square(x: u64) -> u64 {
    x * x
}

/// Counts its run in Redis (`HINCRBY runs x 1`, and `RPUSH ran x` for a test to block on)
/// and returns `x`.
pub fn count_run(x: u64) -> u64 {
    with_redis(|c| {
        redis::pipe()
            .cmd("HINCRBY")
            .arg("runs")
            .arg(x)
            .arg(1)
            .ignore()
            .cmd("RPUSH")
            .arg("ran")
            .arg(x)
            .ignore()
            .query::<()>(c)
            .unwrap()
    });
    x
}

/// Says it started (`RPUSH started:<tag> <node pid>`), waits for its gate `gate:<tag>` to
/// open, says it finished; returns the node's pid.
pub fn held(tag: String) -> u32 {
    let me = node_pid();
    with_redis(|c| {
        redis::cmd("RPUSH")
            .arg(format!("started:{tag}"))
            .arg(me)
            .query::<i64>(c)
            .unwrap();
        // An open gate stays open: the token goes back as it is taken (atomically, so a
        // process killed at the gate loses no token).
        let gate = format!("gate:{tag}");
        redis::cmd("BLMOVE")
            .arg(&gate)
            .arg(&gate)
            .arg("LEFT")
            .arg("RIGHT")
            .arg(0)
            .query::<redis::Value>(c)
            .unwrap();
        redis::cmd("RPUSH")
            .arg(format!("finished:{tag}"))
            .arg(me)
            .query::<i64>(c)
            .unwrap();
    });
    me
}

/// The pid of the node running the call.
pub fn node_of(_: ()) -> u32 {
    node_pid()
}

/// The local process's pid.
pub fn local_pid(_: ()) -> u32 {
    std::process::id()
}

pub fn boom(_: ()) -> u64 {
    panic!("boom")
}

pub fn crash(_: ()) -> u64 {
    std::process::abort()
}

pub fn parse(s: String) -> Result<i32, std::num::ParseIntError> {
    s.parse()
}

/// Waits until `n` calls tagged `tag` started; their nodes' pids.
pub fn await_started(con: &mut redis::Connection, tag: &str, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let got: Option<(String, u32)> = redis::cmd("BLPOP")
                .arg(format!("started:{tag}"))
                .arg(30)
                .query(con)
                .unwrap();
            got.expect("a call did not start within 30 s").1
        })
        .collect()
}

/// Opens the gate of the calls tagged `tag` (`n` > 0), for good.
pub fn release(con: &mut redis::Connection, tag: &str, n: usize) {
    if n > 0 {
        redis::cmd("RPUSH")
            .arg(format!("gate:{tag}"))
            .arg(1)
            .query::<i64>(con)
            .unwrap();
    }
}

/// Opens the gate of `tag` when dropped (a failing test does not leave its executor waiting
/// for gated calls in its `Drop`).
pub struct Gates {
    pub url: String,
    pub tag: String,
}

impl Drop for Gates {
    fn drop(&mut self) {
        if let Ok(mut con) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            release(&mut con, &self.tag, 100);
        }
    }
}
