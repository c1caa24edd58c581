//! Beyond CPython's tests: concurra's streams against real peers.
//!
//! - interop with a real `python3` asyncio peer, both directions, over TCP and Unix sockets;
//! - 10,000 concurrent connections on one loop (clients in a python3 asyncio process, since
//!   both ends in one process would need more descriptors than the hard limit here);
//! - peers that reset (`SO_LINGER` 0) mid-write and mid-read: the error reaches that stream
//!   only, the server goes on;
//! - a slow reader: the writer's buffer stays bounded by its water marks.
//!
//! Every test counts `/proc/self/fd` before and after; loopback only; bounded in time.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use common::net::{run, SockPath};
use concurra::aio::{self, Server, StreamReader, StreamWriter};
use concurra::Error;

const PY_CLIENT: &str = r#"
import asyncio, sys
async def main():
    kind, target = sys.argv[1], sys.argv[2]
    if kind == 'tcp':
        host, port = target.rsplit(':', 1)
        r, w = await asyncio.open_connection(host, int(port), limit=1 << 20)
    else:
        r, w = await asyncio.open_unix_connection(target, limit=1 << 20)
    msgs = [('line %d ' % i + 'x' * i + '\n').encode() for i in range(100)]
    msgs.append(b'y' * 200000 + b'\n')
    for m in msgs:
        w.write(m)
        await w.drain()
        got = await r.readline()
        assert got == m, (len(got), len(m))
    w.close()
    await w.wait_closed()
    print('ok', flush=True)
asyncio.run(main())
"#;

const PY_SERVER: &str = r#"
import asyncio, sys
async def handle(r, w):
    while line := await r.readline():
        w.write(line)
        await w.drain()
    w.close()
    await w.wait_closed()
    srv.close()
async def main():
    global srv
    kind, target = sys.argv[1], sys.argv[2]
    if kind == 'tcp':
        srv = await asyncio.start_server(handle, '127.0.0.1', 0, limit=1 << 20)
        print(srv.sockets[0].getsockname()[1], flush=True)
    else:
        srv = await asyncio.start_unix_server(handle, target, limit=1 << 20)
        print('ready', flush=True)
    try:
        await srv.serve_forever()
    except asyncio.CancelledError:
        pass
asyncio.run(main())
"#;

fn python(script: &str, args: &[&str]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for the interop tests")
}

/// Waits for a child without blocking the loop; returns its stdout.
async fn finish(child: Child) -> String {
    let out = aio::to_thread(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "python3 failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

async fn echo_lines(mut reader: StreamReader, writer: StreamWriter) {
    loop {
        match reader.read_line().await {
            Ok(line) if !line.is_empty() => {
                writer.write(&line).unwrap();
                if writer.drain().await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// A python3 asyncio client talks to a concurra server, over TCP and over a Unix socket.
#[test]
fn python_client_concurra_server() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let server = Server::builder()
            .limit(1 << 20)
            .start(echo_lines, "127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap().to_string();
        let out = finish(python(PY_CLIENT, &["tcp", &addr])).await;
        assert_eq!(out, "ok\n");

        let userver = Server::builder()
            .limit(1 << 20)
            .start_unix(echo_lines, &p)
            .await
            .unwrap();
        let out = finish(python(PY_CLIENT, &["unix", p.to_str().unwrap()])).await;
        assert_eq!(out, "ok\n");
        for s in [server, userver] {
            s.close();
            s.wait_closed().await;
        }
    });
}

async fn talk_to_python_server(mut reader: StreamReader, writer: StreamWriter) {
    reader.set_limit(1 << 20).unwrap();
    for i in 0..100 {
        let msg = format!("line {i} {}\n", "x".repeat(i));
        writer.write(msg.as_bytes()).unwrap();
        writer.drain().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), msg.as_bytes());
    }
    let big = [vec![b'y'; 200_000], vec![b'\n']].concat();
    writer.write(&big).unwrap();
    writer.drain().await.unwrap();
    assert_eq!(reader.read_line().await.unwrap(), big);
    writer.close();
    writer.wait_closed().await;
}

/// A concurra client talks to a python3 asyncio server, over TCP and over a Unix socket.
#[test]
fn concurra_client_python_server() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let mut child = python(PY_SERVER, &["tcp", "-"]);
        let stdout = child.stdout.take().unwrap();
        let (port, stdout) = aio::to_thread(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            (line.trim().parse::<u16>().unwrap(), r)
        })
        .await
        .unwrap();
        let (reader, writer) = aio::open_connection(("127.0.0.1", port)).await.unwrap();
        talk_to_python_server(reader, writer).await;
        drop(stdout);
        finish(child).await;

        let mut child = python(PY_SERVER, &["unix", p.to_str().unwrap()]);
        let stdout = child.stdout.take().unwrap();
        let stdout = aio::to_thread(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, "ready\n");
            r
        })
        .await
        .unwrap();
        let (reader, writer) = aio::open_unix_connection(&p).await.unwrap();
        talk_to_python_server(reader, writer).await;
        drop(stdout);
        finish(child).await;
    });
}

const PY_MANY: &str = r#"
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, n = int(sys.argv[1]), int(sys.argv[2])
async def main():
    sem = asyncio.Semaphore(256)
    async def one():
        async with sem:
            return await asyncio.open_connection('127.0.0.1', port)
    conns = await asyncio.gather(*(one() for _ in range(n)))
    for i, (r, w) in enumerate(conns):
        w.write(b'%d\n' % i)
    got = await asyncio.gather(*(r.readline() for r, w in conns))
    bad = [i for i, g in enumerate(got) if g != b'%d\n' % i]
    assert not bad, bad[:10]
    for r, w in conns:
        w.close()
    print('ok', flush=True)
asyncio.run(main())
"#;

/// 10,000 connections open at once on one loop, each echoed correctly.
#[test]
fn ten_thousand_connections() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    const N: usize = 10_000;
    let old = getrlimit(Resource::Nofile);
    if old.current < old.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: old.maximum,
                maximum: old.maximum,
            },
        )
        .unwrap();
    }
    run(async {
        let live = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let (l, p) = (live.clone(), peak.clone());
        let server = aio::start_server(
            move |r, w| {
                let (live, peak) = (l.clone(), p.clone());
                async move {
                    live.set(live.get() + 1);
                    peak.set(peak.get().max(live.get()));
                    echo_lines(r, w).await;
                    live.set(live.get() - 1);
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let port = server.local_addr().unwrap().port().to_string();
        let out = finish(python(PY_MANY, &[&port, &N.to_string()])).await;
        assert_eq!(out, "ok\n");
        assert_eq!(peak.get(), N, "not all connections were open at once");
        server.close();
        aio::wait_for(server.wait_closed(), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(live.get(), 0);
    });
}

/// Makes the next close of `s` send RST (SO_LINGER 0).
fn linger_zero(s: &std::net::TcpStream) {
    rustix::net::sockopt::set_socket_linger(s, Some(Duration::ZERO)).unwrap();
}

/// A peer that resets while the server writes (and while it reads): the error reaches that
/// stream only; the server goes on serving.
#[test]
fn peer_resets_mid_write_and_mid_read() {
    run(async {
        let errors: Rc<RefCell<Vec<Error>>> = Rc::default();
        let e = errors.clone();
        let server = aio::start_server(
            move |mut r: StreamReader, w: StreamWriter| {
                let errors = e.clone();
                async move {
                    let cmd = r.read_line().await.unwrap();
                    let outcome = match &cmd[..] {
                        b"flood\n" => {
                            async {
                                let chunk = vec![b'z'; 64 * 1024];
                                for _ in 0..10_000 {
                                    w.write(&chunk)?;
                                    w.drain().await?;
                                }
                                Ok(())
                            }
                            .await
                        }
                        b"read\n" => r.read_exactly(1_000_000).await.map(drop),
                        _ => {
                            echo_lines(r, w).await;
                            Ok(())
                        }
                    };
                    if let Err(err) = outcome {
                        errors.borrow_mut().push(err);
                    }
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        for cmd in ["flood\n", "read\n"] {
            let resetter = aio::to_thread(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(cmd.as_bytes()).unwrap();
                if cmd == "flood\n" {
                    let mut buf = vec![0u8; 256 * 1024];
                    s.read_exact(&mut buf).unwrap();
                } else {
                    s.write_all(&[1u8; 1000]).unwrap();
                }
                linger_zero(&s);
                drop(s);
            });
            resetter.await.unwrap();
            while errors.borrow().is_empty() {
                aio::sleep(Duration::from_millis(1)).await;
            }
            let err = errors.borrow_mut().pop().unwrap();
            assert!(
                err.is_connection_lost() || err.is_incomplete_read(),
                "{cmd:?}: {err}"
            );
            // The server still serves another client.
            let (mut r, w) = aio::open_connection(addr).await.unwrap();
            w.write(b"echo\nstill here\n").unwrap();
            assert_eq!(r.read_line().await.unwrap(), b"still here\n");
        }
        server.close();
        server.abort_clients();
        server.wait_closed().await;
    });
}

/// A slow reader: the writer's buffer never grows past its high-water mark plus one write,
/// and every byte arrives in order.
#[test]
fn slow_reader_keeps_writer_memory_bounded() {
    run(async {
        const TOTAL: usize = 4 << 20;
        const CHUNK: usize = 8 * 1024;
        let (a, b) = concurra::aio::net::UnixStream::pair().unwrap();
        let (mut reader, _wa) = a.into_streams();
        let (_rb, writer) = b.into_streams();
        let slow = aio::create_task(async move {
            let mut got = 0usize;
            let mut expect = 0u8;
            while got < TOTAL {
                let data = reader.read(16 * 1024).await.unwrap();
                assert!(!data.is_empty());
                for &byte in &data {
                    assert_eq!(byte, expect);
                    expect = expect.wrapping_add(1);
                }
                got += data.len();
                aio::sleep(Duration::from_micros(200)).await;
            }
            got
        });
        let (high, _) = writer.write_buffer_limits();
        let mut peak = 0;
        let mut next = 0u8;
        for _ in 0..TOTAL / CHUNK {
            let chunk: Vec<u8> = (0..CHUNK)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next.wrapping_sub(1)
                })
                .collect();
            writer.write(&chunk).unwrap();
            peak = peak.max(writer.write_buffer_size());
            writer.drain().await.unwrap();
        }
        assert!(peak <= high + CHUNK, "peak {peak} > {high} + {CHUNK}");
        assert!(peak > 0, "the reader was never slow");
        assert_eq!(slow.await.unwrap(), TOTAL);
    });
}
