//! Test harness: builds the host and the test component once, starts hosts on free
//! loopback ports with fresh state, and speaks just enough HTTP/1.1 to test them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Paths of the built artifacts.
pub struct Built {
    pub host: PathBuf,
    pub wasm: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn cargo(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(workspace_root());
    // Drop the variables cargo sets for this test process: some build scripts (ring's)
    // track e.g. CARGO_MANIFEST_DIR, and inheriting them would make every nested build
    // and the next ordinary build recompile ring, rustls and spin-host.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd.status().expect("run cargo");
    assert!(status.success(), "cargo {args:?} failed");
}

/// Builds `spin-host` (profile `host`) and the test component (release, wasm32-wasip2)
/// once per test binary.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        cargo(&["build", "--profile", "host", "-p", "spin-host"]);
        cargo(&[
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "host-test-component",
        ]);
        let target = target_dir();
        let built = Built {
            host: target.join("host").join("spin-host"),
            wasm: target.join("wasm32-wasip2/release/host_test_component.wasm"),
        };
        assert!(built.host.is_file(), "{} missing", built.host.display());
        assert!(built.wasm.is_file(), "{} missing", built.wasm.display());
        built
    })
}

/// A temporary application directory holding a copy of `tests/spin.toml`.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub runtime_config: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl TestApp {
    /// Copies the test manifest, pointing `source` at the built component.
    pub fn new() -> Self {
        let built = built();
        let manifest =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spin.toml"))
                .unwrap();
        let manifest = manifest.replace(
            "../../target/wasm32-wasip2/release/host_test_component.wasm",
            &built.wasm.display().to_string(),
        );
        Self::with_manifest(&manifest)
    }

    /// An application with the given manifest text.
    pub fn with_manifest(manifest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        Self {
            dir,
            runtime_config: None,
            env: vec![("SPIN_VARIABLE_SECRET_TOKEN".into(), "s3cr3t-value".into())],
        }
    }

    /// Writes a runtime config file and uses it.
    pub fn runtime_config(mut self, text: &str) -> Self {
        let path = self.dir.path().join("runtime-config.toml");
        std::fs::write(&path, text).unwrap();
        self.runtime_config = Some(path);
        self
    }

    /// Sets (or with `None` removes) an environment variable for the host.
    pub fn env(mut self, key: &str, value: Option<&str>) -> Self {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_owned(), v.to_owned()));
        }
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&built().host);
        cmd.arg("up")
            .arg("-f")
            .arg(self.dir.path())
            .args(["--listen", "127.0.0.1:0"]);
        if let Some(rc) = &self.runtime_config {
            cmd.arg("--runtime-config-file").arg(rc);
        }
        for k in [
            "SPIN_HTTP_LISTEN_ADDR",
            "SPIN_RUNTIME_CONFIG_FILE",
            "SPIN_VARIABLE_SECRET_TOKEN",
            "SPIN_VARIABLE_GREETING",
            "SPIN_VARIABLE_UPSTREAM_PORT",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the host and waits until it serves.
    pub fn start(&self) -> Host {
        let mut child = self.command().spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut line = String::new();
                while err.read_line(&mut line).unwrap_or(0) > 0 {
                    stderr.lock().unwrap().push_str(&line);
                    line.clear();
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).unwrap_or(0) > 0 {
                let _ = tx.send(line.clone());
                line.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.trim().strip_prefix("Serving http://") {
                        break a.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!("host did not start ({status}): {}", stderr.lock().unwrap());
                }
            }
        };
        let mut stdout_rest = Vec::new();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            stdout_rest.push(l);
            if l_is_last_route(&stdout_rest) {
                break;
            }
        }
        Host {
            child,
            addr,
            stderr,
            stdout: stdout_rest,
        }
    }

    /// Runs the host expecting it to fail at startup; returns (status, stderr).
    pub fn start_failing(&self) -> (ExitStatus, String) {
        let out = self.command().output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn l_is_last_route(lines: &[String]) -> bool {
    // "Available Routes:" plus three routes in the test manifest.
    lines.len() >= 4
}

/// A running host.
pub struct Host {
    child: Child,
    pub addr: String,
    stderr: Arc<Mutex<String>>,
    /// Lines printed after `Serving …`.
    pub stdout: Vec<String>,
}

impl Host {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the host wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until stderr contains `needle`; returns all of stderr.
    pub fn wait_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[], &[])
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        request(&self.addr, "POST", path, &[], body)
    }

    /// Sends a signal and waits for the exit status.
    pub fn signal(mut self, sig: &str) -> ExitStatus {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host did not exit after SIG{sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size of the host process, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `name: value` lines of the test component's echo output.
    pub fn echo_field(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}: ");
        self.text()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .or_else(|| {
                let bare = format!("{name}:");
                self.text().lines().any(|l| l == bare).then(String::new)
            })
    }
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.trim_end_matches(['\r', '\n']).to_owned()
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(body).unwrap();
    read_response(&mut BufReader::new(stream))
}

/// Reads one response (content-length, chunked, or close-delimited).
pub fn read_response(r: &mut impl BufRead) -> Response {
    let status_line = read_line(r);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = BTreeMap::new();
    loop {
        let line = read_line(r);
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        loop {
            let size = usize::from_str_radix(read_line(r).split(';').next().unwrap(), 16).unwrap();
            if size == 0 {
                // trailers until blank line
                while !read_line(r).is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).unwrap();
            read_line(r);
        }
    } else if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Response {
        status,
        headers,
        body,
    }
}

/// A loopback HTTP server answering every request with `200 hello-upstream`.
pub struct Upstream {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut r = BufReader::new(conn.try_clone().unwrap());
                // Read the request head.
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nhello-upstream",
                );
            }
        });
        Self { port, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
