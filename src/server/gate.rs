//! Fail fast while the database is down.
//!
//! When the database stops answering, every call that needs it would wait
//! out the pool's connection timeout (5 s) before failing. Once the health
//! probe ([`crate::server`], every second) has seen the database fail, this
//! layer answers `pulse.v1` calls UNAVAILABLE at once instead — callers
//! retry elsewhere or later, and nothing piles up — and lets them through
//! again as soon as a probe succeeds. Health and reflection always pass.
//!
//! The probe tells the gate through a `watch` channel it owns the sending
//! half of: the store knows nothing of health.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};

use tokio::sync::watch;

/// Layer answering UNAVAILABLE while the last health probe found the
/// database unreachable (`false` on the channel).
#[derive(Clone, Debug)]
pub struct DatabaseGate {
    reachable: watch::Receiver<bool>,
}

impl DatabaseGate {
    /// A gate following the health probe's `reachable` channel.
    pub fn new(reachable: watch::Receiver<bool>) -> Self {
        Self { reachable }
    }
}

impl<S> Layer<S> for DatabaseGate {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            inner,
            reachable: self.reachable.clone(),
        }
    }
}

/// The service produced by [`DatabaseGate`].
#[derive(Clone, Debug)]
pub struct Gated<S> {
    inner: S,
    reachable: watch::Receiver<bool>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> Service<http::Request<Body>> for Gated<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let down = !*self.reachable.borrow();
        if down && request.uri().path().starts_with("/pulse.v1.") {
            let status = Status::unavailable("database unavailable, retry later");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}
