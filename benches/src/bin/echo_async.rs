//! The async adapter's raw baseline: a plain tokio-tungstenite server that echoes every data
//! frame, one task per connection, no hello, no JSON.
//!
//! Run it with `cargo run --release -p chanbind-benches --bin echo_async -- --listen
//! 127.0.0.1:9001` and drive it with the load tool's `echo` mix. It runs until killed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// A tokio-tungstenite echo server.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Address to listen on; keep it on loopback, this is a benchmark target.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// How much tungstenite reads at once. It zero-fills that much before every read, so the
    /// size shows in the CPU per frame: give the baseline the same as the adapter it stands
    /// for. Defaults to tungstenite's own (128 KiB).
    #[arg(long, default_value_t = WebSocketConfig::default().read_buffer_size)]
    read_buffer_bytes: usize,
}

// The same runtime the demo gets from `#[tokio::main]` (multi-thread, one worker per core), so
// the two servers differ only in what they do per frame.
#[tokio::main]
async fn main() -> io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on ws://{}/", listener.local_addr()?);
    let config = WebSocketConfig::default().read_buffer_size(args.read_buffer_bytes);
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                // The async adapter disables Nagle too; without it small replies wait ~40 ms.
                let _ = socket.set_nodelay(true);
                tokio::spawn(echo(socket, config));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("echo_async: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn echo(socket: TcpStream, config: WebSocketConfig) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(socket, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(msg).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => break,
            // tungstenite answers pings itself; the pong goes out with the next write.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    // Sends the close reply tungstenite queued when the client's close arrived.
    let _ = ws.flush().await;
}
