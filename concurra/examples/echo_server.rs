//! Twin of the asyncio documentation's TCP echo server ("TCP echo server using streams"):
//!
//! ```text
//! cargo run --release --example echo_server -- 127.0.0.1:8888
//! ```
//!
//! Prints `Serving on ADDR` once listening (port 0 picks a free port, printed), echoes every
//! line each client sends until that client closes, serves many clients at once, runs until
//! killed.

use std::io::Write;
use std::process::ExitCode;

use concurra::aio::{self, StreamReader, StreamWriter};

async fn handle_echo(mut reader: StreamReader, writer: StreamWriter) {
    loop {
        match reader.read_line().await {
            Ok(line) if line.is_empty() => break,
            Ok(line) => {
                if writer.write(&line).is_err() || writer.drain().await.is_err() {
                    break;
                }
            }
            Err(e) => {
                eprintln!("echo_server: {e}");
                break;
            }
        }
    }
    writer.close();
    writer.wait_closed().await;
}

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".to_owned());
    aio::run(async move {
        let server = match aio::start_server(handle_echo, addr).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("echo_server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listening = server
            .local_addr()
            .map_or_else(|| format!("{:?}", server.sockets()), |a| a.to_string());
        println!("Serving on {listening}");
        let _ = std::io::stdout().flush();
        match server.serve_forever().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo_server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
