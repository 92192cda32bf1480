//! An Ocean Node indexer stand-in: it follows the local chain's `MetadataCreated` /
//! `MetadataUpdated` events, asks the provider to decrypt each document exactly as an
//! Ocean Node indexer does (`GET /nonce`, then `POST /decrypt` signed
//! `decrypterAddress + nonce + "decryptDDO"`, expecting 200 or 201), checks the
//! document's sha256 against the event's hash, and serves it from the metadata
//! stand-in with the fields ocean.js 8 reads (`datatokens`, `indexedMetadata.event`).
//!
//! It only indexes documents whose `decryptorUrl` is the provider it was given and
//! whose publisher is one of `publishers`, so the other tests' hand-made documents on
//! the shared chain are left alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolEvent, sol};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Account;
use crate::file_server::FileServer;

sol! {
    event MetadataCreated(address indexed createdBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
    event MetadataUpdated(address indexed updatedBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
}

/// What the indexer did with one event (for tests to inspect).
#[derive(Debug, Clone)]
pub struct Indexed {
    /// The document's DID (empty when it could not be decrypted).
    pub did: String,
    /// The status of the provider's decrypt answer.
    pub decrypt_status: u16,
    /// The transaction of the event.
    pub tx: B256,
}

/// A running indexer; stops when dropped.
pub struct Indexer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    log: Arc<std::sync::Mutex<Vec<Indexed>>>,
    /// The indexer's own account (the decrypter).
    pub account: Account,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("account", &self.account.address)
            .finish()
    }
}

fn rpc(url: &str, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply = crate::post_json(url, &body);
    let answer: Value = serde_json::from_slice(&reply.body).ok()?;
    answer.get("result").cloned()
}

impl Indexer {
    /// Starts following `rpc_url` from its current block.
    pub fn start(
        rpc_url: &str,
        provider_url: &str,
        aquarius: &FileServer,
        publishers: Vec<Address>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let account = Account::named("ocean-node-indexer");
        let (rpc_url, provider_url) = (rpc_url.to_owned(), provider_url.to_owned());
        let aquarius = aquarius.clone();
        let handle = {
            let (stop, log, account) = (Arc::clone(&stop), Arc::clone(&log), account.clone());
            std::thread::spawn(move || {
                let mut from = rpc(&rpc_url, "eth_blockNumber", json!([]))
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "0x0".into());
                while !stop.load(Ordering::SeqCst) {
                    let filter = json!([{"fromBlock": from, "toBlock": "latest", "topics": [[
                        MetadataCreated::SIGNATURE_HASH, MetadataUpdated::SIGNATURE_HASH]]}]);
                    let logs = rpc(&rpc_url, "eth_getLogs", filter)
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    for entry in &logs {
                        if let Some(done) =
                            index_one(entry, &provider_url, &account, &publishers, &aquarius)
                        {
                            log.lock().unwrap().push(done);
                        }
                        if let Some(block) = entry["blockNumber"].as_str() {
                            let next = u64::from_str_radix(block.trim_start_matches("0x"), 16)
                                .unwrap_or(0)
                                + 1;
                            from = format!("{next:#x}");
                        }
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        };
        Self {
            stop,
            handle: Some(handle),
            log,
            account,
        }
    }

    /// Everything indexed so far.
    pub fn indexed(&self) -> Vec<Indexed> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn index_one(
    entry: &Value,
    provider_url: &str,
    account: &Account,
    publishers: &[Address],
    aquarius: &FileServer,
) -> Option<Indexed> {
    let topics: Vec<B256> = serde_json::from_value(entry["topics"].clone()).ok()?;
    let data: Bytes = serde_json::from_value(entry["data"].clone()).ok()?;
    let nft: Address = serde_json::from_value(entry["address"].clone()).ok()?;
    let tx: B256 = serde_json::from_value(entry["transactionHash"].clone()).ok()?;
    let (publisher, decryptor_url, hash) =
        if topics.first() == Some(&MetadataCreated::SIGNATURE_HASH) {
            let event = MetadataCreated::decode_raw_log(topics.iter().copied(), &data).ok()?;
            (event.createdBy, event.decryptorUrl, event.metaDataHash)
        } else {
            let event = MetadataUpdated::decode_raw_log(topics.iter().copied(), &data).ok()?;
            (event.updatedBy, event.decryptorUrl, event.metaDataHash)
        };
    if decryptor_url.trim_end_matches('/') != provider_url.trim_end_matches('/')
        || !publishers.contains(&publisher)
    {
        return None;
    }
    // The indexer's nonce: the provider's answer + 1 (`parseInt`).
    let nonce_reply = crate::get(&format!(
        "{provider_url}/api/services/nonce?userAddress={}",
        account.address
    ));
    let nonce = nonce_reply.json()["nonce"].as_f64().unwrap_or(0.0) as u64 + 1;
    let signature = account.sign(&format!("{}{nonce}decryptDDO", account.address));
    let body = json!({"transactionId": format!("{tx:#x}"), "chainId": 8996,
        "decrypterAddress": account.address, "dataNftAddress": nft.to_checksum(None),
        "signature": signature, "nonce": nonce.to_string()});
    let reply = crate::post_json(&format!("{provider_url}/api/services/decrypt"), &body);
    let mut indexed = Indexed {
        did: String::new(),
        decrypt_status: reply.status,
        tx,
    };
    if !matches!(reply.status, 200 | 201) {
        return Some(indexed);
    }
    // The indexer hashes the document it was given; a mismatch is not indexed.
    if B256::from_slice(&Sha256::digest(&reply.body)) != hash {
        return Some(indexed);
    }
    let mut ddo: Value = serde_json::from_slice(&reply.body).ok()?;
    let services = ddo["services"].as_array().cloned().unwrap_or_default();
    ddo["datatokens"] = Value::Array(
        services
            .iter()
            .map(|s| json!({"address": s["datatokenAddress"], "name": "Datatoken", "symbol": "DT", "serviceId": s["id"]}))
            .collect(),
    );
    let event = json!({"txid": format!("{tx:#x}"), "block": entry["blockNumber"], "from": publisher.to_checksum(None), "contract": nft.to_checksum(None)});
    let nft_info =
        json!({"address": nft.to_checksum(None), "state": 0, "owner": publisher.to_checksum(None)});
    ddo["event"] = event.clone();
    ddo["nft"] = nft_info.clone();
    ddo["indexedMetadata"] = json!({"event": event, "nft": nft_info, "purgatory": {"state": false},
        "stats": services.iter().map(|s| json!({"datatokenAddress": s["datatokenAddress"], "serviceId": s["id"], "orders": 0, "prices": []})).collect::<Vec<_>>()});
    indexed.did = ddo["id"].as_str().unwrap_or_default().to_owned();
    aquarius.add_ddo(ddo);
    Some(indexed)
}
