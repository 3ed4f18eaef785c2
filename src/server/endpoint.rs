//! Plain-HTTP endpoints on the gRPC port (the JWKS, the console): a tower
//! layer in front of the router that answers the requests an [`Endpoint`]
//! claims and passes every other one through untouched. One mechanism, so
//! each endpoint is only its routing and its answers.

use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower::{Layer, Service};

/// A boxed response future (the JWKS answers from a cache or the database).
pub type Answer = Pin<Box<dyn std::future::Future<Output = http::Response<Body>> + Send>>;

/// Something served on the gRPC port besides gRPC.
pub trait Endpoint: Clone + Send + Sync + 'static {
    /// The answer to `request` if it is this endpoint's; `None` passes it on.
    fn answer(&self, request: &http::Request<Body>) -> Option<Answer>;
}

/// Serves `E` in front of the inner service.
#[derive(Clone, Debug)]
pub struct EndpointLayer<E>(pub E);

impl<S, E: Clone> Layer<S> for EndpointLayer<E> {
    type Service = EndpointService<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        EndpointService {
            inner,
            endpoint: self.0.clone(),
        }
    }
}

/// The service of [`EndpointLayer`].
#[derive(Clone, Debug)]
pub struct EndpointService<S, E> {
    inner: S,
    endpoint: E,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, E> Service<http::Request<Body>> for EndpointService<S, E>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    E: Endpoint,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self.endpoint.answer(&request) {
            Some(answer) => Box::pin(async move { Ok(answer.await) }),
            None => Box::pin(self.inner.call(request)),
        }
    }
}
