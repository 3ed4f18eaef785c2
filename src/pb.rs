//! Generated protobuf and gRPC code for package `pulse.v1`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("pulse.v1");

/// Encoded `FileDescriptorSet` of every proto we serve (with imports), for
/// gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("pulse_descriptor");
