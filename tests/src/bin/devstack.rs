//! `scripts/run --dev`: a complete local stack on loopback, to see the provider do its
//! main job. It starts a chain (ganache, chain id 8996) with the Ocean v4 contracts, a
//! file origin with a sample file, a metadata stand-in that indexes what is published
//! by decrypting through the provider (as Aquarius and the Ocean Node indexer do), and
//! the provider on `PROVIDER_LISTEN` (default `127.0.0.1:3000`); then publishes one
//! sample asset through the provider (signed file encryption), orders it as the
//! development consumer, prints a copy-paste walk-through and writes the stack's facts
//! to `.spin/dev/stack.json` (`DEVSTACK_STATE` moves it). Ctrl-C stops everything it
//! started.
//!
//! Every run starts clean: the chain lives in memory, so a fresh sample is published.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use provider_e2e::chain::LocalChain;
use provider_e2e::file_server::FileServer;
use provider_e2e::indexer::Indexer;
use provider_e2e::*;
use serde_json::json;

/// The sample file's content.
const SAMPLE: &[u8] = b"city,year,rainfall_mm\nLisbon,2025,774\nOslo,2025,763\nNairobi,2025,962\n";

fn main() {
    let listen = std::env::var("PROVIDER_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    eprintln!(
        "local stack: building the components and starting a chain, an origin, a metadata stand-in and the provider…"
    );
    ensure_built();
    let chain = LocalChain::start();
    let files = FileServer::start();
    files.add_file("rainfall.csv", SAMPLE.to_vec());
    let state = std::env::var_os("DEVSTACK_STATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".spin/dev"));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let mut vars = Provider::chain_vars(&chain);
    vars.insert("aquarius_url".into(), files.url.clone());
    vars.insert("log_level".into(), "warn".into());
    let provider = Provider::start_listening(&state, vars, &listen);
    let indexer = Indexer::start(
        &chain.rpc_url,
        &provider.base_url,
        &files,
        vec![chain.accounts.publisher],
    );

    // Publish: NFT + datatoken, the files encrypted by the provider itself, the DDO
    // encrypted to the provider key, setMetaData naming this provider as decryptor.
    let (nft, datatoken) = chain.create_nft_with_datatoken("rainfall");
    let did = provider_e2e::chain::did_of(&nft, 8996);
    let file_object = json!({"datatokenAddress": datatoken, "nftAddress": nft,
        "files": [{"type": "url", "url": format!("{}/files/rainfall.csv", files.url), "method": "GET"}]});
    let sealed = request(
        "POST",
        &provider.url("/api/services/encrypt?chainId=8996"),
        &[("Content-Type", "application/octet-stream")],
        Some(file_object.to_string().as_bytes()),
    );
    assert_eq!(sealed.status, 201, "encrypt: {}", sealed.text());
    let ddo = json!({
        "@context": ["https://w3id.org/did/v1"], "id": did, "version": "4.1.0", "chainId": 8996,
        "nftAddress": nft.to_checksum(None),
        "metadata": {"created": "2026-12-02T00:00:00Z", "updated": "2026-12-02T00:00:00Z", "type": "dataset",
                     "name": "Rainfall 2025 (sample)", "description": "Published by scripts/run --dev", "author": "local stack", "license": "CC0"},
        "services": [{"id": "svc", "type": "access", "datatokenAddress": datatoken.to_checksum(None),
                      "serviceEndpoint": provider.base_url, "files": sealed.text(), "timeout": 0}],
    });
    let bytes = ddo.to_string().into_bytes();
    let encrypted =
        ocean_provider::cipher::encrypt(&assets::provider_public_key(), &bytes).unwrap();
    let metadata_tx = chain.set_metadata_for(&provider.base_url, nft, 2, encrypted, &bytes);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{}/api/aquarius/assets/ddo/{did}", files.url)).status != 200 {
        assert!(
            Instant::now() < deadline,
            "the metadata stand-in did not index the sample"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Order it as the development consumer (mnemonic account 2), with the quoted fee.
    let consumer = Account::from_key(CONSUMER_KEY);
    let quote = get(&provider.url(&format!(
        "/api/services/initialize?documentId={did}&serviceId=svc&consumerAddress={}",
        consumer.address
    )));
    assert_eq!(quote.status, 200, "initialize: {}", quote.text());
    let payer = chain.accounts.consumer;
    let order_tx = chain.order(payer, payer, datatoken, &quote.json()["providerFee"]);
    let order_tx = format!("{order_tx:#x}");

    let facts = json!({
        "provider": provider.base_url, "rpc": chain.rpc_url, "chainId": 8996, "metadata": files.url,
        "origin": format!("{}/files/rainfall.csv", files.url), "did": did, "serviceId": "svc",
        "datatoken": datatoken, "nft": nft, "metadataTx": format!("{metadata_tx:#x}"), "orderTx": order_tx,
        "consumer": consumer.address, "consumerKey": CONSUMER_KEY,
        "contracts": {"factory": chain.contracts.factory, "ocean": chain.contracts.ocean, "dispenser": chain.contracts.dispenser},
        "mnemonic": provider_e2e::chain::MNEMONIC,
    });
    std::fs::write(
        state.join("stack.json"),
        serde_json::to_string_pretty(&facts).unwrap(),
    )
    .unwrap();
    let p = &provider.base_url;
    println!(
        r#"
Local stack ready (started clean: the chain lives in memory, so every run publishes a fresh sample).
  provider        {p}
  chain (8996)    {rpc}   contracts: factory {factory}, OCEAN {ocean}
  metadata        {meta}   (indexed through the provider's decrypt)
  sample file     {origin}
  sample asset    {did}   (service "svc", datatoken {datatoken})
  ordered by      {consumer} in {order_tx}
  facts           {facts_path}

Walk-through (copy-paste):
  curl -s '{p}/api/services/nonce?userAddress={consumer}'
  curl -s -X POST -H 'Content-Type: application/json' -d '{{"did":"{did}","serviceId":"svc"}}' {p}/api/services/fileinfo
  curl -s '{p}/api/services/initialize?documentId={did}&serviceId=svc&consumerAddress={consumer}'

  Download with ocean.js 8.6.2 (npm i @oceanprotocol/lib@8.6.2 ethers@6.15.0), as the consumer
  that ordered (a public development key):
    import {{ ProviderInstance }} from '@oceanprotocol/lib'
    import {{ Wallet }} from 'ethers'
    const consumer = new Wallet('{key}')
    const url = await ProviderInstance.getDownloadUrl('{did}', 'svc', 0, '{order_tx}', '{p}', consumer)
    console.log(await (await fetch(url)).text())

Ctrl-C stops everything."#,
        rpc = chain.rpc_url,
        factory = chain.contracts.factory,
        ocean = chain.contracts.ocean,
        meta = files.url,
        origin = facts["origin"].as_str().unwrap(),
        datatoken = datatoken,
        consumer = consumer.address,
        key = CONSUMER_KEY,
        facts_path = state.join("stack.json").display(),
    );
    println!("READY {}", state.join("stack.json").display());
    let _keep = (chain, files, provider, indexer);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
