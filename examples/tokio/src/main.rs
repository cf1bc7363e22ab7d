//! `tokio-serve [PORT] [DIRECTORY]`: the core's static server on tokio.

use std::path::PathBuf;
use std::sync::Arc;

use httpserver_core::{Config, ServerProtocol};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let root = args.next().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Serving HTTP on {} with tokio ...", listener.local_addr()?);
    let config = Arc::new(Config::default().with_protocol(ServerProtocol::Http11));
    httpserver_tokio_example::serve(listener, root, config).await
}
