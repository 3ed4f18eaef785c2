//! PostgreSQL clusters the tests start themselves from the installed
//! binaries ([`super::postgres_probe::bindir`]).
//!
//! - The **throwaway** cluster ([`base_url`]): when nothing answers at
//!   `PULSE_TEST_POSTGRES_URL`, the first PostgreSQL test of a test binary
//!   starts one, and every test of that process creates its databases in
//!   it. One cluster per test process, in a directory and on a port of
//!   its own, so test binaries running at the same time (two `cargo test`
//!   in two checkouts) never share or stop each other's.
//! - A test's **own** cluster ([`Cluster::init`]), which the test may stop
//!   and start (`faults.rs`).
//!
//! A cluster never outlives its test process: with it starts a watchdog
//! (`sh`, in a process group of its own so a Ctrl-C of the tests does not
//! reach it) that waits for end-of-file on a pipe only this process holds
//! open, then stops the cluster (`pg_ctl stop -m immediate`) and deletes
//! its directory. The kernel closes the pipe however the process ends —
//! tests done, panic, `SIGKILL` — and dropping a [`Cluster`] closes it
//! too. Should a watchdog itself have been killed, the next throwaway
//! start removes clusters whose test process is gone (`pulse-pg-*` under
//! the temporary directory, each naming its owner's pid).
//!
//! PostgreSQL refuses to run as root: as root (CI containers) the tools run
//! through `runuser -u postgres --` and the directory belongs to
//! `postgres`; as anyone else they run directly.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use super::postgres_probe;

/// Prefix of every cluster directory, under the temporary directory.
const DIR_PREFIX: &str = "pulse-pg-";

/// The URL of the server the tests create their databases in:
/// `PULSE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
/// when something answers there, else this process's throwaway cluster,
/// started on first use. Panics, failing the test, when neither is
/// possible.
pub fn base_url() -> String {
    static BASE: OnceLock<(String, Option<Cluster>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let configured = postgres_probe::configured_url();
        if postgres_probe::answers(&configured) != Some(false) {
            return (configured, None);
        }
        remove_leftovers();
        let cluster = Cluster::init().unwrap_or_else(|e| {
            panic!("no PostgreSQL answers at {configured}, and none could be started: {e}")
        });
        // Straight to stderr: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "started a throwaway PostgreSQL on port {} (nothing answers at {configured}); \
             it stops when this test process exits",
            cluster.port
        );
        (cluster.url(), Some(cluster))
    })
    .0
    .clone()
}

/// A PostgreSQL cluster of this process, stopped and deleted on drop or
/// when the process exits (see the module doc).
pub struct Cluster {
    bin: PathBuf,
    /// The cluster's directory: `data/`, the log and the Unix socket.
    root: PathBuf,
    pub port: u16,
    as_root: bool,
    /// Stops the cluster and deletes `root` once its stdin closes.
    watchdog: Child,
}

impl Cluster {
    /// initdb (trust authentication, user `postgres`, no fsync) and start
    /// on a free loopback port.
    pub fn init() -> Result<Self, String> {
        let bin = postgres_probe::bindir()
            .ok_or("no PostgreSQL server binaries installed (initdb, pg_ctl, postgres)")?;
        let as_root = is_root();
        let root = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(|e| format!("create a directory for PostgreSQL: {e}"))?
            .keep();
        std::fs::write(root.join("owner"), std::process::id().to_string())
            .map_err(|e| format!("write {}: {e}", root.join("owner").display()))?;
        let watchdog = watchdog(&bin, &root, as_root)?;
        let mut cluster = Self {
            bin,
            root,
            port: 0,
            as_root,
            watchdog,
        };
        if as_root {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&cluster.root))?;
        }
        cluster.tool(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        // The port is free when we look; another process may take it
        // before PostgreSQL binds it: then try another.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (again) and waits until it accepts connections.
    /// `fsync=off` loses nothing a test can see (only an OS crash would);
    /// commits stay synchronous, so a cluster killed by `faults.rs` keeps
    /// every acknowledged write.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c max_connections=200",
            self.port,
            self.root.display()
        );
        let log = self.root.join("postgres.log").display().to_string();
        self.tool(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "-l",
                &log,
                "start",
            ],
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\n{log}")
        })
    }

    /// Stops the cluster hard, as a crash would (no shutdown checkpoint).
    pub fn kill(&self) -> Result<(), String> {
        self.tool(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    /// Runs one of the PostgreSQL tools (as `postgres` when we are root).
    fn tool(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let mut command = as_postgres(&self.bin.join(name), self.as_root);
        command.args(args);
        run(&mut command)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the watchdog's stdin stops the cluster; wait for it.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// A command running `program`, through `runuser -u postgres --` when we
/// are root.
fn as_postgres(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        // Somewhere `postgres` may enter, whatever the tests' directory.
        command.current_dir("/");
        command
    } else {
        Command::new(program)
    }
}

/// The watchdog of the cluster in `root`: waits for end-of-file on its
/// stdin (held open by this process only: Rust creates pipes close-on-exec,
/// so no child inherits it), then stops the cluster and deletes `root`.
fn watchdog(bin: &Path, root: &Path, as_root: bool) -> Result<Child, String> {
    use std::os::unix::process::CommandExt as _;
    let mut stop = as_postgres(&bin.join("pg_ctl"), as_root);
    stop.args(["-D"])
        .arg(root.join("data"))
        .args(["-m", "immediate", "-w", "stop"]);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"read _ ; "$@" >/dev/null 2>&1 ; rm -rf "$PULSE_PG_ROOT""#)
        .arg("sh")
        .arg(stop.get_program())
        .args(stop.get_args())
        .env("PULSE_PG_ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    command
        .spawn()
        .map_err(|e| format!("start the PostgreSQL watchdog: {e}"))
}

/// Stops and deletes clusters whose test process is gone (their watchdog
/// was killed too). Linux only (`/proc`); elsewhere watchdogs suffice.
fn remove_leftovers() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let root = entry.path();
        let named = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let Some(owner) = std::fs::read_to_string(root.join("owner")).ok() else {
            continue;
        };
        if !named || Path::new(&format!("/proc/{}", owner.trim())).exists() {
            continue;
        }
        if root.join("data/postmaster.pid").exists()
            && let Some(bin) = postgres_probe::bindir()
        {
            let mut stop = as_postgres(&bin.join("pg_ctl"), is_root());
            stop.arg("-D")
                .arg(root.join("data"))
                .args(["-m", "immediate", "-w", "stop"]);
            let _ = stop.output();
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))
}

/// Runs `command` to completion; its stderr is the error.
fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
