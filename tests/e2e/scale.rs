//! Scale-out as Spin users deploy it: several provider processes (the real components
//! under the host, or `SPIN_BIN`) sharing one Redis key-value store configured exactly
//! as Spin's (`type = "redis"`), and one process per endpoint group (`-c`) behind path
//! routing. Needs `redis-server` (Debian package).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use provider_e2e::assets::publish_dataset;
use provider_e2e::chain::LocalChain;
use provider_e2e::path_router::PathRouter;
use provider_e2e::redis::RedisServer;
use provider_e2e::*;
use serde_json::json;

/// `n` providers sharing `redis`, with `vars`.
fn instances(
    redis: &RedisServer,
    n: usize,
    vars: &BTreeMap<String, String>,
) -> Vec<(Provider, TempDir)> {
    (0..n)
        .map(|i| {
            let dir = TempDir::new(&format!("scale-{i}"));
            let provider = Provider::start_shared(dir.path(), vars.clone(), &redis.url, &[]);
            (provider, dir)
        })
        .collect()
}

fn create_token_url(provider: &Provider, account: &Account, expiration: u64, nonce: u64) -> String {
    let signature = account.sign(&format!("{}{nonce}", account.address));
    provider.url(&format!(
        "/api/services/createAuthToken?address={}&expiration={expiration}&nonce={nonce}&signature={signature}",
        account.address
    ))
}

fn node_token_request(provider: &Provider, account: &Account, nonce: u64) -> Reply {
    let body = json!({"address": account.address, "nonce": nonce.to_string(),
        "signature": account.sign(&format!("{}{nonce}createAuthToken", account.address))});
    post_json(&provider.url("/api/services/auth/token"), &body)
}

/// Sends `send(instance)` from 50 threads released together, spread over the
/// instances; the statuses.
fn fifty_at_once(count: usize, send: impl Fn(usize) -> u16 + Sync) -> Vec<u16> {
    let barrier = Barrier::new(50);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (barrier, send) = (&barrier, &send);
                scope.spawn(move || {
                    barrier.wait();
                    send(i % count)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn one_of_fifty_identical_signed_requests_is_accepted_across_three_instances() {
    let redis = RedisServer::start();
    let nodes = instances(&redis, 3, &Provider::default_vars());
    // v2: the same signed createAuthToken URL, 50 times, on three processes.
    let v2 = Account::named("scale-v2");
    let urls: Vec<String> = nodes
        .iter()
        .map(|(p, _)| create_token_url(p, &v2, 4_000_000_000, 1))
        .collect();
    let statuses = fifty_at_once(3, |i| get(&urls[i]).status);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 400)),
        "{statuses:?}"
    );
    // Ocean Node: the same signed POST /auth/token, 50 times.
    let node = Account::named("scale-node");
    let statuses = fifty_at_once(3, |i| node_token_request(&nodes[i].0, &node, 1).status);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 401)),
        "{statuses:?}"
    );
    // Every instance reads the one counter; a dialect cannot replay the other's nonce.
    for (provider, _) in &nodes {
        let nonce =
            get(&provider.url(&format!("/api/services/nonce?userAddress={}", node.address)));
        assert_eq!(nonce.json()["nonce"], 1);
    }
    let cross = get(&create_token_url(&nodes[2].0, &node, 4_000_000_000, 1));
    assert_eq!(cross.status, 400, "{}", cross.text());
}

#[test]
fn a_token_revoked_on_one_instance_is_refused_on_the_others_at_once() {
    let redis = RedisServer::start();
    let mut vars = Provider::default_vars();
    vars.insert(
        "operator_service_url".into(),
        shared_file_server().url.clone(),
    );
    let nodes = instances(&redis, 3, &vars);
    let account = Account::named("scale-token");
    let created = node_token_request(&nodes[0].0, &account, 1);
    assert_eq!(created.status, 200, "{}", created.text());
    let token = created.json()["token"].as_str().unwrap().to_owned();
    // What the token authorises: stopping the owner's job (ocean.js sends the token as
    // `Authorization` and no nonce).
    let stop = |provider: &Provider| {
        request(
            "PUT",
            &provider.url(&format!(
                "/api/services/compute?consumerAddress={}&jobId=job-1",
                account.address
            )),
            &[("Authorization", &token)],
            None,
        )
    };
    for (provider, _) in &nodes[1..] {
        assert_eq!(stop(provider).status, 200);
    }
    let body = json!({"address": account.address, "nonce": "2", "token": token,
        "signature": account.sign(&format!("{}2", account.address))});
    let invalidated = post_json(
        &nodes[0].0.url("/api/services/auth/token/invalidate"),
        &body,
    );
    assert_eq!(invalidated.json(), json!({"success": true}));
    // No delay: the very next request on each other instance is refused.
    for (provider, _) in &nodes[1..] {
        let refused = stop(provider);
        assert_eq!(refused.status, 401, "{}", refused.text());
        assert_eq!(refused.json()["error"], "Invalid token");
    }
}

/// A request of the load: (nonce, instance, status).
type Sent = (u64, usize, u16);

#[test]
fn kill_9_of_one_instance_mid_load_loses_no_accepted_nonce() {
    let redis = RedisServer::start();
    let nodes = instances(&redis, 3, &Provider::default_vars());
    let killed = Mutex::new(None::<Instant>);
    // Three clients, each with its own account and rising nonces, round-robin over
    // the instances; instance 1 is killed with SIGKILL while they run.
    let results: Vec<(Account, Vec<Sent>)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let (nodes, killed) = (&nodes, &killed);
                scope.spawn(move || {
                    let account = Account::named(&format!("scale-kill-{c}"));
                    let mut sent = Vec::new();
                    for n in 1..=90u64 {
                        let i = (n as usize + c) % 3;
                        let status = get(&create_token_url(
                            &nodes[i].0,
                            &account,
                            4_000_000_000 + n,
                            n,
                        ))
                        .status;
                        sent.push((n, i, status));
                        if c == 0 && n == 30 {
                            nodes[1].0.kill9();
                            *killed.lock().unwrap() = Some(Instant::now());
                        }
                    }
                    (account, sent)
                })
            })
            .collect();
        clients.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(killed.lock().unwrap().is_some());
    let mut accepted_after_kill = 0;
    let mut lost = 0;
    for (account, sent) in &results {
        for &(n, i, status) in sent {
            match status {
                200 => {
                    // Accepted once: refused on every surviving instance ever after.
                    for survivor in [0, 2] {
                        let replay = get(&create_token_url(
                            &nodes[survivor].0,
                            account,
                            4_000_000_000 + n,
                            n,
                        ));
                        assert_eq!(
                            replay.status, 400,
                            "nonce {n} of {} replayed",
                            account.address
                        );
                    }
                    if i != 1 && n > 30 {
                        accepted_after_kill += 1;
                    }
                }
                // The killed instance: connection refused or cut.
                0 | 502 => {
                    assert_eq!(i, 1, "only the killed instance may fail to answer");
                    lost += 1;
                }
                other => panic!("unexpected status {other} for nonce {n} on instance {i}"),
            }
        }
        // The counter holds the highest accepted nonce.
        let highest = sent
            .iter()
            .filter(|s| s.2 == 200)
            .map(|s| s.0)
            .max()
            .unwrap();
        let stored = get(&nodes[0].0.url(&format!(
            "/api/services/nonce?userAddress={}",
            account.address
        )));
        assert_eq!(stored.json()["nonce"], highest);
    }
    assert!(
        accepted_after_kill > 0,
        "the surviving instances kept serving"
    );
    eprintln!(
        "kill -9: 0 accepted nonces lost; {lost} requests sent to the killed instance got no answer; the others accepted {accepted_after_kill} afterwards"
    );
}

#[test]
fn redis_down_is_a_clear_503_and_service_resumes_when_it_returns() {
    let mut redis = RedisServer::start();
    let nodes = instances(&redis, 2, &Provider::default_vars());
    let account = Account::named("scale-redis");
    let first = create_token_url(&nodes[0].0, &account, 4_000_000_000, 1);
    assert_eq!(get(&first).status, 200);
    redis.stop();
    let stopped = Instant::now();
    let nonce_url = nodes[1].0.url(&format!(
        "/api/services/nonce?userAddress={}",
        account.address
    ));
    let mut held = 0;
    for url in [
        &nonce_url,
        &first,
        &create_token_url(&nodes[1].0, &account, 4_000_000_001, 2),
    ] {
        // Under Spin a held request is given up after 1 s: its Redis client backs off
        // longer the longer the server is away.
        let patience = Duration::from_secs(if under_spin() { 1 } else { 5 });
        let reply = get_within(url, patience);
        if under_spin() && reply.status == 0 {
            // Spin 4.0.2's Redis store waits for the server instead of failing: the
            // request is held (no answer), never accepted while Redis is away.
            held += 1;
            continue;
        }
        assert_eq!(reply.status, 503, "{url}: {}", reply.text());
        let text = reply.text();
        assert!(reply.json()["error"].is_string(), "{text}");
        assert!(
            !text.contains("redis://") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
    // Requests that need no store keep working.
    assert_eq!(get(&nodes[1].0.url("/")).status, 200);
    redis.resume();
    let resumed = Instant::now();
    while get_within(&nonce_url, Duration::from_secs(2)).status != 200 {
        // Spin 4.0.2's Redis client has been measured to take ~100 s to reconnect.
        let patience = Duration::from_secs(if under_spin() { 300 } else { 30 });
        assert!(resumed.elapsed() < patience, "no recovery");
        std::thread::sleep(Duration::from_millis(20));
    }
    let recovery = resumed.elapsed();
    // Nothing was forgotten (the server's append-only file) and nothing was let through.
    // A request Spin held during the outage may complete once Redis is back (nonce 2);
    // one answered 503 used nothing.
    let stored = get(&nonce_url).json()["nonce"].as_u64().unwrap();
    if held == 0 {
        assert_eq!(stored, 1);
    } else {
        assert!(matches!(stored, 1 | 2), "{stored}");
    }
    assert_eq!(get(&first).status, 400, "the replay stays refused");
    // Well above anything a held request may still be spending.
    let next = stored + 100;
    assert_eq!(
        get(&create_token_url(
            &nodes[1].0,
            &account,
            4_000_000_000 + next,
            next
        ))
        .status,
        200
    );
    eprintln!(
        "redis restart: down {:.2} s ({held} of 3 requests held without an answer, the rest 503); first 200 {:.0} ms after it was back",
        (resumed - stopped).as_secs_f64(),
        recovery.as_secs_f64() * 1000.0
    );
}

#[test]
fn one_process_per_endpoint_group_behind_path_routing_serves_the_consume_flow() {
    let redis = RedisServer::start();
    let chain = LocalChain::shared();
    let files = shared_file_server();
    let mut vars = Provider::chain_vars(chain);
    vars.insert("aquarius_url".into(), files.url.clone());
    vars.insert("operator_service_url".into(), files.url.clone());
    // One process per component, each serving only its own routes (`-c`).
    let components: BTreeSet<&str> = ocean_provider::routes::COMPONENTS
        .iter()
        .map(|c| c.id)
        .collect();
    let processes: BTreeMap<&str, (Provider, TempDir)> = components
        .iter()
        .map(|id| {
            let dir = TempDir::new(&format!("group-{id}"));
            (
                *id,
                (
                    Provider::start_shared(dir.path(), vars.clone(), &redis.url, &[id]),
                    dir,
                ),
            )
        })
        .collect();
    let address = |id: &str| {
        processes[id]
            .0
            .base_url
            .trim_start_matches("http://")
            .to_owned()
    };
    let routes: BTreeMap<String, String> = ocean_provider::routes::OPERATIONS
        .iter()
        .map(|op| {
            (
                op.path.trim_end_matches('/').to_owned(),
                address(op.component),
            )
        })
        .collect();
    let router = PathRouter::start(routes, address("info"));
    // A process serves only its group: another group's path is a 404 there.
    let elsewhere = get(&processes["nonce"]
        .0
        .url("/api/services/encrypt?chainId=8996"));
    assert_eq!(elsewhere.status, 404);

    let via = |path: &str| format!("{}{path}", router.url);
    assert_eq!(get(&via("/")).json()["chainIds"], json!([8996]));
    let content = b"per-endpoint deployment, one process per group\n".to_vec();
    files.add_file("per-endpoint.csv", content.clone());
    let file = json!({"type": "url", "url": format!("{}/files/per-endpoint.csv", files.url)});
    let dataset = publish_dataset(chain, files, "per-endpoint", "access", &[file], 0);
    let consumer = Account::from_key(CONSUMER_KEY);
    let info = post_json(
        &via("/api/services/fileinfo"),
        &json!({"did": dataset.did, "serviceId": "svc"}),
    );
    assert_eq!(info.json()[0]["valid"], true, "{}", info.text());
    let quote = get(&via(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={}",
        dataset.did, consumer.address
    )));
    assert_eq!(quote.status, 200, "{}", quote.text());
    let payer = chain.accounts.consumer;
    let tx = chain.order(
        payer,
        payer,
        dataset.datatoken,
        &quote.json()["providerFee"],
    );
    let tx = &format!("{tx:#x}");
    let nonce = get(&via(&format!(
        "/api/services/nonce?userAddress={}",
        consumer.address
    )))
    .json()["nonce"]
        .as_u64()
        .unwrap()
        + 1;
    let url = via(&format!(
        "/api/services/download?documentId={}&serviceId=svc&transferTxId={tx}&fileIndex=0&consumerAddress={}&nonce={nonce}&signature={}",
        dataset.did,
        consumer.address,
        consumer.sign(&format!("{}{nonce}", dataset.did))
    ));
    let download = get(&url);
    assert_eq!(download.status, 200, "{}", download.text());
    assert_eq!(download.body, content);
    // The nonce the download process spent is seen by the nonce process.
    let after = get(&via(&format!(
        "/api/services/nonce?userAddress={}",
        consumer.address
    )));
    assert_eq!(after.json()["nonce"], nonce);
    assert_eq!(
        get(&url).status,
        400,
        "a replay through another path is refused"
    );
    // Each request reached the process of its group.
    let hits = router.hits();
    for id in ["info", "nonce", "fileinfo", "initialize", "download"] {
        assert!(
            hits.get(&address(id)).is_some_and(|n| *n > 0),
            "{id}: {hits:?}"
        );
    }
}
