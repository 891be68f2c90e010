//! A small HTTP/1.1 server on loopback for the HTTP sink tests: it stands in for the intakes
//! that do not install here (Datadog, Loggly, Splunk HEC) and injects the faults the real ones
//! answer with (413, 429 with Retry-After, 500, slow answers, dropped connections). Each test
//! gives it a handler that sees every request (headers, body decompressed) and says what to do.
//! Keep-alive is supported, so connection reuse can be checked; `start_tls` serves HTTPS with a
//! given certificate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as sent (compressed when it was).
    pub wire: Vec<u8>,
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// Which connection it came on (numbered from 0), to see reuse.
    pub connection: usize,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the server does with a request.
pub enum Reply {
    /// Answer with a status, extra headers and a body.
    Answer(u16, Vec<(String, String)>, String),
    /// Wait, then answer.
    Slow(Duration, Box<Reply>),
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Answer(status, vec![], body.to_string())
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// The running server; stops when dropped.
pub struct Intake {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Intake {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Intake {
        Intake::start_with(None, handler)
    }

    /// The same over TLS, with this certificate chain and key (PEM files).
    pub fn start_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Intake {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("certificate file")
            .collect::<Result<_, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(key).expect("key file");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        Intake::start_with(Some(Arc::new(config)), handler)
    }

    fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Intake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let connections = Arc::new(AtomicUsize::new(0));
        {
            let received = received.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = stream.set_nodelay(true);
                    let n = connections.fetch_add(1, Ordering::Relaxed);
                    let (handler, received, stop) =
                        (handler.clone(), received.clone(), stop.clone());
                    let tls = tls.clone();
                    std::thread::spawn(move || match tls {
                        None => serve(stream, n, &*handler, &received, &stop),
                        Some(config) => {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            let tls_stream = rustls::StreamOwned::new(conn, stream);
                            serve(tls_stream, n, &*handler, &received, &stop)
                        }
                    });
                }
            });
        }
        Intake {
            port,
            received,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: impl Read + Write,
    connection: usize,
    handler: &Handler,
    received: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, path) = match (parts.next(), parts.next()) {
            (Some(m), Some(p)) => (m.to_string(), p.to_string()),
            _ => return,
        };
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let length: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut wire = vec![0; length];
        if reader.read_exact(&mut wire).is_err() {
            return;
        }
        let body = if find("content-encoding").as_deref() == Some("gzip") {
            let mut out = Vec::new();
            match flate2::read::GzDecoder::new(&wire[..]).read_to_end(&mut out) {
                Ok(_) => out,
                Err(_) => b"<not gzip>".to_vec(),
            }
        } else {
            wire.clone()
        };
        let request = Received {
            method,
            path,
            headers,
            wire,
            body,
            connection,
        };
        let mut reply = handler(&request);
        received.lock().expect("lock").push(request);
        loop {
            match reply {
                Reply::Slow(wait, then) => {
                    std::thread::sleep(wait);
                    reply = *then;
                }
                Reply::Drop => return,
                Reply::Answer(status, extra, body) => {
                    let mut head = format!(
                        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                        reason(status),
                        body.len()
                    );
                    for (n, v) in extra {
                        head.push_str(&format!("{n}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    head.push_str(&body);
                    let writer = reader.get_mut();
                    if writer.write_all(head.as_bytes()).is_err() || writer.flush().is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
