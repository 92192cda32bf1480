//! The project's benchmark, on the platform of the run (the project's host, or a real
//! Spin with `SPIN_BIN`): it starts the real components, a local chain behind a
//! counting JSON-RPC proxy and a loopback origin, and prints for each endpoint
//!
//! - requests/second and p50/p99 latency at 1 and 16 keep-alive connections
//!   (`initialize` at 1 and 8);
//! - CPU per request of the process running the components (host or `spin`), and for
//!   the chain reads, JSON-RPC calls per request and the chain's (ganache's) CPU per
//!   request;
//! - a large signed download's throughput **as a ratio to a direct download of the same
//!   file from the same origin in the same run**, from an unpaced loopback origin (the
//!   platform's ceiling) and from one paced like a fast remote store, with the runner's
//!   peak RSS before and after (flat memory: the file is far larger than the growth).
//!
//! Many-connection loads use `wrk` when it is installed (Debian package `wrk`), else
//! client threads in this process.
//!
//! Run: `cargo bench -p provider-e2e --bench throughput` (env: `SPIN_BIN`,
//! `BENCH_SECONDS` per measurement, default 5; `BENCH_CONNECTIONS`, default `1,16`;
//! `BENCH_DOWNLOAD_MIB`, default 1024; `BENCH_PACED_MBPS`, the second origin's pace,
//! default 800). A benchmark, not a test: it asserts nothing
//! about speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use provider_e2e::rpc_proxy::RpcProxy;
use provider_e2e::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// CPU seconds (user + system) processes have used so far. Linux reports them in
/// clock ticks of 1/100 s (`USER_HZ`, 100 on every mainstream kernel).
fn cpu_seconds(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| cpu_of(*pid)).sum()
}

fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The process of a wrapper shell's first child.
fn child_of(wrapper: u32) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Who to watch while a load runs.
struct Watch<'a> {
    runner: Vec<u32>,
    chain: Vec<u32>,
    rpc: Option<&'a RpcProxy>,
}

struct Snapshot {
    runner_cpu: Option<f64>,
    chain_cpu: Option<f64>,
    rpc_calls: Option<usize>,
}

impl Watch<'_> {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            runner_cpu: cpu_seconds(&self.runner),
            chain_cpu: cpu_seconds(&self.chain),
            rpc_calls: self.rpc.map(RpcProxy::calls),
        }
    }
}

fn load(
    name: &str,
    connections: usize,
    seconds: u64,
    watch: &Watch<'_>,
    request: impl Fn(&ureq::Agent) -> u16 + Sync,
) {
    let before = watch.snapshot();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                let request = &request;
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut latencies = Vec::new();
                    let mut failures = 0;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let status = request(&agent);
                        latencies.push(t.elapsed());
                        if !(200..300).contains(&status) {
                            failures += 1;
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let after = watch.snapshot();
    let failures: usize = results.iter().map(|(_, f)| f).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    all.sort();
    let rate = all.len() as f64 / elapsed;
    let p50 = percentile(&all, 0.50).as_secs_f64() * 1000.0;
    let p99 = percentile(&all, 0.99).as_secs_f64() * 1000.0;
    let requests = all.len().max(1) as f64;
    let tail = format!("{} requests, {failures} non-2xx", all.len());
    report(
        name,
        connections,
        (rate, p50, p99),
        (&before, &after),
        requests,
        &tail,
    );
}

/// Prints one measurement: req/s, p50/p99 (ms), CPU per request of the runner and,
/// when the chain is watched, JSON-RPC calls and the chain's CPU per request.
fn report(
    name: &str,
    connections: usize,
    (rate, p50, p99): (f64, f64, f64),
    (before, after): (&Snapshot, &Snapshot),
    requests: f64,
    tail: &str,
) {
    let per_request_ms = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) * 1000.0 / requests),
        _ => "-".into(),
    };
    let mut line = format!(
        "{name:<36} {connections:>2} conn {rate:>7.0} req/s  p50 {p50:>6.2} ms  p99 {p99:>6.2} ms  cpu {:>5} ms/req",
        per_request_ms(before.runner_cpu, after.runner_cpu),
    );
    if let (Some(a), Some(b)) = (before.rpc_calls, after.rpc_calls) {
        line.push_str(&format!(
            "  rpc {:>4.2} calls/req  chain cpu {:>5} ms/req",
            (b - a) as f64 / requests,
            per_request_ms(before.chain_cpu, after.chain_cpu)
        ));
    }
    println!("{line}  ({tail})");
}

/// The same measurement with `wrk` (when it is on `PATH`): a C client takes far less
/// of the 2 cores than 16 client threads here, so many-connection figures show the
/// platform rather than the client. GET, or POST of `body` with `content_type`.
fn load_wrk(
    name: &str,
    url: &str,
    post: Option<(&str, &[u8])>,
    connections: usize,
    seconds: u64,
    watch: &Watch<'_>,
) -> bool {
    let dir = TempDir::new("wrk");
    let mut command = std::process::Command::new("wrk");
    command.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some((content_type, body)) = post {
        let body_path = dir.path().join("body");
        std::fs::write(&body_path, body).unwrap();
        let script = format!(
            "local f = io.open({:?}, 'rb')\nwrk.method = 'POST'\nwrk.body = f:read('*a')\nf:close()\nwrk.headers['Content-Type'] = '{content_type}'\n",
            body_path.to_string_lossy()
        );
        let script_path = dir.path().join("post.lua");
        std::fs::write(&script_path, script).unwrap();
        command.arg("-s").arg(&script_path);
    }
    let before = watch.snapshot();
    let Ok(output) = command.arg(url).output() else {
        return false;
    };
    let after = watch.snapshot();
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let millis = |v: Option<String>| {
        v.map_or(f64::NAN, |v| {
            let number: f64 = v
                .trim_end_matches(|c: char| c.is_alphabetic())
                .parse()
                .unwrap_or(f64::NAN);
            if v.ends_with("us") {
                number / 1000.0
            } else if v.ends_with("ms") {
                number
            } else {
                number * 1000.0
            }
        })
    };
    let rate: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let requests = (rate * seconds as f64).max(1.0);
    let non_2xx = field("Non-2xx or 3xx responses:").unwrap_or_else(|| "0".into());
    let latency = (rate, millis(field("50%")), millis(field("99%")));
    let tail = format!("wrk, {non_2xx} non-2xx");
    report(
        name,
        connections,
        latency,
        (&before, &after),
        requests,
        &tail,
    );
    true
}

/// Which platform runs the components, for the report.
fn platform_name() -> String {
    match std::env::var_os("SPIN_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => {
            let version = std::process::Command::new(&bin)
                .arg("--version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            format!("real Spin ({version}, SPIN_BIN={})", bin.to_string_lossy())
        }
        None => "the project's host (target/host/spin-host, TCP_NODELAY off as in Spin)".into(),
    }
}

/// A loopback origin that serves `/bulk` (`size` bytes of a repeating pattern, with
/// `Content-Length`) from one static buffer, as fast as loopback allows: the same
/// origin for the direct and the provider download.
/// With `pace` (bytes/second), the origin sends no faster than that, as a remote
/// object store or a 10 GbE link would.
fn bulk_origin(size: u64, pace: Option<f64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/bulk", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        for stream in listener.incoming().flatten() {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    let mut head_only = false;
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.starts_with("HEAD") {
                        head_only = true;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n"
                    );
                    if writer.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    if head_only {
                        continue;
                    }
                    let mut left = size;
                    let started = Instant::now();
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if writer.write_all(&chunk[..n]).is_err() {
                            return;
                        }
                        left -= n as u64;
                        if let Some(rate) = pace {
                            let due = Duration::from_secs_f64((size - left) as f64 / rate);
                            if let Some(wait) = due.checked_sub(started.elapsed()) {
                                std::thread::sleep(wait);
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

/// Downloads `url` once, discarding the bytes; (bytes, seconds).
fn timed_download(url: &str) -> (u64, f64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let started = Instant::now();
    let mut response = agent.get(url).call().expect("download");
    assert_eq!(response.status().as_u16(), 200, "download refused");
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer).expect("read the download");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    (total, started.elapsed().as_secs_f64())
}

/// A published, ordered dataset on a fresh chain behind a counting proxy, and a
/// provider serving it.
struct ConsumeSetup {
    provider: Provider,
    _dir: TempDir,
    chain: chain::LocalChain,
    rpc: RpcProxy,
    did: String,
    order_tx: String,
    consumer: Account,
}

fn consume_setup(bulk_url: &str, paced_url: &str) -> ConsumeSetup {
    let chain = chain::LocalChain::start();
    let files = shared_file_server();
    files.add_file("bench-small.csv", b"id,value\n1,alpha\n2,beta\n".to_vec());
    let dataset = assets::publish_dataset(
        &chain,
        files,
        "bench",
        "access",
        &[
            serde_json::json!({"type": "url", "url": format!("{}/files/bench-small.csv", files.url)}),
            serde_json::json!({"type": "url", "url": bulk_url}),
            serde_json::json!({"type": "url", "url": paced_url}),
        ],
        0,
    );
    let rpc = RpcProxy::start(&chain.rpc_url);
    let dir = TempDir::new("bench-consume");
    let mut vars = Provider::chain_vars(&chain);
    vars.insert(
        "network_url".into(),
        format!(r#"{{"8996": "{}"}}"#, rpc.url),
    );
    vars.insert("log_level".into(), "error".into());
    vars.insert("aquarius_url".into(), files.url.clone());
    let provider = Provider::start(dir.path(), vars);
    let consumer = Account::from_key(CONSUMER_KEY);
    let quote = get(&provider.url(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={}",
        dataset.did, consumer.address
    )));
    assert_eq!(quote.status, 200, "{}", quote.text());
    let payer = chain.accounts.consumer;
    let order_tx = chain.order(
        payer,
        payer,
        dataset.datatoken,
        &quote.json()["providerFee"],
    );
    ConsumeSetup {
        provider,
        _dir: dir,
        order_tx: format!("{order_tx:#x}"),
        did: dataset.did,
        chain,
        rpc,
        consumer,
    }
}

fn main() {
    ensure_built();
    println!("platform: {}", platform_name());
    println!("component sizes (release, wasm32-wasip2):");
    let root = workspace_root();
    let mut total = 0;
    for package in component_packages() {
        let path = root.join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            package.replace('-', "_")
        ));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        total += size;
        println!(
            "  {package:<24} {:>9} bytes ({:.1} KiB)",
            size,
            size as f64 / 1024.0
        );
    }
    println!("  {:<24} {:>9} bytes", "total", total);

    let env_number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let seconds = env_number("BENCH_SECONDS", 5);
    let download_mib = env_number("BENCH_DOWNLOAD_MIB", 1024);
    // One keep-alive connection shows per-request stalls (Nagle meeting delayed ACKs);
    // sixteen show throughput.
    let connection_counts: Vec<usize> = std::env::var("BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "1,16".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = TempDir::new("bench");
    let mut vars = Provider::default_vars();
    vars.insert("log_level".into(), "error".into());
    let provider = Provider::start(dir.path(), vars);
    let watch = Watch {
        runner: provider.runner_processes(),
        chain: Vec::new(),
        rpc: None,
    };
    let account = Account::named("bench");

    let nonce_url = provider.url(&format!(
        "/api/services/nonce?userAddress={}",
        account.address
    ));
    let encrypt_url = provider.url("/api/services/encrypt?chainId=8996");
    let info_url = provider.url("/");
    let document = vec![b'a'; 1024];
    println!("\nno chain reads:");
    let wrk = std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok();
    for &connections in &connection_counts {
        if wrk && connections > 1 {
            load_wrk(
                "GET /api/services/nonce",
                &nonce_url,
                None,
                connections,
                seconds,
                &watch,
            );
            load_wrk(
                "POST /api/services/encrypt (1 KiB)",
                &encrypt_url,
                Some(("application/octet-stream", &document)),
                connections,
                seconds,
                &watch,
            );
            load_wrk(
                "GET / (info)",
                &info_url,
                None,
                connections,
                seconds,
                &watch,
            );
            continue;
        }
        load(
            "GET /api/services/nonce",
            connections,
            seconds,
            &watch,
            |agent| {
                agent
                    .get(&nonce_url)
                    .call()
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            },
        );
        load(
            "POST /api/services/encrypt (1 KiB)",
            connections,
            seconds,
            &watch,
            |agent| {
                agent
                    .post(&encrypt_url)
                    .header("Content-Type", "application/octet-stream")
                    .send(&document[..])
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            },
        );
        load("GET / (info)", connections, seconds, &watch, |agent| {
            agent
                .get(&info_url)
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    drop(provider);

    // Chain reads: quotes, and signed downloads of an ordered dataset (each checks the
    // signature, the order on the chain and streams from a loopback origin). Downloads
    // use one connection: the consumer's nonces must rise strictly.
    let paced_mb_s = env_number("BENCH_PACED_MBPS", 800);
    let bulk_url = bulk_origin(download_mib * 1024 * 1024, None);
    let paced_url = bulk_origin(download_mib * 1024 * 1024, Some(paced_mb_s as f64 * 1e6));
    let setup = consume_setup(&bulk_url, &paced_url);
    let watch = Watch {
        runner: setup.provider.runner_processes(),
        chain: setup
            .chain
            .wrapper_pid()
            .and_then(child_of)
            .into_iter()
            .collect(),
        rpc: Some(&setup.rpc),
    };
    println!("\nchain reads (ganache behind a counting JSON-RPC proxy):");
    let initialize_url = setup.provider.url(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={}",
        setup.did, setup.consumer.address
    ));
    for connections in [1, 8] {
        if wrk
            && connections > 1
            && load_wrk(
                "GET /api/services/initialize",
                &initialize_url,
                None,
                connections,
                seconds,
                &watch,
            )
        {
            continue;
        }
        load(
            "GET /api/services/initialize",
            connections,
            seconds,
            &watch,
            |agent| {
                agent
                    .get(&initialize_url)
                    .call()
                    .map(|mut r| {
                        let _ = r.body_mut().read_to_vec();
                        r.status().as_u16()
                    })
                    .unwrap_or(0)
            },
        );
    }
    let nonce = std::sync::atomic::AtomicU64::new(1);
    let download_url = |index: usize| {
        let n = nonce.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        setup.provider.url(&format!(
            "/api/services/download?documentId={}&serviceId=svc&transferTxId={}&fileIndex={index}&consumerAddress={}&nonce={n}&signature={}",
            setup.did,
            setup.order_tx,
            setup.consumer.address,
            setup.consumer.sign(&format!("{}{n}", setup.did))
        ))
    };
    load(
        "GET /api/services/download (26 B)",
        1,
        seconds,
        &watch,
        |agent| {
            agent
                .get(&download_url(0))
                .call()
                .map(|mut r| {
                    let _ = r.body_mut().read_to_vec();
                    r.status().as_u16()
                })
                .unwrap_or(0)
        },
    );

    let rss_before = setup.provider.peak_rss_kib();
    let mb_s = |bytes: u64, seconds: f64| bytes as f64 / seconds / 1e6;
    for (label, origin, index) in [
        ("loopback origin, unpaced".to_owned(), &bulk_url, 1),
        (format!("origin paced at {paced_mb_s} MB/s"), &paced_url, 2),
    ] {
        println!("\nlarge download ({download_mib} MiB, {label}, same run):");
        let (direct_bytes, direct_seconds) = timed_download(origin);
        let (proxied_bytes, proxied_seconds) = timed_download(&download_url(index));
        assert_eq!(direct_bytes, proxied_bytes, "the download is incomplete");
        println!(
            "direct from the origin     {:>8.0} MB/s  ({direct_bytes} bytes in {direct_seconds:.2} s)",
            mb_s(direct_bytes, direct_seconds)
        );
        println!(
            "through the provider       {:>8.0} MB/s  ({proxied_bytes} bytes in {proxied_seconds:.2} s)",
            mb_s(proxied_bytes, proxied_seconds)
        );
        println!(
            "ratio (provider / direct)  {:>8.2}",
            direct_seconds / proxied_seconds
        );
    }
    let rss_after = setup.provider.peak_rss_kib();
    println!(
        "runner peak RSS            {} KiB before, {} KiB after",
        rss_before.map_or("-".into(), |k| k.to_string()),
        rss_after.map_or("-".into(), |k| k.to_string())
    );
    drop(setup.chain);
}
