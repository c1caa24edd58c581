//! `cargo run --release -p bench -- <workload|all> [--rounds N] [--pin]`
//!
//! Runs each selected workload against every peer, `rounds` times (the peers interleaved
//! round by round, so drift hits them alike), and prints per peer the median time per
//! operation and its ratio against concurra. See `bench/README.md`.

mod python;
mod report;
mod workloads;

use std::io::IsTerminal;
use std::process::ExitCode;

use report::Row;
use workloads::Workload;

// Serves concurra's worker processes and the remote-* workloads' worker nodes (the bench
// binary started again) before `main` runs.
concurra_redis::worker_hook!();

const USAGE: &str = "\
usage: bench <workload> [--rounds N] [--pin] [--only TEXT]

workloads:
  submit-wait      100k trivial tasks submitted, then all waited (per task)
  wake-latency     ping-pong between two threads, 20k round trips (per round trip; + CPU time)
  wait-cpu         CPU time of the process over a 10 ms wait: a blocked result, idle pools
  map              a small CPU function over 1M items (per item)
  pool-map         ThreadPool.map / imap_unordered over 1M items, chunked (per item)
  aio-spawn        100k trivial tasks spawned on a one-thread loop, then awaited (per task)
  aio-timers       100k tasks each sleeping 0-10 ms on a one-thread loop (per timer)
  aio-queue        100k producer/consumer round trips through two one-slot queues (per round trip)
  proc-roundtrip   20k trivial calls, one at a time, to a 1-process pool (per round trip)
  proc-throughput  100k trivial calls submitted to a 2-process pool, then all awaited (per task)
  proc-map         x * x over 1M items on a 2-process pool, chunked (per item)
  proc-start       one process started and joined (per start+join)
  echo             50 TCP connections x 2,000 round trips of 64 B on one loop (per round trip)
  echo-remote      the same, the clients in another process (per round trip)
  stream-bulk      1 GiB one way through one TCP connection on one loop (per MiB)
  connections      9,000 TCP connections opened, one round trip each, closed (per connection)
  remote-roundtrip one trivial call at a time through Redis, 2 worker nodes; vs Celery, RQ, raw floor
  remote-throughput 10k trivial calls through Redis, 2 worker nodes; vs Celery, RQ, raw floor (per task)
  remote-map       x * x over 1M ints through Redis, chunked; vs local process pool, Celery chunks
  subprocess-spawn spawn /bin/true and wait, one at a time (per child)
  subprocess-pipe  communicate 64 MiB through cat (per MiB)
  signal-latency   raise a signal, wait for the loop's handler (per signal)
  all              every workload above

options:
  --rounds N       rounds per peer (default 5); the median is reported
  --only TEXT      run only the peers whose name contains TEXT (for profiling one peer);
                   `a|b` runs the peers whose name contains a or b
  --pin            print the pinning note and check that the process is pinned to one CPU;
                   it does not pin by itself: run `taskset -c 0 cargo run --release -p bench -- ...`";

const PIN_NOTE: &str = "\
note: waking a thread asleep on the other CPU costs ~30-35 us on this machine, against
~1.5 us on the same CPU, so hand-off workloads are bimodal when unpinned. For the pinned
figures run the whole process on one CPU: taskset -c 0 cargo run --release -p bench -- <workload>";

struct Args {
    workloads: Vec<&'static Workload>,
    rounds: usize,
    pin: bool,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut selected = None;
    let mut rounds = 5;
    let mut pin = false;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--pin" => pin = true,
            "--only" => only = Some(args.next().ok_or("--only needs a text")?),
            "--rounds" => {
                let value = args.next().ok_or("--rounds needs a number")?;
                rounds = match value.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--rounds: not a positive number: {value}")),
                };
            }
            name if !name.starts_with('-') && selected.is_none() => selected = Some(arg),
            other => return Err(format!("unexpected argument: {other}")),
        }
    }
    let selected = selected.ok_or("no workload given")?;
    let workloads = if selected == "all" {
        workloads::ALL.iter().collect()
    } else {
        let workload = workloads::ALL
            .iter()
            .find(|w| w.name == selected)
            .ok_or_else(|| format!("unknown workload: {selected}"))?;
        vec![workload]
    };
    Ok(Args {
        workloads,
        rounds,
        pin,
        only,
    })
}

fn main() -> ExitCode {
    // Before anything else: a procspawn worker serves here and never returns...
    procspawn::init();
    // ...and so does the echo child of `proc-roundtrip`'s pipe floor.
    if std::env::var_os(workloads::process::ECHO_CHILD).is_some() {
        return match workloads::process::echo_child() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench echo child: {e}");
                ExitCode::FAILURE
            }
        };
    }

    // ...and the clients of `echo-remote`.
    if std::env::var_os(workloads::net::ECHO_CLIENTS).is_some() {
        return match workloads::net::echo_clients() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench echo clients: {e}");
                ExitCode::FAILURE
            }
        };
    }

    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let cpus = report::allowed_cpus();
    if args.pin {
        println!("{PIN_NOTE}\n");
        if cpus.count != 1 {
            eprintln!(
                "bench: warning: --pin given but this process may run on CPUs {}; \
                 these are unpinned figures (run under `taskset -c 0`)\n",
                cpus.list
            );
        }
    }

    for workload in &args.workloads {
        let rows = run_rounds(workload, args.rounds, args.only.as_deref());
        report::print_table(workload, &rows, args.rounds, &cpus);
    }
    workloads::remote::stop_server();
    ExitCode::SUCCESS
}

/// Every peer of `workload`, `rounds` times, interleaved round by round.
fn run_rounds(workload: &Workload, rounds: usize, only: Option<&str>) -> Vec<Row> {
    let mut peers = (workload.peers)();
    if let Some(text) = only {
        peers.retain(|peer| text.split('|').any(|t| peer.name.contains(t)));
    }
    let mut rows: Vec<Row> = peers
        .iter()
        .map(|peer| Row {
            name: peer.name,
            ops: peer.ops,
            samples: Ok(Vec::with_capacity(rounds)),
        })
        .collect();
    let progress = std::io::stderr().is_terminal();
    for round in 1..=rounds {
        if progress {
            eprint!("\r{}: round {round}/{rounds}", workload.name);
        }
        for (peer, row) in peers.iter().zip(&mut rows) {
            // A peer that failed once (python3 missing, say) is not run again.
            if let Ok(samples) = &mut row.samples {
                match peer.run() {
                    Ok(ns_per_op) => samples.push(ns_per_op),
                    Err(e) => row.samples = Err(e),
                }
            }
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    rows
}
