//! A loopback HTTP receiver that accepts everything, for benches/http.sh: it answers each HTTP
//! sink's intake contract with success as fast as it can (HTTP/1.1 keep-alive), so what the
//! benchmark measures is trailhose's side. It inflates gzip bodies to count what was sent, and
//! answers `_bulk` with one created item per action line, Loggly with `{"response" : "ok"}`,
//! Splunk HEC with `{"text":"Success","code":0}`, Datadog with 202, anything else with 200.
//! `GET /stats` gives the counts (requests, wire bytes, body bytes); `POST /stats/reset` zeroes them.
//!
//! Usage: cargo run --release --example http_receiver -- 127.0.0.1:PORT

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    wire_bytes: AtomicU64,
    body_bytes: AtomicU64,
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let counts = counts.clone();
            tokio::spawn(async move {
                let _ = serve(stream, &counts).await;
            });
        }
    })
}

async fn serve(stream: tokio::net::TcpStream, counts: &Counts) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::with_capacity(256 * 1024, read);
    let mut line = String::new();
    let mut body = Vec::new();
    let mut inflated = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let (mut length, mut gzip) = (0usize, false);
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                } else if name == "content-encoding" {
                    gzip = value.trim().eq_ignore_ascii_case("gzip");
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
        let answer = if path == "/stats" && method == "GET" {
            format!(
                "{{\"requests\":{},\"wire_bytes\":{},\"body_bytes\":{}}}",
                counts.requests.load(Ordering::Relaxed),
                counts.wire_bytes.load(Ordering::Relaxed),
                counts.body_bytes.load(Ordering::Relaxed)
            )
        } else if path == "/stats/reset" {
            counts.requests.store(0, Ordering::Relaxed);
            counts.wire_bytes.store(0, Ordering::Relaxed);
            counts.body_bytes.store(0, Ordering::Relaxed);
            "{}".to_string()
        } else {
            let plain: &[u8] = if gzip {
                inflated.clear();
                flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut inflated)?;
                &inflated
            } else {
                &body
            };
            if method != "GET" {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                counts
                    .wire_bytes
                    .fetch_add(length as u64, Ordering::Relaxed);
                counts
                    .body_bytes
                    .fetch_add(plain.len() as u64, Ordering::Relaxed);
            }
            answer_for(&method, &path, plain)
        };
        let status = if path.ends_with("/api/v2/logs") && method == "POST" {
            "202 Accepted"
        } else {
            "200 OK"
        };
        // One write: a head and a body in two would meet Nagle and delayed ACKs (40 ms each).
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The success answer of the intake `path` belongs to.
fn answer_for(method: &str, path: &str, body: &[u8]) -> String {
    if method == "GET" {
        return "{\"version\":{\"number\":\"8.15.0\"}}".to_string();
    }
    if path.ends_with("/_bulk") {
        // One item per action line: every other line.
        let lines = body.iter().filter(|&&b| b == b'\n').count();
        let mut out = String::with_capacity(lines / 2 * 30 + 32);
        out.push_str("{\"took\":1,\"errors\":false,\"items\":[");
        for i in 0..lines / 2 {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"create\":{\"status\":201}}");
        }
        out.push_str("]}");
        return out;
    }
    if path.starts_with("/bulk/") {
        return "{\"response\" : \"ok\"}".to_string();
    }
    if path.starts_with("/services/collector") {
        return "{\"text\":\"Success\",\"code\":0}".to_string();
    }
    "{}".to_string()
}
