//! Pulse control plane: accounts, environments and their API keys over gRPC.
//!
//! # Layout
//!
//! Data flows one way: request → [`auth`] layer (resolves the credential to
//! a tenant scope) → [`api`] handler (validates, takes the scope from the
//! request context) → [`store`] handle opened with that scope → database,
//! and back as proto. Modules depend downward only (checked by
//! `tests/layers.rs`; see `docs/design.md`, "Layers"):
//!
//! - [`error`]: the one error type and its mapping to `tonic::Status`.
//! - [`pb`]: code generated from `proto/pulse/v1` and the descriptor set
//!   served by reflection.
//! - [`domain`]: types and rules without I/O: typed ids, names, the
//!   credential format, tenant scopes, page tokens, secrets, restricted-key
//!   permissions, room patterns, allowed networks, CORS origins.
//! - [`cache`]: the one cache type (quick_cache with deadlines).
//! - [`config`]: the one settings struct (flags and `PULSE_*` variables).
//! - [`store`]: sea-orm entities, migrations, the tenant handles
//!   ([`store::tenant`]) and the revocation value ([`store::revocation`]).
//! - [`metrics`]: Prometheus counters and the `/metrics` listener.
//! - [`telemetry`]: tracing, set up once, and the per-RPC span layer.
//! - [`auth`]: the key index, the resolving layer, user tokens, the access
//!   policy generated from the protos, and the only code that grants scopes.
//! - [`cluster`]: revocation across replicas: announces, enforces, waits
//!   for acknowledgements.
//! - [`event_hub`]: live events: the process's one tail of the audit log,
//!   fanned out to `WatchEvents` streams, and the `key.expiring` sweeper.
//! - [`api`]: one file per gRPC service.
//! - [`server`]: builds the tonic router from one service list and runs it
//!   until shutdown, behind the connection guard and the database gate
//!   (fails calls fast while the database is down); gRPC-Web, CORS, the
//!   JWKS and the embedded web console share its port.
//! - [`ops`]: the gRPC client behind the ops commands.
//! - [`cli`]: the `pulse` command line.

pub mod api;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod event_hub;
pub mod metrics;
pub mod ops;
pub mod pb;
pub mod server;
pub mod store;
pub mod telemetry;
