//! `POST /api/services/fileinfo`, `GET /api/services/assetUrls` and outbound safety,
//! against the loopback file server, the Aquarius/gateway stand-ins and the local chain.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use provider_e2e::assets::{Dataset, encrypt_files, publish_dataset};
use provider_e2e::chain::LocalChain;
use provider_e2e::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CSV: &[u8] = b"x,y\n1,2\n3,4\n";

fn files() -> &'static file_server::FileServer {
    let server = shared_file_server();
    static SEEDED: OnceLock<()> = OnceLock::new();
    SEEDED.get_or_init(|| {
        server.add_file("data.csv", CSV.to_vec());
        server.add_file("QmTestCid", b"ipfs content".to_vec());
        server.add_file("arTx1", b"arweave content".to_vec());
        server.add_file("checksum-limit.bin", vec![7u8; 6 * 1024 * 1024]);
    });
    server
}

fn fileinfo(provider: &Provider, body: Value) -> Reply {
    post_json(&provider.url("/api/services/fileinfo"), &body)
}

fn first(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()[0].clone()
}

fn url_file(path: &str) -> Value {
    json!({"type": "url", "url": format!("{}{path}", files().url), "method": "GET"})
}

#[test]
fn a_plain_url_file_reports_length_type_and_name_and_hashes_on_request() {
    let provider = shared_provider();
    let entry = first(&fileinfo(provider, url_file("/files/data.csv")));
    assert_eq!(entry["valid"], true);
    assert_eq!(entry["contentLength"], CSV.len().to_string());
    assert_eq!(entry["contentType"], "text/csv");
    assert_eq!(entry["filename"], "data.csv");
    assert!(entry.get("checksum").is_none());
    let mut body = url_file("/files/data.csv");
    body["checksum"] = json!(true);
    let entry = first(&fileinfo(provider, body.clone()));
    assert_eq!(entry["checksum"], hex::encode(Sha256::digest(CSV)));
    assert_eq!(entry["checksumType"], "sha256");
    body["checksum"] = json!("false");
    assert!(first(&fileinfo(provider, body)).get("checksum").is_none());
}

#[test]
fn length_comes_from_head_or_a_one_byte_range_never_from_the_whole_body() {
    let provider = shared_provider();
    let server = files();
    server.add_file("nohead.csv", CSV.to_vec());
    let entry = first(&fileinfo(provider, url_file("/nohead/nohead.csv")));
    assert_eq!(entry["valid"], true);
    assert_eq!(entry["contentLength"], CSV.len().to_string());
    // HEAD refused, then one ranged GET; no full download.
    assert_eq!(server.methods("/nohead/nohead.csv"), vec!["HEAD", "GET"]);
    // A chunked origin that ignores ranges: valid, length unknown, no checksum.
    server.add_file("stream.bin", vec![1u8; 5000]);
    let mut body = url_file("/chunked/stream.bin");
    body["checksum"] = json!(true);
    let entry = first(&fileinfo(provider, body));
    assert_eq!(entry["valid"], true);
    assert_eq!(entry["contentLength"], "");
    assert!(entry.get("checksum").is_none());
}

#[test]
fn files_above_max_checksum_length_are_not_hashed() {
    let provider = shared_provider();
    let mut body = url_file("/files/checksum-limit.bin");
    body["checksum"] = json!(true);
    let entry = first(&fileinfo(provider, body));
    assert_eq!(entry["valid"], true);
    assert_eq!(entry["contentLength"], (6 * 1024 * 1024).to_string());
    assert!(entry.get("checksum").is_none(), "{entry}");
    // Only the HEAD reached the origin: nothing was downloaded to find that out.
    assert_eq!(files().methods("/files/checksum-limit.bin"), vec!["HEAD"]);
}

#[test]
fn redirects_missing_and_slow_files() {
    let provider = shared_provider();
    let entry = first(&fileinfo(provider, url_file("/redirect/3/data.csv")));
    assert_eq!(
        (entry["valid"].clone(), entry["filename"].clone()),
        (json!(true), json!("data.csv"))
    );
    let too_many = first(&fileinfo(provider, url_file("/redirect/6/data.csv")));
    assert_eq!(too_many, json!({"index": 0, "type": "url", "valid": false}));
    let missing = first(&fileinfo(provider, url_file("/files/nope.csv")));
    assert_eq!(missing["valid"], false);
    files().add_file("slow.csv", CSV.to_vec());
    let slow = first(&fileinfo(provider, url_file("/slow/slow.csv")));
    assert_eq!(
        slow["valid"], false,
        "request_timeout is 3 s, the origin takes 5 s"
    );
}

#[test]
fn ipfs_arweave_and_graphql_files() {
    let provider = shared_provider();
    let ipfs = first(&fileinfo(
        provider,
        json!({"type": "ipfs", "hash": "QmTestCid"}),
    ));
    assert_eq!(
        (ipfs["valid"].clone(), ipfs["contentLength"].clone()),
        (json!(true), json!("12"))
    );
    let arweave = first(&fileinfo(
        provider,
        json!({"type": "arweave", "transactionId": "arTx1", "checksum": true}),
    ));
    assert_eq!(arweave["valid"], true);
    assert_eq!(arweave["filename"], "");
    assert_eq!(
        arweave["checksum"],
        hex::encode(Sha256::digest(b"arweave content"))
    );
    let graphql = first(&fileinfo(
        provider,
        json!({"type": "graphql", "url": format!("{}/graphql", files().url), "query": "query { x }", "userdata": {"id": 5}}),
    ));
    assert_eq!(graphql["valid"], true);
    assert_eq!(graphql["contentType"], "application/json");
}

#[test]
fn a_smartcontract_file_is_the_json_result_of_a_view_call() {
    let chain = LocalChain::shared();
    let abi = json!({"inputs": [], "name": "decimals", "outputs": [{"name": "", "type": "uint8"}],
                     "stateMutability": "view", "type": "function"});
    let body = json!({"type": "smartcontract", "address": chain.contracts.ocean, "chainId": 8996, "abi": abi, "checksum": true});
    let entry = first(&fileinfo(shared_provider(), body));
    assert_eq!(entry["valid"], true, "{entry}");
    assert_eq!(entry["contentType"], "application/json");
    assert_eq!(entry["contentLength"], "2");
    assert_eq!(entry["checksum"], hex::encode(Sha256::digest(b"18")));
    let with_args = json!({"type": "smartcontract", "address": chain.contracts.ocean, "chainId": 8996, "userdata": {"account": chain.accounts.consumer},
        "abi": {"inputs": [{"name": "account", "type": "address"}], "name": "balanceOf", "outputs": [{"name": "", "type": "uint256"}], "stateMutability": "view", "type": "function"}});
    assert_eq!(
        first(&fileinfo(shared_provider(), with_args))["valid"],
        true
    );
    let missing = fileinfo(
        shared_provider(),
        json!({"type": "smartcontract", "address": chain.contracts.ocean, "chainId": 8996,
        "abi": {"inputs": [{"name": "account", "type": "address"}], "name": "balanceOf", "outputs": [], "stateMutability": "view", "type": "function"}}),
    );
    assert_eq!(
        (missing.status, missing.json()["errors"]["userdata"].clone()),
        (400, json!(["Missing parameters"]))
    );
}

/// A file object the caller sends is input like any other: an unknown `type`, a
/// missing key or a mistyped one answers the validation envelope naming that field,
/// with the reference's message.
#[test]
fn invalid_file_objects_get_the_validation_envelope_with_the_reference_messages() {
    let provider = shared_provider();
    let cases = [
        (
            json!({"type": "url"}),
            "url",
            "malformed service files, missing required keys.",
        ),
        (
            json!({"type": "url", "url": "http://x.example/a", "method": "PUT"}),
            "method",
            "Unsafe method put.",
        ),
        (
            json!({"type": "url", "url": "http://x.example/a", "headers": "nope"}),
            "headers",
            "malformed file object.",
        ),
        (
            json!({"type": "ipfs"}),
            "hash",
            "malformed service files, missing required keys.",
        ),
        (
            json!({"type": "arweave"}),
            "transactionId",
            "malformed service files, missing transactionId.",
        ),
        (
            json!({"type": "graphql", "query": "{x}"}),
            "url",
            "missing graphql endpoint",
        ),
        (
            json!({"type": "graphql", "url": "http://x.example/g"}),
            "query",
            "missing graphql query",
        ),
        (
            json!({"type": "smartcontract", "chainId": 8996}),
            "address",
            "malformed smartcontract type, missing contract address",
        ),
        (json!({"type": "ftp"}), "type", "Unsupported type ftp"),
    ];
    for (body, field, message) in cases {
        let reply = fileinfo(provider, body.clone());
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(
            reply.json(),
            json!({"errors": {field: [message]}, "message": "Validation error", "success": false}),
            "{body}"
        );
    }
    let empty = fileinfo(provider, json!({}));
    assert_eq!(empty.status, 400);
    assert!(empty.json()["errors"].is_object());
}

fn dataset() -> &'static Dataset {
    static DATASET: OnceLock<Dataset> = OnceLock::new();
    DATASET.get_or_init(|| {
        let server = files();
        let file = json!({"type": "url", "url": format!("{}/files/data.csv", server.url), "method": "GET"});
        publish_dataset(LocalChain::shared(), server, "fileinfo-ds", "access", &[file], 0)
    })
}

#[test]
fn by_did_the_answer_never_reveals_file_urls() {
    let provider = shared_provider();
    let ds = dataset();
    let reply = fileinfo(
        provider,
        json!({"did": ds.did, "serviceId": "svc", "checksum": true}),
    );
    let entry = first(&reply);
    assert_eq!(entry["valid"], true);
    assert_eq!(entry["checksum"], hex::encode(Sha256::digest(CSV)));
    let text = reply.text();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("http"),
        "{text}"
    );
    let unknown = fileinfo(
        provider,
        json!({"did": "did:op:0000000000000000000000000000000000000000000000000000000000000000", "serviceId": "svc"}),
    );
    assert_eq!(
        (unknown.status, unknown.json()["error"].clone()),
        (400, json!("Cannot resolve DID"))
    );
    let bad_service = fileinfo(provider, json!({"did": ds.did, "serviceId": "nope"}));
    assert_eq!(
        (bad_service.status, bad_service.json()["error"].clone()),
        (400, json!("Provider Ganache: Invalid serviceId."))
    );
}

#[test]
fn an_encrypted_files_blob_copied_from_another_asset_is_refused() {
    let chain = LocalChain::shared();
    let server = files();
    let victim = dataset();
    let (nft, datatoken) = chain.create_nft_with_datatoken("copycat");
    // The copycat's DDO carries the victim's encrypted files blob.
    let mut ddo = victim.ddo.clone();
    let did = provider_e2e::chain::did_of(&nft, 8996);
    ddo["id"] = json!(did);
    ddo["nftAddress"] = json!(nft.to_checksum(None));
    ddo["services"][0]["datatokenAddress"] = json!(datatoken.to_checksum(None));
    server.add_ddo(ddo);
    let reply = fileinfo(shared_provider(), json!({"did": did, "serviceId": "svc"}));
    assert_eq!(
        (reply.status, reply.json()["error"].clone()),
        (400, json!("Provider Ganache: Unable to get dataset files"))
    );
    // The same files encrypted for an asset of its own are fine.
    let (nft, datatoken) = chain.create_nft_with_datatoken("honest");
    let did = provider_e2e::chain::did_of(&nft, 8996);
    let own = encrypt_files(
        &nft,
        &datatoken,
        &[json!({"type": "url", "url": format!("{}/files/data.csv", server.url)})],
    );
    let mut ddo = victim.ddo.clone();
    ddo["id"] = json!(did);
    ddo["nftAddress"] = json!(nft.to_checksum(None));
    ddo["services"][0]["datatokenAddress"] = json!(datatoken.to_checksum(None));
    ddo["services"][0]["files"] = json!(own);
    server.add_ddo(ddo);
    assert_eq!(
        first(&fileinfo(
            shared_provider(),
            json!({"did": did, "serviceId": "svc"})
        ))["valid"],
        true
    );
}

#[test]
fn asset_urls_are_for_the_nft_owner_only() {
    let provider = shared_provider();
    let ds = dataset();
    let chain = LocalChain::shared();
    let url = |address: &str, signature: &str, nonce: &str| {
        provider.url(&format!(
            "/api/services/assetUrls?documentId={}&serviceId=svc&publisherAddress={address}&nonce={nonce}&signature={signature}",
            ds.did
        ))
    };
    // The publisher (mnemonic account 1) signs through the chain's unlocked account.
    let publisher = chain.accounts.publisher.to_checksum(None);
    let signature = chain.sign(chain.accounts.publisher, &format!("{}1", ds.did));
    let reply = get(&url(&publisher, &signature, "1"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()[0]["url"],
        format!("{}/files/data.csv", files().url)
    );
    let replay = get(&url(&publisher, &signature, "1"));
    assert_eq!(replay.status, 400);
    let stranger = Account::named("asset-urls-stranger");
    let refused = get(&url(
        &stranger.address,
        &stranger.sign(&format!("{}1", ds.did)),
        "1",
    ));
    assert_eq!(refused.status, 401);
    assert!(refused.json()["error"].as_str().unwrap().contains("owner"));
    assert!(!refused.text().contains("data.csv"));
}

fn strict_provider() -> &'static Provider {
    static STRICT: OnceLock<(Provider, TempDir)> = OnceLock::new();
    &STRICT
        .get_or_init(|| {
            let dir = TempDir::new("strict");
            let mut vars: BTreeMap<String, String> = Provider::default_vars();
            vars.insert("allow_non_public_ip".into(), "false".into());
            (Provider::start(dir.path(), vars), dir)
        })
        .0
}

#[test]
fn every_ssrf_bypass_is_refused_with_a_clear_400() {
    let provider = strict_provider();
    files().add_file("ssrf.csv", CSV.to_vec());
    let port = files().url.rsplit(':').next().unwrap().to_owned();
    let targets = [
        format!("http://127.0.0.1:{port}/files/ssrf.csv"),
        format!("http://127.1:{port}/files/ssrf.csv"),
        format!("http://2130706433:{port}/files/ssrf.csv"),
        format!("http://0x7f000001:{port}/files/ssrf.csv"),
        format!("http://0177.0.0.1:{port}/files/ssrf.csv"),
        format!("http://[::1]:{port}/files/ssrf.csv"),
        format!("http://[::ffff:127.0.0.1]:{port}/files/ssrf.csv"),
        format!("http://localhost:{port}/files/ssrf.csv"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        format!("http://good.example@127.0.0.1:{port}/files/ssrf.csv"),
    ];
    for target in targets {
        let reply = fileinfo(
            provider,
            json!({"type": "url", "url": target, "method": "GET"}),
        );
        assert_eq!(reply.status, 400, "{target}: {}", reply.text());
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("Unsafe URL"),
            "{target}"
        );
    }
    // Other schemes are refused by file-object validation, with the reference's message.
    for target in [
        "ftp://example.com/file.csv",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/x",
    ] {
        let reply = fileinfo(provider, json!({"type": "url", "url": target}));
        assert_eq!(reply.status, 400, "{target}");
        assert_eq!(
            reply.json()["errors"]["url"],
            json!(["Invalid file name format. It was not possible to get the file name."])
        );
    }
    assert_eq!(
        files().hits("/files/ssrf.csv"),
        0,
        "no request reached the origin"
    );
}

#[test]
fn the_platform_refuses_private_destinations_after_dns_resolution() {
    // The component's own check is off here (allow_non_public_ip = true) but the
    // platform still blocks "private": `localhost` resolves to 127.0.0.1 and the
    // connection is refused at connect time, so the file is simply not reachable.
    let dir = TempDir::new("platform-block");
    let mut vars = Provider::default_vars();
    vars.insert("allow_non_public_ip".into(), "true".into());
    let provider = Provider::start_with_runtime_config(
        dir.path(),
        vars,
        "[outbound_networking]\nblock_networks = [\"private\"]\n",
    );
    files().add_file("blocked.csv", CSV.to_vec());
    let port = files().url.rsplit(':').next().unwrap().to_owned();
    let entry = first(&fileinfo(
        &provider,
        json!({"type": "url", "url": format!("http://localhost:{port}/files/blocked.csv")}),
    ));
    assert_eq!(entry["valid"], false);
    assert_eq!(
        files().hits("/files/blocked.csv"),
        0,
        "no request reached the origin"
    );
}
