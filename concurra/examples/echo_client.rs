//! Twin of the asyncio documentation's TCP echo client ("TCP echo client using streams"):
//!
//! ```text
//! cargo run --release --example echo_client -- 127.0.0.1:8888 'Hello World!'
//! ```
//!
//! Sends the message and a newline, prints `Send: MESSAGE` and `Received: LINE` (the line it
//! got back), closes, exits 0. A refused connection is a clear error and exit code 1.

use std::process::ExitCode;

use concurra::aio;

async fn tcp_echo_client(addr: String, message: String) -> concurra::Result<String> {
    let (mut reader, writer) = aio::open_connection(addr).await?;
    println!("Send: {message}");
    writer.write(message.as_bytes())?;
    writer.write(b"\n")?;
    writer.drain().await?;
    let line = reader.read_line().await?;
    writer.close();
    writer.wait_closed().await;
    Ok(String::from_utf8_lossy(&line)
        .trim_end_matches('\n')
        .to_owned())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".to_owned());
    let message = args.next().unwrap_or_else(|| "Hello World!".to_owned());
    match aio::run(tcp_echo_client(addr, message)) {
        Ok(line) => {
            println!("Received: {line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}
