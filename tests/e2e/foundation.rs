//! End to end over HTTP against the real wasm components: the root document, nonces,
//! encrypt, auth tokens, atomic nonce use under concurrency, bad input, persistence.

use ocean_provider::cipher;
use ocean_provider::config::ProviderKey;
use ocean_provider::signature::decode_hex;
use provider_e2e::*;
use serde_json::json;

fn nonce_of(provider: &Provider, address: &str) -> String {
    let reply = get(&provider.url(&format!("/api/services/nonce?userAddress={address}")));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["nonce"].to_string()
}

fn create_token_url(
    provider: &Provider,
    account: &Account,
    expiration: u64,
    nonce: &str,
) -> String {
    let signature = account.sign(&format!("{}{nonce}", account.address));
    provider.url(&format!(
        "/api/services/createAuthToken?address={}&expiration={expiration}&nonce={nonce}&signature={signature}",
        account.address
    ))
}

fn delete_token(provider: &Provider, account: &Account, token: &str, nonce: &str) -> Reply {
    let signature = account.sign(&format!("{}{nonce}", account.address));
    request(
        "DELETE",
        &provider.url(&format!(
            "/api/services/deleteAuthToken?address={}&token={token}&nonce={nonce}&signature={signature}",
            account.address
        )),
        &[],
        None,
    )
}

const FAR_FUTURE: u64 = 4_000_000_000;

#[test]
fn root_document_lists_chains_addresses_and_endpoints() {
    let provider = shared_provider();
    // ocean.js sends `Authorization: undefined` on discovery; it must not matter.
    let reply = request(
        "GET",
        &provider.url("/"),
        &[
            ("Authorization", "undefined"),
            ("Content-Type", "application/json"),
        ],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let doc = reply.json();
    assert_eq!(doc["chainIds"], json!([8996]));
    assert_eq!(
        doc["providerAddresses"],
        json!({"8996": DEV_PROVIDER_ADDRESS})
    );
    assert_eq!(doc["providerAddress"], DEV_PROVIDER_ADDRESS);
    // Ocean Node's `nodePublicKey`: the provider key's compressed public key (ocean.js
    // 8 encrypts compute outputs to it).
    let node_key = doc["nodePublicKey"].as_str().unwrap();
    let bytes = hex::decode(node_key.trim_start_matches("0x")).unwrap();
    let key = k256::PublicKey::from_sec1_bytes(&bytes).unwrap();
    assert_eq!(bytes.len(), 33);
    assert_eq!(
        ocean_provider::address::checksum(&alloy_primitives::Address::from_public_key(&key.into())),
        DEV_PROVIDER_ADDRESS
    );
    assert_eq!(doc["software"], "Provider");
    assert_eq!(
        doc["serviceEndpoints"],
        json!({
            "nonce": ["GET", "/api/services/nonce"],
            "encrypt": ["POST", "/api/services/encrypt"],
            "decrypt": ["POST", "/api/services/decrypt"],
            "fileinfo": ["POST", "/api/services/fileinfo"],
            "initialize": ["GET", "/api/services/initialize"],
            "download": ["GET", "/api/services/download"],
            "initializeCompute": ["POST", "/api/services/initializeCompute"],
            "computeStart": ["POST", "/api/services/compute"],
            "computeStatus": ["GET", "/api/services/compute"],
            "computeStop": ["PUT", "/api/services/compute"],
            "computeDelete": ["DELETE", "/api/services/compute"],
            "computeResult": ["GET", "/api/services/computeResult"],
            "computeEnvironments": ["GET", "/api/services/computeEnvironments"],
            "validateContainer": ["POST", "/api/services/validateContainer"],
            "assetUrls": ["GET", "/api/services/assetUrls"],
            "create_auth_token": ["GET", "/api/services/createAuthToken"],
            "delete_auth_token": ["DELETE", "/api/services/deleteAuthToken"],
            // Ocean Node's keys, for ocean.js 8.
            "generateAuthToken": ["POST", "/api/services/auth/token"],
            "invalidateAuthToken": ["POST", "/api/services/auth/token/invalidate"],
            "freeCompute": ["POST", "/api/services/freeCompute"],
        })
    );
}

#[test]
fn unknown_paths_methods_and_preflight() {
    let provider = shared_provider();
    let missing = get(&provider.url("/api/services/nothingHere"));
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("404"));
    let wrong_method = request("PATCH", &provider.url("/"), &[], None);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json(), json!({"error": "Method Not Allowed"}));
    let head = request(
        "HEAD",
        &provider.url("/api/services/nonce?userAddress=0xA78deb2Fa79463945C247991075E2a0e98Ba7A09"),
        &[],
        None,
    );
    assert_eq!(head.status, 405);
    let post_nonce = request(
        "POST",
        &provider.url("/api/services/nonce"),
        &[],
        Some(b"{}"),
    );
    assert_eq!(post_nonce.status, 405);
    assert_eq!(post_nonce.json()["error"], "Method Not Allowed");
    let preflight = request(
        "OPTIONS",
        &provider.url("/api/services/encrypt"),
        &[
            ("Origin", "https://market.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        None,
    );
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
}

#[test]
fn nonce_starts_at_zero_moves_forward_only_and_reading_writes_nothing() {
    let provider = shared_provider();
    let account = Account::named("nonce-forward");
    assert_eq!(nonce_of(provider, &account.address), "0");
    assert_eq!(nonce_of(provider, &account.address), "0");
    // Use nonce 5 (through createAuthToken, which consumes it).
    let created = get(&create_token_url(provider, &account, FAR_FUTURE, "5"));
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(nonce_of(provider, &account.address), "5");
    assert_eq!(nonce_of(provider, &account.address.to_lowercase()), "5");
    // Lower and equal nonces are refused and change nothing.
    for stale in ["4", "5", "5.0"] {
        let reply = get(&create_token_url(provider, &account, FAR_FUTURE, stale));
        assert_eq!(reply.status, 400, "{stale}: {}", reply.text());
        assert!(
            reply.json()["errors"]["signature"]
                .as_str()
                .unwrap()
                .contains("expected nonce (5)")
        );
    }
    assert_eq!(nonce_of(provider, &account.address), "5");
    // Float seconds after a millisecond-style integer are compared exactly.
    let created = get(&create_token_url(
        provider, &account, FAR_FUTURE, "5.000001",
    ));
    assert_eq!(created.status, 200, "{}", created.text());
    // The answer is the stored value rounded down (every client's next nonce, answer
    // + 1, still exceeds it); the stored value itself stays exact: 5.0000005 is stale.
    assert_eq!(nonce_of(provider, &account.address), "5");
    let stale = get(&create_token_url(
        provider,
        &account,
        FAR_FUTURE,
        "5.0000005",
    ));
    assert_eq!(stale.status, 400, "{}", stale.text());
    assert!(
        stale.text().contains("expected nonce (5.000001)"),
        "{}",
        stale.text()
    );
}

#[test]
fn encrypt_output_decrypts_with_the_provider_key() {
    let provider = shared_provider();
    let document: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let reply = request(
        "POST",
        &provider.url("/api/services/encrypt?chainId=8996"),
        &[("Content-Type", "application/octet-stream")],
        Some(&document),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.text();
    assert!(text.starts_with("0x"));
    let key = ProviderKey::parse(DEV_PROVIDER_KEY).unwrap();
    let plain = cipher::decrypt(&key.secret_key(), &decode_hex(&text).unwrap()).unwrap();
    assert_eq!(plain, document);
}

#[test]
fn encrypt_bad_input_is_4xx_json() {
    let provider = shared_provider();
    let octet = [("Content-Type", "application/octet-stream")];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/api/services/encrypt?chainId=8996",
            vec![("Content-Type", "text/plain")],
            b"x".to_vec(),
            400,
            "content type",
        ),
        (
            "/api/services/encrypt",
            octet.to_vec(),
            b"x".to_vec(),
            400,
            "Missing chainId",
        ),
        (
            "/api/services/encrypt?chainId=1",
            octet.to_vec(),
            b"x".to_vec(),
            400,
            "Unsupported chainId",
        ),
        (
            "/api/services/encrypt?chainId=abc",
            octet.to_vec(),
            b"x".to_vec(),
            400,
            "Invalid chainId",
        ),
        (
            "/api/services/encrypt?chainId=8996",
            octet.to_vec(),
            Vec::new(),
            400,
            "empty",
        ),
        // The shared provider runs with max_document_size = 64 KiB.
        (
            "/api/services/encrypt?chainId=8996",
            octet.to_vec(),
            vec![b'x'; 65537],
            413,
            "65536",
        ),
    ];
    for (path, headers, body, status, needle) in cases {
        let reply = request("POST", &provider.url(path), &headers, Some(&body));
        assert_eq!(reply.status, status, "{path} {needle}: {}", reply.text());
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(needle), "{error}");
    }
    // Exactly at the limit is fine.
    let reply = request(
        "POST",
        &provider.url("/api/services/encrypt?chainId=8996"),
        &octet,
        Some(&vec![b'y'; 65536]),
    );
    assert_eq!(reply.status, 201);
}

#[test]
fn auth_token_create_delete_then_dead_and_replays_refused() {
    let provider = shared_provider();
    let account = Account::named("auth-flow");
    let url = create_token_url(provider, &account, FAR_FUTURE, "1");
    let created = get(&url);
    assert_eq!(created.status, 200, "{}", created.text());
    let token = created.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3);
    // The very same signed URL again is a replay.
    let replay = get(&url);
    assert_eq!(replay.status, 400);
    // Delete, then the token is dead for every use.
    let deleted = delete_token(provider, &account, &token, "2");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        deleted.json(),
        json!({"success": "Token has been deactivated."})
    );
    let again = delete_token(provider, &account, &token, "3");
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "Token is deleted.");
    let revive = get(&create_token_url(provider, &account, FAR_FUTURE, "4"));
    assert_eq!(revive.status, 400, "{}", revive.text());
    // Someone else cannot delete (or use) this account's token.
    let mallory = Account::named("auth-flow-mallory");
    let other = get(&create_token_url(provider, &mallory, FAR_FUTURE, "1"));
    let foreign = delete_token(
        provider,
        &account,
        other.json()["token"].as_str().unwrap(),
        "5",
    );
    assert_eq!(foreign.json()["error"], "Token is invalid.");
}

#[test]
fn fifty_concurrent_requests_with_one_signed_nonce_exactly_one_succeeds() {
    let provider = shared_provider();
    let account = Account::named("concurrency");
    let url = create_token_url(provider, &account, FAR_FUTURE, "1700000000000");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let url = url.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                get(&url).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 400).count();
    assert_eq!((ok, refused), (1, 49), "{statuses:?}");
    assert_eq!(nonce_of(provider, &account.address), "1700000000000");
}

#[test]
fn bad_input_is_4xx_json_and_changes_no_state() {
    let provider = shared_provider();
    let account = Account::named("bad-input");
    let good_sig = account.sign(&format!("{}7", account.address));
    let a = &account.address;
    let bad_requests: Vec<(&str, String)> = vec![
        ("GET", "/api/services/nonce".into()),
        (
            "GET",
            "/api/services/nonce?userAddress=not-an-address".into(),
        ),
        (
            "GET",
            format!("/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=7"),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration=100&nonce=7&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration=soon&nonce=7&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=abc&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=nan&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=inf&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=8&signature={good_sig}"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=7&signature=0x1234"
            ),
        ),
        (
            "GET",
            format!(
                "/api/services/createAuthToken?address=0x12&expiration={FAR_FUTURE}&nonce=7&signature={good_sig}"
            ),
        ),
        (
            "DELETE",
            format!("/api/services/deleteAuthToken?address={a}&nonce=7&signature={good_sig}"),
        ),
        (
            "DELETE",
            format!(
                "/api/services/deleteAuthToken?address={a}&token=garbage&nonce=7&signature={good_sig}"
            ),
        ),
    ];
    for (method, path) in &bad_requests {
        let reply = request(method, &provider.url(path), &[], None);
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text());
        let body = reply.json();
        assert!(
            body.get("error").is_some() || body.get("errors").is_some(),
            "{body}"
        );
    }
    // None of that used the nonce: the good request still works with nonce 7.
    assert_eq!(nonce_of(provider, a), "0");
    let ok = get(&provider.url(&format!(
        "/api/services/createAuthToken?address={a}&expiration={FAR_FUTURE}&nonce=7&signature={good_sig}"
    )));
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[test]
fn a_restart_keeps_nonces_and_revocations() {
    let dir = TempDir::new("restart");
    let provider = Provider::start(dir.path(), Provider::default_vars());
    let account = Account::named("restart");
    let token = get(&create_token_url(&provider, &account, FAR_FUTURE, "10")).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(delete_token(&provider, &account, &token, "11").status, 200);
    let provider = provider.restart();
    assert_eq!(nonce_of(&provider, &account.address), "11");
    let stale = get(&create_token_url(&provider, &account, FAR_FUTURE + 1, "11"));
    assert_eq!(stale.status, 400);
    let again = delete_token(&provider, &account, &token, "12");
    assert_eq!(again.json()["error"], "Token is deleted.");
}

/// Spin 4.0.2 sets no `TCP_NODELAY` on accepted connections: a response whose head and
/// body leave in two writes waits ~40 ms for the client's delayed ACK. Each answer here
/// must arrive whole in the first read on a keep-alive connection.
#[test]
fn head_and_body_leave_together_on_a_keep_alive_connection() {
    let provider = shared_provider();
    let host = provider.base_url.trim_start_matches("http://");
    let account = Account::named("keep-alive-writes");
    let document = "a".repeat(1024);
    let cases = [
        ("GET /", format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n")),
        (
            "GET /api/services/nonce",
            format!(
                "GET /api/services/nonce?userAddress={} HTTP/1.1\r\nhost: {host}\r\n\r\n",
                account.address
            ),
        ),
        (
            "POST /api/services/encrypt",
            format!(
                "POST /api/services/encrypt?chainId=8996 HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n{document}",
                document.len()
            ),
        ),
        (
            "a JSON 404",
            format!("GET /no/such/route HTTP/1.1\r\nhost: {host}\r\n\r\n"),
        ),
    ];
    for (name, request) in cases {
        let (first_read, total) =
            first_read_of_second_answer(&provider.base_url, &request, &request);
        assert_eq!(
            first_read.len(),
            total,
            "{name}: the first read held {} of {total} bytes: {:?}",
            first_read.len(),
            String::from_utf8_lossy(&first_read)
        );
    }
}

/// Each component links only its own operations: a table of every handler once put
/// every operation into every `.wasm` (all nine came out the same 840 KiB).
#[test]
fn each_component_carries_only_its_own_code_and_stays_under_1_mib() {
    ensure_built();
    let size = |package: &str| {
        let path = workspace_root().join(format!(
            "target/wasm32-wasip2/release/{}.wasm",
            package.replace('-', "_")
        ));
        std::fs::metadata(&path).unwrap().len()
    };
    for package in component_packages() {
        assert!(
            size(&package) <= 1024 * 1024,
            "{package}: {} bytes",
            size(&package)
        );
    }
    // The nonce component reads the key-value store and nothing else: no chain
    // client, no cipher, no file fetching.
    assert!(
        size("provider-nonce") * 2 < size("provider-compute"),
        "nonce {} vs compute {}",
        size("provider-nonce"),
        size("provider-compute")
    );
}
