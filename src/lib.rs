//! Pulse control plane: accounts, environments and their API keys over gRPC.
//!
//! # Layout
//!
//! Data flows one way: request → [`auth`] layer (resolves the credential to
//! a tenant) → [`api`] handler (validates, takes the tenant from the request
//! context) → [`store`] (every query takes the tenant scope) → database, and
//! back as proto.
//!
//! - [`pb`]: code generated from `proto/pulse/v1` and the descriptor set
//!   served by reflection.
//! - [`config`]: the one settings struct (flags and `PULSE_*` variables).
//! - [`telemetry`]: tracing, set up once.
//! - [`domain`]: newtypes and rules without I/O (ids, names, page tokens,
//!   secrets).
//! - [`auth`]: credential format, the key index and the resolving layer.
//! - [`api`]: one file per gRPC service.
//! - [`store`]: sea-orm entities, migrations and tenant-scoped queries.
//! - [`error`]: the one error type and its mapping to `tonic::Status`.
//! - [`server`]: builds the tonic router and runs it until shutdown.
//! - [`cli`]: the `pulse` command line.

pub mod api;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod gate;
pub mod metrics;
pub mod ops;
pub mod pb;
pub mod server;
pub mod store;
pub mod telemetry;
