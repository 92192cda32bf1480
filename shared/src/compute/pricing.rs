//! Compute pricing: what a job costs (`priceMin` per minute over its whole duration,
//! in the fee token's decimals), which item of a job carries the fee, and whether an
//! existing order already pays for the requested duration.

use alloy_primitives::{Address, U256};
use serde_json::Value;

use crate::chain::Rpc;
use crate::chain::abi::decimalsCall;
use crate::decimal::Decimal;
use crate::order::ValidOrder;
use crate::ports::Platform;
use crate::{ProviderError, Result};

/// The price of a job: `ceil`-free `floor(seconds × priceMin / 60 × 10^decimals)`,
/// computed exactly (no float), over the **whole** duration.
pub fn compute_fee(seconds: u64, price_per_minute: &str, decimals: u8) -> Option<U256> {
    let price = Decimal::parse(price_per_minute).ok()?.to_string();
    if price.starts_with('-') {
        return None;
    }
    let (int_part, frac_part) = price.split_once('.').unwrap_or((&price, ""));
    let mantissa: U256 = format!("{int_part}{frac_part}").parse().ok()?;
    let ten = U256::from(10);
    let numerator = U256::from(seconds)
        .checked_mul(mantissa)?
        .checked_mul(ten.checked_pow(U256::from(decimals))?)?;
    let denominator = U256::from(60).checked_mul(ten.checked_pow(U256::from(frac_part.len()))?)?;
    Some(numerator / denominator)
}

/// The fee an item must carry for a job until `valid_until`.
pub fn required_fee(
    platform: &Platform<'_>,
    rpc: &Rpc<'_>,
    env: &Value,
    valid_until: u64,
) -> Result<(Address, U256)> {
    let token = platform.settings.fee_token(rpc.chain().id)?;
    if token == Address::ZERO {
        return Ok((token, U256::ZERO));
    }
    let decimals = rpc.eth_call(&token, &decimalsCall {})?.unwrap_or(18);
    let price = match &env["priceMin"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".into(),
    };
    let seconds = valid_until.saturating_sub(platform.clock.now_unix_seconds());
    let amount = compute_fee(seconds, &price, decimals).ok_or_else(|| {
        ProviderError::Upstream("The compute environment has an invalid price.".into())
    })?;
    Ok((token, amount))
}

/// The item (datasets, then the algorithm) that carries the job's fee: the first one
/// that already has a valid order, else the first dataset.
pub fn fee_bearing_item(has_order: impl IntoIterator<Item = bool>) -> usize {
    has_order
        .into_iter()
        .position(|ordered| ordered)
        .unwrap_or(0)
}

/// Whether an existing order's fee pays for a job that runs until `valid_until`.
pub fn order_covers(order: &ValidOrder, valid_until: u64) -> bool {
    U256::from(valid_until) <= order.fee_valid_until
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Chain, ProviderKey};
    use crate::fakes::{FakePlatform, MemoryKeyValue};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn fees_cover_whole_days() {
        // Two days at 1 token per minute with 18 decimals: 2880 tokens, not 0.
        let two_days = 2 * 24 * 3600;
        assert_eq!(
            compute_fee(two_days, "1", 18),
            Some(U256::from(2880u64) * U256::from(10).pow(U256::from(18)))
        );
        assert_eq!(
            compute_fee(90, "0.01", 18),
            Some(U256::from(15_000_000_000_000_000u64))
        );
        assert_eq!(compute_fee(59, "1", 0), Some(U256::ZERO));
        assert_eq!(compute_fee(60, "abc", 18), None);
    }

    #[test]
    fn the_fee_is_the_environment_price_over_the_time_left_in_the_tokens_decimals() {
        let token = "0x2222222222222222222222222222222222222222";
        let fake = FakePlatform::new(&[("provider_fee_token", token)]);
        // decimals() answers 6.
        fake.http.answer(|req| {
            let calls: Value = serde_json::from_slice(&req.body).unwrap();
            let call = if calls.is_array() {
                calls[0].clone()
            } else {
                calls
            };
            let six = format!("0x{}", hex::encode(U256::from(6).to_be_bytes::<32>()));
            let answer = json!({"jsonrpc": "2.0", "id": call["id"], "result": six});
            Ok((200, vec![], answer.to_string().into_bytes()))
        });
        let platform = fake.ports();
        let chain = Chain {
            id: 8996,
            rpc_urls: vec!["http://rpc".into()],
            key: ProviderKey::parse(crate::fakes::PROVIDER_KEY).unwrap(),
        };
        let kv = MemoryKeyValue::default();
        let rpc = Rpc::new(&chain, platform.http, &kv, Duration::from_secs(1));
        let now = platform.clock.now_unix_seconds();
        // Two hours at 0.5 token per minute: 60 tokens of 6 decimals.
        let (fee_token, amount) =
            required_fee(&platform, &rpc, &json!({"priceMin": "0.5"}), now + 7200).unwrap();
        assert_eq!(fee_token, crate::address::parse_address(token).unwrap());
        assert_eq!(amount, U256::from(60_000_000u64));
        // A price that is not a number is the environment's fault, not the caller's.
        let err =
            required_fee(&platform, &rpc, &json!({"priceMin": "free"}), now + 60).unwrap_err();
        assert_eq!(err.status(), 503);
        // Without a fee token there is nothing to pay, and no chain call.
        let before = fake.http.count();
        let free = FakePlatform::new(&[]);
        let free_platform = free.ports();
        assert_eq!(
            required_fee(&free_platform, &rpc, &json!({"priceMin": 5}), now + 60).unwrap(),
            (Address::ZERO, U256::ZERO)
        );
        assert_eq!(fake.http.count(), before);
    }

    #[test]
    fn the_first_ordered_item_bears_the_fee_and_an_order_covers_up_to_its_fee_expiry() {
        assert_eq!(fee_bearing_item([false, false]), 0);
        assert_eq!(fee_bearing_item([false, true, true]), 1);
        assert_eq!(fee_bearing_item([]), 0);
        let order = ValidOrder {
            order_tx: alloy_primitives::B256::ZERO,
            fee_amount: U256::ZERO,
            fee_valid_until: U256::from(1_000u64),
            provider_data: Value::Null,
            payer: alloy_primitives::Address::ZERO,
        };
        assert!(order_covers(&order, 999));
        assert!(order_covers(&order, 1_000));
        assert!(!order_covers(&order, 1_001));
    }
}
