//! Subprocesses on the event loop, with real children.
//!
//! From CPython's `Lib/test/test_asyncio/test_subprocess.py` (`SubprocessMixin`):
//! `test_stdin_stdout`, `test_communicate`, `test_empty_input`, `test_devnull_input` /
//! `_output` / `_error`, `test_shell`, `test_start_new_session`, `test_kill`,
//! `test_terminate`, `test_send_signal` (with the parent ignoring SIGHUP), `test_stdin_broken_pipe`,
//! `test_communicate_ignore_broken_pipe`, `test_pause_reading`, `test_stdin_not_inheritable`,
//! `test_cancel_process_wait`, `test_close_kill_running`, `test_close_dont_kill_finished`,
//! `test_read_stdout_after_process_exit`, `test_popen_error`, `test_proc_exited`,
//! `test_create_subprocess_with_pidfd` (a loop on a non-main thread: every test here runs on
//! one). Beyond CPython: 64 MiB each way through `communicate` (no deadlock), 1,000 short
//! children spawned and reaped concurrently with no zombie and no descriptor left, a child
//! killed by `SIGKILL` mid-`communicate`, stderr merged into stdout, `kill_on_drop(false)`
//! still reaps.
//!
//! The tests take one lock: they count this process's children and descriptors.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use concurra::aio::{
    self,
    subprocess::{Child, Command, Stdio},
};
use concurra::signal::Signal;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LONG: Duration = Duration::from_secs(20);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The pids whose parent is this process, and whether each is a zombie.
fn children() -> Vec<(u32, bool)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me {
            out.push((pid, state == "Z"));
        }
    }
    out
}

fn is_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    run_within(LONG, f)
}

fn run_within<F: std::future::Future>(bound: Duration, f: F) -> F::Output {
    aio::run(async { aio::wait_for(f, bound).await.expect("test timed out") })
}

#[test]
fn stdin_stdout() {
    let _s = serial();
    run(async {
        let mut child = cat();
        let stdin = child.stdin.take().unwrap();
        stdin.write(b"some data").unwrap();
        stdin.drain().await.unwrap();
        stdin.close();
        let out = child.stdout.as_mut().unwrap().read_to_end().await.unwrap();
        assert_eq!(out, b"some data");
        assert_eq!(child.wait().await.unwrap(), 0);
        assert_eq!(child.returncode(), Some(0));
    });
}

#[test]
fn communicate_and_empty_input() {
    let _s = serial();
    run(async {
        let mut child = cat();
        let out = child.communicate(Some(b"some data")).await.unwrap();
        assert_eq!(out.stdout.as_deref(), Some(&b"some data"[..]));
        assert_eq!(out.stderr, None);
        assert_eq!(out.status, 0);
        // The room reserved ahead of each read is given back: 9 bytes do not hold 256 KiB.
        let cap = out.stdout.unwrap().capacity();
        assert!(cap < 64, "a 9-byte output keeps {cap} bytes");

        let mut child = Command::new("wc")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.communicate(Some(b"")).await.unwrap();
        assert_eq!(String::from_utf8(out.stdout.unwrap()).unwrap().trim(), "0");
    });
}

#[test]
fn devnull_streams_come_back_as_none() {
    let _s = serial();
    run(async {
        // Input from /dev/null: cat ends at once.
        let mut child = Command::new("cat")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(child.stdin.is_none());
        let out = child.communicate(None).await.unwrap();
        assert_eq!(out.stdout.as_deref(), Some(&b""[..]));
        // Output and error to /dev/null.
        let mut child = Command::shell("echo out; echo err >&2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.communicate(None).await.unwrap();
        assert_eq!((out.stdout, out.stderr, out.status), (None, None, 0));
        // Input without a piped stdin is a clear error.
        let mut child = Command::new("true").spawn().unwrap();
        assert!(child
            .communicate(Some(b"x"))
            .await
            .unwrap_err()
            .is_invalid_argument());
        assert_eq!(child.wait().await.unwrap(), 0);
    });
}

#[test]
fn shell_and_start_new_session() {
    let _s = serial();
    run(async {
        let mut child = Command::shell("exit 7").spawn().unwrap();
        assert_eq!(child.wait().await.unwrap(), 7);
        // The session id (field 6 of /proc/<pid>/stat) of a new session is the child's pid.
        let mut child = Command::shell("cut -d' ' -f6 /proc/$$/stat; exit 8")
            .start_new_session(true)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.pid();
        let out = child.communicate(None).await.unwrap();
        assert_eq!(out.status, 8);
        let sid: u32 = String::from_utf8(out.stdout.unwrap())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(sid, pid);
    });
}

/// `cat` with piped stdin and stdout.
fn cat() -> Child {
    Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A child that prints a line once ready, then sleeps.
fn sleeper() -> Child {
    Command::shell("echo sleeping; exec sleep 30")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn kill_terminate_send_signal() {
    let _s = serial();
    run(async {
        for (how, expect) in [("kill", -9), ("terminate", -15), ("hup", -1)] {
            let mut child = sleeper();
            let line = child.stdout.as_mut().unwrap().read_line().await.unwrap();
            assert_eq!(line, b"sleeping\n");
            match how {
                "kill" => child.kill().unwrap(),
                "terminate" => child.terminate().unwrap(),
                _ => child.send_signal(Signal::SIGHUP).unwrap(),
            }
            assert_eq!(child.wait().await.unwrap(), expect, "{how}");
        }
    });
}

/// Sets the parent's SIGHUP disposition to `to`, returning the one it replaced.
fn set_sighup(to: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: `signal` with SIG_IGN or SIG_DFL (or a value it returned before) installs no
    // handler of ours; no other test in this binary relies on SIGHUP's disposition.
    unsafe { libc::signal(libc::SIGHUP, to) }
}

/// CPython's `test_send_signal` (bpo-31034) sets SIGHUP to its default in the parent first,
/// because an ignored disposition is inherited; here the child starts at the default by
/// itself (`reset_signals`, on by default), and inherits "ignore" only when told.
#[test]
fn sighup_reaches_a_child_even_when_the_parent_ignores_it() {
    let _s = serial();
    // Puts the parent's disposition back even if an assertion below fails.
    struct Restore(libc::sighandler_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_sighup(self.0);
        }
    }
    let _restore = Restore(set_sighup(libc::SIG_IGN));
    run(async {
        let mut child = sleeper();
        let line = child.stdout.as_mut().unwrap().read_line().await.unwrap();
        assert_eq!(line, b"sleeping\n");
        child.send_signal(Signal::SIGHUP).unwrap();
        assert_eq!(child.wait().await.unwrap(), -1);

        // Inherited "ignore": the signal is discarded when sent, so the child answers after.
        let mut child = Command::shell("echo sleeping; read x; echo alive")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .reset_signals(false)
            .spawn()
            .unwrap();
        let line = child.stdout.as_mut().unwrap().read_line().await.unwrap();
        assert_eq!(line, b"sleeping\n");
        child.send_signal(Signal::SIGHUP).unwrap();
        child.stdin.as_ref().unwrap().write(b"go\n").unwrap();
        let line = child.stdout.as_mut().unwrap().read_line().await.unwrap();
        assert_eq!(line, b"alive\n");
        assert_eq!(child.wait().await.unwrap(), 0);
    });
}

/// Blocks until the child `pid` has exited, without reaping it: its pidfd turns readable
/// (Linux, as the rest of this file, which reads `/proc`). Fails after 20 s.
fn wait_exited_unreaped(pid: u32) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let bound = Timespec {
        tv_sec: 20,
        tv_nsec: 0,
    };
    assert_eq!(
        poll(&mut fds, Some(&bound)).unwrap(),
        1,
        "child {pid:?} still runs"
    );
}

#[test]
fn signals_after_exit_are_errors() {
    let _s = serial();
    run(async {
        let mut child = Command::new("true").spawn().unwrap();
        assert_eq!(child.wait().await.unwrap(), 0);
        for e in [
            child.send_signal(Signal::SIGHUP).unwrap_err(),
            child.terminate().unwrap_err(),
            child.kill().unwrap_err(),
        ] {
            assert!(e.is_invalid_state(), "{e}");
        }
        // Exited but not yet waited for: still an error, and nothing is sent.
        let mut child = Command::shell("exit 4").spawn().unwrap();
        let pid = child.pid();
        wait_exited_unreaped(pid);
        assert!(children().contains(&(pid, true)));
        assert!(child.kill().unwrap_err().is_invalid_state());
        assert_eq!(child.returncode(), Some(4));
    });
}

#[test]
fn stdin_broken_pipe_and_communicate_ignores_it() {
    let _s = serial();
    run(async {
        let big = vec![b'x'; 4 << 20];
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        assert_eq!(child.wait().await.unwrap(), 0);
        let stdin = child.stdin.take().unwrap();
        stdin.write(&big).unwrap();
        let e = stdin.drain().await.unwrap_err();
        assert!(e.is_connection_lost(), "{e}");

        let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        let out = child.communicate(Some(&big)).await.unwrap();
        assert_eq!(out.status, 0);
    });
}

#[test]
fn a_small_limit_still_reads_everything() {
    let _s = serial();
    run(async {
        let mut child = Command::shell("printf '%s' 012345678901234567890")
            .stdout(Stdio::piped())
            .limit(10)
            .spawn()
            .unwrap();
        assert_eq!(child.stdout.as_ref().unwrap().limit(), 10);
        let out = child.communicate(None).await.unwrap();
        assert_eq!(out.stdout.unwrap().len(), 21);
        assert!(Command::new("true")
            .limit(0)
            .spawn()
            .unwrap_err()
            .is_invalid_argument());
    });
}

#[test]
fn stdin_is_not_inherited_by_other_children() {
    let _s = serial();
    run(async {
        let mut first = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Started while `first`'s stdin pipe is open: it must not hold a copy.
        let mut second = Command::new("sleep").arg("30").spawn().unwrap();
        first.stdin.take().unwrap().close();
        assert_eq!(first.wait().await.unwrap(), 0);
        second.kill().unwrap();
        assert_eq!(second.wait().await.unwrap(), -9);
    });
}

#[test]
fn a_cancelled_wait_leaves_the_child_to_a_later_one() {
    let _s = serial();
    run(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let e = aio::wait_for(child.wait(), Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(e.is_timeout());
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap(), -9);
    });
}

#[test]
fn dropping_kills_a_running_child_and_reaps_it() {
    let _s = serial();
    run(async {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.pid();
        drop(child);
        assert!(is_gone(pid), "process {pid} survived its handle");
    });
}

#[test]
fn dropping_a_finished_child_reaps_it_without_signalling() {
    let _s = serial();
    run(async {
        let child = Command::shell("exit 3").spawn().unwrap();
        let pid = child.pid();
        wait_exited_unreaped(pid);
        assert!(children().contains(&(pid, true)));
        drop(child);
        assert!(is_gone(pid));
    });
}

#[test]
fn kill_on_drop_false_leaves_it_running_then_reaps_it() {
    let _s = serial();
    run(async {
        let child = Command::new("cat")
            .stdin(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .unwrap();
        let pid = child.pid();
        // Dropping closes cat's stdin: it ends by itself, and is reaped by a thread.
        drop(child);
        wait_exited_unreaped(pid);
        // The reaping thread leaves no event to wait for: look until the zombie is gone.
        while !is_gone(pid) {
            aio::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[test]
fn read_stdout_after_process_exit() {
    let _s = serial();
    run(async {
        let mut child = Command::shell("head -c 262144 /dev/zero")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.as_mut().unwrap();
        let mut total = 0;
        loop {
            let chunk = stdout.read(4096).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            total += chunk.len();
            aio::yield_now().await;
        }
        assert_eq!(total, 262144);
        assert_eq!(child.wait().await.unwrap(), 0);
    });
}

#[test]
fn a_missing_program_is_a_clear_error_and_leaks_nothing() {
    let _s = serial();
    let fds = open_fds();
    run(async {
        let e = Command::new("/nonexistent/program")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_err();
        assert!(e.is_io(), "{e}");
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::NotFound), "{e}");
    });
    assert_eq!(open_fds(), fds);
    // Outside a loop.
    assert!(Command::new("true").spawn().unwrap_err().is_invalid_state());
}

#[test]
fn stderr_merged_into_stdout() {
    let _s = serial();
    run(async {
        let mut child = Command::shell("echo out; echo err >&2")
            .stdout(Stdio::piped())
            .stderr(Stdio::merge_into_stdout())
            .spawn()
            .unwrap();
        assert!(child.stderr.is_none());
        let out = child.communicate(None).await.unwrap();
        assert_eq!(out.stdout.unwrap(), b"out\nerr\n");
    });
}

#[test]
fn cwd_and_env() {
    let _s = serial();
    run(async {
        let mut child = Command::shell("pwd; echo \"$CONCURRA_X-${HOME:-nohome}\"")
            .current_dir("/tmp")
            .env_clear()
            .env("CONCURRA_X", "42")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.communicate(None).await.unwrap();
        let text = String::from_utf8(out.stdout.unwrap()).unwrap();
        assert_eq!(text, "/tmp\n42-nohome\n");
    });
}

#[test]
fn communicate_64_mib_each_way_without_deadlock() {
    let _s = serial();
    // 192 MiB through a debug build on a shared machine: a generous bound (a deadlock is
    // still caught); it takes about 4 s here.
    run_within(Duration::from_secs(90), async {
        let input: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8).collect();
        // tee writes everything to stdout and to stderr while we feed stdin: all three pipes
        // fill up unless they are served together.
        let mut child = Command::shell("tee /dev/stderr")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.communicate(Some(&input)).await.unwrap();
        assert_eq!(out.status, 0);
        assert!(out.stdout.unwrap() == input);
        assert!(out.stderr.unwrap() == input);
    });
}

#[test]
fn a_child_killed_mid_communicate() {
    let _s = serial();
    run(async {
        let input = vec![7u8; 16 << 20];
        let mut child = Command::shell("head -c 100000 >/dev/null; echo partial; kill -KILL $$")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.communicate(Some(&input)).await.unwrap();
        assert_eq!(out.status, -9);
        assert_eq!(out.stdout.unwrap(), b"partial\n");
    });
}

#[test]
fn a_thousand_short_children_leave_no_zombie_and_no_descriptor() {
    let _s = serial();
    let fds = open_fds();
    run(async {
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            tasks.push(aio::create_task(async {
                let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
                let out = child.communicate(None).await.unwrap();
                out.status
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 0);
        }
    });
    assert_eq!(children(), Vec::new());
    assert_eq!(open_fds(), fds);
}
