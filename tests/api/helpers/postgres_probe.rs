//! Where PostgreSQL is, for the tests: std only, because `build.rs` uses
//! this file too (`#[path]`), to decide whether the PostgreSQL tests can
//! run at all (see `cfg(pulse_no_postgres)` in `build.rs`).

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The server the tests use when `PULSE_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `PULSE_TEST_POSTGRES_URL`, or [`DEFAULT_URL`].
pub fn configured_url() -> String {
    std::env::var("PULSE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Whether something accepts TCP connections at the host and port of
/// `url` (`None`: the URL names no TCP address, e.g. a Unix socket). A
/// server that answers with an error is still a server: the tests then
/// fail with that error rather than start one of their own.
pub fn answers(url: &str) -> Option<bool> {
    let (host, port) = host_and_port(url)?;
    let addrs = match (host.as_str(), port).to_socket_addrs() {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        Err(_) => return Some(false),
    };
    Some(
        addrs
            .iter()
            .any(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(1)).is_ok()),
    )
}

/// Host and port of a `postgres://user@host:port/db` URL.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (host_port, 5432),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !host.contains(',')).then(|| (host.to_owned(), port))
}

/// The directory of the installed PostgreSQL server binaries (`initdb`,
/// `pg_ctl`, `postgres`): `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian, Ubuntu), else `initdb` on `PATH`.
pub fn bindir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    if let Ok(out) = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if complete(&dir) {
            return Some(dir);
        }
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Some(dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| complete(dir))
}
