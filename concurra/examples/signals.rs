//! A service that shuts down cleanly on SIGINT or SIGTERM: a loop task ticks until a signal
//! arrives, then it is cancelled and the program exits 0.
//!
//! ```text
//! cargo run --release --example signals &
//! Waiting for SIGINT or SIGTERM (pid 4242)
//! kill -TERM 4242
//! Got SIGTERM, shutting down
//! Clean exit
//! ```

use std::io::Write;
use std::time::Duration;

use concurra::aio;
use concurra::signal::Signal;

async fn service() -> concurra::Result<()> {
    let mut sigint = aio::signal(Signal::SIGINT)?;
    let mut sigterm = aio::signal(Signal::SIGTERM)?;
    let ticker = aio::create_task(async {
        loop {
            aio::sleep(Duration::from_millis(100)).await;
        }
    });
    println!("Waiting for SIGINT or SIGTERM (pid {})", std::process::id());
    std::io::stdout().flush().ok();
    // Whichever comes first (both streams are polled by one future).
    let got = std::future::poll_fn(|cx| {
        use futures_core::Stream;
        use std::pin::Pin;
        use std::task::Poll;
        if Pin::new(&mut sigint).poll_next(cx).is_ready() {
            return Poll::Ready(Signal::SIGINT);
        }
        if Pin::new(&mut sigterm).poll_next(cx).is_ready() {
            return Poll::Ready(Signal::SIGTERM);
        }
        Poll::Pending
    })
    .await;
    println!("Got {got}, shutting down");
    ticker.cancel();
    let _ = ticker.await;
    println!("Clean exit");
    Ok(())
}

fn main() {
    if let Err(e) = aio::run(service()) {
        eprintln!("signals: {e}");
        std::process::exit(1);
    }
}
