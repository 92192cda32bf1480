//! ocean.js 8.6.2 (`@oceanprotocol/lib` from npm, pinned in `tests/oceanjs`), the
//! client of the Ocean Node dialect, unmodified, through its own high-level calls
//! against the real components on the local chain — in the same deployment the v2
//! tests use at the same time. An Ocean Node indexer stand-in indexes what it
//! publishes by decrypting through the provider in the Node dialect.

use std::process::Command;
use std::sync::OnceLock;

use alloy_primitives::Address;
use provider_e2e::chain::{LocalChain, MNEMONIC};
use provider_e2e::indexer::Indexer;
use provider_e2e::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DATA: &[u8] = b"id,reading\n1,42\n2,43\nocean.js 8.6.2 downloads this\n";
const COMPUTE_DATA: &[u8] = b"x,y\n3,4\n";
/// Also registered by `compute.rs`: the same bytes, so either test may come first.
const RESULT: &[u8] = b"result archive bytes, pretend this is output.tar";
/// Mnemonic accounts only this test sends transactions from.
const PUBLISHER: usize = 4;
const CONSUMER: usize = 5;
const STRANGER: usize = 6;

/// The flow's outcome, run once for the whole binary.
fn flow() -> &'static Value {
    static FLOW: OnceLock<Value> = OnceLock::new();
    FLOW.get_or_init(|| {
        ensure_oceanjs();
        let chain = LocalChain::shared();
        let server = shared_file_server();
        let provider = shared_provider();
        server.add_file("oceanjs8.csv", DATA.to_vec());
        server.add_file("oceanjs8-c2d.csv", COMPUTE_DATA.to_vec());
        server.add_file("result-0", RESULT.to_vec());
        let accounts: Vec<Address> =
            serde_json::from_value(chain.rpc("eth_accounts", json!([]))).unwrap();
        let indexer = Indexer::start(
            &chain.rpc_url,
            &provider.base_url,
            server,
            vec![accounts[PUBLISHER]],
        );
        let config = json!({
            "providerUrl": provider.base_url,
            "rpcUrl": chain.rpc_url,
            "aquariusUrl": server.url,
            "chainId": 8996,
            "mnemonic": MNEMONIC,
            "accounts": {"publisher": PUBLISHER, "consumer": CONSUMER, "stranger": STRANGER},
            "contracts": {"factory": chain.contracts.factory, "ocean": chain.contracts.ocean,
                          "dispenser": chain.contracts.dispenser},
            "fileUrl": format!("{}/files/oceanjs8.csv", server.url),
            "computeFileUrl": format!("{}/files/oceanjs8-c2d.csv", server.url),
            "algorithm": {"meta": {"rawcode": "print(open('/data/inputs/0').read())",
                "container": {"entrypoint": "python $ALGO", "image": "python", "tag": "3.11",
                    "checksum": "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}}},
        });
        let output = Command::new("node")
            .arg(workspace_root().join("tests/oceanjs/flow.mjs"))
            .env("FLOW_CONFIG", config.to_string())
            .current_dir(workspace_root().join("tests/oceanjs"))
            .output()
            .expect("run node tests/oceanjs/flow.mjs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| {
            panic!(
                "flow.mjs printed no result ({}): {stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let mut result: Value = serde_json::from_str(last).unwrap();
        // ocean.js logs its own view of a failure on stderr: kept for the messages.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<String> = stderr
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("error") || l.contains("reason"))
            .map(|l| l.chars().take(400).collect())
            .collect();
        result["stderr"] = json!(errors.join("\n"));
        result["indexed"] = json!(
            indexer
                .indexed()
                .iter()
                .map(|i| json!({"did": i.did, "status": i.decrypt_status}))
                .collect::<Vec<_>>()
        );
        result
    })
}

/// A step's value, or a panic naming the step and showing ocean.js's error.
fn step(name: &str) -> &'static Value {
    let step = &flow()["steps"][name];
    assert_eq!(
        step["ok"],
        true,
        "step {name} failed: {}\nocean.js stderr: {}",
        step["error"],
        flow()["stderr"].as_str().unwrap_or_default()
    );
    &step["value"]
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn oceanjs8_publishes_and_the_indexer_decrypts_in_the_node_dialect() {
    assert_eq!(flow()["valid"]["value"], true, "isValidProvider");
    let published = step("publish");
    let did = published["did"].as_str().unwrap();
    // The indexer got the document with a 200 (the Node dialect's status; v2 is 201).
    let indexed = flow()["indexed"].as_array().unwrap();
    assert!(
        indexed
            .iter()
            .any(|i| i["did"] == did && i["status"] == 200),
        "{indexed:?}"
    );
    // ocean.js signed its encrypts: the provider saw nonce, consumerAddress, signature.
    let encrypts: Vec<&Value> = flow()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/api/services/encrypt")
        .collect();
    assert!(encrypts.len() >= 2);
    for request in encrypts {
        let query = request["query"].as_str().unwrap();
        assert!(
            query.contains("nonce=") && query.contains("signature="),
            "{query}"
        );
    }
}

#[test]
fn oceanjs8_reads_files_and_a_quote() {
    let files = step("fileinfo");
    assert_eq!(files[0]["valid"], true, "{files}");
    assert_eq!(files[0]["contentLength"], DATA.len().to_string());
    assert_eq!(files[0]["name"], "oceanjs8.csv");
    assert_eq!(files[0]["checksum"], hex_sha256(DATA));
    // The URL form answers without revealing anything but the file's facts.
    assert_eq!(step("fileinfoUrl")[0]["valid"], true);
    let quote = step("initialize");
    assert_eq!(
        quote["providerFee"]["providerFeeAddress"],
        DEV_PROVIDER_ADDRESS
    );
    assert!(quote["computeAddress"].is_string(), "{quote}");
}

#[test]
fn oceanjs8_orders_and_downloads_the_exact_bytes() {
    step("order");
    let download = step("download");
    assert_eq!(download["sha256"], hex_sha256(DATA));
    assert_eq!(download["length"], DATA.len());
    assert_eq!(download["filename"], "oceanjs8.csv");
}

#[test]
fn a_wallet_that_did_not_order_is_refused() {
    let refused = step("strangerDownload");
    let status = refused["status"].as_u64().unwrap();
    assert!((400..500).contains(&status), "{refused}");
    let body: Value = serde_json::from_str(refused["body"].as_str().unwrap()).unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[test]
fn tokens_work_only_for_their_address_and_die_when_invalidated() {
    let tokens = step("tokens");
    assert_eq!(tokens["urlHasNonce"], false, "{tokens}");
    assert_eq!(tokens["first"], 200, "{tokens}");
    assert_eq!(tokens["sha256"], hex_sha256(DATA));
    assert_eq!(tokens["foreign"], 401, "{tokens}");
    assert_eq!(tokens["invalidated"], json!({"success": true}));
    assert_eq!(tokens["after"], 401, "{tokens}");
    let body: Value = serde_json::from_str(tokens["afterBody"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "Invalid token");
}

#[test]
fn a_signed_hash_with_a_leading_zero_byte_is_accepted() {
    let zero = step("leadingZero");
    let sealed = zero["sealed"].as_str().unwrap();
    // `0x` + ECIES: a 65-byte uncompressed ephemeral key (0x04…), then the ciphertext.
    assert!(
        sealed.starts_with("0x04") && sealed.len() > 2 + 2 * 65,
        "{zero}"
    );
}

#[test]
fn oceanjs8_runs_one_compute_job() {
    let compute = step("compute");
    assert_eq!(compute["envCount"], 2, "{compute}");
    assert_eq!(compute["envId"], "env2");
    let init = &compute["init"];
    assert!(
        init["datasets"][0]["providerFee"]["providerFeeAddress"].is_string(),
        "{init}"
    );
    assert_eq!(init["payment"]["amount"], "0");
    assert_eq!(compute["jobs"][0]["jobId"], "job-1", "{compute}");
    assert_eq!(compute["status"][0]["jobId"], "job-1", "{compute}");
    assert_eq!(compute["resultStatus"], 200, "{compute}");
    assert_eq!(compute["resultSha256"], hex_sha256(RESULT));
    assert_eq!(
        compute["stopped"][0]["statusText"], "Job stopped",
        "{compute}"
    );
}
