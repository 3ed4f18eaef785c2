//! Defect 5 of issue 10: idle and half-open connections exhausted the
//! server. A first-request timeout, an idle timeout and a connection cap
//! now bound what a network neighbour can hold open.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, spawn_app_with};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Idle sockets of three shapes: nothing sent, the preface only, the
/// preface and half a frame header.
async fn open_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // A socket the server already shed refuses the write: fine.
        let _ = match i % 3 {
            0 => Ok(()),
            1 => s.write_all(PREFACE).await,
            _ => s.write_all(&[PREFACE, &[0, 0, 6, 4, 0]].concat()).await,
        };
        sockets.push(s);
    }
    sockets
}

/// Whether the server closed the socket within `wait` (EOF or reset after
/// whatever it sent first, such as its SETTINGS frame).
async fn closed_within(mut socket: TcpStream, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A real client's health check, with a one-second deadline.
async fn served_within_a_second(addr: SocketAddr) -> bool {
    let call = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .ok()?;
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), call).await,
        Ok(Some(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_time_out_while_real_clients_are_served() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.connections.handshake_timeout = 1;
        s.connections.idle_timeout = 4;
    })
    .await;
    let started = Instant::now();
    let idle = open_idle(app.addr, 3000).await;
    assert!(
        served_within_a_second(app.addr).await,
        "a real client is served while 3,000 idle sockets are open"
    );
    // Every idle socket is closed once the handshake timeout has passed.
    let wait = Duration::from_secs(1 + 5).saturating_sub(started.elapsed());
    let checks: Vec<_> = idle
        .into_iter()
        .map(|s| tokio::spawn(closed_within(s, wait.max(Duration::from_secs(3)))))
        .collect();
    let mut open = 0;
    for check in checks {
        open += usize::from(!check.await.unwrap());
    }
    assert_eq!(open, 0, "{open} idle sockets still open after the timeout");

    // A real client that goes quiet is closed after the idle timeout: its
    // raw connection sees EOF (a tonic channel would just reconnect).
    let mut quiet = TcpStream::connect(app.addr).await.unwrap();
    quiet.write_all(PREFACE).await.unwrap();
    // An empty SETTINGS frame, then one request: HEADERS (POST, http, /;
    // HPACK static-table indexes) ending the stream.
    quiet.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    quiet
        .write_all(&[0, 0, 3, 1, 5, 0, 0, 0, 1, 0x83, 0x86, 0x84])
        .await
        .unwrap();
    let quiet_since = Instant::now();
    assert!(
        closed_within(quiet, Duration::from_secs(8)).await,
        "a connection idle past the idle timeout is closed"
    );
    assert!(
        quiet_since.elapsed() >= Duration::from_secs(3),
        "but not before the idle timeout: the request ended the handshake phase"
    );
    assert!(served_within_a_second(app.addr).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_shed() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.connections.handshake_timeout = 60;
        s.connections.max_connections = 100;
    })
    .await;
    let idle = open_idle(app.addr, 300).await;
    let checks: Vec<_> = idle
        .into_iter()
        .map(|s| tokio::spawn(closed_within(s, Duration::from_secs(3))))
        .collect();
    let mut closed = 0;
    for check in checks {
        closed += usize::from(check.await.unwrap());
    }
    assert!(
        closed >= 200,
        "only {closed} of 300 connections closed with a cap of 100"
    );
}
