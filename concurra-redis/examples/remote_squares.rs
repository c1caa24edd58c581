//! Squares on worker nodes through Redis.
//!
//! ```sh
//! # a worker node (until killed), as many as you like, on any machine with this build:
//! cargo run --release -p concurra-redis --example remote_squares -- worker --broker redis://127.0.0.1:6379
//! # map x * x over 0..n on them:
//! cargo run --release -p concurra-redis --example remote_squares -- submit --broker redis://127.0.0.1:6379 --n 10000
//! ```
//!
//! `submit` prints `sum of squares: S` and exits 0, or prints a clear error and exits 1 when
//! no worker of this build answers within 10 s (or the broker cannot be reached).

use std::process::ExitCode;
use std::time::Duration;

use concurra::RemoteExecutor;
use concurra_redis::{RedisExecutor, Worker};

fn square(x: u64) -> u64 {
    x * x
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: remote_squares worker --broker URL\n       remote_squares submit --broker URL [--n N]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // The worker node's local processes are this program again: they serve from here.
    concurra_redis::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(broker) = value("--broker") else {
        return usage();
    };
    match args.first().map(String::as_str) {
        Some("worker") => match Worker::builder(&broker).run() {
            Ok(never) => match never {},
            Err(e) => {
                eprintln!("remote_squares worker: {e}");
                ExitCode::FAILURE
            }
        },
        Some("submit") => {
            let n: u64 = match value("--n").map(|n| n.parse()) {
                None => 10_000,
                Some(Ok(n)) => n,
                Some(Err(_)) => return usage(),
            };
            match submit(&broker, n) {
                Ok(sum) => {
                    println!("sum of squares: {sum}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("remote_squares submit: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}

/// `x * x` over `0..n` on the workers, 1000 items per call; the sum.
fn submit(broker: &str, n: u64) -> concurra::Result<u128> {
    let exe = RedisExecutor::builder(broker)
        .no_worker_timeout(Duration::from_secs(10))
        .broker_timeout(Duration::from_secs(10))
        .build()?;
    let mut sum = 0u128;
    for square in exe.map_chunked(square, 0..n, 1000) {
        sum += u128::from(square?);
    }
    Ok(sum)
}
