//! Python peers: `python3 bench/python/<script> <ops>` runs the workload with
//! `concurrent.futures` and prints its own time per op as one line `ns_per_op=1234.5`.
//!
//! The interpreter is `$PYTHON` if set, else `python3`. It inherits this process's CPU
//! affinity, so `taskset -c 0` pins it too.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");

/// Runs `script` for `ops` operations: nanoseconds per op, as the script measured it.
pub fn run(script: &str, ops: usize) -> Result<f64, String> {
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3"));
    let path = Path::new(SCRIPTS).join(script);
    let output = Command::new(&python)
        .arg(&path)
        .arg(ops.to_string())
        // For scripts that start this binary again (echo_remote.py's clients).
        .env(
            "BENCH_EXE",
            std::env::current_exe().map_err(|e| format!("no path to the bench binary: {e}"))?,
        )
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    // Extra figures a script reports (the RSS of `connections`) go on to our stderr.
    let extra = String::from_utf8_lossy(&output.stderr);
    if !extra.trim().is_empty() {
        eprint!("{extra}");
    }
    parse(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| format!("{} printed no `ns_per_op=` line", path.display()))
}

/// The value of the first `ns_per_op=<number>` line.
fn parse(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("ns_per_op=")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_the_ns_per_op_line() {
        assert_eq!(parse("ns_per_op=1234.5\n"), Some(1234.5));
        assert_eq!(parse("warming up\nns_per_op=7\n"), Some(7.0));
        assert_eq!(parse("ns_per_op=oops\n"), None);
        assert_eq!(parse(""), None);
    }
}
