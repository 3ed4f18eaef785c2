//! Generates the gRPC code, the reflection descriptor set and the access
//! table from `proto/`.
//!
//! `protox` parses the protos in pure Rust, so a fresh machine builds with
//! `cargo` alone (no system `protoc`). The descriptor set includes imports
//! (the well-known types) because grpcurl needs them from reflection, and
//! `google/rpc/error_details.proto` so grpcurl can print error details.
//!
//! The access table: every `pulse.v1` RPC must declare the credential it
//! requires with `option (pulse.v1.access) = …;` (see
//! `proto/pulse/v1/access.proto`). The build fails on an RPC without one,
//! so a new RPC cannot go unguarded; the auth layer enforces the table.
//! Likewise every RPC that environment credentials may call must declare
//! what a restricted key needs, `option (pulse.v1.permission) = …;`
//! (`permission_of`, `PERMISSIONS`), and every RPC an admin credential may
//! call the least role it needs, `option (pulse.v1.role) = …;` (`role_of`,
//! `ROLES`).
//!
//! And `cfg(pulse_no_postgres)`, for the tests (`postgres_probe`): set
//! when no PostgreSQL server binaries are installed and nothing answers at
//! `PULSE_TEST_POSTGRES_URL`, so the PostgreSQL tests are compiled as
//! `#[ignore]`d and the test summary counts them as ignored (libtest
//! cannot ignore a test at run time). With binaries installed the tests
//! start a throwaway cluster when they need one. `PULSE_REQUIRE_POSTGRES=1`
//! (CI) turns "no PostgreSQL" into a build error instead.

use std::fmt::Write as _;
use std::path::PathBuf;

use protox::prost_reflect::{DescriptorPool, Value};

const PROTOS: &[&str] = &[
    "proto/pulse/v1/access.proto",
    "proto/pulse/v1/account.proto",
    "proto/pulse/v1/audit.proto",
    "proto/pulse/v1/environment.proto",
    "proto/pulse/v1/auth.proto",
    "proto/pulse/v1/room.proto",
    "proto/pulse/v1/thread.proto",
    "proto/pulse/v1/user.proto",
    "proto/pulse/v1/event.proto",
    "proto/pulse/v1/member.proto",
    "proto/pulse/v1/session.proto",
    "proto/google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build prints no rerun-if-changed for protos: do it per file.
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    // The web console is embedded from here (`src/server/console.rs`):
    // rebuild when a file is added or removed, not only when one changes.
    println!("cargo:rerun-if-changed=console/dist");
    detect_postgres()?;

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTOS)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Encoded with extension options, so reflection shows each RPC's access.
    std::fs::write(
        out_dir.join("pulse_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    std::fs::write(
        out_dir.join("access_table.rs"),
        access_table(&compiler.descriptor_pool())?,
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .extern_path(".google.rpc", "::tonic_types")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// The tests' view of where PostgreSQL is: one file, shared with them.
#[path = "tests/api/helpers/postgres_probe.rs"]
mod postgres_probe;

/// Sets `cfg(pulse_no_postgres)` when the tests would find no PostgreSQL.
fn detect_postgres() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rustc-check-cfg=cfg(pulse_no_postgres)");
    println!("cargo:rerun-if-changed=tests/api/helpers/postgres_probe.rs");
    if postgres_probe::bindir().is_some() {
        return Ok(());
    }
    // Not installed here: a server elsewhere still counts. Look again when
    // what decides it changes (installing PostgreSQL is not seen: `touch
    // build.rs` then).
    println!("cargo:rerun-if-env-changed=PULSE_TEST_POSTGRES_URL");
    println!("cargo:rerun-if-env-changed=PULSE_REQUIRE_POSTGRES");
    println!("cargo:rerun-if-env-changed=PATH");
    let url = postgres_probe::configured_url();
    if postgres_probe::answers(&url) != Some(false) {
        return Ok(());
    }
    let why = format!("no PostgreSQL server binaries installed and nothing answers at {url}");
    if std::env::var("PULSE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        return Err(format!("PULSE_REQUIRE_POSTGRES=1: {why}").into());
    }
    println!("cargo:warning={why}: the PostgreSQL tests are compiled as ignored");
    println!("cargo:rustc-cfg=pulse_no_postgres");
    Ok(())
}

/// Rust source of `ACCESS`: (gRPC path, access) for every `pulse.v1` RPC,
/// and `SERVICES`: the `pulse.v1` service names.
fn access_table(pool: &DescriptorPool) -> Result<String, Box<dyn std::error::Error>> {
    let extension = pool
        .get_extension_by_name("pulse.v1.access")
        .ok_or("proto/pulse/v1/access.proto must declare the pulse.v1.access option")?;
    let access = pool
        .get_enum_by_name("pulse.v1.Access")
        .ok_or("pulse.v1.Access is missing")?;
    let mut table = String::from(
        "/// (gRPC path, required access) of every `pulse.v1` RPC, generated by\n\
         /// `build.rs` from the `(pulse.v1.access)` option of each method.\n\
         pub const ACCESS: &[(&str, crate::pb::Access)] = &[\n",
    );
    let mut lookup = String::from(
        "/// The access of a `pulse.v1` RPC by gRPC path (`None`: in no proto), as\n\
         /// a `match` on the path: no hashing on the request path.\n\
         pub fn access_of(path: &str) -> Option<crate::pb::Access> {\n    match path {\n",
    );
    let mut uniform = String::from(
        "/// The access every RPC of a `pulse.v1` service shares, if they all share\n\
         /// one: what a method of that service that is in no proto requires.\n\
         pub fn service_access(service: &str) -> Option<crate::pb::Access> {\n    match service {\n",
    );
    let permission_ext = pool
        .get_extension_by_name("pulse.v1.permission")
        .ok_or("proto/pulse/v1/access.proto must declare the pulse.v1.permission option")?;
    let permission = pool
        .get_enum_by_name("pulse.v1.Permission")
        .ok_or("pulse.v1.Permission is missing")?;
    let mut permissions = String::from(
        "/// What a restricted key needs to call a `pulse.v1` RPC that environment\n\
         /// credentials may call (`None`: in no proto, or admin-only), generated\n\
         /// by `build.rs` from the `(pulse.v1.permission)` option of each method.\n\
         pub fn permission_of(path: &str) -> Option<crate::pb::Permission> {\n    match path {\n",
    );
    let mut permission_table = String::from(
        "/// (gRPC path, permission) of every RPC an environment credential may call.\n\
         pub const PERMISSIONS: &[(&str, crate::pb::Permission)] = &[\n",
    );
    let role_ext = pool
        .get_extension_by_name("pulse.v1.role")
        .ok_or("proto/pulse/v1/access.proto must declare the pulse.v1.role option")?;
    let role = pool
        .get_enum_by_name("pulse.v1.Role")
        .ok_or("pulse.v1.Role is missing")?;
    let mut roles = String::from(
        "/// The least role that may call a `pulse.v1` RPC that admin credentials\n\
         /// may call (`None`: in no proto, or not an admin RPC), generated by\n\
         /// `build.rs` from the `(pulse.v1.role)` option of each method.\n\
         pub fn role_of(path: &str) -> Option<crate::pb::Role> {\n    match path {\n",
    );
    let mut role_table = String::from(
        "/// (gRPC path, least role) of every RPC an admin credential may call.\n\
         pub const ROLES: &[(&str, crate::pb::Role)] = &[\n",
    );
    let mut missing_role = Vec::new();
    let mut services = String::from(
        "/// Every `pulse.v1` service, generated by `build.rs` from the protos.\n\
         pub const SERVICES: &[&str] = &[\n",
    );
    let mut missing = Vec::new();
    let mut missing_permission = Vec::new();
    for service in pool.services().filter(|s| s.package_name() == "pulse.v1") {
        writeln!(services, "    {:?},", service.full_name())?;
        let mut variants = std::collections::BTreeSet::<String>::new();
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let options = method.options();
            let number = enum_option(&options, &extension);
            let Some(value) = access.get_value(number).filter(|_| number != 0) else {
                missing.push(path);
                continue;
            };
            let variant = camel(value.name().trim_start_matches("ACCESS_"));
            let admin = matches!(value.name(), "ACCESS_ADMIN" | "ACCESS_ADMIN_OR_SECRET");
            if admin {
                // Admin credentials reach it: members and admin tokens need
                // a declared least role.
                let number = enum_option(&options, &role_ext);
                match role.get_value(number).filter(|_| number != 0) {
                    Some(value) => {
                        let variant = camel(value.name().trim_start_matches("ROLE_"));
                        writeln!(
                            roles,
                            "        {path:?} => Some(crate::pb::Role::{variant}),"
                        )?;
                        writeln!(role_table, "    ({path:?}, crate::pb::Role::{variant}),")?;
                    }
                    None => missing_role.push(path.clone()),
                }
            }
            if !matches!(value.name(), "ACCESS_ADMIN" | "ACCESS_PUBLIC") {
                // Environment credentials reach it: a restricted key needs
                // a declared permission.
                let number = enum_option(&options, &permission_ext);
                match permission.get_value(number).filter(|_| number != 0) {
                    Some(value) => {
                        let variant = camel(value.name().trim_start_matches("PERMISSION_"));
                        writeln!(
                            permissions,
                            "        {path:?} => Some(crate::pb::Permission::{variant}),"
                        )?;
                        writeln!(
                            permission_table,
                            "    ({path:?}, crate::pb::Permission::{variant}),"
                        )?;
                    }
                    None => missing_permission.push(path.clone()),
                }
            }
            writeln!(table, "    ({path:?}, crate::pb::Access::{variant}),")?;
            writeln!(
                lookup,
                "        {path:?} => Some(crate::pb::Access::{variant}),"
            )?;
            variants.insert(variant);
        }
        if let (1, Some(variant)) = (variants.len(), variants.first()) {
            writeln!(
                uniform,
                "        {:?} => Some(crate::pb::Access::{variant}),",
                service.full_name()
            )?;
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "these RPCs declare no `option (pulse.v1.access) = …;`: {}",
            missing.join(", ")
        )
        .into());
    }
    if !missing_permission.is_empty() {
        return Err(format!(
            "these RPCs accept environment credentials but declare no \
             `option (pulse.v1.permission) = …;`: {}",
            missing_permission.join(", ")
        )
        .into());
    }
    if !missing_role.is_empty() {
        return Err(format!(
            "these RPCs accept admin credentials but declare no \
             `option (pulse.v1.role) = …;`: {}",
            missing_role.join(", ")
        )
        .into());
    }
    roles.push_str("        _ => None,\n    }\n}\n\n");
    role_table.push_str("];\n\n");
    permissions.push_str("        _ => None,\n    }\n}\n\n");
    permission_table.push_str("];\n\n");
    table.push_str("];\n\n");
    lookup.push_str("        _ => None,\n    }\n}\n\n");
    uniform.push_str("        _ => None,\n    }\n}\n\n");
    services.push_str("];\n");
    Ok(table
        + &lookup
        + &uniform
        + &permissions
        + &permission_table
        + &roles
        + &role_table
        + &services)
}

/// The number of an enum-valued method option (0 when absent).
fn enum_option(
    options: &protox::prost_reflect::DynamicMessage,
    extension: &protox::prost_reflect::ExtensionDescriptor,
) -> i32 {
    if !options.has_extension(extension) {
        return 0;
    }
    match &*options.get_extension(extension) {
        Value::EnumNumber(n) => *n,
        _ => 0,
    }
}

/// `SECRET_OR_PUBLISHABLE` → `SecretOrPublishable` (prost's naming).
fn camel(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_string() + &chars.as_str().to_lowercase()
            })
        })
        .collect()
}
