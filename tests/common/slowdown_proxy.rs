//! A TCP proxy in front of a real S3 server (moto) that plays S3 under too much load: the first
//! request of a connection, when it GETs a log file, is answered `503 SlowDown` (S3's documented
//! throttling answer, with `Connection: close`) until `budget` such answers are spent, at most
//! twice per key so the SDK's retries get through. Everything else passes through, one request
//! per connection (`Connection: close` is asked of the server), so every request of the client
//! is the first of its connection and can be answered either way.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SLOWDOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>TESTPROXY</RequestId></Error>";

pub struct SlowDownProxy {
    pub endpoint: String,
    /// SlowDown answers given.
    pub served: Arc<AtomicUsize>,
}

impl SlowDownProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub fn start(upstream: &str, budget: usize) -> SlowDownProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let served = Arc::new(AtomicUsize::new(0));
        let per_key: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counter = served.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, counter, per_key) =
                    (upstream.clone(), counter.clone(), per_key.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &counter, &per_key, budget);
                });
            }
        });
        SlowDownProxy { endpoint, served }
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    served: &AtomicUsize,
    per_key: &Mutex<HashMap<String, usize>>,
    budget: usize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 || head.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let target = text.split(' ').nth(1).unwrap_or("");
    // The SDK adds `?x-id=GetObject`; listings have no `.gz` path.
    let path = target.split('?').next().unwrap_or("");
    let object_get = text.starts_with("GET ") && path.ends_with(".gz");
    let mut client = client;
    if object_get && throttle(path, served, per_key, budget) {
        write!(
            client,
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SLOWDOWN_BODY}",
            SLOWDOWN_BODY.len()
        )?;
        return client.flush();
    }
    // The head again, asking the server to close after its answer.
    let mut lines: Vec<&str> = text
        .trim_end()
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let body_len: u64 = lines
        .iter()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())?;
    std::io::copy(&mut reader.take(body_len), &mut up)?;
    std::io::copy(&mut up, &mut client)?;
    client.shutdown(std::net::Shutdown::Both)
}

/// Whether this GET gets a SlowDown: while the budget lasts, at most twice per key.
fn throttle(
    target: &str,
    served: &AtomicUsize,
    per_key: &Mutex<HashMap<String, usize>>,
    budget: usize,
) -> bool {
    let Ok(mut keys) = per_key.lock() else {
        return false;
    };
    let times = keys.entry(target.to_string()).or_insert(0);
    if *times >= 2 || served.load(Ordering::SeqCst) >= budget {
        return false;
    }
    *times += 1;
    served.fetch_add(1, Ordering::SeqCst);
    true
}
