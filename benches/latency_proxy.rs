//! A loopback TCP proxy that adds a fixed delay to every request, for benches/s3-replay.sh: a
//! GET to S3 takes tens of milliseconds, a GET on loopback a fraction of one, and how many
//! fetches a replay keeps in flight only matters at the former. Each chunk the client sends
//! (an HTTP request: the S3 client does not pipeline, and GETs have no body) is held `DELAY_MS`
//! before it goes on; answers come back at once. Netem would do this in the kernel, but its
//! module is not on every machine.
//!
//! Usage: cargo run --release --example latency_proxy -- LISTEN_ADDR UPSTREAM_ADDR DELAY_MS

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
                    let r = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                    r.map(|_| ())
                };
                let _: (std::io::Result<()>, std::io::Result<()>) = tokio::join!(requests, answers);
            });
        }
    })
}
