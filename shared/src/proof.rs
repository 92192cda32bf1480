//! Proof of download (the reference's `USE_HTTP_PROOF` / `USE_CHAIN_PROOF`, spec §8.4):
//! after a download has been delivered in full, the provider reports it.
//!
//! - `use_http_proof = <url>`: a form-encoded POST with the reference's fields,
//!   `orderTxId`, `providerData` (compact JSON `{"documentId","serviceId","fileIndex",
//!   "downloadedBytes"}`), `providerSignature` (the chain's provider key over
//!   `providerData`), `consumerData` (the message the consumer signed),
//!   `consumerSignature` (theirs; absent when a token stood in for it) and
//!   `consumerAddress`.
//! - `use_chain_proof = true`: the datatoken's `orderExecuted(orderTxId, providerData,
//!   sign(orderTxId ‖ providerData), consumerData, consumerSignature, consumer)`, sent
//!   from the chain's provider key (legacy gas price on 8996 as the reference, EIP-1559
//!   elsewhere), without waiting for the receipt.
//!
//! Differences, on purpose: the proof is sent after the consumer has the whole file
//! (the reference sent it before streaming, so it delayed every download and reported
//! `downloadedBytes: 0`); `downloadedBytes` is the count actually delivered; a cut or
//! abandoned download sends none; with both variables set both proofs are made (the
//! reference stopped after the HTTP one); and the chain transaction is only sent when
//! the contract's own checks will pass (the consumer's signature is over the 32-byte
//! hash of `consumerData` and the consumer is not the provider), so no gas is spent on a
//! revert. Every failure is logged without the sink's URL and changes nothing for the
//! consumer. Nothing secret is sent: no file URL, no token, no key.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolCall;
use serde_json::{Value, json};

use crate::address::checksum;
use crate::chain::abi::orderExecutedCall;
use crate::chain::transaction::{GasPricing, Transaction};
use crate::chain::{Rpc, RpcCall};
use crate::config::Chain;
use crate::log::{Level, log};
use crate::outbound::OutboundRequest;
use crate::ports::Platform;
use crate::request::percent_encode;
use crate::signature::{
    decode_hex, eip191_hash_of_hash, recover_message_signer, sign_digest, sign_message,
};

const COMPONENT: &str = "download";

/// What a completed download proves.
#[derive(Debug, Clone)]
pub struct DownloadProof {
    /// The chain of the asset (its provider key signs and pays).
    pub chain: Chain,
    /// The service's datatoken (the chain proof's contract).
    pub datatoken: Address,
    /// The order's transaction (the original one for a reused order).
    pub order_tx: B256,
    /// The asset.
    pub did: String,
    /// The service id.
    pub service_id: String,
    /// The file index.
    pub file_index: usize,
    /// The consumer.
    pub consumer: Address,
    /// The message the consumer signed and the signature (`None`: a token proved the
    /// request, so there is no signature to report).
    pub signed: Option<(String, String)>,
}

/// Whether a proof is configured at all (read before the download, so downloads
/// without proofs carry no completion work). A malformed setting counts as wanted, so
/// [`deliver`] logs it instead of proofs silently stopping.
pub fn wanted(platform: &Platform<'_>) -> bool {
    let http = platform
        .settings
        .use_http_proof()
        .map_or(true, |url| url.is_some());
    let chain = platform.settings.use_chain_proof().unwrap_or(true);
    http || chain
}

/// `providerData`: the reference's compact JSON, in its key order.
pub fn provider_data(proof: &DownloadProof, delivered: u64) -> String {
    let text = |value: &str| Value::String(value.to_owned()).to_string();
    format!(
        r#"{{"documentId":{},"serviceId":{},"fileIndex":{},"downloadedBytes":{delivered}}}"#,
        text(&proof.did),
        text(&proof.service_id),
        proof.file_index
    )
}

/// The form the HTTP sink receives, field by field.
pub fn http_form(
    proof: &DownloadProof,
    provider_data: &str,
) -> Option<Vec<(&'static str, String)>> {
    let signature = sign_message(proof.chain.key.signing_key(), provider_data).ok()?;
    let mut form = vec![
        ("orderTxId", format!("{:#x}", proof.order_tx)),
        ("providerData", provider_data.to_owned()),
        ("providerSignature", signature.to_hex_v01()),
    ];
    // Without a signature (a token proved the request) no signed message is claimed.
    if let Some((message, consumer_signature)) = &proof.signed {
        form.push(("consumerData", message.clone()));
        form.push(("consumerSignature", consumer_signature.clone()));
    }
    form.push(("consumerAddress", checksum(&proof.consumer)));
    Some(form)
}

/// Reports a completed download to every configured sink. Never fails: problems are
/// logged (without the sink's URL).
pub fn deliver(platform: &Platform<'_>, proof: &DownloadProof, delivered: u64) {
    let data = provider_data(proof, delivered);
    match platform.settings.use_http_proof() {
        Ok(Some(url)) => post_http(platform, &url, proof, &data),
        Ok(None) => {}
        Err(err) => warn(platform, &format!("HTTP proof not sent: {err}")),
    }
    match platform.settings.use_chain_proof() {
        Ok(true) => match send_chain(platform, proof, &data) {
            Ok(tx) => log(
                &platform.settings,
                Level::Info,
                COMPONENT,
                &format!(
                    "proof of download for order {:#x} sent on chain {}: {tx}",
                    proof.order_tx, proof.chain.id
                ),
            ),
            Err(why) => warn(platform, &format!("chain proof not sent: {why}")),
        },
        Ok(false) => {}
        Err(err) => warn(platform, &format!("chain proof not sent: {err}")),
    }
}

fn warn(platform: &Platform<'_>, message: &str) {
    log(&platform.settings, Level::Warn, COMPONENT, message);
}

fn post_http(platform: &Platform<'_>, url: &str, proof: &DownloadProof, data: &str) {
    let Some(form) = http_form(proof, data) else {
        return warn(
            platform,
            "HTTP proof not sent: the provider key could not sign it",
        );
    };
    let body = form
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let timeout = match platform.settings.request_timeout() {
        Ok(timeout) => timeout,
        Err(err) => return warn(platform, &format!("HTTP proof not sent: {err}")),
    };
    let request = OutboundRequest::new("POST", url, timeout)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.into_bytes());
    match platform.http.send(request) {
        Ok(response) if (200..300).contains(&response.status) => {}
        Ok(response) => warn(
            platform,
            &format!("the HTTP proof sink answered HTTP {}", response.status),
        ),
        Err(err) => warn(
            platform,
            &format!("the HTTP proof sink is unreachable ({err})"),
        ),
    }
}

/// A JSON-RPC quantity (`0x…`).
fn quantity(value: &Value) -> Option<U256> {
    let text = value.as_str()?.strip_prefix("0x")?;
    U256::from_str_radix(if text.is_empty() { "0" } else { text }, 16).ok()
}

/// The quantity a call answered, or why not.
fn quantity_of(
    answer: &Result<Value, crate::chain::RpcError>,
    method: &str,
) -> Result<U256, String> {
    match answer {
        Ok(value) => quantity(value).ok_or_else(|| format!("{method}: not a quantity")),
        Err(err) => Err(format!("{method}: {}", err.0)),
    }
}

/// Sends `orderExecuted`; the transaction hash.
fn send_chain(
    platform: &Platform<'_>,
    proof: &DownloadProof,
    data: &str,
) -> Result<String, String> {
    let key = proof.chain.key.signing_key();
    let provider = proof.chain.key.address();
    if provider == proof.consumer {
        return Err(
            "the consumer is the provider's own account, which the contract refuses".into(),
        );
    }
    let Some((message, consumer_signature)) = &proof.signed else {
        return Err("a token proved the download: there is no consumer signature to record".into());
    };
    // The contract checks the consumer's signature over the 32-byte hash of
    // consumerData; other accepted forms would revert.
    if recover_message_signer(message, consumer_signature).ok() != Some(proof.consumer) {
        return Err("the consumer's signature is not in the form the datatoken checks".into());
    }
    let consumer_signature_bytes =
        decode_hex(consumer_signature).ok_or("the consumer's signature is not hex")?;
    let mut signed = proof.order_tx.to_vec();
    signed.extend_from_slice(data.as_bytes());
    let provider_signature = sign_digest(key, &eip191_hash_of_hash(&keccak256(&signed)))
        .map_err(|_| "the provider key could not sign")?;
    let call = orderExecutedCall {
        orderTxId: proof.order_tx,
        providerData: data.as_bytes().to_vec().into(),
        providerSignature: provider_signature.to_bytes_v01().to_vec().into(),
        consumerData: message.as_bytes().to_vec().into(),
        consumerSignature: consumer_signature_bytes.into(),
        consumerAddress: proof.consumer,
    }
    .abi_encode();
    let timeout = platform
        .settings
        .request_timeout()
        .map_err(|e| e.to_string())?;
    let rpc = Rpc::new(&proof.chain, platform.http, platform.kv, timeout);
    let from = checksum(&provider);
    let nonce_call = RpcCall {
        method: "eth_getTransactionCount",
        params: json!([from, "pending"]),
    };
    let legacy = proof.chain.id == 8996;
    // Everything the transaction needs in one round trip: the gas estimate (a call
    // that would revert fails here, before any gas is spent), the account nonce, and
    // the gas price (8996, as the reference) or the tip and the latest base fee.
    let mut calls = vec![
        RpcCall {
            method: "eth_estimateGas",
            params: json!([{
                "from": from,
                "to": proof.datatoken,
                "data": format!("0x{}", hex::encode(&call)),
            }]),
        },
        nonce_call.clone(),
    ];
    if legacy {
        calls.push(RpcCall {
            method: "eth_gasPrice",
            params: json!([]),
        });
    } else {
        calls.push(RpcCall {
            method: "eth_maxPriorityFeePerGas",
            params: json!([]),
        });
        calls.push(RpcCall {
            method: "eth_getBlockByNumber",
            params: json!(["latest", false]),
        });
    }
    let answers = rpc.batch(&calls).map_err(|e| e.to_string())?;
    let estimate = quantity_of(&answers[0], calls[0].method)?;
    let gas = u64::try_from(estimate).map_err(|_| "gas estimate out of range")?;
    // 20 % headroom; unused gas is refunded.
    let gas = gas.saturating_add(gas / 5);
    let pricing = if legacy {
        GasPricing::Legacy {
            gas_price: quantity_of(&answers[2], calls[2].method)?,
        }
    } else {
        let tip = quantity_of(&answers[2], calls[2].method)?;
        let base = match &answers[3] {
            Ok(block) => block.get("baseFeePerGas").and_then(quantity),
            Err(err) => return Err(format!("eth_getBlockByNumber: {}", err.0)),
        }
        .ok_or("the chain reports no base fee")?;
        // As web3.py: the tip plus twice the latest base fee.
        GasPricing::Eip1559 {
            max_priority_fee_per_gas: tip,
            max_fee_per_gas: tip.saturating_add(base.saturating_mul(U256::from(2u8))),
        }
    };
    // Concurrent proofs from one account can race for a nonce: on a nonce refusal the
    // pending count is read again.
    let mut nonce = quantity_of(&answers[1], nonce_call.method)?;
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            let answer = rpc
                .call(nonce_call.method, nonce_call.params.clone())
                .map_err(|e| e.to_string())?;
            nonce = quantity_of(&answer, nonce_call.method)?;
        }
        let tx = Transaction {
            chain_id: proof.chain.id,
            nonce: u64::try_from(nonce).map_err(|_| "account nonce out of range")?,
            pricing,
            gas,
            to: proof.datatoken,
            value: U256::ZERO,
            data: call.clone(),
        };
        let raw = tx.sign(key).ok_or("the provider key could not sign")?;
        match rpc.call(
            "eth_sendRawTransaction",
            json!([format!("0x{}", hex::encode(raw))]),
        ) {
            Ok(Ok(hash)) => return Ok(hash.as_str().unwrap_or_default().to_owned()),
            Ok(Err(err)) if err.0.to_ascii_lowercase().contains("nonce") => last = err.0,
            Ok(Err(err)) => return Err(format!("eth_sendRawTransaction: {}", err.0)),
            Err(err) => return Err(err.to_string()),
        }
    }
    Err(format!("eth_sendRawTransaction: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{CONSUMER, CONSUMER_KEY, PROVIDER_KEY};

    fn proof(signed: Option<(String, String)>) -> DownloadProof {
        let key = crate::config::ProviderKey::parse(PROVIDER_KEY).unwrap();
        DownloadProof {
            chain: Chain {
                id: 8996,
                rpc_urls: vec!["http://127.0.0.1:1/secret-key".into()],
                key,
            },
            datatoken: Address::repeat_byte(0xd7),
            order_tx: B256::repeat_byte(0x0a),
            did: "did:op:abc".into(),
            service_id: "svc-1".into(),
            file_index: 0,
            consumer: CONSUMER.parse().unwrap(),
            signed,
        }
    }

    #[test]
    fn proofs_are_wanted_when_configured_or_misconfigured_only() {
        let wanted_with = |vars: &[(&str, &str)]| {
            let fake = crate::fakes::FakePlatform::new(vars);
            wanted(&fake.ports())
        };
        assert!(!wanted_with(&[]));
        assert!(!wanted_with(&[
            ("use_http_proof", ""),
            ("use_chain_proof", "false")
        ]));
        assert!(wanted_with(&[("use_http_proof", "http://sink/")]));
        assert!(wanted_with(&[("use_chain_proof", "true")]));
        assert!(wanted_with(&[("use_chain_proof", "maybe")]));
    }

    #[test]
    fn provider_data_is_the_references_compact_json_with_the_delivered_count() {
        assert_eq!(
            provider_data(&proof(None), 1234),
            r#"{"documentId":"did:op:abc","serviceId":"svc-1","fileIndex":0,"downloadedBytes":1234}"#
        );
    }

    #[test]
    fn the_form_is_signed_by_the_provider_and_carries_the_consumers_own_signature() {
        let consumer =
            k256::ecdsa::SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap();
        let message = "did:op:abc1700000000000".to_owned();
        let signature = sign_message(&consumer, &message).unwrap().to_hex_v27();
        let p = proof(Some((message.clone(), signature.clone())));
        let data = provider_data(&p, 10);
        let form = http_form(&p, &data).unwrap();
        let names: Vec<&str> = form.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "orderTxId",
                "providerData",
                "providerSignature",
                "consumerData",
                "consumerSignature",
                "consumerAddress"
            ]
        );
        let field = |name: &str| form.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(field("orderTxId"), format!("0x{}", "0a".repeat(32)));
        // The provider's signature recovers to the chain key from providerData.
        let provider_signature = field("providerSignature");
        assert!(provider_signature.ends_with("00") || provider_signature.ends_with("01"));
        assert_eq!(
            recover_message_signer(&data, &provider_signature).unwrap(),
            p.chain.key.address()
        );
        assert_eq!(field("consumerData"), message);
        assert_eq!(field("consumerSignature"), signature);
        assert_eq!(field("consumerAddress"), CONSUMER);
    }

    #[test]
    fn a_token_download_claims_no_consumer_signature_and_no_chain_proof_is_attempted() {
        let p = proof(None);
        let form = http_form(&p, &provider_data(&p, 1)).unwrap();
        assert!(
            form.iter()
                .all(|(n, _)| *n != "consumerSignature" && *n != "consumerData")
        );
        let fake = crate::fakes::FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let err = send_chain(&fake.ports(), &p, "{}").unwrap_err();
        assert!(err.contains("token"), "{err}");
        // Refused before any RPC call.
        assert_eq!(fake.http.count(), 0);
    }

    #[test]
    fn a_signature_the_contract_would_refuse_is_not_sent() {
        // A signature over the `0x…` text form of the hash: accepted by the provider,
        // refused by `orderExecuted`.
        let consumer =
            k256::ecdsa::SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap();
        let message = "did:op:abc1".to_owned();
        let text = format!("{:#x}", keccak256(message.as_bytes()));
        let digest = crate::signature::eip191_digest(text.as_bytes());
        let signature = sign_digest(&consumer, &digest).unwrap().to_hex_v27();
        let p = proof(Some((message, signature)));
        let fake = crate::fakes::FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let err = send_chain(&fake.ports(), &p, "{}").unwrap_err();
        assert!(err.contains("form"), "{err}");
        assert_eq!(fake.http.count(), 0);
    }

    #[test]
    fn a_sink_failure_is_logged_without_its_url_and_nothing_else_happens() {
        let fake = crate::fakes::FakePlatform::new(&[
            ("provider_private_key", PROVIDER_KEY),
            ("use_http_proof", "http://127.0.0.1:1/sink?apikey=SECRET"),
        ]);
        let p = proof(None);
        // The fake answers nothing configured: the send fails; deliver must not panic.
        deliver(&fake.ports(), &p, 5);
        let requests = fake.http.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "POST");
        let body = String::from_utf8(requests[0].body.clone()).unwrap();
        assert!(body.starts_with("orderTxId=0x"), "{body}");
        assert!(body.contains("downloadedBytes%22%3A5"), "{body}");
        assert!(!body.contains("secret-key"), "{body}");
    }
}
