//! The end-to-end harness: builds the real wasm components and the host, starts the
//! provider on a free loopback port with a fresh state directory, and drives it over
//! HTTP like a client would.
//!
//! Set `SPIN_BIN=/path/to/spin` to run the same tests under a real Spin instead of
//! the project's host: both are started as `<bin> up -f spin.toml --listen ADDR
//! --runtime-config-file FILE` with `SPIN_VARIABLE_*` settings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod assets;
pub mod chain;
pub mod file_server;
pub mod indexer;
pub mod path_router;
pub mod redis;
pub mod rpc_proxy;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k256::ecdsa::SigningKey;
use ocean_provider::address::checksum;
use ocean_provider::signature::{address_of, sign_message};

/// The barge provider key the local defaults use (a well-known development key).
pub const DEV_PROVIDER_KEY: &str =
    "0xfd5c1ccea015b6d663618850824154a3b3fb2882c46cefb05b9a93fea8c3d215";
/// Mnemonic account 2, the consumer of the spec's vectors.
pub const CONSUMER_KEY: &str = "0x5d75837394b078ce97bc289fa8d75e21000573520bfa7784a9d28ccaae602bf8";
/// The label of the account (`Account::named`) that is the operator stand-in's
/// `env1` `consumerAddress`: the compute environment's own account.
pub const C2D_ENVIRONMENT: &str = "c2d-environment-env1";
/// The development key's address.
pub const DEV_PROVIDER_ADDRESS: &str = "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The wasm packages named by the `[component.*.build]` commands of spin.toml.
pub fn component_packages() -> Vec<String> {
    let manifest = std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap();
    manifest
        .lines()
        .filter(|line| line.trim_start().starts_with("command = \"cargo build"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "-p")?;
            words.next().map(|p| p.trim_end_matches('"').to_owned())
        })
        .collect()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    // Cargo sets these for the test process; build scripts that track them (ring's
    // tracks CARGO_MANIFEST_DIR) would otherwise rebuild on every nested build.
    for (key, _) in std::env::vars() {
        let per_crate = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key.as_str(),
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if per_crate {
            command.env_remove(key);
        }
    }
    command
}

/// Builds the components (and the host unless `SPIN_BIN` is set), once per process.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut build = cargo();
        build.args(["build", "--release", "--target", "wasm32-wasip2"]);
        for package in component_packages() {
            build.args(["-p", &package]);
        }
        let status = build.status().expect("run cargo build for the components");
        assert!(status.success(), "building the wasm components failed");
        if spin_bin().is_none() {
            let status = cargo()
                .args(["build", "--profile", "host", "-p", "spin-host"])
                .status()
                .expect("run cargo build for the host");
            assert!(status.success(), "building the host failed");
        }
    });
}

fn spin_bin() -> Option<PathBuf> {
    std::env::var_os("SPIN_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The program that runs spin.toml: `SPIN_BIN`, else the project's host.
pub fn runner() -> PathBuf {
    spin_bin().unwrap_or_else(|| workspace_root().join("target/host/spin-host"))
}

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ocean-provider-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running provider.
#[derive(Debug)]
pub struct Provider {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    child: Child,
    vars: BTreeMap<String, String>,
    state: PathBuf,
}

impl Provider {
    /// The variables every test provider gets: the local defaults of the run command.
    pub fn default_vars() -> BTreeMap<String, String> {
        [
            ("provider_private_key", DEV_PROVIDER_KEY),
            ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
            ("allow_non_public_ip", "true"),
            ("log_level", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The defaults, pointed at a local chain and its contracts.
    pub fn chain_vars(chain: &chain::LocalChain) -> BTreeMap<String, String> {
        let mut vars = Self::default_vars();
        vars.insert(
            "network_url".into(),
            format!(r#"{{"8996": "{}"}}"#, chain.rpc_url),
        );
        vars.insert("address_file".into(), chain.address_file());
        vars
    }

    /// Starts a provider whose key-value store lives in `state_dir`. Outbound blocking
    /// follows `allow_non_public_ip`: the local chain and the test servers live on
    /// loopback, so tests that allow non-public addresses must also let the platform
    /// connect to them.
    pub fn start(state_dir: &Path, vars: BTreeMap<String, String>) -> Self {
        let allow_private = vars.get("allow_non_public_ip").is_some_and(|v| v == "true");
        let block = if allow_private { "[]" } else { "[\"private\"]" };
        Self::start_with_runtime_config(
            state_dir,
            vars,
            &format!("[outbound_networking]\nblock_networks = {block}\n"),
        )
    }

    /// Starts a provider with `extra` appended to its runtime configuration (after the
    /// key-value store section).
    pub fn start_with_runtime_config(
        state_dir: &Path,
        vars: BTreeMap<String, String>,
        extra: &str,
    ) -> Self {
        let kv = format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"{}\"\n",
            state_dir.join("kv.db").display()
        );
        Self::launch(state_dir, vars, &format!("{kv}\n{extra}"), &[])
    }

    /// Starts a provider whose default key-value store is the Redis server at
    /// `redis_url` (as Spin configures it), serving only `components` (all when
    /// empty, else `-c` for each, as `spin up -c`). Outbound blocking is off: the
    /// chain and the test servers live on loopback.
    pub fn start_shared(
        state_dir: &Path,
        vars: BTreeMap<String, String>,
        redis_url: &str,
        components: &[&str],
    ) -> Self {
        let config = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n[outbound_networking]\nblock_networks = []\n"
        );
        Self::launch(state_dir, vars, &config, components)
    }

    fn launch(
        state_dir: &Path,
        vars: BTreeMap<String, String>,
        config: &str,
        components: &[&str],
    ) -> Self {
        Self::launch_on(state_dir, vars, config, components, None)
    }

    /// Like [`Self::start`] (SQLite store, outbound blocking per
    /// `allow_non_public_ip`), listening on `listen` instead of a free port.
    pub fn start_listening(state_dir: &Path, vars: BTreeMap<String, String>, listen: &str) -> Self {
        let allow_private = vars.get("allow_non_public_ip").is_some_and(|v| v == "true");
        let block = if allow_private { "[]" } else { "[\"private\"]" };
        let config = format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"{}\"\n\n[outbound_networking]\nblock_networks = {block}\n",
            state_dir.join("kv.db").display()
        );
        Self::launch_on(state_dir, vars, &config, &[], Some(listen.to_owned()))
    }

    fn launch_on(
        state_dir: &Path,
        vars: BTreeMap<String, String>,
        config: &str,
        components: &[&str],
        listen: Option<String>,
    ) -> Self {
        ensure_built();
        let listen = listen.unwrap_or_else(|| format!("127.0.0.1:{}", free_port()));
        let runtime_config = state_dir.join("runtime-config.toml");
        std::fs::write(&runtime_config, config).unwrap();
        // The runner is started under `sh` that kills it when our stdin pipe closes, so
        // a provider shared by a whole test binary never outlives the binary.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#""$@" & pid=$!; trap 'kill $pid 2>/dev/null; wait $pid; exit 0' TERM; read _ignored; kill $pid 2>/dev/null; wait $pid"#)
            .arg("provider-runner")
            .arg(runner())
            .args(["up", "-f"])
            .arg(workspace_root().join("spin.toml"))
            .args(["--listen", &listen, "--runtime-config-file"])
            .arg(&runtime_config)
            .args(components.iter().flat_map(|c| ["-c", c]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(state_dir.join("provider.log")).map(Stdio::from).unwrap_or_else(|_| Stdio::inherit()));
        for (name, value) in &vars {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let child = command.spawn().expect("start the provider");
        let mut provider = Self {
            base_url: format!("http://{listen}"),
            child,
            vars,
            state: state_dir.to_path_buf(),
        };
        provider.wait_ready(&listen);
        provider
    }

    fn wait_ready(&mut self, listen: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let address: SocketAddr = listen.parse().unwrap();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.state.join("provider.log")).unwrap_or_default();
                panic!("the provider exited during startup: {status}\n{log}");
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
                && get(&format!("{}/", self.base_url)).status != 0
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the provider did not start within 120 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it and starts it again on the same state directory.
    pub fn restart(mut self) -> Self {
        let vars = std::mem::take(&mut self.vars);
        let state = self.state.clone();
        drop(self);
        Self::start(&state, vars)
    }

    /// The process that runs the components (the host or `spin`), a child of the
    /// wrapper shell.
    pub fn runner_pid(&self) -> Option<u32> {
        let wrapper = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// The runner and every process it started (`spin up` runs its HTTP trigger in a
    /// child process).
    pub fn runner_processes(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.runner_pid().into_iter().collect();
        let mut next = 0;
        while next < all.len() {
            let pid = all[next];
            next += 1;
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten();
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                all.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        all
    }

    /// The largest peak resident memory so far (`VmHWM`) of the runner's processes, in
    /// KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.runner_processes()
            .into_iter()
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .max()
    }

    /// Kills the runner and its processes with SIGKILL, as a node failure would (no
    /// shutdown, no flush).
    pub fn kill9(&self) {
        for pid in self.runner_processes() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }

    /// `base_url` + path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper kill the runner and wait for it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Installs ocean.js 8.6.2 (pinned in `tests/oceanjs/package-lock.json`) if missing.
pub fn ensure_oceanjs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = workspace_root().join("tests/oceanjs");
        if dir
            .join("node_modules/@oceanprotocol/lib/dist/lib.cjs")
            .exists()
        {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir)
            .status()
            .expect("run npm ci in tests/oceanjs (is Node.js installed?)");
        assert!(status.success(), "npm ci in tests/oceanjs failed");
    });
}

/// The provider shared by all tests of one test binary (state in a temp dir).
pub fn shared_provider() -> &'static Provider {
    static SHARED: OnceLock<(Provider, TempDir)> = OnceLock::new();
    &SHARED
        .get_or_init(|| {
            let dir = TempDir::new("shared");
            let mut vars = Provider::chain_vars(chain::LocalChain::shared());
            vars.insert("max_document_size".into(), "65536".into());
            let files = shared_file_server();
            vars.insert("aquarius_url".into(), files.url.clone());
            vars.insert("ipfs_gateway".into(), files.url.clone());
            vars.insert("arweave_gateway".into(), format!("{}/arweave/", files.url));
            vars.insert("request_timeout".into(), "3".into());
            vars.insert("operator_service_url".into(), files.url.clone());
            (Provider::start(dir.path(), vars), dir)
        })
        .0
}

/// Serialises the tests that sign as the shared consumer account: nonces must rise
/// strictly per account, so two tests using one account concurrently would refuse each
/// other's requests. Hold the guard for the whole test.
pub fn consumer_session() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The loopback file server (origins, Aquarius, gateways) shared by a test binary.
pub fn shared_file_server() -> &'static file_server::FileServer {
    static SERVER: OnceLock<file_server::FileServer> = OnceLock::new();
    SERVER.get_or_init(file_server::FileServer::start)
}

/// Decodes `%XX` escapes (and `+` as space).
pub fn percent_decode(text: &str) -> String {
    ocean_provider::request::parse_query(&format!("x={text}"))
        .pop()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// An HTTP answer (status 0 when the request could not be made at all).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: BTreeMap<String, String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match result {
        Ok(mut response) => {
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let body = response
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .unwrap_or_default();
            Reply {
                status: response.status().as_u16(),
                headers,
                body,
            }
        }
        Err(_) => Reply {
            status: 0,
            headers: BTreeMap::new(),
            body: Vec::new(),
        },
    }
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value) -> Reply {
    request(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

/// Sends a request with optional headers and body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let agent = agent();
    match body {
        Some(bytes) => reply(agent.run(builder.body(bytes.to_vec()).unwrap())),
        None => reply(agent.run(builder.body(()).unwrap())),
    }
}

/// `GET url`, giving up after `timeout` (then status 0, as for no answer at all).
pub fn get_within(url: &str, timeout: Duration) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    reply(agent.run(ureq::http::Request::get(url).body(()).unwrap()))
}

/// Whether the end-to-end tests run under a real Spin (`SPIN_BIN`).
pub fn under_spin() -> bool {
    spin_bin().is_some()
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    request("GET", url, &[], None)
}

/// A deterministic test account derived from a label (each test uses its own, so
/// tests sharing one provider do not share nonces).
#[derive(Debug, Clone)]
pub struct Account {
    /// The key.
    pub key: SigningKey,
    /// Its checksum address.
    pub address: String,
}

impl Account {
    /// The account for `label`.
    pub fn named(label: &str) -> Self {
        let seed = alloy_keccak(label.as_bytes());
        let key = SigningKey::from_slice(&seed).unwrap();
        let address = checksum(&address_of(&key));
        Self { key, address }
    }

    /// The account of a hex private key.
    pub fn from_key(hex_key: &str) -> Self {
        let key = SigningKey::from_slice(&hex::decode(hex_key.trim_start_matches("0x")).unwrap())
            .unwrap();
        let address = checksum(&address_of(&key));
        Self { key, address }
    }

    /// Signs `message` like ethers' `signMessage(keccak256(message))`, v = 27/28.
    pub fn sign(&self, message: &str) -> String {
        sign_message(&self.key, message).unwrap().to_hex_v27()
    }
}

fn alloy_keccak(data: &[u8]) -> [u8; 32] {
    ocean_provider::signature::signed_message_digest(&hex::encode(data)).0
}

/// Percent-encodes a query value.
pub use ocean_provider::request::percent_encode as encode;

/// Flushes test output (helps when a test hangs on a child process).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// Sends two raw HTTP/1.1 requests on one keep-alive connection and returns what a
/// single `read` delivered of the second answer, with the length of that whole answer
/// (head + `content-length`). The second answer is the one that matters: a response
/// whose head and body leave in two writes is cut after the head there, because
/// Nagle's algorithm (Spin sets no `TCP_NODELAY`) holds the body until the head is
/// acknowledged, and the client delays that ACK by up to 40 ms.
pub fn first_read_of_second_answer(base_url: &str, first: &str, second: &str) -> (Vec<u8>, usize) {
    use std::io::Read;
    let address = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while complete_length(&buffer).is_none_or(|len| buffer.len() < len) {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed during the first answer");
        buffer.extend_from_slice(&chunk[..n]);
    }
    stream.write_all(second.as_bytes()).unwrap();
    let n = stream.read(&mut chunk).unwrap();
    let mut rest = chunk[..n].to_vec();
    let first_read = rest.clone();
    while complete_length(&rest).is_none_or(|len| rest.len() < len) {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed during the second answer");
        rest.extend_from_slice(&chunk[..n]);
    }
    let total = complete_length(&rest).unwrap();
    (first_read, total)
}

/// Head length + `content-length` of a buffered HTTP answer, once its head is complete.
fn complete_length(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .expect("the answer has a content-length");
    Some(head_end + length)
}
