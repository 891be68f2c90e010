//! A loopback TCP proxy that adds a fixed delay to every request, for benches/s3-replay.sh: a
//! GET to S3 takes tens of milliseconds, a GET on loopback a fraction of one, and how many
//! fetches a replay keeps in flight only matters at the former. Each chunk the client sends
//! (an HTTP request: the S3 client does not pipeline, and GETs have no body) is held `DELAY_MS`
//! before it goes on; answers come back at once. Netem would do this in the kernel, but its
//! module is not on every machine.
//!
//! With a delay of 0 it is the loopback baseline without an artifact of some servers: s3s-fs
//! writes an answer's head and body apart, so Nagle's algorithm holds the body until the head
//! is acknowledged, and the client's delayed ACK makes every GET take 40 ms on loopback. The
//! proxy acknowledges at once (TCP_QUICKACK after each read), as a real network's peer
//! answering promptly would.
//!
//! Usage: cargo run --release --example latency_proxy -- LISTEN_ADDR UPSTREAM_ADDR DELAY_MS

use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Asks the kernel to acknowledge what arrives at once (it falls back to delayed ACKs, so this
/// is asked again after every read).
fn quickack(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor (the stream lives as long as its halves) and a
    // pointer to an int of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream), Some(delay)) = (args.next(), args.next(), args.next())
    else {
        eprintln!("usage: latency_proxy LISTEN_ADDR UPSTREAM_ADDR DELAY_MS");
        std::process::exit(2);
    };
    let delay = Duration::from_millis(delay.parse().expect("DELAY_MS: a number"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        loop {
            let (client, _) = listener.accept().await?;
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut client_read, mut client_write) = client.into_split();
                let server_fd = server.as_raw_fd();
                quickack(server_fd);
                let (mut server_read, mut server_write) = server.into_split();
                let requests = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = client_read.read(&mut buf).await?;
                        if n == 0 {
                            return server_write.shutdown().await;
                        }
                        tokio::time::sleep(delay).await;
                        server_write.write_all(&buf[..n]).await?;
                    }
                };
                let answers = async move {
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        let n = server_read.read(&mut buf).await?;
                        quickack(server_fd);
                        if n == 0 {
                            return client_write.shutdown().await;
                        }
                        client_write.write_all(&buf[..n]).await?;
                    }
                };
                let _: (std::io::Result<()>, std::io::Result<()>) = tokio::join!(requests, answers);
            });
        }
    })
}
