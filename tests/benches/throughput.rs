//! Prints each component's .wasm size, then requests/second and p50/p99 latency of
//! `GET /api/services/nonce` and `POST /api/services/encrypt` (1 KiB) through the host,
//! from a loopback load generator with keep-alive connections.
//!
//! Run: `cargo bench -p provider-e2e --bench throughput` (env: BENCH_SECONDS,
//! BENCH_CONNECTIONS). A benchmark, not a test: it asserts nothing about speed.
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

fn main() {
    ensure_built();
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
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let dir = TempDir::new("bench");
    let mut vars = Provider::default_vars();
    vars.insert("log_level".into(), "error".into());
    let provider = Provider::start(dir.path(), vars);
    let account = Account::named("bench");

    let nonce_url = provider.url(&format!(
        "/api/services/nonce?userAddress={}",
        account.address
    ));
    load("GET /api/services/nonce", connections, seconds, |agent| {
        agent
            .get(&nonce_url)
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    });
    let encrypt_url = provider.url("/api/services/encrypt?chainId=8996");
    let document = vec![b'a'; 1024];
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
            .get(&provider.url("/"))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    });
}
