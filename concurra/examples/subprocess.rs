//! The asyncio documentation's subprocess example: run a shell command, collect its output.
//!
//! ```text
//! cargo run --release --example subprocess -- 'echo hello; echo oops >&2; exit 3'
//! ['echo hello; echo oops >&2; exit 3' exited with 3]
//! [stdout]
//! hello
//!
//! [stderr]
//! oops
//!
//! ```

use concurra::aio::{
    self,
    subprocess::{Command, Stdio},
};

async fn run(cmd: &str) -> concurra::Result<()> {
    let mut child = Command::shell(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.communicate(None).await?;
    println!("['{cmd}' exited with {}]", out.status);
    if let Some(stdout) = out.stdout.filter(|s| !s.is_empty()) {
        println!("[stdout]\n{}", String::from_utf8_lossy(&stdout));
    }
    if let Some(stderr) = out.stderr.filter(|s| !s.is_empty()) {
        println!("[stderr]\n{}", String::from_utf8_lossy(&stderr));
    }
    Ok(())
}

fn main() {
    let cmd = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ls /zzz".to_owned());
    if let Err(e) = aio::run(run(&cmd)) {
        eprintln!("subprocess: {e}");
        std::process::exit(1);
    }
}
