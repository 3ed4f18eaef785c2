//! Generates the gRPC code and the reflection descriptor set from `proto/`.
//!
//! `protox` parses the protos in pure Rust, so a fresh machine builds with
//! `cargo` alone (no system `protoc`). The descriptor set includes imports
//! (the well-known types) because grpcurl needs them from reflection, and
//! `google/rpc/error_details.proto` so grpcurl can print error details.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/pulse/v1/account.proto",
    "proto/pulse/v1/audit.proto",
    "proto/pulse/v1/environment.proto",
    "proto/pulse/v1/auth.proto",
    "proto/pulse/v1/room.proto",
    "proto/pulse/v1/thread.proto",
    "proto/pulse/v1/user.proto",
    "proto/google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build prints no rerun-if-changed for protos: do it per file.
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("pulse_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .extern_path(".google.rpc", "::tonic_types")
        .compile_fds(fds)?;
    Ok(())
}
