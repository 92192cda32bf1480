//! Provider fees (spec §2.5): what `initialize` signs and `startOrder` checks on chain.
//!
//! ```text
//! providerData = compact JSON {"environment","timestamp","dt","id"} (this key order)
//! hash   = keccak256(providerData ‖ feeAddress(20) ‖ feeToken(20) ‖ uint256 amount ‖ uint256 validUntil)
//! signed = EIP-191 over hash, v ∈ {27, 28}
//! ```

use alloy_primitives::{Address, B256, U256, keccak256};
use serde_json::{Value, json};

use crate::address::checksum;
use crate::chain::abi::ProviderFee as ProviderFeeEvent;
use crate::config::ProviderKey;
use crate::signature::{RecoverableSignature, eip191_hash_of_hash, recover_address, sign_digest};

/// A provider fee as `initialize` returns it and `startOrder` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFee {
    /// The provider's address on the chain.
    pub fee_address: Address,
    /// The fee token.
    pub fee_token: Address,
    /// Amount in the token's smallest unit.
    pub amount: U256,
    /// The `providerData` bytes (compact JSON).
    pub provider_data: Vec<u8>,
    /// Expiry (0 = none).
    pub valid_until: U256,
    /// The provider's signature.
    pub signature: RecoverableSignature,
}

/// `providerData` for a service: `{"environment": env|null, "timestamp": <Python float
/// repr>, "dt": <datatoken as in the DDO>, "id": <service id>}`, compact, in this order.
pub fn provider_data(
    environment: Option<&str>,
    timestamp: f64,
    datatoken: &str,
    service_id: &str,
) -> String {
    format!(
        r#"{{"environment":{},"timestamp":{},"dt":{},"id":{}}}"#,
        environment.map_or(Value::Null, |e| json!(e)),
        crate::request::python_float_repr(timestamp),
        json!(datatoken),
        json!(service_id),
    )
}

/// The hash the fee signature covers.
pub fn fee_hash(
    provider_data: &[u8],
    fee_address: &Address,
    fee_token: &Address,
    amount: U256,
    valid_until: U256,
) -> B256 {
    let mut packed = Vec::with_capacity(provider_data.len() + 104);
    packed.extend_from_slice(provider_data);
    packed.extend_from_slice(fee_address.as_slice());
    packed.extend_from_slice(fee_token.as_slice());
    packed.extend_from_slice(&amount.to_be_bytes::<32>());
    packed.extend_from_slice(&valid_until.to_be_bytes::<32>());
    keccak256(&packed)
}

impl ProviderFee {
    /// Builds and signs a fee with the chain's provider key.
    pub fn sign(
        key: &ProviderKey,
        fee_token: Address,
        amount: U256,
        provider_data: Vec<u8>,
        valid_until: U256,
    ) -> Option<Self> {
        let fee_address = key.address();
        let digest = eip191_hash_of_hash(&fee_hash(
            &provider_data,
            &fee_address,
            &fee_token,
            amount,
            valid_until,
        ));
        let signature = sign_digest(key.signing_key(), &digest).ok()?;
        Some(Self {
            fee_address,
            fee_token,
            amount,
            provider_data,
            valid_until,
            signature,
        })
    }

    /// Whether the signature in a `ProviderFee` event recovers to `expected` over the
    /// event's own fields.
    pub fn verify_event(event: &ProviderFeeEvent, expected: &Address) -> bool {
        let digest = eip191_hash_of_hash(&fee_hash(
            &event.providerData,
            &event.providerFeeAddress,
            &event.providerFeeToken,
            event.providerFeeAmount,
            event.validUntil,
        ));
        let signature = format!(
            "0x{}{}{:02x}",
            hex::encode(event.r),
            hex::encode(event.s),
            event.v
        );
        recover_address(&digest, &signature).is_ok_and(|a| a == *expected)
    }

    /// The event `startOrder` would emit for this fee.
    pub fn as_event(&self) -> ProviderFeeEvent {
        ProviderFeeEvent {
            providerFeeAddress: self.fee_address,
            providerFeeToken: self.fee_token,
            providerFeeAmount: self.amount,
            providerData: self.provider_data.clone().into(),
            v: self.signature.v,
            r: self.signature.r,
            s: self.signature.s,
            validUntil: self.valid_until,
        }
    }

    /// The JSON object of the wire API (amount as a decimal string).
    pub fn to_json(&self) -> Value {
        json!({
            "providerFeeAddress": checksum(&self.fee_address),
            "providerFeeToken": checksum(&self.fee_token),
            "providerFeeAmount": self.amount.to_string(),
            "providerData": format!("0x{}", hex::encode(&self.provider_data)),
            "v": self.signature.v,
            "r": format!("{:#x}", self.signature.r),
            "s": format!("{:#x}", self.signature.s),
            "validUntil": serde_json::from_str::<Value>(&self.valid_until.to_string()).unwrap_or(Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::parse_address;

    #[test]
    fn provider_fee_vector() {
        let v = &crate::fakes::vectors()["provider_fee"];
        let data = provider_data(
            None,
            1700000000.123456,
            "0x0000000000000000000000000000000000000001",
            "svc-1",
        );
        assert_eq!(data, v["providerData_utf8"].as_str().unwrap());
        let key = ProviderKey::parse(crate::fakes::PROVIDER_KEY).unwrap();
        let token = parse_address(v["providerFee"]["providerFeeToken"].as_str().unwrap()).unwrap();
        let hash = fee_hash(
            data.as_bytes(),
            &key.address(),
            &token,
            U256::ZERO,
            U256::ZERO,
        );
        assert_eq!(format!("{hash:#x}"), v["message_hash"].as_str().unwrap());
        assert_eq!(
            format!("{:#x}", eip191_hash_of_hash(&hash)),
            v["eip191_hash"].as_str().unwrap()
        );
        let fee =
            ProviderFee::sign(&key, token, U256::ZERO, data.into_bytes(), U256::ZERO).unwrap();
        let json = fee.to_json();
        for field in [
            "providerFeeAddress",
            "providerFeeToken",
            "providerFeeAmount",
            "providerData",
            "v",
            "r",
            "s",
            "validUntil",
        ] {
            assert_eq!(json[field], v["providerFee"][field], "{field}");
        }
        let mut event = fee.as_event();
        assert!(ProviderFee::verify_event(&event, &key.address()));
        event.providerFeeAmount = U256::from(1);
        assert!(!ProviderFee::verify_event(&event, &key.address()));
    }
}
