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

/// Checks the on-chain metadata state (0 or 5), the DDO's own state, and the
/// credentials' allow/deny lists (compared as addresses).
pub fn check_consumable(rpc: &Rpc<'_>, ddo: &Ddo, consumer: &Address) -> Result<()> {
    let chain_id = rpc.chain().id;
    let net = network_name(chain_id);
    let nft = ddo
        .nft_address
        .as_deref()
        .and_then(parse_address)
        .ok_or_else(|| {
            ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."))
        })?;
    let state = rpc
        .eth_call(&nft, &getMetaDataCall {})?
        .map_err(|_| {
            ProviderError::BadRequest(format!("Provider {net}: Asset malformed or disabled."))
        })?
        .state;
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
