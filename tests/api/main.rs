//! Integration tests: one binary, a real server per test (see `helpers`).

mod helpers;

mod accounts;
mod audit;
mod cli;
mod connections;
mod cookbook;
mod data_plane;
mod decisions;
mod defects;
mod deploy;
mod environments;
mod events;
mod faults;
mod grpcurl;
mod interleavings;
mod isolation;
mod jwks;
mod key_lifecycle;
mod keys;
mod least_privilege;
mod limits;
mod logs;
mod metrics;
mod networks;
mod ops_cli;
mod pagination;
mod permission_matrix;
mod persistence;
mod readme;
mod replicas;
mod room_permissions;
mod services;
mod shutdown;
mod tls;
mod usage;
