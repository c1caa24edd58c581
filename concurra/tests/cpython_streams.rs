//! Ported from CPython's `Lib/test/test_asyncio/test_streams.py` (`StreamTests`).
//!
//! Changes made:
//! - Python's `stream._buffer` is read through [`StreamReader::buffered`] and, where the test
//!   checks its contents, by reading them back.
//! - Reads take `&mut self` (one reader by construction), so a task that reads while another
//!   feeds uses a [`StreamFeeder`](concurra::aio::StreamFeeder) handle; `loop.call_soon(cb)`
//!   becomes a task that yields once and feeds.
//! - Negative counts (`read(-1)`, `readexactly(-1)`, `limit=-1`) are not representable:
//!   `read(-1)` is [`StreamReader::read_to_end`]; the `ValueError`s become type errors, and
//!   `limit=0` is checked.
//! - `ValueError` from `readline` over the limit is [`Error::LimitOverrun`] (naming the limit).
//! - The HTTP test server (`run_test_server`) is a blocking std thread; the drain tests use a
//!   real peer instead of mocked transports.
//! - Every network test counts `/proc/self/fd` before and after.

mod common;

use std::io::{Read, Write};
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::net::{run, SockPath};
use concurra::aio::{self, Server, StreamReader, StreamWriter};
use concurra::Error;
use futures::StreamExt;

const DATA: &[u8] = b"line1\nline2\nline3\n";

fn reader_with(data: &[&[u8]], limit: Option<usize>) -> StreamReader {
    let mut r = StreamReader::new();
    if let Some(l) = limit {
        r.set_limit(l).unwrap();
    }
    for d in data {
        r.feed_data(d);
    }
    r
}

/// What is left in a reader's buffer (read back; at EOF so the read does not wait).
async fn rest(mut r: StreamReader) -> Vec<u8> {
    r.feed_eof();
    r.read_to_end().await.unwrap()
}

/// Feeds `chunks` from another task after the reader started waiting (Python's
/// `loop.call_soon(cb)`).
fn feed_later(r: &StreamReader, chunks: &'static [&'static [u8]], eof: bool) {
    let feeder = r.feeder();
    drop(aio::create_task(async move {
        aio::yield_now().await;
        for c in chunks {
            feeder.feed_data(c);
        }
        if eof {
            feeder.feed_eof();
        }
    }));
}

fn http_server() -> (std::net::SocketAddr, thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        thread::spawn(move || serve_http(listener.accept().unwrap().0)),
    )
}

fn serve_http(mut conn: impl Read + Write) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            return;
        }
        got.extend_from_slice(&buf[..n]);
    }
    conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nTest message")
        .unwrap();
}

async fn check_http(mut reader: StreamReader, writer: StreamWriter) {
    writer.write(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(reader.read_line().await.unwrap(), b"HTTP/1.0 200 OK\r\n");
    let body = reader.read_to_end().await.unwrap();
    assert!(body.ends_with(b"\r\n\r\nTest message"));
    writer.close();
    writer.wait_closed().await;
}

/// test_open_connection.
#[test]
fn open_connection() {
    run(async {
        let (addr, server) = http_server();
        let (reader, writer) = aio::open_connection(addr).await.unwrap();
        check_http(reader, writer).await;
        server.join().unwrap();
    });
}

/// test_open_unix_connection.
#[test]
fn open_unix_connection() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let listener = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let server = thread::spawn(move || serve_http(listener.accept().unwrap().0));
        let (reader, writer) = aio::open_unix_connection(&p).await.unwrap();
        check_http(reader, writer).await;
        server.join().unwrap();
    });
}

/// test_read_zero.
#[test]
fn read_zero() {
    run(async {
        let mut r = reader_with(&[DATA], None);
        assert_eq!(r.read(0).await.unwrap(), b"");
        assert_eq!(rest(r).await, DATA);
    });
}

/// test_read.
#[test]
fn read() {
    run(async {
        let mut r = StreamReader::new();
        feed_later(&r, &[DATA], false);
        assert_eq!(r.read(30).await.unwrap(), DATA);
        assert_eq!(r.buffered(), 0);
    });
}

/// test_read_line_breaks.
#[test]
fn read_line_breaks() {
    run(async {
        let mut r = reader_with(&[b"line1", b"line2"], None);
        assert_eq!(r.read(5).await.unwrap(), b"line1");
        assert_eq!(rest(r).await, b"line2");
    });
}

/// test_read_eof.
#[test]
fn read_eof() {
    run(async {
        let mut r = StreamReader::new();
        let feeder = r.feeder();
        drop(aio::create_task(async move {
            aio::yield_now().await;
            feeder.feed_eof();
        }));
        assert_eq!(r.read(1024).await.unwrap(), b"");
        assert!(r.at_eof());
    });
}

/// test_read_until_eof.
#[test]
fn read_until_eof() {
    run(async {
        let mut r = StreamReader::new();
        feed_later(&r, &[b"chunk1\n", b"chunk2"], true);
        assert_eq!(r.read_to_end().await.unwrap(), b"chunk1\nchunk2");
        assert_eq!(r.buffered(), 0);
    });
}

/// test_read_exception.
#[test]
fn read_exception() {
    run(async {
        let mut r = reader_with(&[b"line\n"], None);
        assert_eq!(r.read(2).await.unwrap(), b"li");
        r.set_exception(Error::InvalidArgument("boom".into()));
        assert!(r.read(2).await.unwrap_err().is_invalid_argument());
    });
}

/// test_read_limit and test_readexactly_limit: reads are not bounded by the limit.
#[test]
fn read_limit() {
    run(async {
        let mut r = reader_with(&[b"chunk"], Some(3));
        assert_eq!(r.read(5).await.unwrap(), b"chunk");
        let mut r = reader_with(&[b"chunk"], Some(3));
        assert_eq!(r.read_exactly(5).await.unwrap(), b"chunk");
    });
}

/// test_invalid_limit.
#[test]
fn invalid_limit() {
    assert!(StreamReader::with_limit(0)
        .unwrap_err()
        .is_invalid_argument());
    let err = run(async {
        aio::Server::builder()
            .limit(0)
            .start(|_, _| async {}, "127.0.0.1:0")
            .await
            .unwrap_err()
    });
    assert!(err.is_invalid_argument());
}

/// test_readline: a line assembled from several chunks; the rest stays buffered.
#[test]
fn readline() {
    run(async {
        let mut r = reader_with(&[b"chunk1 "], None);
        feed_later(&r, &[b"chunk2 ", b"chunk3 ", b"\n chunk4"], false);
        assert_eq!(r.read_line().await.unwrap(), b"chunk1 chunk2 chunk3 \n");
        assert_eq!(rest(r).await, b" chunk4");
    });
}

/// test_readline_limit_with_existing_data.
#[test]
fn readline_limit_with_existing_data() {
    run(async {
        let mut r = reader_with(&[b"li", b"ne1\nline2\n"], Some(3));
        assert!(r.read_line().await.unwrap_err().is_limit_overrun());
        assert_eq!(rest(r).await, b"line2\n");

        let mut r = reader_with(&[b"li", b"ne1", b"li"], Some(3));
        assert!(r.read_line().await.unwrap_err().is_limit_overrun());
        assert_eq!(r.buffered(), 0);
    });
}

/// test_at_eof.
#[test]
fn at_eof() {
    run(async {
        let mut r = reader_with(&[b"some data\n"], None);
        assert!(!r.at_eof());
        r.read_line().await.unwrap();
        assert!(!r.at_eof());
        r.feed_eof();
        assert!(r.at_eof());
    });
}

/// test_readline_limit: chunks arriving while the line is read; the limit is strict.
#[test]
fn readline_limit() {
    run(async {
        let mut r = StreamReader::with_limit(7).unwrap();
        feed_later(&r, &[b"chunk1", b"chunk2", b"chunk3\n"], true);
        let err = r.read_line().await.unwrap_err();
        assert!(err.is_limit_overrun());
        assert!(err.to_string().contains("(7 bytes)"), "{err}");
        assert_eq!(rest(r).await, b"");

        let mut r = StreamReader::with_limit(7).unwrap();
        feed_later(&r, &[b"chunk1", b"chunk2\n", b"chunk3\n"], true);
        assert!(r.read_line().await.unwrap_err().is_limit_overrun());
        assert_eq!(rest(r).await, b"chunk3\n");

        // Strictness: 7 bytes plus the newline fit a limit of 7; 8 do not.
        let mut r = reader_with(&[b"1234567\n"], Some(7));
        assert_eq!(r.read_line().await.unwrap(), b"1234567\n");
        assert_eq!(r.buffered(), 0);
        r.feed_data(b"12345678\n");
        assert!(r.read_line().await.unwrap_err().is_limit_overrun());
        assert_eq!(r.buffered(), 0);
        r.feed_data(b"12345678");
        assert!(r.read_line().await.unwrap_err().is_limit_overrun());
        assert_eq!(r.buffered(), 0);
    });
}

/// test_readline_nolimit_nowait and test_readline_eof / test_readline_empty_eof.
#[test]
fn readline_eof() {
    run(async {
        let mut r = reader_with(&[b"some data"], None);
        r.feed_eof();
        assert_eq!(r.read_line().await.unwrap(), b"some data");
        let mut r = StreamReader::new();
        r.feed_eof();
        assert_eq!(r.read_line().await.unwrap(), b"");
        let mut r = StreamReader::new();
        feed_later(&r, &[b"line1\nline2\nline3"], true);
        assert_eq!(r.read_line().await.unwrap(), b"line1\n");
    });
}

/// test_readline_read_byte_count.
#[test]
fn readline_read_byte_count() {
    run(async {
        let mut r = reader_with(&[DATA], None);
        r.read_line().await.unwrap();
        assert_eq!(r.read(7).await.unwrap(), b"line2\nl");
        assert_eq!(rest(r).await, b"ine3\n");
    });
}

/// test_readline_exception.
#[test]
fn readline_exception() {
    run(async {
        let mut r = reader_with(&[b"line\n"], None);
        assert_eq!(r.read_line().await.unwrap(), b"line\n");
        r.set_exception(Error::InvalidArgument("boom".into()));
        assert!(r.read_line().await.unwrap_err().is_invalid_argument());
    });
}

/// test_readuntil_separator.
#[test]
fn readuntil_separator() {
    run(async {
        let mut r = StreamReader::new();
        let err = r.read_until(b"").await.unwrap_err();
        assert!(err.is_invalid_argument());
        assert!(err.to_string().contains("Separator should be"));
    });
}

/// test_readuntil_multi_chunks.
#[test]
fn readuntil_multi_chunks() {
    run(async {
        let mut r = reader_with(&[b"lineAAA"], None);
        assert_eq!(r.read_until(b"AAA").await.unwrap(), b"lineAAA");
        assert_eq!(r.buffered(), 0);
        r.feed_data(b"lineAAAxxx");
        assert_eq!(r.read_until(b"AAA").await.unwrap(), b"lineAAA");
        assert_eq!(rest(r).await, b"xxx");
    });
}

/// test_readuntil_multi_chunks_1: the separator split across chunks is still found.
#[test]
fn readuntil_multi_chunks_1() {
    run(async {
        let mut r = reader_with(&[b"QWEaa", b"XYaa"], None);
        feed_later(&r, &[b"a"], false);
        assert_eq!(r.read_until(b"aaa").await.unwrap(), b"QWEaaXYaaa");
        r.feed_data(b"QWEaa");
        r.feed_data(b"XYa");
        feed_later(&r, &[b"aa"], false);
        assert_eq!(r.read_until(b"aaa").await.unwrap(), b"QWEaaXYaaa");
        r.feed_data(b"aaa");
        assert_eq!(r.read_until(b"aaa").await.unwrap(), b"aaa");
        r.feed_data(b"Xaaa");
        assert_eq!(r.read_until(b"aaa").await.unwrap(), b"Xaaa");
        r.feed_data(b"XXX");
        feed_later(&r, &[b"a", b"a", b"a"], false);
        assert_eq!(r.read_until(b"aaa").await.unwrap(), b"XXXaaa");
        assert_eq!(r.buffered(), 0);
    });
}

/// test_readuntil_eof.
#[test]
fn readuntil_eof() {
    run(async {
        let mut r = reader_with(&[b"some dataAA"], None);
        r.feed_eof();
        let err = r.read_until(b"AAA").await.unwrap_err();
        assert_eq!(err.partial(), Some(&b"some dataAA"[..]));
        assert_eq!(err.expected(), Some(None));
        assert_eq!(
            err.to_string(),
            "11 bytes read on a total of undefined expected bytes"
        );
        assert_eq!(r.buffered(), 0);
    });
}

/// test_readuntil_limit_found_sep: over the limit, the data stays buffered.
#[test]
fn readuntil_limit_found_sep() {
    run(async {
        let mut r = reader_with(&[b"some dataAA"], Some(3));
        let err = r.read_until(b"AAA").await.unwrap_err();
        assert!(err.is_limit_overrun());
        assert!(err.to_string().contains("not found"), "{err}");
        assert_eq!(r.buffered(), 11);
        r.feed_data(b"A");
        let err = r.read_until(b"AAA").await.unwrap_err();
        assert!(err.to_string().contains("is found"), "{err}");
        assert_eq!(err.consumed(), Some(9));
        assert_eq!(rest(r).await, b"some dataAAA");
    });
}

/// test_readexactly_zero_or_less (the negative count is not representable).
#[test]
fn readexactly_zero() {
    run(async {
        let mut r = reader_with(&[DATA], None);
        assert_eq!(r.read_exactly(0).await.unwrap(), b"");
        assert_eq!(rest(r).await, DATA);
    });
}

/// test_readexactly.
#[test]
fn readexactly() {
    run(async {
        let mut r = StreamReader::new();
        feed_later(&r, &[DATA, DATA, DATA], false);
        let got = r.read_exactly(2 * DATA.len()).await.unwrap();
        assert_eq!(got, [DATA, DATA].concat());
        assert_eq!(rest(r).await, DATA);
    });
}

/// test_readexactly_eof: the partial data, the expected count and the message.
#[test]
fn readexactly_eof() {
    run(async {
        let mut r = StreamReader::new();
        feed_later(&r, &[DATA], true);
        let n = 2 * DATA.len();
        let err = r.read_exactly(n).await.unwrap_err();
        assert!(err.is_incomplete_read());
        assert_eq!(err.partial(), Some(DATA));
        assert_eq!(err.expected(), Some(Some(n)));
        assert_eq!(
            err.to_string(),
            "18 bytes read on a total of 36 expected bytes"
        );
        assert_eq!(r.buffered(), 0);
    });
}

/// test_readexactly_exception and test_exception.
#[test]
fn readexactly_exception() {
    run(async {
        let mut r = reader_with(&[b"line\n"], None);
        assert!(r.exception().is_none());
        assert_eq!(r.read_exactly(2).await.unwrap(), b"li");
        r.set_exception(Error::InvalidArgument("boom".into()));
        assert!(r.exception().unwrap().is_invalid_argument());
        assert!(r.read_exactly(2).await.unwrap_err().is_invalid_argument());
    });
}

/// test_exception_waiter: set_exception wakes a pending readline with the error.
#[test]
fn exception_waiter() {
    run(async {
        let mut r = StreamReader::new();
        let feeder = r.feeder();
        let t1 = aio::create_task(async move { r.read_line().await });
        let t2 = aio::create_task(async move {
            feeder.set_exception(Error::InvalidArgument("boom".into()));
        });
        t2.await.unwrap();
        assert!(t1.await.unwrap().unwrap_err().is_invalid_argument());
    });
}

/// test_exception_cancel: after the reader was cancelled, set_exception does not blow up.
#[test]
fn exception_cancel() {
    run(async {
        let mut r = StreamReader::new();
        let feeder = r.feeder();
        let t = aio::create_task(async move { r.read_line().await });
        aio::yield_now().await;
        t.cancel();
        aio::yield_now().await;
        feeder.set_exception(Error::InvalidState("message".into()));
        aio::yield_now().await;
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

async fn echo_line(mut reader: StreamReader, writer: StreamWriter) {
    let line = reader.read_line().await.unwrap();
    writer.write(&line).unwrap();
    writer.drain().await.unwrap();
}

async fn client_round_trip(reader: &mut StreamReader, writer: &StreamWriter) {
    writer.write(b"hello world!\n").unwrap();
    assert_eq!(reader.read_line().await.unwrap(), b"hello world!\n");
}

/// test_start_server: an echo through a coroutine handler and through a plain callback (one
/// that starts its own task); close + wait_closed.
#[test]
fn start_server() {
    run(async {
        for plain in [false, true] {
            let server = if plain {
                aio::start_server(
                    |r, w| {
                        drop(aio::create_task(echo_line(r, w)));
                        std::future::ready(())
                    },
                    ("127.0.0.1", 0),
                )
                .await
            } else {
                aio::start_server(echo_line, ("127.0.0.1", 0)).await
            }
            .unwrap();
            assert!(server.is_serving());
            let (mut r, w) = aio::open_connection(server.local_addr().unwrap())
                .await
                .unwrap();
            client_round_trip(&mut r, &w).await;
            w.close();
            w.wait_closed().await;
            server.close();
            server.wait_closed().await;
            assert!(!server.is_serving());
        }
    });
}

/// test_start_unix_server.
#[test]
fn start_unix_server() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let server = aio::start_unix_server(echo_line, &p).await.unwrap();
        let (mut r, w) = aio::open_unix_connection(&p).await.unwrap();
        client_round_trip(&mut r, &w).await;
        drop((r, w));
        server.close();
        server.wait_closed().await;
    });
}

/// asyncio's `create_server` binds every address the host resolves to (and every host of a
/// sequence): `localhost` is served on each of its addresses, and an IPv4 and an IPv6
/// loopback address given together are both served (the IPv6 one `IPV6_V6ONLY`).
#[test]
fn start_server_listens_on_every_address() {
    use std::net::SocketAddr;
    run(async {
        let server = aio::start_server(echo_line, ("localhost", 0))
            .await
            .unwrap();
        serves_on_each(&server, None).await;
        let both: Vec<SocketAddr> =
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let server = aio::start_server(echo_line, both).await.unwrap();
        serves_on_each(&server, Some(2)).await;
    });
}

/// Checks that `server` listens on the addresses `localhost` resolves to (`None`) or on
/// `count` distinct ones, and that each serves a round trip; closes it.
async fn serves_on_each(server: &Server, count: Option<usize>) {
    use std::net::{SocketAddr, ToSocketAddrs};
    let addrs: Vec<SocketAddr> = server
        .sockets()
        .iter()
        .map(|s| match s {
            aio::SockAddr::Inet(a) => *a,
            other => panic!("not a TCP address: {other:?}"),
        })
        .collect();
    let mut got: Vec<_> = addrs.iter().map(SocketAddr::ip).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), addrs.len(), "one listener per address");
    match count {
        Some(n) => assert_eq!(got.len(), n),
        None => {
            let mut want: Vec<_> = ("localhost", 0)
                .to_socket_addrs()
                .unwrap()
                .map(|a| a.ip())
                .collect();
            want.sort();
            want.dedup();
            assert_eq!(got, want);
        }
    }
    for a in addrs {
        let (mut r, w) = aio::open_connection(a).await.unwrap();
        client_round_trip(&mut r, &w).await;
    }
    server.close();
    server.wait_closed().await;
}

/// Python 3.13 (gh-111246, `cleanup_socket=True`): a Unix server removes its socket file
/// when it closes, and when it is dropped; a connection accepted before goes on.
#[test]
fn unix_server_removes_its_socket_file() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let server = aio::start_unix_server(echo_line, &p).await.unwrap();
        assert!(p.exists());
        let (mut r, w) = aio::open_unix_connection(&p).await.unwrap();
        server.close();
        assert!(!p.exists(), "close() removes the socket file");
        client_round_trip(&mut r, &w).await;
        drop((r, w));
        server.wait_closed().await;

        let server = aio::start_unix_server(echo_line, &p).await.unwrap();
        assert!(p.exists());
        drop(server);
        assert!(!p.exists(), "dropping the server removes the socket file");
    });
}

/// The socket file is removed only if it is still the one bound: a file put in its place
/// is left alone; `cleanup_socket(false)` keeps the file.
#[test]
fn unix_server_leaves_a_replaced_or_kept_socket_file() {
    let path = SockPath::new();
    let p = path.0.clone();
    run(async move {
        let server = aio::start_unix_server(echo_line, &p).await.unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"not a socket").unwrap();
        server.close();
        assert_eq!(std::fs::read(&p).unwrap(), b"not a socket");
        std::fs::remove_file(&p).unwrap();

        // Another socket bound at the path since: not ours either.
        let server = aio::start_unix_server(echo_line, &p).await.unwrap();
        std::fs::remove_file(&p).unwrap();
        let other = std::os::unix::net::UnixListener::bind(&p).unwrap();
        server.close();
        assert!(p.exists(), "another socket's file is left alone");
        drop(other);
        std::fs::remove_file(&p).unwrap();

        let server = Server::builder()
            .cleanup_socket(false)
            .start_unix(echo_line, &p)
            .await
            .unwrap();
        server.close();
        assert!(p.exists(), "cleanup_socket(false) keeps the file");
    });
}

/// test_drain_raises: the peer accepts and closes; write + drain fails with a lost
/// connection instead of spinning (bpo-25441).
#[test]
fn drain_raises() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || drop(listener.accept().unwrap()));
        let (_r, w) = aio::open_connection(addr).await.unwrap();
        server.join().unwrap();
        let mut err = None;
        for _ in 0..100_000 {
            w.write(b"foo").unwrap();
            if let Err(e) = w.drain().await {
                err = Some(e);
                break;
            }
            aio::yield_now().await;
        }
        let err = err.expect("drain never failed");
        assert!(err.is_connection_lost(), "{err}");
    });
}

/// test_multiple_drain: concurrent drainers are all released by one resume.
#[test]
fn multiple_drain() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (_r, w) = aio::open_connection(addr).await.unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        w.set_write_buffer_limits(Some(1024), None).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0;
        for _ in 0..1000 {
            if w.write_buffer_size() > 1024 {
                break;
            }
            w.write(&chunk).unwrap();
            written += chunk.len();
        }
        assert!(w.write_buffer_size() > 1024, "the writer never paused");
        let done = Rc::new(std::cell::Cell::new(0));
        let drains: Vec<_> = (0..10)
            .map(|_| {
                let (w, done) = (w.clone(), done.clone());
                aio::create_task(async move {
                    w.drain().await.unwrap();
                    done.set(done.get() + 1);
                })
            })
            .collect();
        aio::yield_now().await;
        assert_eq!(done.get(), 0, "drainers returned while paused");
        let reader = thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0;
            while got < written {
                got += peer.read(&mut buf).unwrap();
            }
        });
        for d in drains {
            d.await.unwrap();
        }
        assert_eq!(done.get(), 10);
        reader.join().unwrap();
    });
}

/// test_async_writer_api_exception_after_close.
#[test]
fn writer_api_after_close() {
    run(async {
        let server = aio::start_server(echo_line, "127.0.0.1:0").await.unwrap();
        let (_r, w) = aio::open_connection(server.local_addr().unwrap())
            .await
            .unwrap();
        w.close();
        assert!(w.is_closing());
        w.write(b"data").unwrap();
        let err = w.drain().await.unwrap_err();
        assert_eq!(err.io_kind(), Some(std::io::ErrorKind::ConnectionReset));
        w.wait_closed().await;
        server.close();
        server.abort_clients();
        server.wait_closed().await;
    });
}

/// test_eof_feed_when_closing_writer (bpo-35065) and
/// test_wait_closed_on_close_with_unread_data.
#[test]
fn eof_feed_when_closing_writer() {
    run(async {
        let server = aio::start_server(
            |_r, w: StreamWriter| async move {
                w.write(b"unread").unwrap();
                w.drain().await.unwrap();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, w) = aio::open_connection(server.local_addr().unwrap())
            .await
            .unwrap();
        w.close();
        w.wait_closed().await;
        assert!(r.at_eof());
        assert_eq!(r.read_to_end().await.unwrap(), b"");
        drop(server);
    });
}

/// Beyond CPython: `lines` as a Stream, and the futures-io traits on the reader.
#[test]
fn lines_stream_and_async_read() {
    run(async {
        let r = reader_with(&[b"a\nb\n", b"c"], None);
        r.feed_eof();
        let lines: Vec<_> = r.lines().map(|l| l.unwrap()).collect().await;
        assert_eq!(lines, [&b"a\n"[..], b"b\n", b"c"]);

        let (a, b) = concurra::aio::net::UnixStream::pair().unwrap();
        let (mut ra, _wa) = a.into_streams();
        let (_rb, wb) = b.into_streams();
        let payload: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        wb.write(&payload).unwrap();
        wb.write_eof().unwrap();
        let mut got = Vec::new();
        futures::AsyncReadExt::read_to_end(&mut ra, &mut got)
            .await
            .unwrap();
        assert_eq!(got, payload);

        // The writer as a futures-io AsyncWrite: buffered bytes first, then direct writes,
        // in order; close flushes and closes.
        let (a, b) = concurra::aio::net::UnixStream::pair().unwrap();
        let (mut ra, _wa) = a.into_streams();
        let (_rb, mut wb) = b.into_streams();
        let reader = aio::create_task(async move {
            let mut got = Vec::new();
            futures::AsyncReadExt::read_to_end(&mut ra, &mut got)
                .await
                .unwrap();
            got
        });
        wb.write(&payload).unwrap();
        futures::AsyncWriteExt::write_all(&mut wb, &payload)
            .await
            .unwrap();
        futures::AsyncWriteExt::close(&mut wb).await.unwrap();
        assert!(wb.is_closing());
        assert_eq!(reader.await.unwrap(), [&payload[..], &payload[..]].concat());
    });
}

/// Beyond CPython: a reader nobody calls buffers nothing, and reading keeps its buffer at or
/// under twice the limit (asyncio pauses the transport there).
#[test]
fn reader_buffer_is_bounded() {
    run(async {
        let (a, b) = concurra::aio::net::UnixStream::pair().unwrap();
        let (mut ra, _wa) = a.into_streams();
        let (_rb, wb) = b.into_streams();
        ra.set_limit(1000).unwrap();
        let line: Vec<u8> = [vec![b'x'; 99], vec![b'\n']].concat();
        for _ in 0..5000 {
            wb.write(&line).unwrap();
        }
        aio::sleep(Duration::from_millis(10)).await;
        assert_eq!(ra.buffered(), 0);
        for _ in 0..5000 {
            assert_eq!(ra.read_line().await.unwrap(), line);
            assert!(ra.buffered() <= 2 * 1000, "{}", ra.buffered());
        }
    });
}

/// Beyond CPython: Server's close_clients / abort_clients end handlers blocked on reads, so
/// wait_closed returns (gh-113538); dropping a server closes its listener.
#[test]
fn server_close_and_abort_clients() {
    run(async {
        for abort in [false, true] {
            let server = aio::start_server(
                |mut r: StreamReader, _w| async move {
                    assert_eq!(r.read_line().await.unwrap(), b"");
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let addr = server.local_addr().unwrap();
            let (_r, _w) = aio::open_connection(addr).await.unwrap();
            while server.connections() == 0 {
                aio::yield_now().await;
            }
            server.close();
            if abort {
                server.abort_clients();
            } else {
                server.close_clients();
            }
            aio::wait_for(server.wait_closed(), Duration::from_secs(5))
                .await
                .unwrap();
            drop(server);
            let refused = aio::open_connection(addr).await.unwrap_err();
            assert_eq!(
                refused.io_kind(),
                Some(std::io::ErrorKind::ConnectionRefused)
            );
        }
    });
}

/// Beyond CPython: serve_forever returns when the server is closed, and cancelling it closes
/// the server and its clients.
#[test]
fn serve_forever() {
    run(async {
        let server = Rc::new(aio::start_server(echo_line, "127.0.0.1:0").await.unwrap());
        let s = server.clone();
        let forever = aio::create_task(async move { s.serve_forever().await });
        let (mut r, w) = aio::open_connection(server.local_addr().unwrap())
            .await
            .unwrap();
        client_round_trip(&mut r, &w).await;
        forever.cancel();
        assert!(forever.await.unwrap_err().is_cancelled());
        assert!(!server.is_serving());
        assert!(server.serve_forever().await.unwrap_err().is_invalid_state());
    });
}

/// Beyond CPython: a connection limit keeps the extra clients in the backlog until a slot
/// frees.
#[test]
fn connection_limit() {
    run(async {
        let server: Server = Server::builder()
            .max_connections(2)
            .start(echo_line, "127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(aio::open_connection(addr).await.unwrap());
        }
        while server.connections() < 2 {
            aio::yield_now().await;
        }
        aio::sleep(Duration::from_millis(20)).await;
        assert_eq!(server.connections(), 2);
        // The first two are served; once one ends, the third is.
        for (r, w) in clients.iter_mut() {
            client_round_trip(r, w).await;
        }
    });
}

/// Beyond CPython: accept backs off on EMFILE instead of spinning (tokio#3529), and serves
/// again once descriptors come back.
#[test]
fn accept_backs_off_when_out_of_descriptors() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    run(async {
        let server = aio::start_server(echo_line, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        // The client's socket is made before the limit bites.
        let client = std::net::TcpStream::connect(addr).unwrap();
        struct Restore(Rlimit);
        impl Drop for Restore {
            fn drop(&mut self) {
                setrlimit(Resource::Nofile, self.0).unwrap();
            }
        }
        let old = getrlimit(Resource::Nofile);
        let restore = Restore(old);
        let highest = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(highest + 1),
                maximum: old.maximum,
            },
        )
        .unwrap();
        // Fill every free number under the limit: the next accept fails with EMFILE.
        let mut hogs = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hogs.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                    break;
                }
            }
            assert!(hogs.len() < 4096);
        }
        // The loop goes on meanwhile: a spinning accept would starve these sleeps.
        for _ in 0..5 {
            aio::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.connections(), 0, "accepted without a descriptor?");
        drop(hogs);
        drop(restore);
        client.set_nonblocking(true).unwrap();
        let client = concurra::aio::net::TcpStream::from_std(client).unwrap();
        let (mut r, w) = client.into_streams();
        client_round_trip(&mut r, &w).await;
    });
}
