//! The core's engine on tokio serves what the native server serves: files
//! byte for byte, keep-alive, listings, errors, large bodies, and its head
//! deadline cuts off a slow client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use httpserver_core::{Config, ServerProtocol, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A tree in a fresh temporary directory (removed by the caller).
fn tree(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("httpserver-tokio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), b"hello\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    std::fs::write(dir.join("sub/b.txt"), b"b\n").unwrap();
    dir
}

async fn start(root: &Path, config: Config) -> std::net::SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let root = root.to_path_buf();
    tokio::spawn(httpserver_tokio_example::serve(listener, root, Arc::new(config)));
    addr
}

/// Send `request`, read until the server closes (or 5 s pass).
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

fn http11() -> Config {
    Config::default().with_protocol(ServerProtocol::Http11)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_files_listings_and_errors() {
    let root = tree("basic");
    let addr = start(&root, http11()).await;

    let out = exchange(addr, b"GET /a.txt HTTP/1.0\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\nServer: httpserver/0.1.0\r\nDate: "), "{text}");
    assert!(text.contains("\r\nContent-type: text/plain\r\nContent-Length: 6\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");

    // Keep-alive: two requests, two answers, then the client's close.
    let out = exchange(
        addr,
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains("<a href=\"b.txt\">b.txt</a>"), "{text}");

    let out = exchange(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 404 File not found\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");

    // A body larger than one copy step arrives whole.
    let out = exchange(addr, b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&out[split..], std::fs::read(root.join("big.bin")).unwrap().as_slice());
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_deadline_cuts_a_slow_client_off() {
    let root = tree("slow");
    let timeouts = Timeouts::default().with_head(Some(Duration::from_millis(500)));
    let addr = start(&root, http11().with_timeouts(timeouts)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut closed = false;
    // A byte every 100 ms, never a complete head: cut off well before 40 bytes.
    for b in b"GET /a.txt HTTP/1.1\r\nX-Slow: 1234567890123".iter() {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut one = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut one)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a head trickling in was never cut off");
    std::fs::remove_dir_all(root).unwrap();
}
