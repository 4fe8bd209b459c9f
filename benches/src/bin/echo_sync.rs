//! The sync adapter's raw baseline: a plain blocking tungstenite server, one thread per
//! connection, that echoes every data frame; no hello, no JSON.
//!
//! Run it with `cargo run --release -p chanbind-benches --bin echo_sync -- --listen
//! 127.0.0.1:9002` and drive it with the load tool's `echo` mix. It runs until killed.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use clap::Parser;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Message;

/// A blocking tungstenite echo server, thread per connection.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Address to listen on; keep it on loopback, this is a benchmark target.
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: SocketAddr,
    /// How much tungstenite reads at once. It zero-fills that much before every read, so the
    /// size shows in the CPU per frame: give the baseline the same as the adapter it stands
    /// for. Defaults to tungstenite's own (128 KiB).
    #[arg(long, default_value_t = WebSocketConfig::default().read_buffer_size)]
    read_buffer_bytes: usize,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen)?;
    println!("listening on ws://{}/", listener.local_addr()?);
    let config = WebSocketConfig::default().read_buffer_size(args.read_buffer_bytes);
    for accepted in listener.incoming() {
        match accepted {
            Ok(socket) => {
                // Small replies would otherwise wait for Nagle's timer.
                let _ = socket.set_nodelay(true);
                let spawned = thread::Builder::new()
                    .name("echo-conn".to_owned())
                    .spawn(move || echo(socket, config));
                if let Err(e) = spawned {
                    // Out of threads: the socket is dropped (closed) and the server goes on.
                    eprintln!("echo_sync: cannot spawn a connection thread: {e}");
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("echo_sync: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

fn echo(socket: TcpStream, config: WebSocketConfig) {
    let Ok(mut ws) = tungstenite::accept_with_config(socket, Some(config)) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Ok(Message::Close(_)) => {
                // Sends the close reply tungstenite queued when the client's close arrived.
                let _ = ws.flush();
                return;
            }
            // tungstenite answers pings itself; the pong goes out with the next write.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Err(_) => return,
        }
    }
}
