//! The gRPC port's accept loop and connection guard: what keeps idle,
//! half-open and slow connections from exhausting the server.
//!
//! hyper serves HTTP/2 but has no deadline before a connection's first
//! request: a socket that never sends the preface (or half a frame) is kept
//! forever, with its file descriptor. So every accepted socket is wrapped in
//! a [`GuardedStream`] that watches the bytes the client sends — the
//! 24-byte preface, then 9-byte frame headers whose payloads it skips — and
//! closes the connection (an I/O error to hyper) when its deadline passes:
//! - until the first complete request frame (HEADERS) arrives: the
//!   handshake timeout;
//! - afterwards: the idle timeout, pushed back by every complete frame
//!   that carries a request or its flow (HEADERS, DATA, RST_STREAM,
//!   WINDOW_UPDATE, CONTINUATION) — not by PINGs, so keepalive answers do
//!   not keep an unused connection open forever.
//!
//! A connection carrying an open `WatchEvents` stream is not idle: its
//! client only listens, so it sends no request frames. When the idle
//! deadline of such a connection passes, the guard checks the process's
//! registry of peers with open watches (`crate::event_hub::OpenWatches`, by
//! `ip:port`) and, if its peer has one, extends the deadline instead of
//! closing. HTTP/2 keepalive still closes a watcher that stops answering.
//!
//! A connection whose first bytes are not the HTTP/2 preface is HTTP/1.1
//! (the JWKS, the web console, gRPC-Web from browsers): the guard cannot
//! see its requests' ends, so there, as with TLS, every received byte
//! counts as activity.
//!
//! With TLS the guard sees ciphertext, so there every received byte counts
//! as activity (the handshake timeout then bounds the TLS handshake and the
//! first bytes; HTTP/2 keepalive closes peers that stop answering).
//!
//! The accept loop holds one semaphore permit per open connection and
//! closes sockets beyond the cap as soon as it accepts them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::config::ConnectionSettings;
use crate::event_hub::OpenWatches;
use crate::metrics::Metrics;

/// File descriptors kept for everything but client connections (database
/// pools, the metrics port, files).
const RESERVED_FDS: u64 = 256;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the
/// connection cap that fits in it (at most `wanted`).
pub fn fit_connection_cap(wanted: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            return wanted;
        }
    };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(wanted);
    if fits < wanted {
        tracing::warn!(
            open_file_limit = limit,
            max_connections = fits,
            "the open-file limit allows fewer connections than configured; capping"
        );
    }
    wanted.min(fits)
}

/// Accepted connections, guarded, as the stream tonic serves from.
pub struct GuardedIncoming {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
    /// Set after an accept error (such as EMFILE): wait before retrying.
    backoff: Option<Pin<Box<Sleep>>>,
    /// Peers with open watches: their connections are not idle.
    watches: Option<Arc<OpenWatches>>,
}

/// The per-connection deadlines.
#[derive(Clone, Copy, Debug)]
struct Limits {
    handshake: Duration,
    idle: Duration,
    /// Whether the guard sees HTTP/2 frames (false under TLS).
    frames: bool,
}

impl GuardedIncoming {
    /// Guards connections accepted on `listener` with `settings`; `tls`
    /// says whether tonic will wrap them in TLS.
    pub fn new(
        listener: TcpListener,
        settings: &ConnectionSettings,
        max_connections: usize,
        tls: bool,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            limits: Limits {
                handshake: Duration::from_secs(settings.handshake_timeout.max(1)),
                idle: Duration::from_secs(settings.idle_timeout.max(1)),
                frames: !tls,
            },
            metrics,
            backoff: None,
            watches: None,
        }
    }

    /// Keeps the connections of peers with an open watch (see the module
    /// docs) past the idle timeout.
    pub fn with_watches(mut self, watches: Arc<OpenWatches>) -> Self {
        self.watches = Some(watches);
        self
    }
}

impl tokio_stream::Stream for GuardedIncoming {
    type Item = io::Result<GuardedStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(backoff) = &mut this.backoff {
                ready!(backoff.as_mut().poll(cx));
                this.backoff = None;
            }
            let (stream, peer) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(accepted)) => accepted,
                Poll::Ready(Err(e)) => {
                    // EMFILE and friends: the listener is fine, the process
                    // is out of something; try again shortly.
                    tracing::warn!(error = %e, "accept failed");
                    this.backoff = Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                    continue;
                }
            };
            let Ok(permit) = this.permits.clone().try_acquire_owned() else {
                // Over the cap: shed at once (dropping closes the socket).
                if let Some(m) = &this.metrics {
                    m.connection_closed("shed");
                }
                tracing::debug!(%peer, "connection cap reached; closing new connection");
                continue;
            };
            // Nagle + delayed ACK would add ~40 ms to responses written in
            // several frames (headers, data, trailers).
            let _ = stream.set_nodelay(true);
            if let Some(m) = &this.metrics {
                m.connection_opened();
            }
            let mut guarded = GuardedStream::new(stream, permit, this.limits, this.metrics.clone());
            guarded.watches = this.watches.clone().map(|w| (w, peer));
            return Poll::Ready(Some(Ok(guarded)));
        }
    }
}

/// A client connection with a deadline (see the module docs).
pub struct GuardedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    limits: Limits,
    deadline: Pin<Box<Sleep>>,
    scanner: FrameScanner,
    /// Whether the first request frame has arrived.
    established: bool,
    metrics: Option<Arc<Metrics>>,
    /// The registry of open watches and this connection's peer in it.
    watches: Option<(Arc<OpenWatches>, std::net::SocketAddr)>,
}

impl GuardedStream {
    fn new(
        inner: TcpStream,
        permit: OwnedSemaphorePermit,
        limits: Limits,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            inner,
            _permit: permit,
            limits,
            deadline: Box::pin(tokio::time::sleep(limits.handshake)),
            scanner: FrameScanner::default(),
            established: false,
            metrics,
            watches: None,
        }
    }

    /// At the deadline: whether the connection stays open because its
    /// peer watches events; if so the deadline moves one idle period on.
    fn watching(&mut self) -> bool {
        let watching = self.established
            && self
                .watches
                .as_ref()
                .is_some_and(|(watches, peer)| watches.contains(peer));
        if watching {
            let next = Instant::now() + self.limits.idle;
            self.deadline.as_mut().reset(next);
        }
        watching
    }

    fn timed_out(&self) -> io::Error {
        let reason = if self.established {
            "idle_timeout"
        } else {
            "handshake_timeout"
        };
        if let Some(m) = &self.metrics {
            m.connection_closed(reason);
        }
        tracing::debug!(reason, "closing a connection past its deadline");
        io::Error::new(io::ErrorKind::TimedOut, reason)
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.connection_dropped();
        }
    }
}

impl Connected for GuardedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let received = &buf.filled()[before..];
                let seen = if this.limits.frames {
                    this.scanner.feed(received)
                } else if received.is_empty() {
                    Seen::default()
                } else {
                    Seen {
                        activity: true,
                        request: true,
                    }
                };
                if seen.request {
                    this.established = true;
                }
                if seen.activity && this.established {
                    let next = Instant::now() + this.limits.idle;
                    this.deadline.as_mut().reset(next);
                } else if this.deadline.is_elapsed() && !this.watching() {
                    // Trickling bytes that never complete a request do
                    // not buy time.
                    return Poll::Ready(Err(this.timed_out()));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                while this.deadline.as_mut().poll(cx).is_ready() {
                    if !this.watching() {
                        return Poll::Ready(Err(this.timed_out()));
                    }
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What a chunk of received bytes completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    /// A frame that carries a request or its flow.
    activity: bool,
    /// A HEADERS frame: a request.
    request: bool,
}

/// Follows the client's byte stream just enough to see where frames end:
/// it skips the preface, reads each 9-byte frame header and skips the
/// payload. It never validates (hyper does) and never buffers more than
/// one header.
#[derive(Debug)]
struct FrameScanner {
    /// Bytes of the connection preface still to skip.
    preface_left: usize,
    /// The frame header being read, and how much of it has arrived.
    header: [u8; 9],
    header_len: usize,
    /// Payload bytes of the current frame still to skip, and its type.
    payload_left: usize,
    frame_type: u8,
    /// The first bytes were not the preface: HTTP/1.1, not scanned.
    http1: bool,
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self {
            preface_left: H2_PREFACE.len(),
            header: [0; 9],
            header_len: 0,
            payload_left: 0,
            frame_type: 0,
            http1: false,
        }
    }
}

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// HTTP/2 frame types (RFC 9113 §6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

impl FrameScanner {
    fn feed(&mut self, mut bytes: &[u8]) -> Seen {
        let mut seen = Seen::default();
        while !bytes.is_empty() {
            if self.http1 {
                // Every received byte is activity (see the module docs).
                return Seen {
                    activity: true,
                    request: true,
                };
            }
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                let at = H2_PREFACE.len() - self.preface_left;
                if bytes[..n] != H2_PREFACE[at..at + n] {
                    self.http1 = true;
                    continue;
                }
                self.preface_left -= n;
                bytes = &bytes[n..];
            } else if self.header_len < 9 {
                let n = (9 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == 9 {
                    let h = self.header;
                    self.payload_left =
                        (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    self.frame_type = h[3];
                    if self.payload_left == 0 {
                        self.complete(&mut seen);
                    }
                }
            } else {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                if self.payload_left == 0 {
                    self.complete(&mut seen);
                }
            }
        }
        seen
    }

    /// The current frame has fully arrived.
    fn complete(&mut self, seen: &mut Seen) {
        match self.frame_type {
            HEADERS => {
                seen.request = true;
                seen.activity = true;
            }
            DATA | RST_STREAM | WINDOW_UPDATE | CONTINUATION => seen.activity = true,
            _ => {}
        }
        self.header_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn http1_bytes_are_activity() {
        let mut s = FrameScanner::default();
        let request = Seen {
            activity: true,
            request: true,
        };
        assert_eq!(s.feed(b"GET /v1/environments/"), request);
        assert_eq!(s.feed(b"x"), request);
        // A preface split across reads is still HTTP/2.
        let mut s = FrameScanner::default();
        assert_eq!(s.feed(&PREFACE[..5]), Seen::default());
        assert_eq!(s.feed(&PREFACE[5..]), Seen::default());
        assert!(!s.http1);
    }

    #[test]
    fn preface_and_settings_are_not_a_request() {
        let mut s = FrameScanner::default();
        assert_eq!(s.feed(PREFACE), Seen::default());
        assert_eq!(s.feed(&[0, 0, 6, 4, 0, 0, 0, 0, 0]), Seen::default());
        assert_eq!(s.feed(&[0, 3, 0, 0, 0, 100]), Seen::default());
    }

    #[test]
    fn a_headers_frame_is_seen_only_when_complete_whatever_the_chunking() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
        bytes.extend_from_slice(&[0, 0, 3, 1, 5, 0, 0, 0, 1, 0x83, 0x86, 0x84]);
        for chunk in 1..bytes.len() {
            let mut s = FrameScanner::default();
            let mut seen = Seen::default();
            let mut offset = 0;
            for piece in bytes.chunks(chunk) {
                offset += piece.len();
                let now = s.feed(piece);
                if offset < bytes.len() {
                    assert!(!now.request, "chunk {chunk}: request before its end");
                }
                seen.request |= now.request;
            }
            assert!(seen.request, "chunk size {chunk}");
        }
        // Half a HEADERS frame is not a request.
        let mut s = FrameScanner::default();
        assert!(!s.feed(&bytes[..bytes.len() - 1]).request);
    }

    #[test]
    fn pings_are_not_activity() {
        let mut s = FrameScanner::default();
        s.feed(PREFACE);
        let ping = [0, 0, 8, 6, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(s.feed(&ping), Seen::default());
        let window = [0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert!(s.feed(&window).activity);
    }
}
