//! Children and signals on one-thread event loops: `subprocess-spawn` (spawn and wait
//! `/bin/true`), `subprocess-pipe` (`communicate` 64 MiB through `cat`) and `signal-latency`
//! (`raise(SIGUSR*)` to the loop's handler running), against `std::process::Command`,
//! tokio's current-thread runtime (`tokio::process`, `tokio::signal`), Python asyncio and
//! uvloop, `subprocess.run`, and for the pipe a blocking floor (a thread feeding `cat` while
//! another reads it).
//!
//! Each Rust peer uses its own signal (concurra SIGUSR1, tokio SIGUSR2): tokio never restores
//! a disposition it took, so sharing one would make concurra chain to tokio's handler.

use std::io::{Read, Write};
use std::process::Stdio as StdStdio;
use std::rc::Rc;

use concurra::aio::{
    self,
    subprocess::{Command, Stdio},
};
use concurra::signal::Signal;

use super::{time_per_op, Peer, Workload};

pub const SPAWN: Workload = Workload {
    name: "subprocess-spawn",
    about: "spawn /bin/true and wait for it, one at a time (per child)",
    unit: "child",
    peers: spawn_peers,
};

pub const PIPE: Workload = Workload {
    name: "subprocess-pipe",
    about: "communicate 64 MiB through cat: stdin in, stdout out, together (per MiB)",
    unit: "MiB",
    peers: pipe_peers,
};

pub const SIGNAL_LATENCY: Workload = Workload {
    name: "signal-latency",
    about: "raise a signal, wait until the loop's handler ran (per signal)",
    unit: "signal",
    peers: signal_peers,
};

const CHILDREN: usize = 2_000;
const PY_CHILDREN: usize = 500;
const PIPE_MIB: usize = 64;
const SIGNALS: usize = 20_000;

fn spawn_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra aio::subprocess", CHILDREN, concurra_spawn),
        Peer::rust("std::process::Command (blocking)", CHILDREN, std_spawn),
        Peer::rust("tokio::process current-thread", CHILDREN, tokio_spawn),
        Peer::python("Python asyncio", PY_CHILDREN, "subprocess_spawn.py"),
        Peer::python("Python uvloop", PY_CHILDREN, "subprocess_spawn_uvloop.py"),
        Peer::python("Python subprocess.run", PY_CHILDREN, "subprocess_run.py"),
    ]
}

fn pipe_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra communicate", PIPE_MIB, concurra_pipe),
        Peer::rust("tokio::process current-thread", PIPE_MIB, tokio_pipe),
        Peer::rust("blocking threads (the floor)", PIPE_MIB, threads_pipe),
        Peer::python("Python asyncio", PIPE_MIB, "subprocess_pipe.py"),
        Peer::python("Python uvloop", PIPE_MIB, "subprocess_pipe_uvloop.py"),
    ]
}

fn signal_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra add_signal_handler", SIGNALS, concurra_signal),
        Peer::rust(
            "concurra aio::signal stream",
            SIGNALS,
            concurra_signal_stream,
        ),
        Peer::rust("tokio::signal current-thread", SIGNALS, tokio_signal),
        Peer::python("Python asyncio", SIGNALS / 4, "signal_latency.py"),
        Peer::python("Python uvloop", SIGNALS / 4, "signal_latency_uvloop.py"),
    ]
}

fn concurra_spawn(n: usize) -> f64 {
    time_per_op(n, |n| {
        aio::run(async {
            for _ in 0..n {
                let mut child = Command::new("/bin/true").spawn().unwrap();
                assert_eq!(child.wait().await.unwrap(), 0);
            }
        })
    })
}

fn std_spawn(n: usize) -> f64 {
    time_per_op(n, |n| {
        for _ in 0..n {
            let status = std::process::Command::new("/bin/true").status().unwrap();
            assert!(status.success());
        }
    })
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_spawn(n: usize) -> f64 {
    let rt = tokio_rt();
    time_per_op(n, |n| {
        rt.block_on(async {
            for _ in 0..n {
                let status = tokio::process::Command::new("/bin/true")
                    .status()
                    .await
                    .unwrap();
                assert!(status.success());
            }
        })
    })
}

fn payload(mib: usize) -> Vec<u8> {
    vec![7u8; mib << 20]
}

fn concurra_pipe(mib: usize) -> f64 {
    time_per_op(mib, |mib| {
        let data = payload(mib);
        aio::run(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = child.communicate(Some(&data)).await.unwrap();
            assert_eq!(out.stdout.unwrap().len(), data.len());
        })
    })
}

fn tokio_pipe(mib: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio_rt();
    time_per_op(mib, |mib| {
        let data = payload(mib);
        rt.block_on(async {
            let mut child = tokio::process::Command::new("cat")
                .stdin(StdStdio::piped())
                .stdout(StdStdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let feed = async {
                stdin.write_all(&data).await.unwrap();
                drop(stdin);
            };
            let read = async {
                let mut out = Vec::new();
                stdout.read_to_end(&mut out).await.unwrap();
                out
            };
            let ((), out) = tokio::join!(feed, read);
            assert_eq!(out.len(), data.len());
            assert!(child.wait().await.unwrap().success());
        })
    })
}

fn threads_pipe(mib: usize) -> f64 {
    time_per_op(mib, |mib| {
        let data = payload(mib);
        let mut child = std::process::Command::new("cat")
            .stdin(StdStdio::piped())
            .stdout(StdStdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                stdin.write_all(&data).unwrap();
            });
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).unwrap();
            assert_eq!(out.len(), mib << 20);
        });
        assert!(child.wait().unwrap().success());
    })
}

/// Sends `signal` to this thread: the process-wide handler has run when this returns.
fn raise(signal: i32) {
    // SAFETY: raise(3) with a valid signal number.
    let rc = unsafe { libc::raise(signal) };
    assert_eq!(rc, 0);
}

fn concurra_signal(n: usize) -> f64 {
    time_per_op(n, |n| {
        aio::run(async {
            let got = Rc::new(aio::Event::new());
            let g = got.clone();
            aio::add_signal_handler(Signal::SIGUSR1, move || g.set()).unwrap();
            for _ in 0..n {
                got.clear();
                raise(libc::SIGUSR1);
                got.wait().await;
            }
            aio::remove_signal_handler(Signal::SIGUSR1);
        })
    })
}

fn concurra_signal_stream(n: usize) -> f64 {
    time_per_op(n, |n| {
        aio::run(async {
            let mut usr1 = aio::signal(Signal::SIGUSR1).unwrap();
            for _ in 0..n {
                raise(libc::SIGUSR1);
                usr1.next().await;
            }
        })
    })
}

fn tokio_signal(n: usize) -> f64 {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio_rt();
    time_per_op(n, |n| {
        rt.block_on(async {
            let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
            for _ in 0..n {
                raise(libc::SIGUSR2);
                usr2.recv().await;
            }
        })
    })
}
