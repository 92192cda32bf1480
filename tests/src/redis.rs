//! A `redis-server` (Debian package `redis-server`) for the multi-instance tests: on a
//! free loopback port, persisting every write to an append-only file in its own
//! directory, so a restart keeps the store (as a production Redis with AOF does) and a
//! replayed nonce stays refused across it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TempDir;

/// A running (or stopped) server.
#[derive(Debug)]
pub struct RedisServer {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

/// Whether `redis-server` is installed.
pub fn available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisServer {
    /// Starts a server; panics with the install hint when the package is missing.
    pub fn start() -> Self {
        assert!(
            available(),
            "redis-server is not installed (Debian: apt-get install redis-server)"
        );
        let port = crate::free_port();
        let mut server = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            dir: TempDir::new("redis"),
            child: None,
        };
        server.resume();
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Starts the server again on the same port and data (after [`Self::stop`]).
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL: nothing is flushed beyond what `appendfsync always`
    /// already wrote).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
