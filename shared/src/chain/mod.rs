//! Chain access over JSON-RPC 2.0 (spec §3, §4.2).
//!
//! - Per chain, an ordered list of RPC URLs: on a connection failure, a timeout, a 429
//!   or a 5xx the next one is tried. A JSON-RPC error answer is final (asking another
//!   node would give the same answer).
//! - Every call carries `request_timeout`. A missing receipt is answered at once (the
//!   reference waited up to 120 s for it).
//! - Failures become a 503 naming the chain, never the URL (RPC URLs carry API keys).
//! - Immutable reads (receipts of mined transactions, block timestamps, factory
//!   registrations) are cached in the key-value store.

pub mod abi;
pub mod addresses;
pub mod transaction;

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::Chain;
use crate::outbound::{HttpClient, HttpError, OutboundRequest};
use crate::ports::KeyValue;
use crate::{ProviderError, Result};

/// Largest JSON-RPC answer read (receipts with many logs stay far below).
const MAX_RPC_RESPONSE: usize = 32 * 1024 * 1024;

/// The network name used in the reference's messages (`Provider <net>: ...`).
pub fn network_name(chain_id: u64) -> &'static str {
    match chain_id {
        8996 => "Ganache",
        1 => "mainnet",
        5 => "goerli",
        10 => "optimism",
        56 => "bsc",
        137 => "polygon",
        246 => "energyweb",
        1285 => "moonriver",
        23294 => "oasis_saphire",
        80001 => "mumbai",
        11155111 => "sepolia",
        11155420 => "optimism_sepolia",
        _ => "Unknown",
    }
}

/// A log entry of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// The emitting contract.
    pub address: Address,
    /// Indexed topics; `topics[0]` is the event signature hash.
    pub topics: Vec<B256>,
    /// ABI-encoded non-indexed fields.
    pub data: Bytes,
}

/// The parts of a transaction receipt the provider reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction hash.
    pub transaction_hash: B256,
    /// `0x1` success, `0x0` reverted (absent before Byzantium).
    #[serde(default)]
    pub status: Option<String>,
    /// The block the transaction was mined in.
    pub block_hash: Option<B256>,
    /// Its number, hex.
    pub block_number: Option<String>,
    /// The sender.
    #[serde(default)]
    pub from: Option<Address>,
    /// The logs.
    #[serde(default)]
    pub logs: Vec<Log>,
}

impl Receipt {
    /// Whether the transaction succeeded.
    pub fn succeeded(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "0x1")
    }

    /// Logs of `emitter` whose first topic is `topic0`, in order. Matching the emitter
    /// is what stops a look-alike event from another contract from counting (G10).
    pub fn logs_from<'a>(
        &'a self,
        emitter: &'a Address,
        topic0: &'a B256,
    ) -> impl Iterator<Item = &'a Log> + 'a {
        self.logs
            .iter()
            .filter(move |log| log.address == *emitter && log.topics.first() == Some(topic0))
    }
}

/// A JSON-RPC client for one chain.
pub struct Rpc<'a> {
    chain: &'a Chain,
    http: &'a dyn HttpClient,
    kv: &'a dyn KeyValue,
    timeout: Duration,
}

impl std::fmt::Debug for Rpc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rpc(chain {})", self.chain.id)
    }
}

/// One call of a batch.
#[derive(Debug, Clone)]
pub struct RpcCall {
    /// Method name.
    pub method: &'static str,
    /// Parameters.
    pub params: Value,
}

/// A JSON-RPC error answer (e.g. `execution reverted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError(pub String);

impl<'a> Rpc<'a> {
    /// A client for `chain`.
    pub fn new(
        chain: &'a Chain,
        http: &'a dyn HttpClient,
        kv: &'a dyn KeyValue,
        timeout: Duration,
    ) -> Self {
        Self {
            chain,
            http,
            kv,
            timeout,
        }
    }

    /// The chain this client talks to.
    pub fn chain(&self) -> &Chain {
        self.chain
    }

    fn unavailable(&self, reason: &str) -> ProviderError {
        ProviderError::Upstream(format!(
            "Provider {}: the RPC of chain {} is unavailable ({reason}).",
            network_name(self.chain.id),
            self.chain.id
        ))
    }

    /// Posts a JSON-RPC payload, trying each URL in order. Returns the parsed answer.
    fn post(&self, payload: &Value) -> Result<Value> {
        let body = payload.to_string().into_bytes();
        let mut last_reason = String::from("no RPC URL");
        for url in &self.chain.rpc_urls {
            let request = OutboundRequest::new("POST", url, self.timeout)
                .header("content-type", "application/json")
                .header("user-agent", "OceanProvider-Spin")
                .body(body.clone());
            let response = match self.http.send(request) {
                Ok(response) => response,
                Err(err) => {
                    last_reason = err.to_string();
                    continue;
                }
            };
            let status = response.status;
            if status == 429 || status >= 500 {
                last_reason = format!("HTTP {status}");
                continue;
            }
            let bytes = match response.read_body(MAX_RPC_RESPONSE) {
                Ok(bytes) => bytes,
                Err(HttpError::TooLarge) => return Err(self.unavailable("answer too large")),
                Err(err) => {
                    last_reason = err.to_string();
                    continue;
                }
            };
            if !(200..300).contains(&status) {
                last_reason = format!("HTTP {status}");
                continue;
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => return Ok(value),
                Err(_) => {
                    last_reason = "answer is not JSON".into();
                    continue;
                }
            }
        }
        Err(self.unavailable(&last_reason))
    }

    fn result_of(&self, answer: &Value) -> Result<Result<Value, RpcError>> {
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("JSON-RPC error")
                .to_owned();
            return Ok(Err(RpcError(message)));
        }
        match answer.get("result") {
            Some(result) => Ok(Ok(result.clone())),
            None => Err(self.unavailable("malformed JSON-RPC answer")),
        }
    }

    /// One call. An `Err(RpcError)` inside `Ok` is the node's own error answer.
    pub fn call(&self, method: &'static str, params: Value) -> Result<Result<Value, RpcError>> {
        let answer =
            self.post(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))?;
        self.result_of(&answer)
    }

    /// Several calls in one HTTP round trip; answers come back in call order.
    pub fn batch(&self, calls: &[RpcCall]) -> Result<Vec<Result<Value, RpcError>>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        if calls.len() == 1 {
            return Ok(vec![self.call(calls[0].method, calls[0].params.clone())?]);
        }
        let payload: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, call)| json!({"jsonrpc": "2.0", "id": id, "method": call.method, "params": call.params}))
            .collect();
        let answer = self.post(&Value::Array(payload))?;
        let Value::Array(items) = answer else {
            return Err(self.unavailable("batch answer is not a list"));
        };
        let mut results: Vec<Option<Result<Value, RpcError>>> = vec![None; calls.len()];
        for item in &items {
            let id = item
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| usize::try_from(id).ok());
            if let Some(slot) = id.and_then(|id| results.get_mut(id)) {
                *slot = Some(self.result_of(item)?);
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| self.unavailable("batch answer incomplete")))
            .collect()
    }

    /// `eth_call` parameters for a typed call.
    pub fn eth_call_params<C: SolCall>(to: &Address, call: &C) -> Value {
        json!([{"to": to, "data": Bytes::from(call.abi_encode())}, "latest"])
    }

    /// Decodes an `eth_call` answer of a typed call.
    pub fn decode_call<C: SolCall>(
        &self,
        answer: Result<Value, RpcError>,
    ) -> Result<Result<C::Return, RpcError>> {
        let value = match answer {
            Ok(value) => value,
            Err(err) => return Ok(Err(err)),
        };
        let bytes: Bytes = serde_json::from_value(value)
            .map_err(|_| self.unavailable("eth_call answer is not hex"))?;
        Ok(C::abi_decode_returns(&bytes)
            .map_err(|_| RpcError("could not decode the call's return data".into())))
    }

    /// A typed `eth_call`.
    pub fn eth_call<C: SolCall>(
        &self,
        to: &Address,
        call: &C,
    ) -> Result<Result<C::Return, RpcError>> {
        let answer = self.call("eth_call", Self::eth_call_params(to, call))?;
        self.decode_call::<C>(answer)
    }

    fn receipt_cache_key(&self, tx: &B256) -> String {
        self.cache_key(&format!("receipt:{tx:#x}"))
    }

    /// A cached receipt of a mined transaction, if any.
    pub fn cached_receipt(&self, tx: &B256) -> Option<Receipt> {
        let bytes = self.kv.get(&self.receipt_cache_key(tx)).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Interprets an `eth_getTransactionReceipt` answer, caching mined receipts.
    pub fn receipt_from_answer(
        &self,
        tx: &B256,
        answer: Result<Value, RpcError>,
    ) -> Result<Option<Receipt>> {
        let value = match answer {
            Ok(Value::Null) | Err(_) => return Ok(None),
            Ok(value) => value,
        };
        let receipt: Receipt = serde_json::from_value(value)
            .map_err(|_| self.unavailable("malformed transaction receipt"))?;
        if receipt.block_hash.is_some() {
            // A receipt of a mined transaction never changes (reorgs aside, which the
            // provider, like the reference, does not handle).
            if let Ok(bytes) = serde_json::to_vec(&receipt) {
                let _ = self.kv.set(&self.receipt_cache_key(tx), &bytes);
            }
            Ok(Some(receipt))
        } else {
            Ok(None)
        }
    }

    /// The receipt of `tx`, from the cache or the chain; `None` when the chain does not
    /// know a mined transaction by that hash (answered at once, never waited for).
    pub fn receipt(&self, tx: &B256) -> Result<Option<Receipt>> {
        if let Some(receipt) = self.cached_receipt(tx) {
            return Ok(Some(receipt));
        }
        let answer = self.call("eth_getTransactionReceipt", json!([tx]))?;
        self.receipt_from_answer(tx, answer)
    }

    fn cache_key(&self, name: &str) -> String {
        format!("chain-cache:{}:{name}", self.chain.id)
    }

    /// Reads a cached flag (immutable facts such as factory registrations).
    pub fn cached_flag(&self, name: &str) -> bool {
        self.cached_value(name).is_some()
    }

    /// A cached value (the caller encodes its own expiry in it).
    pub fn cached_value(&self, name: &str) -> Option<Vec<u8>> {
        self.kv.get(&self.cache_key(name)).ok().flatten()
    }

    /// Caches a value; a store failure only means the next read asks the chain.
    pub fn cache_value(&self, name: &str, value: &[u8]) {
        let _ = self.kv.set(&self.cache_key(name), value);
    }

    /// Records an immutable fact.
    pub fn cache_flag(&self, name: &str) {
        self.cache_value(name, b"1");
    }
}

/// Parses a 32-byte transaction hash: 400 when malformed.
pub fn parse_tx_hash(text: &str, field: &str) -> Result<B256> {
    let hex_part = text.trim().strip_prefix("0x").unwrap_or(text.trim());
    if hex_part.len() != 64 {
        return Err(ProviderError::field(
            field,
            format!("The {field} must be a 32-byte transaction hash (0x and 64 hex digits)."),
        ));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| {
        ProviderError::field(
            field,
            format!("The {field} must be a 32-byte transaction hash (0x and 64 hex digits)."),
        )
    })?;
    Ok(B256::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Chains, ProviderKey};
    use crate::fakes::{FakeHttp, MemoryKeyValue};

    use crate::fakes::PROVIDER_KEY as KEY;

    fn chain(urls: &[&str]) -> Chain {
        Chain {
            id: 8996,
            rpc_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            key: ProviderKey::parse(KEY).unwrap(),
        }
    }

    #[test]
    fn falls_back_to_the_next_url_on_connection_errors_and_5xx() {
        let http = FakeHttp::new(|req| match req.url.as_str() {
            "http://down" => Err(HttpError::Connection),
            "http://busy" => Ok((503, vec![], b"busy".to_vec())),
            _ => Ok((
                200,
                vec![],
                br#"{"jsonrpc":"2.0","id":1,"result":"0x22f4"}"#.to_vec(),
            )),
        });
        let kv = MemoryKeyValue::default();
        let c = chain(&["http://down", "http://busy", "http://up"]);
        let rpc = Rpc::new(&c, &http, &kv, Duration::from_secs(1));
        assert_eq!(
            rpc.call("eth_chainId", json!([])).unwrap(),
            Ok(json!("0x22f4"))
        );
        assert_eq!(http.count(), 3);
    }

    #[test]
    fn all_down_is_a_503_that_names_the_chain_not_the_url() {
        let http = FakeHttp::new(|_| Err(HttpError::Timeout));
        let kv = MemoryKeyValue::default();
        let c = chain(&["https://mainnet.infura.io/v3/SECRET"]);
        let rpc = Rpc::new(&c, &http, &kv, Duration::from_secs(1));
        let err = rpc.call("eth_chainId", json!([])).unwrap_err();
        assert_eq!(err.status(), 503);
        let text = err.to_string();
        assert!(
            text.contains("chain 8996") && text.contains("timed out"),
            "{text}"
        );
        assert!(
            !text.contains("SECRET") && !text.contains("infura"),
            "{text}"
        );
    }

    #[test]
    fn json_rpc_errors_are_final_not_retried() {
        let http = FakeHttp::new(|_| {
            Ok((
                200,
                vec![],
                br#"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted"}}"#
                    .to_vec(),
            ))
        });
        let kv = MemoryKeyValue::default();
        let c = chain(&["http://a", "http://b"]);
        let rpc = Rpc::new(&c, &http, &kv, Duration::from_secs(1));
        assert_eq!(
            rpc.call("eth_call", json!([])).unwrap(),
            Err(RpcError("execution reverted".into()))
        );
        assert_eq!(http.count(), 1);
    }

    #[test]
    fn batches_are_matched_by_id() {
        let http = FakeHttp::new(|_| {
            Ok((
                200,
                vec![],
                br#"[{"id":1,"result":"b"},{"id":0,"result":"a"}]"#.to_vec(),
            ))
        });
        let kv = MemoryKeyValue::default();
        let c = chain(&["http://a"]);
        let rpc = Rpc::new(&c, &http, &kv, Duration::from_secs(1));
        let calls = [
            RpcCall {
                method: "x",
                params: json!([]),
            },
            RpcCall {
                method: "y",
                params: json!([]),
            },
        ];
        assert_eq!(
            rpc.batch(&calls).unwrap(),
            vec![Ok(json!("a")), Ok(json!("b"))]
        );
        let body: Value = serde_json::from_slice(&http.requests.lock().unwrap()[0].body).unwrap();
        assert_eq!(body.as_array().unwrap().len(), 2);
    }

    #[test]
    fn mined_receipts_are_cached_and_missing_ones_are_not() {
        let receipt = json!({"transactionHash": format!("0x{}", "11".repeat(32)), "status": "0x1",
            "blockHash": format!("0x{}", "22".repeat(32)), "blockNumber": "0x5", "logs": []});
        let answer = json!({"jsonrpc": "2.0", "id": 1, "result": receipt});
        let http = FakeHttp::new(move |_| Ok((200, vec![], answer.to_string().into_bytes())));
        let kv = MemoryKeyValue::default();
        let c = chain(&["http://a"]);
        let rpc = Rpc::new(&c, &http, &kv, Duration::from_secs(1));
        let tx = B256::repeat_byte(0x11);
        assert!(rpc.receipt(&tx).unwrap().unwrap().succeeded());
        assert!(rpc.receipt(&tx).unwrap().is_some());
        assert_eq!(http.count(), 1);
        http.answer(|_| {
            Ok((
                200,
                vec![],
                br#"{"jsonrpc":"2.0","id":1,"result":null}"#.to_vec(),
            ))
        });
        let unknown = B256::repeat_byte(0x33);
        assert!(rpc.receipt(&unknown).unwrap().is_none());
        assert!(rpc.receipt(&unknown).unwrap().is_none());
        assert_eq!(http.count(), 3);
        let _ = Chains::load;
    }

    #[test]
    fn tx_hashes_are_validated() {
        assert!(parse_tx_hash(&format!("0x{}", "ab".repeat(32)), "transactionId").is_ok());
        for bad in [
            "",
            "0x123",
            "wrong_tx_id",
            &format!("0x{}", "zz".repeat(32)),
        ] {
            assert_eq!(
                parse_tx_hash(bad, "transactionId").unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }
}
