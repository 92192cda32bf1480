//! Whether an asset may be consumed by a given address (spec §5.6 step 2).

use serde_json::Value;

use super::ddo::Ddo;
use crate::address::{Address, parse_address};
use crate::chain::abi::getMetaDataCall;
use crate::chain::{Rpc, network_name};
use crate::{ProviderError, Result};

fn denied(net: &str, did: &str, code: &str) -> ProviderError {
    ProviderError::BadRequest(format!(
        "Provider {net}: Error: Access to asset {did} was denied with code: ConsumableCodes.{code}."
    ))
}

fn address_list(credentials: &Value, which: &str) -> Vec<Address> {
    credentials
        .get(which)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("type").and_then(Value::as_str) == Some("address"))
        .flat_map(|entry| {
            entry
                .get("values")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().and_then(parse_address))
        .collect()
}

/// How fresh the data NFT's on-chain metadata state must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFreshness {
    /// Read from the chain now (downloads, compute starts: they hand out data).
    Live,
    /// A value read at most `seconds` before `now` will do (quotes: the DDO they are
    /// computed from is itself cached that long, and the download re-checks live).
    UpTo {
        /// The provider's clock.
        now: u64,
        /// The longest age accepted (0: live).
        seconds: u64,
    },
}

fn state_cache_name(nft: &Address) -> String {
    format!("nft-state:{nft:#x}")
}

/// The data NFT's metadata state: `None` when the NFT does not answer `getMetaData`.
fn metadata_state(rpc: &Rpc<'_>, nft: &Address, freshness: StateFreshness) -> Result<Option<u8>> {
    if let StateFreshness::UpTo { now, seconds } = freshness
        && seconds > 0
        && let Some(bytes) = rpc.cached_value(&state_cache_name(nft))
        && let [state, until @ ..] = bytes.as_slice()
        && let Ok(until) = <[u8; 8]>::try_from(until)
        && now < u64::from_be_bytes(until)
    {
        return Ok(Some(*state));
    }
    let state = match rpc.eth_call(nft, &getMetaDataCall {})? {
        Ok(answer) => answer.state,
        Err(_) => return Ok(None),
    };
    if let StateFreshness::UpTo { now, seconds } = freshness
        && seconds > 0
    {
        let mut value = vec![state];
        value.extend_from_slice(&now.saturating_add(seconds).to_be_bytes());
        rpc.cache_value(&state_cache_name(nft), &value);
    }
    Ok(Some(state))
}

/// Checks the on-chain metadata state (0 or 5), the DDO's own state, and the
/// credentials' allow/deny lists (compared as addresses), reading the state live.
pub fn check_consumable(rpc: &Rpc<'_>, ddo: &Ddo, consumer: &Address) -> Result<()> {
    check_consumable_with(rpc, ddo, consumer, StateFreshness::Live)
}

/// [`check_consumable`] with a chosen freshness of the on-chain state.
pub fn check_consumable_with(
    rpc: &Rpc<'_>,
    ddo: &Ddo,
    consumer: &Address,
    freshness: StateFreshness,
) -> Result<()> {
    let chain_id = rpc.chain().id;
    let net = network_name(chain_id);
    let nft = ddo
        .nft_address
        .as_deref()
        .and_then(parse_address)
        .ok_or_else(|| {
            ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."))
        })?;
    let state = metadata_state(rpc, &nft, freshness)?.ok_or_else(|| {
        ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."))
    })?;
    if state != 0 && state != 5 {
        return Err(ProviderError::BadRequest(format!(
            "Provider {net}: Asset is not consumable."
        )));
    }
    let ddo_state = ddo.nft.as_ref().and_then(|n| n.state).unwrap_or(0);
    if ddo.metadata.is_none() || (ddo_state != 0 && ddo_state != 5) {
        return Err(denied(net, &ddo.id, "ASSET_DISABLED"));
    }
    if let Some(credentials) = &ddo.credentials {
        let credentials = match credentials {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        let allow = address_list(&credentials, "allow");
        if !allow.is_empty() {
            if !allow.contains(consumer) {
                return Err(denied(net, &ddo.id, "CREDENTIAL_NOT_IN_ALLOW_LIST"));
            }
        } else if address_list(&credentials, "deny").contains(consumer) {
            return Err(denied(net, &ddo.id, "CREDENTIAL_IN_DENY_LIST"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::abi::getMetaDataReturn;
    use crate::fakes::FakePlatform;
    use alloy_sol_types::SolCall;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};

    const NFT: &str = "0xBD558814eE914800EbfeF4a1cbE196F5161823d9";

    /// A node whose data NFT is in state `state` (changeable by the test).
    fn node(fake: &FakePlatform) -> Arc<AtomicU8> {
        let state = Arc::new(AtomicU8::new(0));
        let current = Arc::clone(&state);
        fake.http.answer(move |req| {
            let call: Value = serde_json::from_slice(&req.body).unwrap();
            let ret = getMetaDataCall::abi_encode_returns(&getMetaDataReturn {
                decryptorUrl: String::new(),
                decryptorAddress: String::new(),
                state: current.load(Ordering::SeqCst),
                hasMetaData: true,
            });
            let answer = json!({"jsonrpc": "2.0", "id": call["id"], "result": format!("0x{}", hex::encode(ret))});
            Ok((200, vec![], answer.to_string().into_bytes()))
        });
        state
    }

    fn ddo() -> Ddo {
        serde_json::from_value(json!({"id": "did:op:1", "chainId": 8996, "nftAddress": NFT,
            "metadata": {"name": "x"}, "services": []}))
        .unwrap()
    }

    #[test]
    fn a_quote_reuses_the_state_for_its_ttl_then_reads_again_and_live_never_reuses() {
        let fake = FakePlatform::new(&[
            ("network_url", r#"{"8996": "http://rpc"}"#),
            ("provider_private_key", crate::fakes::PROVIDER_KEY),
        ]);
        let state = node(&fake);
        let p = fake.ports();
        let chains = p.settings.chains().unwrap();
        let rpc = Rpc::new(
            chains.get(8996).unwrap(),
            p.http,
            p.kv,
            std::time::Duration::from_secs(1),
        );
        let consumer = parse_address(crate::fakes::CONSUMER).unwrap();
        let cached = |now| StateFreshness::UpTo { now, seconds: 30 };
        check_consumable_with(&rpc, &ddo(), &consumer, cached(1000)).unwrap();
        assert_eq!(fake.http.count(), 1);
        // The publisher disables the asset: a quote within 30 s still sees "active"...
        state.store(1, Ordering::SeqCst);
        check_consumable_with(&rpc, &ddo(), &consumer, cached(1029)).unwrap();
        assert_eq!(fake.http.count(), 1);
        // ...a live check (download) never does...
        assert!(check_consumable(&rpc, &ddo(), &consumer).is_err());
        assert_eq!(fake.http.count(), 2);
        // ...and once the 30 s are over the quote reads the chain again.
        assert!(check_consumable_with(&rpc, &ddo(), &consumer, cached(1030)).is_err());
        assert_eq!(fake.http.count(), 3);
        // A TTL of 0 (ddo_cache_seconds = 0) is always live.
        let live = StateFreshness::UpTo {
            now: 1031,
            seconds: 0,
        };
        assert!(check_consumable_with(&rpc, &ddo(), &consumer, live).is_err());
        assert_eq!(fake.http.count(), 4);
    }
}
