//! Sockets on one-thread event loops: `echo` (50 connections × 64-byte round trips, server
//! and clients on one loop), `stream-bulk` (1 GiB one way through one connection) and
//! `connections` (thousands of connections opened, one round trip each, closed), against
//! tokio's current-thread runtime, smol (async-net), Python asyncio and uvloop, and a
//! blocking-threads floor.
//!
//! Only the traffic is timed: listeners bound and (for `echo`) connections made before the
//! clock starts.

use std::io::{Read, Write};
use std::time::Instant;

use concurra::aio;

use super::{ns_per_op, Peer, Workload};

pub const ECHO: Workload = Workload {
    name: "echo",
    about: "50 TCP connections x 64-byte round trips, server and clients on one loop",
    unit: "round trip",
    peers: echo_peers,
};

pub const ECHO_REMOTE: Workload = Workload {
    name: "echo-remote",
    about: "echo's 50 connections x 64-byte round trips, the clients in another process",
    unit: "round trip",
    peers: echo_remote_peers,
};

pub const BULK: Workload = Workload {
    name: "stream-bulk",
    about: "1 GiB one way through one TCP connection on one loop (time per MiB)",
    unit: "MiB",
    peers: bulk_peers,
};

pub const CONNECTIONS: Workload = Workload {
    name: "connections",
    about:
        "9,000 TCP connections opened at once, one round trip each, closed (both ends in-process)",
    unit: "connection",
    peers: connection_peers,
};

const CONNS: usize = 50;
const MSG: usize = 64;
const ROUND_TRIPS: usize = CONNS * 2_000;
const PYTHON_ROUND_TRIPS: usize = CONNS * 400;
const BULK_MIB: usize = 1024;
const CHUNK: usize = 256 * 1024;
/// Both ends of every connection in one process: 2 descriptors each, under the hard limit
/// of 20,000 here.
const MANY: usize = 9_000;

fn echo_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra streams", ROUND_TRIPS, concurra_echo),
        Peer::rust("tokio current-thread", ROUND_TRIPS, tokio_echo),
        Peer::rust("smol async-net LocalExecutor", ROUND_TRIPS, smol_echo),
        Peer::rust("blocking threads (1 per socket)", ROUND_TRIPS, threads_echo),
        Peer::rust(
            "kernel floor: 1 thread, 4 syscalls/trip",
            ROUND_TRIPS,
            kernel_floor_echo,
        ),
        Peer::rust("loop floor: raw mio, no tasks", ROUND_TRIPS, mio_floor_echo),
        Peer::python("Python asyncio streams", PYTHON_ROUND_TRIPS, "echo.py"),
        Peer::python(
            "Python uvloop streams",
            PYTHON_ROUND_TRIPS,
            "echo_uvloop.py",
        ),
        Peer::python(
            "Python uvloop Protocol",
            PYTHON_ROUND_TRIPS,
            "echo_uvloop_protocol.py",
        ),
    ]
}

/// `echo-remote`: only the server differs; the clients are always the same tokio
/// current-thread loop in a child process (the bench binary started again with
/// [`ECHO_CLIENTS`] set), which times the round trips.
fn echo_remote_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra streams", ROUND_TRIPS, concurra_echo_remote),
        Peer::rust("tokio current-thread", ROUND_TRIPS, tokio_echo_remote),
        Peer::rust(
            "blocking threads (1 per socket)",
            ROUND_TRIPS,
            threads_echo_remote,
        ),
        Peer::python("Python asyncio streams", ROUND_TRIPS, "echo_remote.py"),
        Peer::python(
            "Python uvloop streams",
            ROUND_TRIPS,
            "echo_remote_uvloop.py",
        ),
    ]
}

fn bulk_peers() -> Vec<Peer> {
    vec![
        Peer::rust("concurra write+drain / Reader", BULK_MIB, concurra_bulk),
        Peer::rust(
            "concurra AsyncWrite / Reader",
            BULK_MIB,
            concurra_bulk_async_write,
        ),
        Peer::rust("tokio current-thread", BULK_MIB, tokio_bulk),
        Peer::rust("blocking std::net copy", BULK_MIB, threads_bulk),
    ]
}

fn connection_peers() -> Vec<Peer> {
    raise_fd_limit();
    vec![
        Peer::rust("concurra streams", MANY, concurra_connections),
        Peer::rust("tokio current-thread", MANY, tokio_connections),
        Peer::python("Python asyncio streams", MANY, "connections.py"),
    ]
}

fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let old = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: old.maximum,
            maximum: old.maximum,
        },
    );
}

/// The process's resident memory, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes the allocator has handed out and not taken back, every arena (glibc's
/// `mallinfo2`: chunk sizes, so its per-chunk overhead counts). Unlike RSS it is not hidden
/// by memory an earlier peer freed and this one reuses.
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's counters (it takes each arena's lock).
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// A memory figure at the peak: RSS and heap growth since `before`.
#[derive(Clone, Copy)]
struct Mem {
    rss: usize,
    heap: usize,
}

impl Mem {
    fn now() -> Mem {
        Mem {
            rss: rss(),
            heap: heap_in_use(),
        }
    }
}

fn report_rss(peer: &str, before: Mem, n: usize) {
    let peak = Mem::now();
    eprintln!(
        "   {peer}: {} B of RSS, {} B of heap per connection at the peak (both ends, {n} open)",
        peak.rss.saturating_sub(before.rss) / n,
        peak.heap.saturating_sub(before.heap) / n
    );
}

/// The server side alone: `n` plain blocking `std::net` clients (a descriptor each, no heap
/// beyond the vector reserved before `before`) connect from another thread to the server at
/// `addr`, make one line round trip each and stay open, idle; then the heap and RSS growth
/// per connection is printed, and the clients close. The server's handler waits in its
/// second read_line: idle, nothing buffered.
fn report_server_alone(peer: &str, addr: std::net::SocketAddr, n: usize) {
    let mut clients = Vec::with_capacity(n);
    let before = Mem::now();
    for _ in 0..n {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"ping\n").unwrap();
        let mut line = [0u8; 5];
        s.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"ping\n");
        clients.push(s);
    }
    let peak = Mem::now();
    eprintln!(
        "   {peer}: {} B of RSS, {} B of heap per connection, server side alone ({n} idle)",
        peak.rss.saturating_sub(before.rss) / n,
        peak.heap.saturating_sub(before.heap) / n
    );
}

// ---------------------------------------------------------------------------------------
// echo

/// The echo server of `echo` and `echo-remote`: `write` + `drain` what futures-io
/// `read_exact` got.
async fn concurra_echo_server() -> aio::Server {
    use futures::AsyncReadExt;
    aio::start_server(
        |mut r: aio::StreamReader, w: aio::StreamWriter| async move {
            let mut buf = [0u8; MSG];
            while r.read_exact(&mut buf).await.is_ok() {
                w.write(&buf).unwrap();
                if w.drain().await.is_err() {
                    break;
                }
            }
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap()
}

fn concurra_echo(n: usize) -> f64 {
    use futures::AsyncReadExt;
    let per_conn = n / CONNS;
    aio::run(async move {
        let server = concurra_echo_server().await;
        let addr = server.local_addr().unwrap();
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            conns.push(aio::open_connection(addr).await.unwrap());
        }
        let start = Instant::now();
        let clients: Vec<_> = conns
            .into_iter()
            .map(|(mut r, w)| {
                aio::create_task(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..per_conn {
                        w.write(&msg).unwrap();
                        w.drain().await.unwrap();
                        r.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        ns_per_op(start.elapsed(), per_conn * CONNS)
    })
}

// ---------------------------------------------------------------------------------------
// echo-remote

/// Set (to `ADDR,ROUND_TRIPS_PER_CONNECTION`) in the environment of the bench binary started
/// again as `echo-remote`'s clients.
pub const ECHO_CLIENTS: &str = "BENCH_ECHO_CLIENTS";

/// The clients of `echo-remote`, in the child process: [`CONNS`] connections to the server
/// at the address in [`ECHO_CLIENTS`], a warm-up, then the timed round trips; prints
/// `ns_per_op=` (per round trip) on standard output.
pub fn echo_clients() -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let spec = std::env::var(ECHO_CLIENTS).map_err(|e| e.to_string())?;
    let (addr, per_conn) = spec
        .split_once(',')
        .ok_or_else(|| format!("{ECHO_CLIENTS}: not ADDR,N: {spec}"))?;
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let per_conn: usize = per_conn.parse().map_err(|e| format!("{per_conn}: {e}"))?;
    let ns = tokio_rt().block_on(async move {
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            conns.push(s);
        }
        let mut start = Instant::now();
        for (trips, timed) in [((per_conn / 100).max(1), false), (per_conn, true)] {
            if timed {
                start = Instant::now();
            }
            let clients: Vec<_> = conns
                .drain(..)
                .map(|mut s| {
                    tokio::spawn(async move {
                        let msg = [7u8; MSG];
                        let mut buf = [0u8; MSG];
                        for _ in 0..trips {
                            s.write_all(&msg).await?;
                            s.read_exact(&mut buf).await?;
                        }
                        Ok::<_, std::io::Error>(s)
                    })
                })
                .collect();
            for c in clients {
                conns.push(c.await??);
            }
        }
        Ok::<_, std::io::Error>(ns_per_op(start.elapsed(), per_conn * CONNS))
    });
    println!("ns_per_op={:.1}", ns.map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs [`echo_clients`] in a child process against `addr`; waits for it and returns its
/// time per round trip. Blocking: call it off the server's loop.
fn remote_clients(addr: std::net::SocketAddr, n: usize) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .env(ECHO_CLIENTS, format!("{addr},{}", n / CONNS))
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the echo clients failed: {}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ns_per_op=")?.parse().ok())
        .unwrap_or_else(|| panic!("the echo clients printed no time: {stdout}"))
}

fn concurra_echo_remote(n: usize) -> f64 {
    aio::run(async move {
        let server = concurra_echo_server().await;
        let addr = server.local_addr().unwrap();
        let t = aio::to_thread(move || remote_clients(addr, n))
            .await
            .unwrap();
        server.close();
        server.wait_closed().await;
        t
    })
}

fn tokio_echo_remote(n: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio_rt().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..CONNS {
                let (mut s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                handlers.push(tokio::spawn(async move {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            for h in handlers {
                h.await.unwrap();
            }
        });
        let t = tokio::task::spawn_blocking(move || remote_clients(addr, n))
            .await
            .unwrap();
        server.await.unwrap();
        t
    })
}

fn threads_echo_remote(n: usize) -> f64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let handlers: Vec<_> = (0..CONNS)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                s.set_nodelay(true).unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).is_ok() {
                        if s.write_all(&buf).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    let t = remote_clients(addr, n);
    server.join().unwrap();
    t
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_echo(n: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let per_conn = n / CONNS;
    tokio_rt().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; MSG];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            conns.push(s);
        }
        let start = Instant::now();
        let clients: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..per_conn {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        ns_per_op(start.elapsed(), per_conn * CONNS)
    })
}

fn smol_echo(n: usize) -> f64 {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let per_conn = n / CONNS;
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut handlers = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let c = smol::net::TcpStream::connect(addr).await.unwrap();
            c.set_nodelay(true).unwrap();
            conns.push(c);
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            handlers.push(ex.spawn(async move {
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            }));
        }
        let start = Instant::now();
        let clients: Vec<_> = conns
            .into_iter()
            .map(|mut s| {
                ex.spawn(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..per_conn {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        let t = ns_per_op(start.elapsed(), per_conn * CONNS);
        for h in handlers {
            h.await;
        }
        t
    }))
}

fn threads_echo(n: usize) -> f64 {
    let per_conn = n / CONNS;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CONNS {
            let (mut s, _) = listener.accept().unwrap();
            s.set_nodelay(true).unwrap();
            handlers.push(std::thread::spawn(move || {
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&buf).is_err() {
                        break;
                    }
                }
            }));
        }
        handlers
    });
    let conns: Vec<_> = (0..CONNS)
        .map(|_| {
            let s = std::net::TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    let handlers = server.join().unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CONNS + 1));
    let clients: Vec<_> = conns
        .into_iter()
        .map(|mut s| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let msg = [7u8; MSG];
                let mut buf = [0u8; MSG];
                for _ in 0..per_conn {
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut buf).unwrap();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for c in clients {
        c.join().unwrap();
    }
    let t = ns_per_op(start.elapsed(), per_conn * CONNS);
    for h in handlers {
        h.join().unwrap();
    }
    t
}

/// [`CONNS`] connected loopback pairs (client, server end), blocking, `TCP_NODELAY` on both.
fn connected_pairs() -> Vec<(std::net::TcpStream, std::net::TcpStream)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (0..CONNS)
        .map(|_| {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            (client, server)
        })
        .collect()
}

/// What any one-thread loop must pay at least: the same 50 connections served in lockstep
/// by one thread with blocking sockets and no poll at all (every client writes, every server
/// end reads and answers, every client reads): the four system calls of a round trip and the
/// kernel's loopback TCP work, nothing else.
fn kernel_floor_echo(n: usize) -> f64 {
    let per_conn = n / CONNS;
    let pairs = connected_pairs();
    let msg = [7u8; MSG];
    let mut buf = [0u8; MSG];
    let start = Instant::now();
    for _ in 0..per_conn {
        for (client, _) in &pairs {
            (&*client).write_all(&msg).unwrap();
        }
        for (_, server) in &pairs {
            (&*server).read_exact(&mut buf).unwrap();
            (&*server).write_all(&buf).unwrap();
        }
        for (client, _) in &pairs {
            (&*client).read_exact(&mut buf).unwrap();
        }
    }
    ns_per_op(start.elapsed(), per_conn * CONNS)
}

/// What an event loop pays at least: the same 50 connections driven by a hand-written
/// edge-triggered mio loop, no tasks, no buffers, no wakers. Each readable client end reads
/// its answer and sends the next message; each readable server end echoes what it got.
fn mio_floor_echo(n: usize) -> f64 {
    use mio::net::TcpStream;
    use mio::{Events, Interest, Poll, Token};
    let per_conn = n / CONNS;
    let mut poll = Poll::new().unwrap();
    // Token 2i: client i; 2i + 1: its server end.
    let mut socks: Vec<TcpStream> = Vec::new();
    for (client, server) in connected_pairs() {
        for sock in [client, server] {
            sock.set_nonblocking(true).unwrap();
            socks.push(TcpStream::from_std(sock));
        }
    }
    for (i, s) in socks.iter_mut().enumerate() {
        poll.registry()
            .register(s, Token(i), Interest::READABLE)
            .unwrap();
    }
    let msg = [7u8; MSG];
    let mut left = vec![per_conn; CONNS];
    let mut done = 0;
    let mut events = Events::with_capacity(256);
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    for c in 0..CONNS {
        (&socks[2 * c]).write_all(&msg).unwrap();
    }
    while done < CONNS {
        poll.poll(&mut events, None).unwrap();
        for event in events.iter() {
            let i = event.token().0;
            // Edge-triggered: read until a short read (one 64-byte message is in flight).
            loop {
                match (&socks[i]).read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        if i % 2 == 1 {
                            (&socks[i]).write_all(&buf[..k]).unwrap();
                        } else {
                            let c = i / 2;
                            left[c] -= 1;
                            if left[c] == 0 {
                                done += 1;
                            } else {
                                (&socks[i]).write_all(&msg).unwrap();
                            }
                        }
                        if k < buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
    ns_per_op(start.elapsed(), per_conn * CONNS)
}

// ---------------------------------------------------------------------------------------
// stream-bulk

fn concurra_bulk(mib: usize) -> f64 {
    concurra_bulk_with(mib, false)
}

fn concurra_bulk_async_write(mib: usize) -> f64 {
    concurra_bulk_with(mib, true)
}

/// `async_write`: through the writer's futures-io `write_all` (no copy) instead of asyncio's
/// `write` + `drain`.
fn concurra_bulk_with(mib: usize, async_write: bool) -> f64 {
    let total = mib << 20;
    aio::run(async move {
        let done_tx = aio::Event::new();
        let got = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let g = got.clone();
        let finished = done_tx.clone();
        let server = aio::start_server(
            move |mut r: aio::StreamReader, _w| {
                let (g, finished) = (g.clone(), finished.clone());
                async move {
                    let mut buf = vec![0u8; CHUNK];
                    loop {
                        let n = futures::AsyncReadExt::read(&mut r, &mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        g.set(g.get() + n);
                    }
                    finished.set();
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (_r, mut w) = aio::open_connection(server.local_addr().unwrap())
            .await
            .unwrap();
        let chunk = vec![1u8; CHUNK];
        let start = Instant::now();
        for _ in 0..total / CHUNK {
            if async_write {
                futures::AsyncWriteExt::write_all(&mut w, &chunk)
                    .await
                    .unwrap();
            } else {
                w.write(&chunk).unwrap();
                w.drain().await.unwrap();
            }
        }
        w.close();
        done_tx.wait().await;
        assert_eq!(got.get(), total);
        ns_per_op(start.elapsed(), mib)
    })
}

fn tokio_bulk(mib: usize) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let total = mib << 20;
    tokio_rt().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got += n;
            }
        });
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let chunk = vec![1u8; CHUNK];
        let start = Instant::now();
        for _ in 0..total / CHUNK {
            s.write_all(&chunk).await.unwrap();
        }
        s.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap(), total);
        ns_per_op(start.elapsed(), mib)
    })
}

fn threads_bulk(mib: usize) -> f64 {
    let total = mib << 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got += n;
        }
    });
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let chunk = vec![1u8; CHUNK];
    let start = Instant::now();
    for _ in 0..total / CHUNK {
        s.write_all(&chunk).unwrap();
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), total);
    ns_per_op(start.elapsed(), mib)
}

// ---------------------------------------------------------------------------------------
// connections

fn concurra_connections(n: usize) -> f64 {
    aio::run(async move {
        let server = aio::start_server(
            |mut r: aio::StreamReader, w: aio::StreamWriter| async move {
                while let Ok(line) = r.read_line().await {
                    if line.is_empty() {
                        break;
                    }
                    w.write(&line).unwrap();
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let before = Mem::now();
        let opened = aio::Event::new();
        let start = Instant::now();
        let clients: Vec<_> = (0..n)
            .map(|_| {
                let opened = opened.clone();
                aio::create_task(async move {
                    let (mut r, w) = aio::open_connection(addr).await.unwrap();
                    w.write(b"ping\n").unwrap();
                    assert_eq!(r.read_line().await.unwrap(), b"ping\n");
                    // Idle until every connection is open: the peak.
                    opened.wait().await;
                    w.close();
                    w.wait_closed().await;
                })
            })
            .collect();
        while server.connections() < n {
            aio::sleep(std::time::Duration::from_millis(1)).await;
        }
        // Every handler is in its second read_line: idle.
        aio::sleep(std::time::Duration::from_millis(5)).await;
        report_rss("concurra", before, n);
        opened.set();
        for c in clients {
            c.await.unwrap();
        }
        let t = ns_per_op(start.elapsed(), n);
        // The handlers of the timed run gone first, so that their memory is not freed
        // while the next ones take theirs.
        while server.connections() > 0 {
            aio::sleep(std::time::Duration::from_millis(1)).await;
        }
        aio::to_thread(move || report_server_alone("concurra", addr, n))
            .await
            .unwrap();
        t
    })
}

fn tokio_connections(n: usize) -> f64 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    tokio_rt().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let l = live.clone();
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                let l = l.clone();
                tokio::spawn(async move {
                    l.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    let mut line = String::new();
                    while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                        w.write_all(line.as_bytes()).await.unwrap();
                        line.clear();
                    }
                    l.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                });
            }
        });
        let before = Mem::now();
        let (opened_tx, opened) = tokio::sync::watch::channel(false);
        let start = Instant::now();
        let clients: Vec<_> = (0..n)
            .map(|_| {
                let mut opened = opened.clone();
                tokio::spawn(async move {
                    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    w.write_all(b"ping\n").await.unwrap();
                    let mut line = String::new();
                    r.read_line(&mut line).await.unwrap();
                    assert_eq!(line, "ping\n");
                    opened.wait_for(|open| *open).await.unwrap();
                })
            })
            .collect();
        while live.load(std::sync::atomic::Ordering::Relaxed) < n {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        report_rss("tokio", before, n);
        opened_tx.send(true).unwrap();
        for c in clients {
            c.await.unwrap();
        }
        let t = ns_per_op(start.elapsed(), n);
        while live.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        tokio::task::spawn_blocking(move || report_server_alone("tokio", addr, n))
            .await
            .unwrap();
        t
    })
}
