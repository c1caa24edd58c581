//! Real servers for the tests: a `redis-server` each test starts on a Unix socket of its own,
//! and worker nodes that are the test binary itself, started again in worker mode.
//!
//! Under `CI=true` a missing `redis-server` fails the test; elsewhere the test says so and
//! passes without running (`.ci/run` and `scripts/redis-test.sh` install it).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use concurra_redis::{RedisExecutor, WORKER_ENV};

/// A `redis-server` on a Unix socket in a directory of its own; killed (and the directory
/// removed) on drop.
pub struct Redis {
    child: Option<Child>,
    dir: PathBuf,
    persist: bool,
}

fn server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

impl Redis {
    /// A server without persistence, or `None` (outside CI) if none is installed.
    pub fn start() -> Option<Redis> {
        Self::start_with(false)
    }

    /// A server; with `persist`, an append-only file synced at every write.
    pub fn start_with(persist: bool) -> Option<Redis> {
        if server_binary().is_none() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed (CI=true: a missing server is a failure)");
            }
            eprintln!("SKIPPED: redis-server is not installed (scripts/redis-test.sh installs it)");
            return None;
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cq-redis-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            child: None,
            dir,
            persist,
        };
        redis.launch();
        Some(redis)
    }

    /// Starts the server process and waits for its "Ready to accept connections" line.
    fn launch(&mut self) {
        let mut cmd = Command::new(server_binary().expect("checked"));
        cmd.arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .arg("--logfile")
            .arg("")
            .arg("--daemonize")
            .arg("no");
        if self.persist {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(line))
                    if line
                        .to_ascii_lowercase()
                        .contains("ready to accept connections") =>
                {
                    break
                }
                Some(Ok(_)) => {}
                _ => panic!("redis-server did not start"),
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("r.sock")
    }

    /// The broker URL (namespace `ns`).
    pub fn url(&self, ns: &str) -> String {
        format!("redis+unix://{}?ns={ns}", self.socket().display())
    }

    /// The URL of the server without a namespace.
    pub fn plain_url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Opens 100 gates of `tag` when dropped.
    pub fn gates(&self, tag: &str) -> tasks::Gates {
        tasks::Gates {
            url: self.plain_url(),
            tag: tag.to_string(),
        }
    }

    /// A plain connection, for the tests' own checks.
    pub fn con(&self) -> redis::Connection {
        redis::Client::open(format!("redis+unix://{}", self.socket().display()))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// kill -9 the server.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts it again on the same socket and directory (its append-only file, if any).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A worker node: this test binary again, in worker mode; kill -9 on drop.
pub struct Node {
    pub child: Child,
    /// Its name, as it printed it (`host:pid:nonce`).
    pub name: String,
}

impl Node {
    /// Starts a node on `url` with `processes` local processes and no prefetch, and waits
    /// until it serves (its start line on standard error).
    pub fn start(url: &str, processes: usize) -> Node {
        Self::start_exe(&std::env::current_exe().unwrap(), url, processes, 0)
    }

    /// As [`start`](Self::start) with a prefetch.
    pub fn start_prefetch(url: &str, processes: usize, prefetch: usize) -> Node {
        Self::start_exe(&std::env::current_exe().unwrap(), url, processes, prefetch)
    }

    /// A node running the executable `exe`.
    pub fn start_exe(exe: &Path, url: &str, processes: usize, prefetch: usize) -> Node {
        let mut command = Command::new(exe);
        command
            .env(
                WORKER_ENV,
                format!("{url}&processes={processes}&prefetch={prefetch}"),
            )
            .env("TEST_REDIS_URL", url.split('?').next().unwrap())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A file just written may still be open for writing in a child another test thread
        // forked meanwhile (until it execs): ETXTBSY, for a moment.
        let mut child = loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => std::thread::yield_now(),
                other => break other.unwrap(),
            }
        };
        let err = child.stderr.take().unwrap();
        let mut lines = BufReader::new(err).lines();
        let name = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("concurra-redis worker ") {
                        break rest.split(' ').next().unwrap().to_string();
                    }
                }
                other => panic!("the worker node did not start: {other:?}"),
            }
        };
        // Pass its later messages on (they help when a test fails).
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[node] {line}");
            }
        });
        Node { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we own and have not reaped.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An executor on `url` with a short lease (tests), and the given no-worker timeout.
pub fn executor(url: &str) -> concurra_redis::Builder {
    RedisExecutor::builder(url)
        .lease(Duration::from_millis(1000))
        .no_worker_timeout(Duration::from_secs(20))
        .broker_timeout(Duration::from_secs(20))
}

/// The node a call runs on (inside a call): its pid.
pub fn node_pid() -> u32 {
    std::env::var(concurra_redis::NODE_ENV)
        .ok()
        .and_then(|n| n.split(':').nth(1).and_then(|p| p.parse().ok()))
        .unwrap_or(0)
}

pub mod tasks;

thread_local! {
    static CON: std::cell::RefCell<Option<redis::Connection>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this process's connection to the test's Redis (inside a call).
pub fn with_redis<T>(f: impl FnOnce(&mut redis::Connection) -> T) -> T {
    CON.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            let url = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL in a worker");
            *c = Some(redis::Client::open(url).unwrap().get_connection().unwrap());
        }
        f(c.as_mut().unwrap())
    })
}
