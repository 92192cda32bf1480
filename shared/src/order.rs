//! Order validation (spec §4.3), done right.
//!
//! Every event is taken only from the service's datatoken (the reference decoded
//! look-alike events from any contract in the receipt: G10); the fee must name this
//! datatoken and service, be addressed to this provider and carry this provider's
//! signature; the order must be for this service index, for at least one datatoken, by
//! or for the caller, and within the service timeout measured in chain time. An unknown
//! or unmined transaction is refused at once (the reference waited 120 s).

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use serde_json::{Value, json};

use crate::address::parse_address;
use crate::asset::ddo::{Ddo, Service};
use crate::chain::abi::{
    OrderReused, OrderStarted, ProviderFee as ProviderFeeEvent, isDeployedCall,
};
use crate::chain::network_name;
use crate::chain::{Rpc, RpcCall};
use crate::config::Chain;
use crate::provider_fee::ProviderFee;
use crate::{ProviderError, Result};

/// What the order must match.
#[derive(Debug, Clone)]
pub struct OrderQuery<'a> {
    /// The data NFT.
    pub nft: Address,
    /// The service's datatoken (the only emitter whose events count).
    pub datatoken: Address,
    /// The service id (in the fee's `providerData`).
    pub service_id: &'a str,
    /// The service's index in the DDO (`OrderStarted.serviceIndex`).
    pub service_index: usize,
    /// Seconds an order stays valid (0 = forever).
    pub service_timeout: u64,
    /// The provider's clock (Unix seconds). "Now" is the later of this and the latest
    /// block's time: a quiet chain (or one that mines only on traffic) keeps its latest
    /// block time still, and orders must expire there too.
    pub clock_now: u64,
    /// The caller, who must be the order's consumer or payer.
    pub consumer: Address,
    /// The transaction the caller names.
    pub tx: B256,
    /// This provider's address on the chain.
    pub provider: Address,
    /// For compute: the environment the fee must name.
    pub environment: Option<&'a str>,
    /// Whether a fee past its `validUntil` (in chain time) still counts (initialize
    /// re-quotes such orders; starting a job needs an unexpired fee).
    pub allow_expired_fee: bool,
}

/// A validated order.
#[derive(Debug, Clone)]
pub struct ValidOrder {
    /// The transaction that started the order (the original one for a reused order).
    pub order_tx: B256,
    /// The fee amount paid.
    pub fee_amount: U256,
    /// The fee's expiry (0 = none).
    pub fee_valid_until: U256,
    /// The fee's `providerData`, parsed.
    pub provider_data: Value,
    /// Who paid for the order (`OrderStarted.payer`): a compute job's owner.
    pub payer: Address,
}

/// Why an order is refused (the reference's wording, wrapped by the endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderError(pub String);

fn block_timestamp(answer: std::result::Result<Value, crate::chain::RpcError>) -> Option<u64> {
    let value = answer.ok()?;
    let text = value.get("timestamp")?.as_str()?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

/// The order query for a service of an asset.
pub fn order_query<'a>(
    ddo: &Ddo,
    index: usize,
    service: &'a Service,
    chain: &Chain,
    consumer: Address,
    tx: alloy_primitives::B256,
    clock_now: u64,
) -> Result<OrderQuery<'a>> {
    let net = network_name(chain.id);
    let malformed =
        || ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."));
    Ok(OrderQuery {
        nft: ddo
            .nft_address
            .as_deref()
            .and_then(parse_address)
            .ok_or_else(malformed)?,
        datatoken: parse_address(&service.datatoken_address).ok_or_else(malformed)?,
        service_id: &service.id,
        service_index: index,
        service_timeout: service.timeout,
        clock_now,
        consumer,
        tx,
        provider: chain.key.address(),
        environment: None,
        allow_expired_fee: true,
    })
}

/// Validates `query.tx` as a paid order for the service. `Ok(Err(..))` is a refusal
/// with a message; `Err(..)` is an upstream failure.
pub fn validate_order(
    rpc: &Rpc<'_>,
    query: &OrderQuery<'_>,
) -> Result<std::result::Result<ValidOrder, OrderError>> {
    let refuse = |message: &str| Ok(Err(OrderError(message.to_owned())));
    let cached = rpc.cached_receipt(&query.tx);
    // "This NFT deployed this datatoken" never stops being true: asked once.
    let deployed_flag = format!("deployed:{:#x}:{:#x}", query.nft, query.datatoken);
    let known_deployed = rpc.cached_flag(&deployed_flag);
    let mut calls = Vec::with_capacity(3);
    if !known_deployed {
        calls.push(RpcCall {
            method: "eth_call",
            params: Rpc::eth_call_params(
                &query.nft,
                &isDeployedCall {
                    datatoken: query.datatoken,
                },
            ),
        });
    }
    calls.push(RpcCall {
        method: "eth_getBlockByNumber",
        params: json!(["latest", false]),
    });
    if cached.is_none() {
        calls.push(RpcCall {
            method: "eth_getTransactionReceipt",
            params: json!([query.tx]),
        });
    }
    let mut answers = rpc.batch(&calls)?.into_iter();
    let deployed = if known_deployed {
        Ok(true)
    } else {
        let deployed =
            rpc.decode_call::<isDeployedCall>(answers.next().unwrap_or(Ok(Value::Null)))?;
        if deployed == Ok(true) {
            rpc.cache_flag(&deployed_flag);
        }
        deployed
    };
    let now = block_timestamp(answers.next().unwrap_or(Ok(Value::Null)))
        .ok_or_else(|| {
            ProviderError::Upstream("The chain did not report its latest block.".into())
        })?
        .max(query.clock_now);
    if deployed != Ok(true) {
        return refuse("the datatoken was not deployed by this data NFT.");
    }
    let receipt = match cached {
        Some(receipt) => receipt,
        None => match rpc
            .receipt_from_answer(&query.tx, answers.next().unwrap_or(Ok(Value::Null)))?
        {
            Some(receipt) => receipt,
            None => return refuse(&format!("Transaction {:#x} is not in the chain.", query.tx)),
        },
    };
    if !receipt.succeeded() {
        return refuse("order transaction failed.");
    }

    // The provider fee: the last ProviderFee of this datatoken naming this service.
    let fee_topic = ProviderFeeEvent::SIGNATURE_HASH;
    let fee = receipt
        .logs_from(&query.datatoken, &fee_topic)
        .filter_map(|log| {
            ProviderFeeEvent::decode_raw_log(log.topics.iter().copied(), &log.data).ok()
        })
        .filter_map(|event| {
            let data: Value = serde_json::from_slice(&event.providerData).ok()?;
            let dt_matches = data["dt"].as_str().and_then(crate::address::parse_address)
                == Some(query.datatoken);
            let id_matches = data["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(query.service_id));
            (dt_matches && id_matches).then_some((event, data))
        })
        .last();
    let Some((fee, provider_data)) = fee else {
        return refuse(&format!(
            "Cannot find the event for the provider fee in tx id {:#x}.",
            query.tx
        ));
    };
    if let Some(environment) = query.environment
        && provider_data["environment"].as_str() != Some(environment)
    {
        return refuse("Mismatch between ordered c2d environment and selected one.");
    }
    if fee.providerFeeAddress != query.provider {
        return refuse(&format!(
            "The providerFeeAddress {} does not match the provider address {}.",
            fee.providerFeeAddress.to_checksum(None),
            query.provider.to_checksum(None)
        ));
    }
    if !ProviderFee::verify_event(&fee, &query.provider) {
        return refuse("Provider was not able to check the signed message in ProviderFees event");
    }

    if !query.allow_expired_fee && fee.validUntil > U256::ZERO && U256::from(now) >= fee.validUntil
    {
        return refuse("Ordered c2d time was exceeded, check validUntil.");
    }

    // A reused order points at the original one, whose OrderStarted counts.
    let mut order_receipt = receipt.clone();
    let mut reused_at: Option<u64> = None;
    let reused_topic = OrderReused::SIGNATURE_HASH;
    if let Some(reused) = receipt
        .logs_from(&query.datatoken, &reused_topic)
        .find_map(|log| OrderReused::decode_raw_log(log.topics.iter().copied(), &log.data).ok())
    {
        reused_at = u64::try_from(reused.timestamp).ok();
        match rpc.receipt(&reused.orderTxId)? {
            Some(original) if original.succeeded() => order_receipt = original,
            _ => return refuse("the reused order transaction was not found or failed."),
        }
    }
    let started_topic = OrderStarted::SIGNATURE_HASH;
    let started = order_receipt
        .logs_from(&query.datatoken, &started_topic)
        .filter_map(|log| OrderStarted::decode_raw_log(log.topics.iter().copied(), &log.data).ok())
        .filter(|event| event.serviceIndex == U256::from(query.service_index))
        .last();
    let Some(started) = started else {
        return refuse(&format!(
            "Cannot find the event for the order transaction with tx id {:#x}.",
            query.tx
        ));
    };
    let one_token = U256::from(10).pow(U256::from(18));
    if started.amount < one_token {
        return refuse("The amount in the event is less than the amount requested.");
    }
    let ordered_at =
        reused_at.unwrap_or_else(|| u64::try_from(started.timestamp).unwrap_or(u64::MAX));
    if query.service_timeout != 0 && now.saturating_sub(ordered_at) > query.service_timeout {
        return refuse("The order has expired.");
    }
    if query.consumer != started.consumer && query.consumer != started.payer {
        return refuse("sender of order transaction is not the consumer/payer.");
    }
    Ok(Ok(ValidOrder {
        order_tx: order_receipt.transaction_hash,
        fee_amount: fee.providerFeeAmount,
        fee_valid_until: fee.validUntil,
        provider_data,
        payer: started.payer,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Chain, ProviderKey};
    use crate::fakes::{FakeHttp, MemoryKeyValue};
    use crate::provider_fee::{ProviderFee, provider_data};
    use std::time::Duration;

    use crate::fakes::PROVIDER_KEY as KEY;

    fn log_json(emitter: Address, data: alloy_primitives::LogData) -> Value {
        json!({"address": emitter, "topics": data.topics(), "data": data.data})
    }

    /// A node whose receipt for any tx holds a fee and an order emitted by `emitter`.
    fn node(emitter: Address, datatoken: Address, consumer: Address) -> FakeHttp {
        let key = ProviderKey::parse(KEY).unwrap();
        let data = provider_data(None, 1.0, &datatoken.to_checksum(None), "svc");
        let fee = ProviderFee::sign(
            &key,
            Address::ZERO,
            U256::ZERO,
            data.into_bytes(),
            U256::ZERO,
        )
        .unwrap();
        let started = OrderStarted {
            consumer,
            payer: consumer,
            amount: U256::from(10).pow(U256::from(18)),
            serviceIndex: U256::ZERO,
            timestamp: U256::from(1_000u64),
            publishMarketAddress: Address::ZERO,
            blockNumber: U256::from(1u64),
        };
        let receipt = json!({
            "transactionHash": B256::repeat_byte(1), "status": "0x1", "blockHash": B256::repeat_byte(2), "blockNumber": "0x1",
            "logs": [log_json(emitter, fee.as_event().encode_log_data()), log_json(emitter, started.encode_log_data())],
        });
        FakeHttp::new(move |req| {
            let calls: Value = serde_json::from_slice(&req.body).unwrap();
            let single = !calls.is_array();
            let calls = match calls {
                Value::Array(calls) => calls,
                one => vec![one],
            };
            let answers: Vec<Value> = calls
                .iter()
                .map(|call| {
                    let result = match call["method"].as_str().unwrap() {
                        "eth_call" => json!(format!(
                            "0x{}",
                            hex::encode(U256::from(1).to_be_bytes::<32>())
                        )),
                        "eth_getBlockByNumber" => json!({"timestamp": "0x3e8"}),
                        _ => receipt.clone(),
                    };
                    json!({"id": call["id"], "result": result})
                })
                .collect();
            let body = if single {
                answers[0].clone()
            } else {
                Value::Array(answers)
            };
            Ok((200, vec![], body.to_string().into_bytes()))
        })
    }

    fn test_chain() -> Chain {
        Chain {
            id: 8996,
            rpc_urls: vec!["http://rpc".into()],
            key: ProviderKey::parse(KEY).unwrap(),
        }
    }

    fn query(datatoken: Address, consumer: Address) -> OrderQuery<'static> {
        OrderQuery {
            nft: Address::repeat_byte(9),
            datatoken,
            service_id: "svc",
            service_index: 0,
            service_timeout: 0,
            clock_now: 0,
            consumer,
            tx: B256::repeat_byte(1),
            provider: ProviderKey::parse(KEY).unwrap().address(),
            environment: None,
            allow_expired_fee: true,
        }
    }

    #[test]
    fn events_count_only_from_the_datatoken() {
        let datatoken = Address::repeat_byte(7);
        let consumer = Address::repeat_byte(5);
        let chain = test_chain();
        let kv = MemoryKeyValue::default();
        let genuine = node(datatoken, datatoken, consumer);
        let rpc = Rpc::new(&chain, &genuine, &kv, Duration::from_secs(1));
        assert!(
            validate_order(&rpc, &query(datatoken, consumer))
                .unwrap()
                .is_ok()
        );
        // The same events, emitted by a look-alike contract in the same kind of receipt.
        let kv = MemoryKeyValue::default();
        let forged = node(Address::repeat_byte(0x66), datatoken, consumer);
        let rpc = Rpc::new(&chain, &forged, &kv, Duration::from_secs(1));
        let refusal = validate_order(&rpc, &query(datatoken, consumer))
            .unwrap()
            .unwrap_err();
        assert!(
            refusal
                .0
                .starts_with("Cannot find the event for the provider fee"),
            "{refusal:?}"
        );
        // A fee quoted for no (or another) compute environment does not pay for this one.
        let kv = MemoryKeyValue::default();
        let rpc = Rpc::new(&chain, &genuine, &kv, Duration::from_secs(1));
        let mut for_env = query(datatoken, consumer);
        for_env.environment = Some("env1");
        let refusal = validate_order(&rpc, &for_env).unwrap().unwrap_err();
        assert_eq!(
            refusal.0,
            "Mismatch between ordered c2d environment and selected one."
        );
        // And the genuine order is not for somebody else.
        let kv = MemoryKeyValue::default();
        let rpc = Rpc::new(&chain, &genuine, &kv, Duration::from_secs(1));
        let refusal = validate_order(&rpc, &query(datatoken, Address::repeat_byte(4)))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refusal.0,
            "sender of order transaction is not the consumer/payer."
        );
    }

    #[test]
    fn orders_expire_by_the_provider_clock_when_the_chain_time_stands_still() {
        let datatoken = Address::repeat_byte(7);
        let consumer = Address::repeat_byte(5);
        let chain = test_chain();
        // Ordered at 1000; the latest block is that same block (time 1000).
        let node = node(datatoken, datatoken, consumer);
        let mut timed = query(datatoken, consumer);
        timed.service_timeout = 3;
        for (clock_now, expired) in [(0, false), (1_003, false), (1_004, true), (5_000, true)] {
            let kv = MemoryKeyValue::default();
            let rpc = Rpc::new(&chain, &node, &kv, Duration::from_secs(1));
            timed.clock_now = clock_now;
            let result = validate_order(&rpc, &timed).unwrap();
            assert_eq!(result.is_err(), expired, "clock {clock_now}: {result:?}");
            if let Err(refusal) = result {
                assert_eq!(refusal.0, "The order has expired.");
            }
        }
    }

    #[test]
    fn a_second_validation_asks_only_for_the_latest_block() {
        let datatoken = Address::repeat_byte(7);
        let consumer = Address::repeat_byte(5);
        let chain = test_chain();
        let node = node(datatoken, datatoken, consumer);
        let kv = MemoryKeyValue::default();
        let rpc = Rpc::new(&chain, &node, &kv, Duration::from_secs(1));
        assert!(
            validate_order(&rpc, &query(datatoken, consumer))
                .unwrap()
                .is_ok()
        );
        assert!(
            validate_order(&rpc, &query(datatoken, consumer))
                .unwrap()
                .is_ok()
        );
        let requests = node.requests.lock().unwrap();
        let methods = |body: &[u8]| -> Vec<String> {
            let calls: Value = serde_json::from_slice(body).unwrap();
            let calls = match calls {
                Value::Array(calls) => calls,
                one => vec![one],
            };
            calls
                .iter()
                .map(|c| c["method"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            methods(&requests[0].body),
            [
                "eth_call",
                "eth_getBlockByNumber",
                "eth_getTransactionReceipt"
            ]
        );
        // The receipt of a mined transaction and the NFT's deployment never change; the
        // latest block (order expiry) is always read.
        assert_eq!(methods(&requests[1].body), ["eth_getBlockByNumber"]);
        // Another datatoken of the same NFT is asked about again.
        drop(requests);
        let other = Address::repeat_byte(8);
        let _ = validate_order(&rpc, &query(other, consumer));
        assert_eq!(
            methods(&node.requests.lock().unwrap()[2].body)[0],
            "eth_call"
        );
    }
}
