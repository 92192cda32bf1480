//! Prints which platform runs the components and each component's .wasm size, then
//! requests/second and p50/p99 latency of `GET /api/services/nonce`,
//! `POST /api/services/encrypt` (1 KiB) and `GET /` at 1 and 16 keep-alive connections,
//! and of signed downloads (26 B and 1 MiB, streamed) on a local chain at 1 connection.
//!
//! Run: `cargo bench -p provider-e2e --bench throughput` under the project's host, or
//! with `SPIN_BIN=/path/to/spin` under a real Spin (env: BENCH_SECONDS, default 5;
//! BENCH_CONNECTIONS, default `1,16`). A benchmark, not a test: it asserts nothing
//! about speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use provider_e2e::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn load(
    name: &str,
    connections: usize,
    seconds: u64,
    request: impl Fn(&ureq::Agent) -> u16 + Sync,
) {
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
    let failures: usize = results.iter().map(|(_, f)| f).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    all.sort();
    println!(
        "{name:<34} {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests, {failures} non-2xx, {connections} keep-alive connections)",
        all.len() as f64 / elapsed,
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.len(),
    );
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

/// A published, ordered dataset on a fresh local chain, and a provider serving it.
struct ConsumeSetup {
    provider: Provider,
    _dir: TempDir,
    chain: chain::LocalChain,
    did: String,
    order_tx: String,
    consumer: Account,
}

fn consume_setup() -> ConsumeSetup {
    let chain = chain::LocalChain::start();
    let files = shared_file_server();
    files.add_file("bench-small.csv", b"id,value\n1,alpha\n2,beta\n".to_vec());
    files.add_file("bench-1mib.bin", vec![7u8; 1024 * 1024]);
    let dataset = assets::publish_dataset(
        &chain,
        files,
        "bench",
        "access",
        &[
            serde_json::json!({"type": "url", "url": format!("{}/files/bench-small.csv", files.url)}),
            serde_json::json!({"type": "url", "url": format!("{}/files/bench-1mib.bin", files.url)}),
        ],
        0,
    );
    let dir = TempDir::new("bench-consume");
    let mut vars = Provider::chain_vars(&chain);
    vars.insert("log_level".into(), "error".into());
    vars.insert("aquarius_url".into(), files.url.clone());
    let provider = Provider::start(dir.path(), vars);
    let consumer = Account::from_key(CONSUMER_KEY);
    let quote = get(&provider.url(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={}",
        dataset.did, consumer.address
    )));
    assert_eq!(quote.status, 200, "{}", quote.text());
    chain.mint_datatokens(dataset.datatoken, chain.accounts.consumer, 5);
    let receipt = chain.start_order(
        chain.accounts.consumer,
        chain.accounts.consumer,
        dataset.datatoken,
        0,
        &quote.json()["providerFee"],
    );
    assert_eq!(receipt["status"], "0x1");
    ConsumeSetup {
        provider,
        _dir: dir,
        order_tx: receipt["transactionHash"].as_str().unwrap().to_owned(),
        did: dataset.did,
        chain,
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

    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
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
    let account = Account::named("bench");

    let nonce_url = provider.url(&format!(
        "/api/services/nonce?userAddress={}",
        account.address
    ));
    let encrypt_url = provider.url("/api/services/encrypt?chainId=8996");
    let info_url = provider.url("/");
    let document = vec![b'a'; 1024];
    for &connections in &connection_counts {
        load("GET /api/services/nonce", connections, seconds, |agent| {
            agent
                .get(&nonce_url)
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
        load(
            "POST /api/services/encrypt (1 KiB)",
            connections,
            seconds,
            |agent| {
                agent
                    .post(&encrypt_url)
                    .header("Content-Type", "application/octet-stream")
                    .send(&document[..])
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            },
        );
        load("GET / (info)", connections, seconds, |agent| {
            agent
                .get(&info_url)
                .call()
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    drop(provider);

    // Streamed answers: signed downloads of an ordered dataset (each request checks the
    // signature, the order on the local chain and streams from a loopback origin). One
    // connection: the consumer's nonces must rise strictly.
    let setup = consume_setup();
    let nonce = std::sync::atomic::AtomicU64::new(1);
    for (label, index) in [
        ("GET /api/services/download (26 B)", 0),
        ("GET /api/services/download (1 MiB)", 1),
    ] {
        load(label, 1, seconds, |agent| {
            let n = nonce.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let url = setup.provider.url(&format!(
                "/api/services/download?documentId={}&serviceId=svc&transferTxId={}&fileIndex={index}&consumerAddress={}&nonce={n}&signature={}",
                setup.did,
                setup.order_tx,
                setup.consumer.address,
                setup.consumer.sign(&format!("{}{n}", setup.did))
            ));
            agent
                .get(&url)
                .call()
                .map(|mut r| {
                    let _ = r.body_mut().with_config().limit(1 << 30).read_to_vec();
                    r.status().as_u16()
                })
                .unwrap_or(0)
        });
    }
    drop(setup.chain);
}
